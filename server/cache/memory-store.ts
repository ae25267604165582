import { LRUCache } from 'lru-cache';
import type { CacheStore } from './store.js';

export interface MemoryStoreOptions {
  /** Most entries held; the least recently used goes first. */
  maxEntries: number;
  /** Most bytes of keys and values held (JavaScript string length × 2, roughly). */
  maxBytes: number;
  onEvict?: () => void;
}

/** A bounded LRU with a TTL per entry. Expiry is fixed at insertion: a hit does not extend it. */
export class MemoryStore implements CacheStore {
  readonly kind = 'memory';
  private readonly lru: LRUCache<string, string>;

  constructor(options: MemoryStoreOptions) {
    this.lru = new LRUCache<string, string>({
      max: options.maxEntries,
      maxSize: options.maxBytes,
      sizeCalculation: (value, key) => (value.length + key.length) * 2,
      ttlAutopurge: false,
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

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    this.lru.set(key, value, { ttl: ttlMs });
  }

  /** Unexpired entries: expired ones are dropped first, since nothing else purges them. */
  size(): number {
    this.lru.purgeStale();
    return this.lru.size;
  }

  async close(): Promise<void> {
    this.lru.clear();
  }
}
