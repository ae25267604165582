import { hashToken } from '../cache/decision-cache.js';
import { ConfigError, DecisionError, reasonOf, upstreamUnavailable } from '../errors.js';
import type { AccessReview, KubeAuthz, TokenReviewer } from '../kube/types.js';
import type { Logger } from '../observability/logger.js';
import { LABEL_NAME, type KubeTenancyConfig, type ResourceAttributes } from '../config/forward-auth-modes.js';
import { namespaceSelectors, reviewEachNamespace } from './kube-namespaces.js';
import { bearerCredentialKey, bearerFrom } from './oidc-bearer.js';
import type { ForwardAuthorizer, ForwardAuthRequest, ForwardAuthResult, Scope, TenantGrant } from './types.js';
import type { ErrorCode } from '../error-codes.js';

/** Who may use which tenant, decided by access reviews. */
export type KubeTenancy =
  /**
   * The LokiStack's tenants (--openshift.mappings tenant=apiGroup), with opa-openshift's reviews:
   * get (read) or create (write) on resource <tenant>, name `logs`, in the mapped group. The tenant
   * name is the tenant ID. Reads of a tenant with a namespace label (--opa.matcher, not
   * --opa.skip-tenants, no group of --opa.admin-groups) are answered as the Data API answers them:
   * allowed cluster-wide, the namespaces the caller can list (the whole tenant with
   * --opa.match-all-for-cluster-readers); else the namespaces where the review allows. Otherwise,
   * and for writes, the cluster-wide review gives the whole tenant.
   */
  | {
      kind: 'mappings';
      mappings: ReadonlyMap<string, string>;
      matcherKeys: readonly string[];
      matcherOp: '' | 'and' | 'or';
      skipTenants: ReadonlySet<string>;
      adminGroups: ReadonlySet<string>;
      matchAllForClusterReaders: boolean;
    }
  /**
   * One shared tenant, split by namespace as kube-rbac-proxy setups split it: `read` (e.g. get
   * pods/log) cluster-wide gives the whole tenant, else the namespaces where it allows. Writes only
   * through `write`, reviewed cluster-wide; without it every write is refused.
   */
  | { kind: 'namespaces'; tenant: string; namespaceLabel: string; read: ResourceAttributes; write?: ResourceAttributes };

export interface OpenShiftForwardOptions {
  /** The mode's name (openshift-logging, openshift-network or kubernetes), for metrics and logs. */
  mode: string;
  tenancy: KubeTenancy;
  /** Most namespaces reviewed one by one for a caller (--openshift.max-namespaces); more: 403. */
  maxNamespaces: number;
  /** Per-namespace reviews one request runs at once (--opa.review-concurrency). */
  reviewConcurrency: number;
}

export interface OpenShiftForwardDeps {
  /** Access reviews and namespace lists (the client, or its review cache), with the per-caller limiter. */
  kube: KubeAuthz;
  /** Who the bearer token is, by TokenReview (the client, or its TokenReviewCache). */
  tokenReviewer: TokenReviewer;
  logger: Logger;
}

type Access = 'read' | 'write';

const ACCESS: ReadonlyMap<Scope, Access> = new Map<Scope, Access>([
  ['logs:read', 'read'],
  ['rules:read', 'read'],
  ['alerts:read', 'read'],
  ['logs:write', 'write'],
  ['rules:write', 'write'],
  // logs:delete: no review stands for it (the collector's create must not delete). Refused, as is
  // alerts:write (not a Loki API; the core refuses it before any mode is asked).
]);

interface Caller {
  user: string;
  groups: readonly string[];
  token: string;
  /** hashToken(token), once per request: the Kubernetes client keys its limiter by it (AccessReview.tokenHash). */
  tokenHash: string;
  uid?: string;
  extra?: Readonly<Record<string, readonly string[]>>;
}

/**
 * Forward-auth in the openshift modes and on plain Kubernetes: the bearer token names the caller
 * through a TokenReview (the token's own claims are never read), then access reviews decide which
 * tenants the scope grants. Nothing the client sends besides the token and the tenants it asks for
 * is read; LogQL is not parsed here: the namespaces a reader gets come from the cluster (the
 * projects the user sees, or every namespace on plain Kubernetes), one review each, bounded.
 */
export class OpenShiftForwardAuthorizer implements ForwardAuthorizer {
  readonly mode: string;
  // RFC 6750 §3: a 401 names the scheme the client should authenticate with.
  readonly challenge = 'Bearer';

  constructor(
    private readonly options: OpenShiftForwardOptions,
    private readonly deps: OpenShiftForwardDeps,
  ) {
    this.mode = options.mode;
  }

  ready(): boolean {
    return true;
  }

  credentialKey(req: ForwardAuthRequest): string | undefined {
    return bearerCredentialKey(this.mode, req.headers);
  }

