/**
 * Where cached decisions live: in this process, or in memcached shared by replicas. Values are
 * strings (serialized decisions); a store may lose any entry at any time.
 */
export interface CacheStore {
  readonly kind: 'memory' | 'memcached';
  get(key: string): Promise<string | undefined>;
  /** A synchronous get, for a store in this process: a hit is then answered without a promise chain. */
  peek?(key: string): string | undefined;
  set(key: string, value: string, ttlMs: number): Promise<void>;
  /**
   * When the entry under `key` expires (performance.now() milliseconds), for a store in this
   * process; undefined when it holds none. A store shared with other processes cannot say.
   */
  until?(key: string): number | undefined;
  /** Entries held now, where the store can tell (memory). */
  size(): number | undefined;
  close(): Promise<void>;
}
