import { setMaxListeners } from 'node:events';
import type { DecisionCache } from '../cache/decision-cache.js';
import { CacheKeyShape, hashToken } from '../cache/decision-cache.js';
import { deadline, SIGNAL_MAX_LISTENERS } from '../deadline.js';
import type { OpenShiftDecisionOptions } from '../config/openshift-config.js';
import { internalError, invalidParameter, reasonOf, unauthorized } from '../errors.js';
import { KubeError, type AccessReview, type KubeAuthz, type TokenReviewer } from '../kube/types.js';
import type { Logger } from '../observability/logger.js';
import { RateLimit } from '../observability/rate-limit.js';
import { matchAllResult, matcherResult, type MatcherConfig } from './matchers.js';
import type { OpenShiftResult } from './openshift-result.js';
import { parseGatewayInputs, withIdentity, type GatewayInput } from './openshift-input.js';
import { MAX_REASON_ITEMS } from './reasons.js';
import { defined, UNDEFINED, type AccessReviewReason, type Authorizer, type Decision, type DecisionReason, type DecisionRequest } from './types.js';

/** Built whole by the openshift config (config/openshift-config.ts), handed over by the wiring as it is. */
export type OpenShiftOptions = OpenShiftDecisionOptions;

export interface OpenShiftDeps {
  kube: KubeAuthz;
  /** --openshift.verify-token: the forwarded token decides who the caller is, not the input. */
  tokenReviewer?: TokenReviewer;
  cache?: DecisionCache<OpenShiftResult>;
  logger: Logger;
}

// A Map, not an object literal: a permission such as "__proto__" or "toString" must find nothing.
const VERBS: ReadonlyMap<string, 'get' | 'create'> = new Map([
  ['read', 'get'],
  ['write', 'create'],
]);

/**
 * The openshift-logging and openshift-network modes: opa-openshift's decision, made with
 * Kubernetes access reviews. Cluster-wide review first; writes stop there; cluster-wide readers
 * get the namespaces they can list, others one review per namespace in the query.
 */
export class OpenShiftAuthorizer implements Authorizer {
  readonly mode: string;
  // A forged identity sent in a loop leaves a trail, not a flood.
  private readonly mismatches = new RateLimit(10_000);
  private readonly noMatcher: MatcherConfig;
  // The configuration is the process's: one generation for its life.
  private readonly generation = Object.freeze({});
  readonly memoByToken?: { remembered(): void };

  constructor(
    private readonly options: OpenShiftOptions,
    private readonly deps: OpenShiftDeps,
  ) {
    this.mode = options.mode;
    this.noMatcher = { keys: [], op: options.matcher.op };
    // A decision is remembered only as long as its cache entry lives, which only a cache in this
    // process can tell (memcached's entries are other processes' too).
    const cache = deps.cache;
    if (cache?.knowsExpiry()) this.memoByToken = { remembered: () => cache.countHit() };
  }

  ready(): boolean {
    return true;
  }

  memoGeneration(): object | undefined {
    return this.memoByToken ? this.generation : undefined;
  }

