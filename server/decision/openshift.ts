import { setMaxListeners } from 'node:events';
import type { DecisionCache } from '../cache/decision-cache.js';
import { cacheKey, hashToken } from '../cache/decision-cache.js';
import { deadline, SIGNAL_MAX_LISTENERS } from '../deadline.js';
import { DecisionError } from '../errors.js';
import { KubeError, type AccessReview, type KubeAuthz, type TokenReviewer } from '../kube/types.js';
import type { Logger } from '../observability/logger.js';
import { RateLimit } from '../observability/rate-limit.js';
import { matchAllResult, matcherResult, type MatcherConfig } from './matchers.js';
import type { OpenShiftResult } from './openshift-result.js';
import { parseGatewayInputs, withIdentity, type GatewayInput } from './openshift-input.js';
import { defined, UNDEFINED, type Authorizer, type Decision, type DecisionRequest } from './types.js';

export interface OpenShiftOptions {
  mode: 'openshift-logging' | 'openshift-network';
  /** The one path that decides, e.g. ["lokistack", "allow"]; every other path is undefined. */
  decisionPath: readonly string[];
  /** tenant -> API group of the tenant's access reviews (--openshift.mappings). */
  mappings: ReadonlyMap<string, string>;
  matcher: MatcherConfig;
  skipTenants: ReadonlySet<string>;
  adminGroups: ReadonlySet<string>;
  viaqToOtelMigration: boolean;
  /** Regex-escape namespace names in matcher values. */
  escapeNamespaces: boolean;
  /** A cluster-wide reader whose query names no namespace gets a match-all matcher, not every project. */
  matchAllForClusterReaders: boolean;
  /** Namespaced reviews one decision runs at once. */
  reviewConcurrency: number;
  /** Deadline for computing one decision, shared by every caller waiting on it. */
  decisionTimeoutMs: number;
  /** opa-openshift's hidden --debug.token: used when no token is forwarded. */
  debugToken?: string;
  /** Most distinct namespaces one query may name (each costs a review); beyond it, a 400. */
  maxNamespaces: number;
}

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

  constructor(
    private readonly options: OpenShiftOptions,
    private readonly deps: OpenShiftDeps,
  ) {
    this.mode = options.mode;
  }

  ready(): boolean {
    return true;
  }

  async decide(req: DecisionRequest): Promise<Decision> {
    const o = this.options;
    if (req.path.length !== o.decisionPath.length || req.path.some((s, i) => s !== o.decisionPath[i])) return UNDEFINED;

    const input = parseGatewayInputs(req.inputOccurrences ?? [req.input]);
    const apiGroup = o.mappings.get(input.tenant);
    if (apiGroup === undefined) throw new DecisionError('internal_error', 500, 'unknown tenant');
    if (input.resource === '') throw new DecisionError('invalid_parameter', 400, 'unknown resource');
    const verb = VERBS.get(input.permission);
    if (!verb) throw new DecisionError('invalid_parameter', 400, 'unknown permission');

    let token = req.token ?? '';
    if (token === '') {
      if (!o.debugToken) throw new DecisionError('invalid_parameter', 400, 'missing forwarded access token');
      token = o.debugToken;
      this.deps.logger.warn('using debug.token in production environments is not recommended.');
    }

    // Bounded before anything is asked upstream: each namespace costs a review.
    const namespaceCount = new Set([...input.extras.selectors.values()].flat()).size;
    if (namespaceCount > o.maxNamespaces) {
      throw new DecisionError('invalid_parameter', 400, `too many namespaces in query: ${namespaceCount}, at most ${o.maxNamespaces}`);
    }
    if (this.deps.tokenReviewer) await this.verifyIdentity(this.deps.tokenReviewer, token, input, req);

    // opa-openshift's order: the wildcard check (when a matcher applies), then the ViaQ/OTel check
    // (for everyone, admins and skipped tenants included), then the OTel key choice.
    const forRequest = this.matcherFor(input);
    if (input.extras.wildcardSelectors && forRequest.keys.length > 0) {
      throw new DecisionError('invalid_parameter', 400, 'wildcard in query namespaces not allowed');
    }
    const matcher = this.migrateViaqToOtel(forRequest, input);
    const namespaces = [...new Set([...input.extras.selectors.values()].flat())].sort();

    const review = { user: input.subject, groups: input.groups, token, verb, apiGroup, resource: input.tenant, name: input.resource };
    const compute = () => this.authorize(review, matcher, namespaces, input.extras.metadataOnly);
    if (!this.deps.cache) return defined(await compute());

    const key = cacheKey({
      verb,
      metadataOnly: input.extras.metadataOnly,
      apiGroup,
      name: input.resource,
      tenant: input.tenant,
      namespaces,
      user: input.subject,
      groups: input.groups,
      token: hashToken(token),
      matcherKeys: matcher.keys,
      matcherOp: matcher.op,
    });
    return defined(await this.deps.cache.get(key, compute));
  }

  /**
   * Replaces the input's subject and groups with those the cluster's TokenReview gives the token,
   * so a forged subject or admin group asserted in the input decides nothing. A token the cluster
   * does not authenticate is a 401, as opa-openshift answers a failed Kubernetes call.
   */
  private async verifyIdentity(reviewer: TokenReviewer, token: string, input: GatewayInput, req: DecisionRequest): Promise<void> {
    const reviewed = await reviewer
      .reviewToken(token, req.signal)
      .catch((err: unknown) => upstreamFailure('token review failed', 'failed to create token review', err));
    if (!reviewed.authenticated) {
      // The API's reason stays out of the answer: it is about the token, which is never echoed.
      throw new DecisionError('unauthorized', 401, 'token review failed: the forwarded access token is not authenticated');
    }
    const asserted = { subject: input.subject, groups: input.groups };
    const same = reviewed.user === input.subject && sameSet(reviewed.groups, input.groups);
    input.subject = reviewed.user;
    input.groups = [...reviewed.groups];
    if (same) {
      if (req.audit) req.audit.identity = { check: 'token_review' };
      return;
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
  }

  /** The request's matcher: none for skipped tenants and admin groups. */
  private matcherFor(input: GatewayInput): MatcherConfig {
    const o = this.options;
    if (o.matcher.keys.length === 0 || o.skipTenants.has(input.tenant) || input.groups.some((g) => o.adminGroups.has(g))) {
      return { keys: [], op: o.matcher.op };
    }
    return { keys: [...o.matcher.keys], op: o.matcher.op };
  }

  /** --opa.viaq-to-otel-migration: never both namespace labels; the matcher keeps the one queried. */
  private migrateViaqToOtel(matcher: MatcherConfig, input: GatewayInput): MatcherConfig {
    if (!this.options.viaqToOtelMigration) return matcher;
    const viaq = input.extras.selectors.get('kubernetes_namespace_name') ?? [];
    const otel = input.extras.selectors.get('k8s_namespace_name') ?? [];
    if (viaq.length > 0 && otel.length > 0) {
      throw new DecisionError('invalid_parameter', 400, "queries with both 'kubernetes_namespace_name' and 'k8s_namespace_name' selectors are not allowed");
    }
    const drop = otel.length > 0 ? 'kubernetes_namespace_name' : 'k8s_namespace_name';
    return { keys: matcher.keys.filter((k) => k !== drop), op: matcher.op };
  }

  private async authorize(
    base: Omit<AccessReview, 'namespace'>,
    matcher: MatcherConfig,
    queryNamespaces: readonly string[],
    metadataOnly: boolean,
  ): Promise<OpenShiftResult> {
    const limit = deadline(this.options.decisionTimeoutMs);
    try {
      return await this.authorizeWithin(limit.signal, base, matcher, queryNamespaces, metadataOnly);
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
  ): Promise<OpenShiftResult> {
    const kube = this.deps.kube;
    const clusterAllow = await kube
      .review({ ...base, namespace: '' }, signal)
      .catch((err: unknown) => upstreamFailure('cluster-wide SAR failed', 'failed to create subject access review', err));
    this.deps.logger.debug({ user: base.user, res: base.resource, resourceName: base.name, api: base.apiGroup, allowed: clusterAllow }, 'cluster-scoped AccessReview');

    if (base.verb === 'create') return clusterAllow;
    const listNamespaces = () =>
      kube.listNamespaces(base, signal).catch((err: unknown) => upstreamFailure('failed to access api server', 'failed to list projects', err));

    if (clusterAllow) {
      if (matcher.keys.length === 0) return true;
      if (queryNamespaces.length === 0 && this.options.matchAllForClusterReaders) return matchAllResult(matcher);
      const listed = await listNamespaces();
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
      if (namespaces.length === 0) return false;
    }
    const allowed = await this.reviewEach(base, namespaces, signal);
    if (allowed.length === 0) return false;
    if (matcher.keys.length === 0) return true;
    return this.response(allowed, matcher);
  }

  /** One review per namespace, a bounded number at once; the first failure fails the decision. */
  private async reviewEach(base: Omit<AccessReview, 'namespace'>, namespaces: readonly string[], outer: AbortSignal): Promise<string[]> {
    const stop = new AbortController();
    const signal = AbortSignal.any([outer, stop.signal]);
    setMaxListeners(SIGNAL_MAX_LISTENERS, signal);
    const allowed = new Array<boolean>(namespaces.length).fill(false);
    let next = 0;
    const worker = async () => {
      while (next < namespaces.length) {
        const i = next++;
        const ns = namespaces[i]!;
        try {
          allowed[i] = await this.deps.kube.review({ ...base, namespace: ns }, signal);
        } catch (err) {
          stop.abort();
          throw err;
        }
        this.deps.logger.debug({ user: base.user, res: base.resource, namespace: ns, allowed: allowed[i] }, 'namespace-scoped AccessReview');
      }
    };
    const workers = Array.from({ length: Math.min(this.options.reviewConcurrency, namespaces.length) }, worker);
    const results = await Promise.allSettled(workers);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected' && !isAbortAfterStop(r.reason, stop.signal));
    const first = failed ?? results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (first) upstreamFailure('namespaced SAR failed', 'failed to create subject access review', first.reason);
    return namespaces.filter((_, i) => allowed[i]);
  }

  private response(namespaces: readonly string[], matcher: MatcherConfig): OpenShiftResult {
    if (matcher.keys.length === 0 && namespaces.length > 0) return true;
    return matcherResult(namespaces, matcher, { escape: this.options.escapeNamespaces });
  }
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const x = new Set(a);
  const y = new Set(b);
  return x.size === y.size && [...x].every((g) => y.has(g));
}

function isAbortAfterStop(err: unknown, stop: AbortSignal): boolean {
  return stop.aborted && err instanceof KubeError && err.code === 'kube_aborted';
}

/** opa-openshift answers every failed Kubernetes call with 401 and the call's error. */
function upstreamFailure(prefix: string, call: string, err: unknown): never {
  const reason = err instanceof Error ? err.message : String(err);
  throw new DecisionError('unauthorized', 401, `${prefix}: ${call}: ${reason}`, undefined, { cause: err });
}
