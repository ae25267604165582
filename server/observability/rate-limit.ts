import type { Logger } from './logger.js';

/**
 * Lets one event of each key through per interval and counts the rest: a provider or API server
 * failing on every request must leave a trail, not a flood. The count of suppressed events rides
 * on the next line let through. Keys are few (a call and a status); the map is bounded all the same.
 */
export class RateLimit {
  private readonly seen = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly intervalMs: number,
    private readonly maxKeys = 1024,
    private readonly now: () => number = Date.now,
  ) {}

  /** undefined when the event is suppressed, else how many of its key were suppressed before it. */
  take(key: string): number | undefined {
    const t = this.now();
    const entry = this.seen.get(key);
    if (entry && t - entry.at < this.intervalMs) {
      entry.suppressed++;
      return undefined;
    }
    const suppressed = entry?.suppressed ?? 0;
    if (!entry && this.seen.size >= this.maxKeys) this.seen.delete(this.seen.keys().next().value as string);
    this.seen.set(key, { at: t, suppressed: 0 });
    return suppressed;
  }
}

/**
 * A warn line per failing upstream call, at most one per call and status per interval. The fields
 * name the call and the status; callers must never put a token in them.
 */
export function upstreamWarner(logger: Logger, intervalMs = 10_000) {
  const limit = new RateLimit(intervalMs);
  return (fields: { upstream: string; call: string; status: string; reason: string; tenant?: string }): void => {
    const suppressed = limit.take(`${fields.upstream}\0${fields.tenant ?? ''}\0${fields.call}\0${fields.status}`);
    if (suppressed === undefined) return;
    logger.warn({ ...fields, ...(suppressed > 0 ? { suppressed } : {}) }, 'upstream call failed');
  };
}
