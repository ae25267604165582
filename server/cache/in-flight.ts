/** How a caller joins a call already in flight. */
export interface JoinOptions {
  /** Told when the caller joins a call in flight instead of starting one. */
  onJoin?: () => void;
  /**
   * Whether a joined call's failure is the other caller's alone (its own request was cancelled),
   * so this caller makes its own call instead of sharing the failure. Absent: failures are shared.
   */
  retryAfter?: (err: unknown) => boolean;
}

/**
 * Concurrent identical calls made once: the first caller of a key starts the call, later callers
 * of that key share its promise until it settles. Beyond `maxEntries` keys in flight a call runs
 * unshared, so callers who make up keys can grow nothing here; they only lose the sharing.
 */
export class InFlight<T> {
  private readonly running = new Map<string, Promise<T>>();

  constructor(private readonly maxEntries = Infinity) {}

  async share(key: string, start: () => Promise<T>, options: JoinOptions = {}): Promise<T> {
    const running = this.running.get(key);
    if (running) {
      options.onJoin?.();
      if (!options.retryAfter) return running;
      try {
        return await running;
      } catch (err) {
        if (!options.retryAfter(err)) throw err;
      }
    }
    const p: Promise<T> = start().finally(() => {
      if (this.running.get(key) === p) this.running.delete(key);
    });
    if (this.running.size < this.maxEntries || this.running.has(key)) this.running.set(key, p);
    return p;
  }

  /** Whether a call for `key` is in flight now. */
  has(key: string): boolean {
    return this.running.has(key);
  }

  /** Calls in flight now. */
  get size(): number {
    return this.running.size;
  }
}
