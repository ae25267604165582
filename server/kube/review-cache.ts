import { hashToken } from '../cache/decision-cache.js';
import { CachedCalls } from './cached-calls.js';
import type { AccessReview, KubeAuthz } from './types.js';

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
  private readonly verdicts: CachedCalls<boolean>;

  constructor(
    private readonly inner: KubeAuthz,
    private readonly options: ReviewCacheOptions,
    events?: { hit(): void; miss(): void },
  ) {
    this.verdicts = new CachedCalls(options, events);
  }

  async review(req: AccessReview, signal: AbortSignal): Promise<boolean> {
    const key = this.keyOf(req);
    // Shared within one caller only (above). A call joined and then cancelled by its own decision
    // (a sibling review failed, or its deadline passed) is made again for whoever still waits.
    return this.verdicts.get(key, () => this.inner.review(req, signal), signal, `${req.tokenHash ?? hashToken(req.token)}\0${key}`);
  }

  listNamespaces(user: { user: string; groups: readonly string[]; token: string; tokenHash?: string }, signal: AbortSignal): Promise<string[]> {
    return this.inner.listNamespaces(user, signal);
  }

  /** What the verdict depends on: who (user and groups as a set, or the token), and what. */
  private keyOf(req: AccessReview): string {
    // The extra attributes (OAuth scopes) decide too: a scoped token must not reuse its user's verdict.
    const extra = req.extra
      ? Object.entries(req.extra)
          .map(([k, v]) => [k, [...v].sort()])
          .sort(([a], [b]) => (a! < b! ? -1 : a! > b! ? 1 : 0))
      : undefined;
    const who = this.options.ssar ? ['ssar', req.tokenHash ?? hashToken(req.token)] : ['sar', req.user, [...req.groups].sort(), ...(extra ? [extra] : [])];
    return JSON.stringify([who, req.verb, req.apiGroup, req.resource, req.name, req.namespace, ...(req.subresource ? [req.subresource] : [])]);
  }
}
