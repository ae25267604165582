/**
 * When the next attempt at a failing call may be made: after `initialMs`, doubling with each
 * consecutive failure up to `maxMs`; a success resets it. A failing issuer then costs it a handful
 * of calls per minute however many requests arrive.
 */
export class Backoff {
  private failures = 0;
  private retryAt = 0;

  constructor(
    private readonly initialMs: number,
    private readonly maxMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Milliseconds until an attempt is allowed; 0 when it is now. */
  wait(): number {
    return Math.max(0, this.retryAt - this.now());
  }

  failed(): void {
    this.failures++;
    const delay = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.failures - 1, 30));
    this.retryAt = this.now() + delay;
  }

  succeeded(): void {
    this.failures = 0;
    this.retryAt = 0;
  }
}