  async authorize(req: ForwardAuthRequest): Promise<ForwardAuthResult> {
    const access = ACCESS.get(req.scope);
    if (!access) return { kind: 'forbidden', code: 'scope_not_supported', reason: `scope ${req.scope} is not granted in ${this.mode} mode` };
    const bearer = bearerFrom(req.headers);
    if (bearer.kind === 'none') return { kind: 'unauthenticated', code: 'no_token', reason: 'no token: send Authorization: Bearer' };
    if (bearer.kind === 'malformed') return { kind: 'unauthenticated', code: 'malformed_token', reason: bearer.reason };

    const reviewed = await this.deps.tokenReviewer.reviewToken(bearer.token, req.signal).catch((err: unknown) => unavailable('token review', err));
    // The API's reason stays out of the answer: it is about the token, which is never echoed.
    if (!reviewed.authenticated) return { kind: 'unauthenticated', code: 'token_review_failed', reason: 'the cluster does not authenticate this token' };
    // uid and extra (OpenShift's OAuth scopes) go into every SubjectAccessReview, so a token scoped
    // to less than its user (user:info) is judged as the cluster would judge the token itself.
    const caller: Caller = {
      user: reviewed.user,
      groups: reviewed.groups,
      token: bearer.token,
      tokenHash: hashToken(bearer.token),
      ...(reviewed.uid ? { uid: reviewed.uid } : {}),
      ...(reviewed.extra ? { extra: reviewed.extra } : {}),
    };
    const subject = caller.user;

    // Checked after authentication, so that an anonymous caller cannot tell which tenants exist.
    const all = this.tenants();
    for (const id of req.requestedTenants) {
      if (!all.includes(id)) return { kind: 'forbidden', code: 'unknown_tenant', reason: `no tenant ${JSON.stringify(id)}`, subject };
    }
    const tenants = req.requestedTenants.length > 0 ? all.filter((t) => req.requestedTenants.includes(t)) : all;
    const t = this.options.tenancy;
    if (access === 'write' && t.kind === 'namespaces' && !t.write) {
      return { kind: 'forbidden', code: 'writes_not_configured', reason: 'writes are refused: no review attributes for writes are configured', subject };
    }

    const namespaces = new NamespaceList(this.deps.kube, caller, this.options.maxNamespaces, req.signal);
    const grants: TenantGrant[] = [];
    try {
      for (const tenant of tenants) {
        const grant = await this.grantFor(tenant, access, req.scope, caller, namespaces, req.signal);
        if (grant) grants.push(grant);
      }
    } catch (err) {
      if (err instanceof TooManyNamespaces) {
        return {
          kind: 'forbidden',
          code: 'too_many_namespaces',
          reason: `the caller sees ${err.count} namespaces, more than ${this.options.maxNamespaces} reviewed per request; grant cluster-wide access instead`,
          subject,
        };
      }
      throw err;
    }
    if (grants.length === 0) return { kind: 'forbidden', code: 'not_allowed', reason: `no access review grants ${req.scope}`, subject };
    return { kind: 'granted', subject, grants };
  }

  private tenants(): string[] {
    const t = this.options.tenancy;
    return t.kind === 'mappings' ? [...t.mappings.keys()] : [t.tenant];
  }