  async decide(req: DecisionRequest): Promise<Decision> {
    const o = this.options;
    if (req.path.length !== o.decisionPath.length || req.path.some((s, i) => s !== o.decisionPath[i])) return UNDEFINED;

    const input = parseGatewayInputs(req.inputOccurrences ?? [req.input]);
    const apiGroup = o.mappings.get(input.tenant);
    if (apiGroup === undefined) throw internalError('unknown tenant');
    if (input.resource === '') throw invalidParameter('unknown resource');
    const verb = VERBS.get(input.permission);
    if (!verb) throw invalidParameter('unknown permission');

    let token = req.token ?? '';
    // A request on the debug token is warned about every time: it is never remembered.
    const rememberable = token !== '';
    if (token === '') {
      if (!o.debugToken) throw invalidParameter('missing forwarded access token');
      token = o.debugToken;
      this.deps.logger.warn('using debug.token in production environments is not recommended.');
    }

    // Bounded before anything is asked upstream: each namespace costs a review.
    const namespaces = queryNamespaces(input.extras.selectors);
    if (namespaces.length > o.maxNamespaces) {
      throw invalidParameter(`too many namespaces in query: ${namespaces.length}, at most ${o.maxNamespaces}`);
    }
    // The reviewed uid and extra (OpenShift's OAuth scopes) go into every SubjectAccessReview: a
    // token scoped to user:info must be judged as that token, not as its user.
    const verified = this.deps.tokenReviewer ? await this.verifyIdentity(this.deps.tokenReviewer, token, input, req) : undefined;
    const attributes = verified?.attributes;

    // opa-openshift's order: the wildcard check (when a matcher applies), then the ViaQ/OTel check
    // (for everyone, admins and skipped tenants included), then the OTel key choice.
    const forRequest = this.matcherFor(input);
    if (input.extras.wildcardSelectors && forRequest.keys.length > 0) {
      throw invalidParameter('wildcard in query namespaces not allowed');
    }
    const matcher = this.migrateViaqToOtel(forRequest, input);

    // The one hash of the token this request makes: the cache key holds it, and on a miss the
    // Kubernetes client's limiter and the review cache key their caller by it.
    const tokenHash = hashToken(token);
    const review = { user: input.subject, groups: input.groups, ...attributes, token, tokenHash, verb, apiGroup, resource: input.tenant, name: input.resource };
    // Only when a reason is wanted: the reviews this request asked, filled as they answer.
    const trail = req.wantReason && req.audit ? new ReviewTrail(this.matcherNote(input)) : undefined;
    if (trail) req.audit!.reason = trail.reason();
    const compute = () => this.authorize(review, matcher, namespaces, input.extras.metadataOnly, trail);
    if (!this.deps.cache) return defined(await compute());

    const key = KEY.key({
      verb,
      metadataOnly: input.extras.metadataOnly,
      apiGroup,
      name: input.resource,
      tenant: input.tenant,
      namespaces,
      user: input.subject,
      groups: input.groups,
      token: tokenHash,
      matcherKeys: matcher.keys,
      matcherOp: matcher.op,
    });
    const result = await this.deps.cache.get(key, compute);
    if (this.memoByToken && rememberable) {
      // As long as the cached decision, and with --openshift.verify-token no longer than the token's
      // review (a forged identity, which is logged each time, not at all).
      const until = this.deps.cache.until(key);
      const reviewed = verified ? verified.until : Infinity;
      if (until !== undefined && reviewed !== undefined) req.rememberUntil = Math.min(until, reviewed);
    }
    return defined(result);
  }

  /** Why this caller gets no namespace matcher, when the mode has matcher keys. */
  private matcherNote(input: GatewayInput): string | undefined {
    const o = this.options;
    if (o.matcher.keys.length === 0) return undefined;
    if (o.skipTenants.has(input.tenant)) return `none: tenant ${input.tenant} is in --opa.skip-tenants`;
    const admin = input.groups.find((g) => o.adminGroups.has(g));
    return admin === undefined ? undefined : `none: group ${admin} is in --opa.admin-groups`;
  }

