import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { KubeError, type AccessReview, type KubeAuthz } from './types.js';

export interface ReviewCacheOptions {
  /** How long a verdict is reused: the longest a grant or a revocation can go unseen. */
  ttlMs: number;
  maxEntries: number;
  /** SelfSubjectAccessReviews: the verdict is the token's, so the key is the token's hash. */
  ssar: boolean;
}

/**
 * Access-review verdicts (allow and deny) cached per subject, groups and attributes, in front of a
 * KubeAuthz: one query naming a thousand namespaces, repeated, costs its reviews once per TTL
 * rather than once per request (decisions are cached whole elsewhere, but only when they
 * complete; a fan-out that times out or fails is recomputed from nothing). Errors are never cached.
 *
 * Concurrent identical reviews are made once, but only within one caller (token hash): joining
 * another caller's call would queue behind that caller's turn in the limiter, and a flooder who
 * asserts a victim's subject could hold the victim's reviews hostage that way.
 */
export class ReviewCache implements KubeAuthz {
  private readonly verdicts: LRUCache<string, boolean>;
  private readonly inflight = new Map<string, Promise<boolean>>();

  constructor(
    private readonly inner: KubeAuthz,
    private readonly options: ReviewCacheOptions,
    private readonly events: { hit(): void; miss(): void } = { hit() {}, miss() {} },
  ) {
    this.verdicts = new LRUCache({ max: options.maxEntries, ttl: options.ttlMs });
  }

  async review(req: AccessReview, signal: AbortSignal): Promise<boolean> {
    const key = this.keyOf(req);
    const known = this.verdicts.get(key);
    if (known !== undefined) {
      this.events.hit();
      return known;
    }
    const flight = `${sha256(req.token)}\0${key}`;
    const running = this.inflight.get(flight);
    if (running) {
      try {
        return await running;
      } catch (err) {
        // The call we joined was cancelled by its own decision (a sibling review failed, or its
        // deadline passed); ours still stands, so it asks for itself.
        if (signal.aborted || !(err instanceof KubeError && err.code === 'kube_aborted')) throw err;
      }
    }
    this.events.miss();
    const p = this.inner.review(req, signal).then((allowed) => {
      this.verdicts.set(key, allowed);
      return allowed;
    });
    this.inflight.set(flight, p);
    try {
      return await p;
    } finally {
      if (this.inflight.get(flight) === p) this.inflight.delete(flight);
    }
  }

  listNamespaces(user: { user: string; groups: readonly string[]; token: string }, signal: AbortSignal): Promise<string[]> {
    return this.inner.listNamespaces(user, signal);
  }

  /** What the verdict depends on: who (user and groups as a set, or the token), and what. */
  private keyOf(req: AccessReview): string {
    // The extra attributes (OAuth scopes) decide too: a scoped token must not reuse its user's verdict.
    const extra = req.extra ? Object.entries(req.extra).map(([k, v]) => [k, [...v].sort()]).sort(([a], [b]) => (a! < b! ? -1 : a! > b! ? 1 : 0)) : undefined;
    const who = this.options.ssar ? ['ssar', sha256(req.token)] : ['sar', req.user, [...req.groups].sort(), ...(extra ? [extra] : [])];
    return JSON.stringify([who, req.verb, req.apiGroup, req.resource, req.name, req.namespace, ...(req.subresource ? [req.subresource] : [])]);
  }
}

function sha256(s: string): string {
  return createHash('sha256').update(s).digest('base64url');
}
