import { hash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { InFlight } from './in-flight.js';
import type { CacheStore } from './store.js';

export interface DecisionCacheOptions {
  allowTtlMs: number;
  denyTtlMs: number;
}

export interface CacheEvents {
  hit(): void;
  miss(): void;
  insert(): void;
  /** The store failed; the decision is made upstream as on a miss. */
  storeError(err: unknown): void;
  /** A caller joined a lookup already in flight for the same key. */
  shared(): void;
}

/**
 * Decisions cached under canonical keys. Concurrent misses of one key share one computation;
 * only computed answers are stored, never errors; allow and deny answers keep for their own TTLs.
 * A failing store (memcached gone) degrades to computing every decision, never to an error.
 */
export class DecisionCache<T> {
  private readonly inflight = new InFlight<T>();
  // Decoded entries by their stored text: a hit on a large answer (a regex of 10,000 projects) is
  // then a lookup, not a parse. Values are frozen, so the JSON encoder may reuse their encoding.
  private readonly decoded = new LRUCache<string, NonNullable<T>>({ max: 1024, maxSize: 16 << 20, sizeCalculation: (_v, text) => Math.max(1, text.length) });

  constructor(
    private readonly store: CacheStore,
    private readonly options: DecisionCacheOptions,
    private readonly events: CacheEvents,
    private readonly codec: { encode(v: T): string; decode(s: string): T; allows(v: T): boolean },
  ) {}

  get(key: string, compute: () => Promise<T>): Promise<T> {
    // An in-process store answers a hit here, synchronously: the hit path is most of the traffic,
    // and the in-flight map and the async lookup cost it a chain of promises for nothing. A key
    // being computed still joins that computation, as before.
    const peeked = this.store.peek !== undefined && !this.inflight.has(key);
    if (peeked) {
      const hit = this.peekDecoded(key);
      if (hit) return Promise.resolve(hit.value);
    }
    return this.inflight.share(key, () => this.lookup(key, compute, peeked), { onJoin: () => this.events.shared() });
  }

  /** The entry under `key` from a synchronous store: a hit, else undefined (a miss, or a corrupt entry, counted as the lookup counts it). */
  private peekDecoded(key: string): { value: T } | undefined {
    const cached = this.store.peek!(key);
    if (cached === undefined) return undefined;
    try {
      const value = this.decode(cached);
      this.events.hit();
      return { value };
    } catch (err) {
      this.events.storeError(err);
      return undefined;
    }
  }

  /** Whether the store can say when its entries expire (a store in this process): `until` answers then. */
  knowsExpiry(): boolean {
    return this.store.until !== undefined;
  }

  /** When the decision cached under `key` expires (performance.now() milliseconds); undefined when none is cached or the store cannot say. */
  until(key: string): number | undefined {
    return this.store.until?.(key);
  }

  /** A request answered from what a hit here gave earlier (the Data API's memo): counted as the hit it stands for. */
  countHit(): void {
    this.events.hit();
  }

  /** Lookups in flight now (bounded by the callers' concurrency). */
  inflightCount(): number {
    return this.inflight.size;
  }

  private decode(text: string): T {
    const known = this.decoded.get(text);
    if (known !== undefined) return known;
    const value = this.codec.decode(text);
    if (value !== null && value !== undefined) this.decoded.set(text, (typeof value === 'object' ? Object.freeze(value) : value) as NonNullable<T>);
    return value;
  }

  private async lookup(key: string, compute: () => Promise<T>, peeked = false): Promise<T> {
    let cached: string | undefined;
    try {
      // Peeked a moment ago, in this same tick: nothing could have stored it since.
      if (!peeked) cached = await this.store.get(key);
    } catch (err) {
      this.events.storeError(err);
    }
    if (cached !== undefined) {
      try {
        const value = this.decode(cached);
        this.events.hit();
        return value;
      } catch (err) {
        // A corrupt entry (another version's format, a truncated value) is a miss, not an answer.
        this.events.storeError(err);
      }
    }
    this.events.miss();
    const value = await compute();
    const ttl = this.codec.allows(value) ? this.options.allowTtlMs : this.options.denyTtlMs;
    if (ttl > 0) {
      try {
        await this.store.set(key, this.codec.encode(value), ttl);
        this.events.insert();
      } catch (err) {
        this.events.storeError(err);
      }
    }
    return value;
  }
}

/**
 * A canonical cache key: every part of the request that can change the answer, lists sorted,
 * the token hashed (never stored in clear), the whole hashed again so keys are short and
 * memcached-safe. Separators are length-prefixed so no two requests share a key by concatenation.
 */
export function cacheKey(parts: Record<string, KeyPart>): string {
  // One string hashed at once: the same bytes, so the same keys, as hashing the parts one by one
  // (replicas of two versions share memcached during a rollout), at half the cost on a cache hit.
  let preimage = '';
  for (const name of Object.keys(parts).sort()) preimage += `${name.length}:${name}${partText(parts[name])}`;
  return hash('sha256', preimage);
}

type KeyPart = string | boolean | readonly string[] | undefined;

/**
 * cacheKey for one fixed set of part names, as a mode asks on every request: the names sorted and
 * their prefixes written once, not per request. The same keys as cacheKey for the same parts.
 */
export class CacheKeyShape<N extends string> {
  private readonly heads: ReadonlyArray<readonly [N, string]>;

  constructor(names: readonly N[]) {
    this.heads = [...names].sort().map((n) => [n, `${n.length}:${n}`] as const);
  }

  key(parts: Readonly<Record<N, KeyPart>>): string {
    let preimage = '';
    for (const [name, head] of this.heads) preimage += head + partText(parts[name]);
    return hash('sha256', preimage);
  }
}

function partText(v: KeyPart): string {
  const text = v === undefined ? '\u0000' : Array.isArray(v) ? JSON.stringify(sorted(v)) : JSON.stringify(v);
  return `${text.length}:${text}`;
}

/** The list sorted: itself when it already is (a request's namespaces are), else a sorted copy. */
function sorted(v: readonly string[]): readonly string[] {
  for (let i = 1; i < v.length; i++) if (v[i - 1]! > v[i]!) return [...v].sort();
  return v;
}

export function hashToken(token: string): string {
  // The one-shot hash: no Hash object per request.
  return hash('sha256', token);
}