  /**
   * Replaces the input's subject and groups with those the cluster's TokenReview gives the token,
   * so a forged subject or admin group asserted in the input decides nothing. A token the cluster
   * does not authenticate is a 401, as opa-openshift answers a failed Kubernetes call.
   */
  private async verifyIdentity(
    reviewer: TokenReviewer,
    token: string,
    input: GatewayInput,
    req: DecisionRequest,
  ): Promise<{ attributes: { uid?: string; extra?: Record<string, string[]> }; until?: number }> {
    const reviewed = await reviewer
      .reviewToken(token, req.signal)
      .catch((err: unknown) => upstreamFailure('token review failed', 'failed to create token review', err));
    if (!reviewed.authenticated) {
      // The API's reason stays out of the answer: it is about the token, which is never echoed.
      throw unauthorized('token review failed: the forwarded access token is not authenticated');
    }
    const asserted = { subject: input.subject, groups: input.groups };
    const same = reviewed.user === input.subject && sameSet(reviewed.groups, input.groups);
    input.subject = reviewed.user;
    input.groups = [...reviewed.groups];
    const attributes = { ...(reviewed.uid !== undefined ? { uid: reviewed.uid } : {}), ...(reviewed.extra ? { extra: reviewed.extra } : {}) };
    if (same) {
      if (req.audit) req.audit.identity = { check: 'token_review' };
      // Asked only when an answer may be remembered: it hashes the token once more.
      const until = this.memoByToken ? reviewer.answeredUntil?.(token) : undefined;
      return until === undefined ? { attributes } : { attributes, until };
    }
    if (req.audit) {
      req.audit.input = withIdentity(req.input, input.subject, input.groups);
      req.audit.identity = { check: 'token_review_mismatch', asserted };
    }
    const suppressed = this.mismatches.take('identity');
    if (suppressed !== undefined) {
      this.deps.logger.warn(
        { asserted: asserted.subject, reviewed: reviewed.user, ...(suppressed > 0 ? { suppressed } : {}) },
        "the input's subject or groups differ from the token's; deciding on the token's",
      );
    }
    return { attributes };
  }

  /** The request's matcher: none for skipped tenants and admin groups. */
  private matcherFor(input: GatewayInput): MatcherConfig {
    const o = this.options;
    if (o.matcher.keys.length === 0 || o.skipTenants.has(input.tenant) || input.groups.some((g) => o.adminGroups.has(g))) {
      return this.noMatcher;
    }
    // Shared, never changed: every later step builds a new config rather than editing this one.
    return o.matcher;
  }

  /** --opa.viaq-to-otel-migration: never both namespace labels; the matcher keeps the one queried. */
  private migrateViaqToOtel(matcher: MatcherConfig, input: GatewayInput): MatcherConfig {
    if (!this.options.viaqToOtelMigration) return matcher;
    const viaq = input.extras.selectors.get('kubernetes_namespace_name') ?? [];
    const otel = input.extras.selectors.get('k8s_namespace_name') ?? [];
    if (viaq.length > 0 && otel.length > 0) {
      throw invalidParameter("queries with both 'kubernetes_namespace_name' and 'k8s_namespace_name' selectors are not allowed");
    }
    const drop = otel.length > 0 ? 'kubernetes_namespace_name' : 'k8s_namespace_name';
    return { keys: matcher.keys.filter((k) => k !== drop), op: matcher.op };
  }

  private async authorize(
    base: Omit<AccessReview, 'namespace'>,
    matcher: MatcherConfig,
    queryNamespaces: readonly string[],
    metadataOnly: boolean,
    trail: ReviewTrail | undefined,
  ): Promise<OpenShiftResult> {
    const limit = deadline(this.options.decisionTimeoutMs);
    try {
      const result = await this.authorizeWithin(limit.signal, base, matcher, queryNamespaces, metadataOnly, trail);
      trail?.done(result);
      return result;
    } finally {
      limit.release();
    }
  }

