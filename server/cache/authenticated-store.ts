import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Keyring } from './hmac-keys.js';
import type { CacheStore } from './store.js';

/** Why a stored entry was not believed. */
export type RejectReason = 'format' | 'key' | 'mac' | 'expired';

export interface AuthenticatedStoreOptions {
  /** Read at every call, so a reloaded key file takes effect at once. */
  keyring: () => Keyring;
  now?: () => number;
  /** An entry was refused; the lookup is a miss. */
  onReject?: (reason: RejectReason) => void;
  /** Releases what the keys came from (a watched file) when the store closes. */
  onClose?: () => void;
}

const VERSION = 'lsa1';
// A fixed label in the MAC, so a key shared with something else by mistake cannot vouch for a decision.
const CONTEXT = 'lokistack-authz decision cache';
const ENVELOPE = /^lsa1\.([A-Za-z0-9_-]{1,32})\.(\d{1,16})\.([A-Za-z0-9_-]{43})\./;

/**
 * Entries that only this service can write. Anyone who can reach memcached can write to it, so a
 * stored decision is believed only with an HMAC-SHA256 over the key it is stored under, its value
 * and its absolute expiry: a forged entry, a genuine one copied to another user's key, or one
 * rewritten to outlive its TTL is a miss. The envelope is `lsa1.<key ID>.<expiry ms>.<MAC>.<value>`.
 */
export class AuthenticatedStore implements CacheStore {
  readonly kind: CacheStore['kind'];
  private readonly now: () => number;

  constructor(
    private readonly inner: CacheStore,
    private readonly options: AuthenticatedStoreOptions,
  ) {
    this.kind = inner.kind;
    this.now = options.now ?? Date.now;
  }

  async get(key: string): Promise<string | undefined> {
    const stored = await this.inner.get(key);
    if (stored === undefined) return undefined;
    const m = ENVELOPE.exec(stored);
    if (!m) return this.reject('format');
    const [head, id, expiry, mac] = m as unknown as [string, string, string, string];
    const k = this.options.keyring().byId.get(id);
    if (!k) return this.reject('key');
    const value = stored.slice(head.length);
    const want = sign(k.secret, id, key, expiry, value);
    const got = Buffer.from(mac, 'base64url');
    if (got.length !== want.length || !timingSafeEqual(got, want)) return this.reject('mac');
    // Checked after the MAC, so only a genuine entry kept past its TTL counts as expired.
    if (this.now() >= Number(expiry)) return this.reject('expired');
    return value;
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    const { signer } = this.options.keyring();
    const expiry = String(this.now() + Math.max(0, Math.ceil(ttlMs)));
    const mac = sign(signer.secret, signer.id, key, expiry, value).toString('base64url');
    await this.inner.set(key, `${VERSION}.${signer.id}.${expiry}.${mac}.${value}`, ttlMs);
  }

  size(): number | undefined {
    return this.inner.size();
  }

  close(): Promise<void> {
    this.options.onClose?.();
    return this.inner.close();
  }

  private reject(reason: RejectReason): undefined {
    this.options.onReject?.(reason);
    return undefined;
  }
}

function sign(secret: Buffer, id: string, key: string, expiry: string, value: string): Buffer {
  // The header is JSON (no raw newline) and the value comes last, so no two inputs share a MAC input.
  return createHmac('sha256', secret)
    .update(JSON.stringify([CONTEXT, VERSION, id, key, expiry]))
    .update('\n')
    .update(value)
    .digest();
}
