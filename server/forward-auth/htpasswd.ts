import { ConfigError } from '../errors.js';
import { lineEntries } from '../file-format.js';

/** Largest htpasswd file read. */
export const MAX_HTPASSWD_BYTES = 4 << 20;
/**
 * bcrypt costs accepted. A cost of 31 is 2^31 rounds: one such line would hold a bcrypt thread for
 * hours per login attempt. 14 is already about a second a check.
 */
export const MIN_BCRYPT_COST = 4;
export const MAX_BCRYPT_COST = 14;

const BCRYPT = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;

export interface Htpasswd {
  users: ReadonlyMap<string, string>;
  /** The cost an unknown user's dummy check runs at: the file's most common one. */
  cost: number;
}

/**
 * Parses an htpasswd file (`user:hash` lines, as `htpasswd -B` writes them; `#` comments and blank
 * lines as nginx reads them). Only bcrypt (`$2a$`, `$2b$`, `$2y$`) is accepted: MD5-crypt ($apr1$),
 * SHA-1 ({SHA}), crypt(3) and plain text are cheap to brute-force from a leaked file. Every fault
 * names the file and the line.
 */
export function parseHtpasswd(source: string, text: string): Htpasswd {
  const users = new Map<string, string>();
  const costs = new Map<number, number>();
  for (const { at, key: user, value: hash } of lineEntries(source, text, ':', 'user:hash')) {
    const m = BCRYPT.exec(hash);
    if (!m)
      throw new ConfigError(
        source,
        at,
        `user ${JSON.stringify(user)}: not a bcrypt hash ($2y$, $2a$ or $2b$; create it with htpasswd -B): other hash types are refused`,
      );
    const cost = Number(m[1]);
    if (cost < MIN_BCRYPT_COST || cost > MAX_BCRYPT_COST)
      throw new ConfigError(source, at, `user ${JSON.stringify(user)}: bcrypt cost ${cost} is outside ${MIN_BCRYPT_COST}..${MAX_BCRYPT_COST}`);
    if (users.has(user)) throw new ConfigError(source, at, `user ${JSON.stringify(user)} is listed twice`);
    users.set(user, hash);
    costs.set(cost, (costs.get(cost) ?? 0) + 1);
  }
  // An empty file is more likely a truncated or mistaken one than a wish to refuse everyone.
  if (users.size === 0) throw new ConfigError(source, '', 'no users: remove --forward-auth.htpasswd-file to turn basic auth off');
  let cost = 10;
  let most = 0;
  for (const [c, n] of costs) if (n > most) [cost, most] = [c, n];
  return { users, cost };
}
