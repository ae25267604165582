import { BusyError } from '../errors.js';

/**
 * The request body bytes held across all requests at once, compressed and decompressed alike: a
 * per-request limit alone lets N slow uploads hold N times it. Each request takes from the budget
 * through a lease as its bytes arrive and gives everything back when it ends, however it ends.
 */
export class ByteBudget {
  private used = 0;

  constructor(readonly max: number) {}

  /** Bytes held now (tests and metrics). */
  get inUse(): number {
    return this.used;
  }

  lease(): BudgetLease {
    return new BudgetLease(this);
  }

  /** @internal */
  take(n: number): boolean {
    if (this.used + n > this.max) return false;
    this.used += n;
    return true;
  }

  /** @internal */
  give(n: number): void {
    this.used -= n;
  }
}

/** One request's share of the budget. */
export class BudgetLease {
  private held = 0;
  private released = false;

  constructor(private readonly budget: ByteBudget) {}

  /** Takes `n` more bytes, or throws BusyError (503) when the budget has no room. */
  take(n: number): void {
    if (this.released || !this.budget.take(n)) throw bytesBusy();
    this.held += n;
  }

  /** Gives back everything this request holds; idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.budget.give(this.held);
    this.held = 0;
  }
}

/** The bytes buffered across requests are at --web.max-buffered-bytes. */
export const bytesBusy = (): BusyError => new BusyError('server busy: too many request bytes buffered, retry later');
