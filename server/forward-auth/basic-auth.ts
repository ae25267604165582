import { createHmac, randomBytes } from 'node:crypto';
import bcrypt from 'bcryptjs';
import { LRUCache } from 'lru-cache';
import type { PasswordChecker } from './bcrypt-pool.js';
import type { Htpasswd } from './htpasswd.js';

export interface BasicAuthOptions {
  /** How long a match is remembered; 0: never. */
  successTtlMs: number;
  /** How long a mismatch is remembered; 0: never. */
  failureTtlMs: number;
  maxEntries: number;
}

/**
 * Checks users and passwords against the htpasswd file. Verdicts are remembered under an HMAC of
 * the user, the password and the stored hash with a key only this process holds (never the
 * password, and a changed hash in the file misses at once), for a short time, so a client
 * repeating a credential, right or wrong, costs a lookup, not a bcrypt run. Concurrent checks of one
 * credential share one run. An unknown user is checked against a dummy hash of the file's usual
 * cost, so a miss takes as long as a wrong password: no user enumeration by timing.
 */
export class BasicAuthVerifier {
  private readonly key = randomBytes(32);
  private readonly verdicts: LRUCache<string, boolean>;
  private readonly inflight = new Map<string, Promise<boolean>>();
  private dummy: { cost: number; hash: string } | undefined;

  constructor(
    private readonly checker: PasswordChecker,
    private readonly file: () => Htpasswd,
    private readonly options: BasicAuthOptions,
  ) {
    this.verdicts = new LRUCache<string, boolean>({ max: options.maxEntries, ttlAutopurge: false, updateAgeOnGet: false, allowStale: false });
  }

  async verify(user: string, password: string): Promise<boolean> {
    const htpasswd = this.file();
    const stored = htpasswd.users.get(user);
    const hash = stored ?? this.dummyHash(htpasswd.cost);
    const k = createHmac('sha256', this.key).update(`${user.length}:${user}\0${password.length}:${password}\0${hash}`).digest('base64');
    const known = this.verdicts.get(k);
    if (known !== undefined) return known && stored !== undefined;
    const running = this.inflight.get(k);
    if (running) return running;
    const p = this.checker
      .check(password, hash)
      .then((ok) => {
        const match = ok && stored !== undefined;
        const ttl = match ? this.options.successTtlMs : this.options.failureTtlMs;
        if (ttl > 0) this.verdicts.set(k, match, { ttl });
        return match;
      })
      .finally(() => this.inflight.delete(k));
    this.inflight.set(k, p);
    return p;
  }

  /** A well-formed hash of nothing anyone knows, at `cost`: checking against it costs what a real check costs. */
  private dummyHash(cost: number): string {
    if (this.dummy?.cost !== cost) {
      const salt = bcrypt.genSaltSync(cost);
      this.dummy = { cost, hash: salt + randomBytes(24).toString('base64').replace(/\+/g, '.').replace(/=/g, '').slice(0, 31) };
    }
    return this.dummy.hash;
  }
}