  private async authorizeWithin(
    signal: AbortSignal,
    base: Omit<AccessReview, 'namespace'>,
    matcher: MatcherConfig,
    queryNamespaces: readonly string[],
    metadataOnly: boolean,
    trail: ReviewTrail | undefined,
  ): Promise<OpenShiftResult> {
    const kube = this.deps.kube;
    trail?.start();
    const clusterAllow = await kube
      .review({ ...base, namespace: '' }, signal)
      .catch((err: unknown) => upstreamFailure('cluster-wide SAR failed', 'failed to create subject access review', err));
    trail?.review(base, '', clusterAllow);
    this.deps.logger.debug(
      { user: base.user, res: base.resource, resourceName: base.name, api: base.apiGroup, allowed: clusterAllow },
      'cluster-scoped AccessReview',
    );

    if (base.verb === 'create') {
      trail?.step(clusterAllow ? 'cluster_review_allowed' : 'cluster_review_denied', 'a write is decided by the cluster-wide review alone');
      return clusterAllow;
    }
    const listNamespaces = () =>
      kube.listNamespaces(base, signal).catch((err: unknown) => upstreamFailure('failed to access api server', 'failed to list projects', err));

    if (clusterAllow) {
      trail?.step('cluster_review_allowed', 'the cluster-wide review allowed: no namespaced review');
      if (matcher.keys.length === 0) return true;
      if (queryNamespaces.length === 0 && this.options.matchAllForClusterReaders) return matchAllResult(matcher);
      const listed = await listNamespaces();
      trail?.listed(listed.length);
      if (queryNamespaces.length === 0) return this.response(listed, matcher);
      const visible = new Set(listed);
      return this.response(
        queryNamespaces.filter((ns) => visible.has(ns)),
        matcher,
      );
    }

    let namespaces = queryNamespaces;
    if (metadataOnly && namespaces.length === 0) {
      namespaces = await listNamespaces();
      this.deps.logger.debug({ count: namespaces.length }, 'list namespaces for meta request');
      trail?.listed(namespaces.length);
      if (namespaces.length === 0) {
        trail?.step('no_namespaces', 'the cluster-wide review denied, and the caller can list no namespace to review');
        return false;
      }
    }
    if (namespaces.length === 0) trail?.step('cluster_review_denied', 'the cluster-wide review denied, and the query names no namespace to review');
    const allowed = await this.reviewEach(base, namespaces, signal, trail);
    if (namespaces.length > 0) {
      trail?.step(
        allowed.length > 0 ? 'namespace_reviews_allowed' : 'namespace_reviews_denied',
        `${allowed.length} of ${namespaces.length} namespaced reviews allowed`,
      );
    }
    if (allowed.length === 0) return false;
    if (matcher.keys.length === 0) return true;
    return this.response(allowed, matcher);
  }

  /** One review per namespace, a bounded number at once; the first failure fails the decision. */
  private async reviewEach(base: Omit<AccessReview, 'namespace'>, namespaces: readonly string[], outer: AbortSignal, trail?: ReviewTrail): Promise<string[]> {
    // One namespace (a query's usual case) has no sibling to stop: the decision's signal is enough.
    if (namespaces.length === 1) return this.reviewOne(base, namespaces[0]!, outer, trail);
    // The decision's signal, or the first failure: one controller linked by hand, not
    // AbortSignal.any (its weak references and dependant-signal bookkeeping cost every decision).
    const stop = new AbortController();
    const signal = stop.signal;
    setMaxListeners(SIGNAL_MAX_LISTENERS, signal);
    let siblingFailed = false;
    const onOuter = () => stop.abort(outer.reason);
    if (outer.aborted) onOuter();
    else outer.addEventListener('abort', onOuter, { once: true });
    const allowed = new Array<boolean>(namespaces.length).fill(false);
    let next = 0;
    const worker = async () => {
      while (next < namespaces.length) {
        const i = next++;
        const ns = namespaces[i]!;
        try {
          allowed[i] = await this.deps.kube.review({ ...base, namespace: ns }, signal);
        } catch (err) {
          siblingFailed = true;
          stop.abort();
          throw err;
        }
        this.deps.logger.debug({ user: base.user, res: base.resource, namespace: ns, allowed: allowed[i] }, 'namespace-scoped AccessReview');
      }
    };
    const workers = Array.from({ length: Math.min(this.options.reviewConcurrency, namespaces.length) }, worker);
    const results = await Promise.allSettled(workers);
    outer.removeEventListener('abort', onOuter);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected' && !isAbortAfterStop(r.reason, siblingFailed));
    const first = failed ?? results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (first) upstreamFailure('namespaced SAR failed', 'failed to create subject access review', first.reason);
    // In the namespaces' order, not the answers': the reason reads the same however they raced.
    namespaces.forEach((ns, i) => trail?.review(base, ns, allowed[i]!));
    return namespaces.filter((_, i) => allowed[i]);
  }

