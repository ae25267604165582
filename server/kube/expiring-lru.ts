/**
 * A bounded least-recently-used map whose entries expire: what lru-cache's `{max, ttl}` gives,
 * without its preallocation. lru-cache allocates its index arrays for `max` entries up front
 * (40 bytes each: 4 MiB resident at the review cache's default 100,000 before a single review),
 * and a sidecar pays that in every pod whether or not it ever fills. A Map grows with what is
 * held. Expired entries are dropped when read, and counted until pushed out by newer ones, so
 * `maxEntries` bounds the memory either way.
 */
export class ExpiringLru<T> {
  private readonly entries = new Map<string, { value: T; expires: number }>();

  constructor(
    private readonly maxEntries: number,
    private readonly ttlMs: number,
    private readonly now: () => number = performance.now.bind(performance),
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: string): T | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    this.entries.delete(key);
    // Stale once more than ttlMs has passed, as lru-cache judges it.
    if (this.now() > e.expires) return undefined;
    // Re-inserted: a Map iterates in insertion order, so the first key is the least recently used.
    this.entries.set(key, e);
    return e.value;
  }

  /** When the entry under `key` goes stale, unless it already has (or there is none); its place in the order is kept. */
  expiresAt(key: string): number | undefined {
    const e = this.entries.get(key);
    return e && this.now() <= e.expires ? e.expires : undefined;
  }

  set(key: string, value: T): void {
    this.entries.delete(key);
    this.entries.set(key, { value, expires: this.now() + this.ttlMs });
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }
}
