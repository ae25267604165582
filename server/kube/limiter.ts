interface Waiter {
  go(): void;
}

/**
 * At most `limit` tasks run at once, and at most `perCaller` of them for any one caller; the rest
 * wait. Waiting callers are served round-robin, one task each in turn, so a caller with thousands
 * of queued calls delays another caller's next call by one turn, not by its whole queue. Bounds
 * calls to an upstream and shares them fairly. Callers are keys chosen by the user of the limiter
 * (the Kubernetes client uses a hash of the forwarded token: the asserted subject is forgeable).
 */
export class Limiter {
  private active = 0;
  private readonly activeBy = new Map<string, number>();
  // Insertion order is the round-robin order: a caller served moves to the back.
  private readonly waiting = new Map<string, Waiter[]>();

  constructor(
    readonly limit: number,
    readonly perCaller: number = Number.POSITIVE_INFINITY,
  ) {}

  async run<T>(task: () => Promise<T>, signal?: AbortSignal, caller = ''): Promise<T> {
    if (this.active < this.limit && this.running(caller) < this.perCaller) {
      // Every waiter able to run was already let in (pump runs on each release), so taking a free
      // slot now jumps no queue.
      this.acquire(caller);
    } else {
      await this.wait(caller, signal);
    }
    try {
      return await task();
    } finally {
      this.release(caller);
      this.pump();
    }
  }

  get inUse(): number {
    return this.active;
  }

  /** Calls waiting for a slot, all callers together. */
  get queued(): number {
    let n = 0;
    for (const q of this.waiting.values()) n += q.length;
    return n;
  }

  private wait(caller: string, signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        go: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        const queue = this.waiting.get(caller);
        const i = queue ? queue.indexOf(waiter) : -1;
        if (i >= 0) {
          queue!.splice(i, 1);
          if (queue!.length === 0) this.waiting.delete(caller);
        }
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const queue = this.waiting.get(caller);
      if (queue) queue.push(waiter);
      else this.waiting.set(caller, [waiter]);
    });
  }

  /** Lets waiters in while slots are free: the first caller in turn under its own cap, one task each. */
  private pump(): void {
    while (this.active < this.limit) {
      let next: string | undefined;
      for (const caller of this.waiting.keys()) {
        if (this.running(caller) < this.perCaller) {
          next = caller;
          break;
        }
      }
      if (next === undefined) return;
      const queue = this.waiting.get(next)!;
      const waiter = queue.shift()!;
      this.waiting.delete(next);
      if (queue.length > 0) this.waiting.set(next, queue);
      this.acquire(next);
      waiter.go();
    }
  }

  private running(caller: string): number {
    return this.activeBy.get(caller) ?? 0;
  }

  private acquire(caller: string): void {
    this.active++;
    this.activeBy.set(caller, this.running(caller) + 1);
  }

  private release(caller: string): void {
    this.active--;
    const n = this.running(caller) - 1;
    if (n > 0) this.activeBy.set(caller, n);
    else this.activeBy.delete(caller);
  }
}