  private async reviewOne(base: Omit<AccessReview, 'namespace'>, namespace: string, signal: AbortSignal, trail?: ReviewTrail): Promise<string[]> {
    const allowed = await this.deps.kube
      .review({ ...base, namespace }, signal)
      .catch((err: unknown) => upstreamFailure('namespaced SAR failed', 'failed to create subject access review', err));
    this.deps.logger.debug({ user: base.user, res: base.resource, namespace, allowed }, 'namespace-scoped AccessReview');
    trail?.review(base, namespace, allowed);
    return allowed ? [namespace] : [];
  }

  private response(namespaces: readonly string[], matcher: MatcherConfig): OpenShiftResult {
    if (matcher.keys.length === 0 && namespaces.length > 0) return true;
    return matcherResult(namespaces, matcher, { escape: this.options.escapeNamespaces });
  }
}

// The decision cache's key: every part of the request that can change the answer (cacheKey's bytes,
// so replicas of two versions share memcached entries during a rollout).
const KEY = new CacheKeyShape(['verb', 'metadataOnly', 'apiGroup', 'name', 'tenant', 'namespaces', 'user', 'groups', 'token', 'matcherKeys', 'matcherOp']);

/** The namespaces a query names under any label, each once, sorted. */
function queryNamespaces(selectors: ReadonlyMap<string, readonly string[]>): string[] {
  if (selectors.size === 0) return [];
  const all = new Set<string>();
  for (const values of selectors.values()) for (const ns of values) all.add(ns);
  return [...all].sort();
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const x = new Set(a);
  const y = new Set(b);
  return x.size === y.size && [...x].every((g) => y.has(g));
}

function isAbortAfterStop(err: unknown, siblingFailed: boolean): boolean {
  return siblingFailed && err instanceof KubeError && err.code === 'kube_aborted';
}

/** opa-openshift answers every failed Kubernetes call with 401 and the call's error. */
function upstreamFailure(prefix: string, call: string, err: unknown): never {
  const reason = reasonOf(err);
  throw unauthorized(`${prefix}: ${call}: ${reason}`, { cause: err });
}

/**
 * The access reviews one decision asked, for its reason: a reason starts as "cached" and becomes
 * the steps of the evaluation when this request is the one that ran it (the decision cache runs
 * one evaluation for every caller waiting on the same key, and none on a hit). Holds no token.
 */
class ReviewTrail {
  private readonly r: DecisionReason;
  private readonly reviews: AccessReviewReason[] = [];
  private left = 0;

  constructor(matcher: string | undefined) {
    this.r = {
      code: 'cached',
      message: 'answered from the decision cache (or by a concurrent request asking the same): no access review was asked for this one',
      cached: true,
      ...(matcher ? { matcher } : {}),
    };
  }

  /** The reason object, filled in place as the evaluation goes (so a failure still shows the reviews so far). */
  reason(): DecisionReason {
    return this.r;
  }

  /** This request runs the evaluation: until a step decides, a failure shows the reviews so far. */
  start(): void {
    this.r.cached = false;
    this.step('reviews_incomplete', 'the decision failed before the reviews decided (see the error)');
  }

  review(base: Omit<AccessReview, 'namespace'>, namespace: string, allowed: boolean): void {
    if (this.reviews.length >= MAX_REASON_ITEMS) {
      this.left++;
      this.r.truncated = { reviews: this.left };
      return;
    }
    this.reviews.push({
      scope: namespace === '' ? 'cluster' : 'namespace',
      verb: base.verb,
      apiGroup: base.apiGroup,
      resource: base.resource,
      name: base.name,
      ...(namespace === '' ? {} : { namespace }),
      allowed,
    });
    this.r.reviews = this.reviews;
  }

  listed(count: number): void {
    this.r.message = `${this.r.message}; the caller can list ${count} namespaces`;
  }

  step(code: string, message: string): void {
    this.r.code = code;
    this.r.message = message;
  }

  done(result: OpenShiftResult): void {
    if (typeof result === 'object') this.r.message = `${this.r.message}; answered with namespace matchers`;
  }
}
