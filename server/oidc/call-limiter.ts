import { IdentityError } from './identity.js';

/**
 * At most `limit` calls to one tenant's provider at once; the rest wait, in order, until their
 * request's deadline, and at most `maxWaiting` of them: a flood of new tokens queues behind the
 * bound instead of multiplying calls to the provider, and a full queue denies at once.
 */
export class CallLimiter {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    readonly limit: number,
    private readonly maxWaiting: number,
  ) {}

  /** Resolves with the release of a slot; rejects with `provider_busy` when none comes in time. */
  async acquire(signal: AbortSignal | undefined): Promise<() => void> {
    if (signal?.aborted) throw busy('the request ended before a provider call could start');
    if (this.active < this.limit) {
      this.active++;
      return this.releaser();
    }
    if (this.waiting.length >= this.maxWaiting) throw busy(`${this.limit} provider calls in flight and ${this.maxWaiting} waiting`);
    await new Promise<void>((resolve, reject) => {
      const go = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        const i = this.waiting.indexOf(go);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(busy(`no provider call slot within the request's deadline (${this.limit} in flight)`));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(go);
    });
    return this.releaser();
  }

  get inFlight(): number {
    return this.active;
  }

  private releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.waiting.shift();
      // The slot passes straight to the next waiter: the count never dips and overshoots.
      if (next) next();
      else this.active--;
    };
  }
}

const busy = (message: string) => new IdentityError('provider_busy', message);
