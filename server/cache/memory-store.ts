import { LRUCache } from 'lru-cache';
import type { CacheStore } from './store.js';

export interface MemoryStoreOptions {
  /** Most entries held; the least recently used goes first. */
  maxEntries: number;
  /** Most bytes of keys and values held (JavaScript string length × 2, roughly). */
  maxBytes: number;
  onEvict?: () => void;
}

// Distinct values remembered for sharing: enough for every answer a busy tenant mix gives, small
// beside the entries themselves. Their bytes count in no bound of the store's: they are at most
// this many strings that entries mostly hold anyway.
const SHARED_VALUES = 512;
const SHARED_VALUE_MAX_CHARS = 16 << 10;

/** A bounded LRU with a TTL per entry. Expiry is fixed at insertion: a hit does not extend it. */
export class MemoryStore implements CacheStore {
  readonly kind = 'memory';
  private readonly lru: LRUCache<string, string>;
  // Most entries hold one of few answers (every token of a user, every user with the same grants),
  // each a fresh string from the encoder: one copy of each recent distinct value is kept and every
  // entry that stores an equal value points at it. At 100,000 entries this is most of an entry's
  // size (issue 14: RSS per cached decision). Values are immutable strings, so sharing changes
  // nothing any reader can see.
  private readonly shared = new LRUCache<string, string>({ max: SHARED_VALUES });

  constructor(options: MemoryStoreOptions) {
    this.lru = new LRUCache<string, string>({
      max: options.maxEntries,
      maxSize: options.maxBytes,
      sizeCalculation: (value, key) => (value.length + key.length) * 2,
      ttlAutopurge: false,
      // The clock read at every lookup, not once a millisecond: expiry is then exact, and what
      // `until` reports agrees with it.
      ttlResolution: 0,
      updateAgeOnGet: false,
      allowStale: false,
      dispose: (_value, _key, reason) => {
        if (reason === 'evict') options.onEvict?.();
      },
    });
  }

  async get(key: string): Promise<string | undefined> {
    return this.lru.get(key);
  }

  peek(key: string): string | undefined {
    return this.lru.get(key);
  }

  until(key: string): number | undefined {
    // The clock read before the cache reads its own: never later than the entry's expiry.
    const now = performance.now();
    const left = this.lru.getRemainingTTL(key);
    return left > 0 && Number.isFinite(left) ? now + left : undefined;
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    this.lru.set(key, this.share(value), { ttl: ttlMs });
  }

  /** The kept copy of a value equal to `value`, else `value` itself (kept for the next one). */
  private share(value: string): string {
    // Large answers (a regex of thousands of projects) are few and hashing them costs more than
    // sharing saves; they stay as they are.
    if (value.length > SHARED_VALUE_MAX_CHARS) return value;
    const known = this.shared.get(value);
    if (known !== undefined) return known;
    this.shared.set(value, value);
    return value;
  }

  /** Unexpired entries: expired ones are dropped first, since nothing else purges them. */
  size(): number {
    this.lru.purgeStale();
    return this.lru.size;
  }

  async close(): Promise<void> {
    this.lru.clear();
    this.shared.clear();
  }
}
