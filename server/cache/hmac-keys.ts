import { ConfigError } from '../errors.js';
import { lineEntries } from '../file-format.js';

/** One entry-signing key: its ID travels in each entry so a verifier can pick the key. */
export interface HmacKey {
  id: string;
  secret: Buffer;
}

/** The first key signs; every key verifies, so entries signed before a rotation stay valid. */
export interface Keyring {
  signer: HmacKey;
  byId: ReadonlyMap<string, HmacKey>;
}

/** HMAC-SHA256 keys shorter than its block of output can be brute-forced offline from one entry. */
export const MIN_KEY_BYTES = 32;
const MAX_KEYS = 16;
export const MAX_KEY_FILE_BYTES = 64 << 10;
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;

/**
 * Parses a key file: one `keyid=base64secret` per line (`#` comments and blank lines skipped).
 * Faults name the file and the line, never the secret, since the message goes to logs.
 */
export function parseKeyring(source: string, text: string): Keyring {
  if (text.length > MAX_KEY_FILE_BYTES) throw new ConfigError(source, '', `larger than ${MAX_KEY_FILE_BYTES} bytes: not a key file`);
  const keys: HmacKey[] = [];
  const byId = new Map<string, HmacKey>();
  for (const { at, key: rawId, value } of lineEntries(source, text, '=', 'keyid=base64secret')) {
    const id = rawId.trim();
    const encoded = value.trim();
    if (!KEY_ID.test(id)) throw new ConfigError(source, at, 'the key ID must be 1 to 32 of A-Z a-z 0-9 _ -');
    if (byId.has(id)) throw new ConfigError(source, at, `key ID ${JSON.stringify(id)} is listed twice`);
    // Buffer.from(..., 'base64') skips what is not base64; a strict check keeps a typo from
    // silently shortening the key.
    if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(encoded)) throw new ConfigError(source, at, `key ${JSON.stringify(id)}: the secret is not base64`);
    const secret = Buffer.from(encoded.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (secret.length < MIN_KEY_BYTES)
      throw new ConfigError(source, at, `key ${JSON.stringify(id)}: the secret is ${secret.length} bytes; at least ${MIN_KEY_BYTES} are needed`);
    const key = { id, secret };
    keys.push(key);
    byId.set(id, key);
  }
  if (keys.length === 0) throw new ConfigError(source, '', 'no keys: want one keyid=base64secret line or more (openssl rand -base64 32)');
  if (keys.length > MAX_KEYS) throw new ConfigError(source, '', `${keys.length} keys: at most ${MAX_KEYS}`);
  return { signer: keys[0]!, byId };
}
