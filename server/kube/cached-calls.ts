import { InFlight } from '../cache/in-flight.js';
import { ExpiringLru } from './expiring-lru.js';
import { KubeError } from './types.js';

/**
 * Answers of the Kubernetes API kept for a while, bounded in entries and in time, in front of the
 * calls that make them: concurrent identical calls are made once, errors are never kept. A caller
 * who joined a call that was cancelled by the caller who started it (its request ended) makes its
 * own call instead of taking that failure.
 */
export class CachedCalls<T extends {}> {
  private readonly answers: ExpiringLru<T>;
  private readonly inflight = new InFlight<T>();

  constructor(
    options: { ttlMs: number; maxEntries: number; now?: () => number },
    private readonly events: { hit(): void; miss(): void } = { hit() {}, miss() {} },
  ) {
    this.answers = new ExpiringLru(options.maxEntries, options.ttlMs, options.now);
  }

  /** When the answer kept under `key` goes stale (undefined: none is kept). */
  until(key: string): number | undefined {
    return this.answers.expiresAt(key);
  }

  /** The answer kept under `key`, else `call`'s, shared with every caller of the same `flight`. */
  async get(key: string, call: () => Promise<T>, signal: AbortSignal, flight = key): Promise<T> {
    const known = this.answers.get(key);
    if (known !== undefined) {
      this.events.hit();
      return known;
    }
    const start = () => {
      this.events.miss();
      return call().then((answer) => {
        this.answers.set(key, answer);
        return answer;
      });
    };
    return this.inflight.share(flight, start, { retryAfter: (err) => !signal.aborted && err instanceof KubeError && err.code === 'kube_aborted' });
  }
}