  private async grantFor(
    tenant: string,
    access: Access,
    scope: Scope,
    caller: Caller,
    namespaces: NamespaceList,
    signal: AbortSignal,
  ): Promise<TenantGrant | undefined> {
    const t = this.options.tenancy;
    let base: Omit<AccessReview, 'namespace'>;
    let keys: readonly string[];
    let op: '' | 'and' | 'or';
    if (t.kind === 'mappings') {
      base = { ...caller, verb: access === 'read' ? 'get' : 'create', apiGroup: t.mappings.get(tenant)!, resource: tenant, name: 'logs' };
      // The groups are the TokenReview's, never the client's word.
      keys = t.skipTenants.has(tenant) || caller.groups.some((g) => t.adminGroups.has(g)) ? [] : t.matcherKeys;
      op = t.matcherOp;
    } else {
      const attrs = access === 'read' ? t.read : t.write!;
      base = {
        ...caller,
        verb: attrs.verb,
        apiGroup: attrs.group,
        resource: attrs.resource,
        ...(attrs.subresource ? { subresource: attrs.subresource } : {}),
        name: attrs.name ?? '',
      };
      keys = [t.namespaceLabel];
      op = '';
    }
    const clusterWide = await this.deps.kube.review({ ...base, namespace: '' }, signal).catch((err: unknown) => unavailable('access review', err));
    this.deps.logger.debug({ user: caller.user, tenant, verb: base.verb, allowed: clusterWide }, 'forward-auth: cluster-scoped access review');
    if (clusterWide) {
      // A cluster-wide grant of a LokiStack tenant reads the projects the caller can list, as the
      // Data API (and opa-openshift) answer it: forward-auth must not give more than the gateway
      // would. kube-rbac-proxy's namespace tenancy grants the whole tenant, as that proxy does.
      if (t.kind === 'namespaces' || access === 'write' || keys.length === 0 || t.matchAllForClusterReaders) return { id: tenant };
      if (scope !== 'logs:read') return undefined;
      const visible = await namespaces.get();
      this.deps.logger.debug({ user: caller.user, tenant, listed: visible.length }, 'forward-auth: a cluster-wide reader limited to its projects');
      return visible.length === 0 ? undefined : { id: tenant, selectors: namespaceSelectors(keys, op, visible) };
    }
    // Writes are reviewed cluster-wide only, as opa-openshift does; so are tenants without a
    // namespace label, which no selector could narrow. Loki enforces label policies on queries
    // only: a namespace-limited reader gets no rules or alerts, which would show every namespace's.
    if (access === 'write' || keys.length === 0 || scope !== 'logs:read') return undefined;
    const listed = await namespaces.get();
    if (listed.length === 0) return undefined;
    const allowed = await reviewEachNamespace(this.deps.kube, base, listed, this.options.reviewConcurrency, signal).catch((err: unknown) =>
      unavailable('access review', err),
    );
    this.deps.logger.debug({ user: caller.user, tenant, listed: listed.length, allowed: allowed.length }, 'forward-auth: namespace-scoped access reviews');
    if (allowed.length === 0) return undefined;
    return { id: tenant, selectors: namespaceSelectors(keys, op, allowed) };
  }
}

class TooManyNamespaces extends Error {
  readonly code = 'too_many_namespaces' satisfies ErrorCode;

  constructor(readonly count: number) {
    super(`${count} namespaces`);
  }
}

/** The caller's namespaces, listed once per request (shared by its tenants), bounded before any review. */
class NamespaceList {
  private listed: Promise<string[]> | undefined;

  constructor(
    private readonly kube: KubeAuthz,
    private readonly caller: Caller,
    private readonly max: number,
    private readonly signal: AbortSignal,
  ) {}

  get(): Promise<string[]> {
    this.listed ??= this.kube.listNamespaces(this.caller, this.signal).then(
      (names) => {
        const unique = [...new Set(names)].sort();
        if (unique.length > this.max) throw new TooManyNamespaces(unique.length);
        return unique;
      },
      (err: unknown) => unavailable('namespace list', err),
    );
    return this.listed;
  }
}

/** The cluster could not answer: no decision, never an allow (503; the token is never in the message). */
function unavailable(call: string, err: unknown): never {
  if (err instanceof DecisionError || err instanceof TooManyNamespaces) throw err;
  const reason = reasonOf(err);
  throw upstreamUnavailable(`forward-auth: the Kubernetes ${call} failed: ${reason}`, { cause: err });
}

/**
 * Openshift forward-auth from what server/wiring/openshift-mode.ts already holds: the parsed
 * openshift settings, the review client (or its cache) and a token reviewer. LokiStack mappings
 * take their namespace labels from --opa.matcher and --opa.skip-tenants.
 */
export function makeOpenShiftForwardAuthorizer(args: {
  mode: string;
  openshift: Omit<Extract<KubeTenancy, { kind: 'mappings' }>, 'kind'> & { maxNamespaces: number; reviewConcurrency: number };
  tenancy: KubeTenancyConfig;
  kube: KubeAuthz;
  tokenReviewer: TokenReviewer;
  logger: Logger;
}): OpenShiftForwardAuthorizer {
  const o = args.openshift;
  let tenancy: KubeTenancy;
  if (args.tenancy.kind === 'namespaces') {
    tenancy = args.tenancy;
  } else {
    const bad = o.matcherKeys.find((k) => !LABEL_NAME.test(k));
    // A key that is no label name would make every selector unparsable for Loki: refuse at startup.
    if (bad !== undefined) throw new ConfigError('forward-auth', '', `--opa.matcher ${JSON.stringify(bad)} is not a label name`);
    const { mappings, matcherKeys, matcherOp, skipTenants, adminGroups, matchAllForClusterReaders } = o;
    tenancy = { kind: 'mappings', mappings, matcherKeys, matcherOp, skipTenants, adminGroups, matchAllForClusterReaders };
  }
  return new OpenShiftForwardAuthorizer(
    { mode: args.mode, tenancy, maxNamespaces: o.maxNamespaces, reviewConcurrency: o.reviewConcurrency },
    { kube: args.kube, tokenReviewer: args.tokenReviewer, logger: args.logger },
  );
}
