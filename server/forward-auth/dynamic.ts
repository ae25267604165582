import type { Tenant } from '../config/tenants.js';
import { DecisionError, reasonOf, upstreamUnavailable } from '../errors.js';
import type { Authorizer, Decision } from '../decision/types.js';
import type { Logger } from '../observability/logger.js';
import { RateLimit } from '../observability/rate-limit.js';
import { DEFINITE_FAILURES, IdentityError, type Identity, type IdentityVerifier } from '../oidc/identity.js';
import { bearerCredentialKey, bearerFrom } from './oidc-bearer.js';
import { candidateTenants } from './oidc-candidates.js';
import { POLICY_ACTION } from './scopes.js';
import type { ForwardAuthorizer, ForwardAuthRequest, ForwardAuthResult, Scope, TenantGrant } from './types.js';
import type { ErrorCode } from '../error-codes.js';

/** The Rego label_policy rule's value (server/policy/label-policy.ts). */
export type LabelPolicy = { restricted: false } | { restricted: true; selectors: readonly string[] };

export interface DynamicForwardOptions {
  /** tenants.yaml: issuers, clients and the tenant IDs grants carry. */
  tenants: readonly Tenant[];
  /** Most tenants an opaque token is verified for in one request: each is one call to a provider. */
  maxOpaqueTenants: number;
  /** The policy's boolean decision, e.g. ["lokistack", "allow"]. */
  allowPath: readonly string[];
  /** The policy's label policy for reads, e.g. ["lokistack", "label_policy"]. */
  labelPolicyPath: readonly string[];
}

export interface DynamicForwardDeps {
  verifier: IdentityVerifier;
  /** The compiled policy (static mode's authorizer), evaluated at allowPath and labelPolicyPath. */
  policy: Authorizer;
  /** labelPolicyFrom: undefined for an undefined decision; throws on a malformed value. */
  labelPolicy: (decision: Decision) => LabelPolicy | undefined;
  logger: Logger;
  onVerification?: (result: string) => void;
}

/**
 * What a scope asks the policy: the same resource and permission as static mode's forward-auth
 * (scopes.ts), so one policy means the same in both. logs:delete asks for permission `delete`,
 * which no rbac.yaml role can hold (observatorium/api's format knows read and write): only a
 * policy's own data (--policy.data, a bundle) grants it. alerts:write is never granted.
 */
const ACTIONS: ReadonlyMap<Scope, { resource: string; permission: string }> = new Map(
  Object.entries(POLICY_ACTION).flatMap(([scope, action]) => (action ? [[scope as Scope, action] as const] : [])),
);

/**
 * Forward-auth in dynamic mode: the caller's OIDC token, verified with the provider of each
 * candidate tenant (server/oidc), then the compiled policy per tenant over the identity the token
 * proves, as the Data API's DynamicAuthorizer decides (never the caller's word).
 *
 * Reads get the policy's label_policy as selectors; Loki enforces label policies on the query path
 * only, so a label-restricted user gets no rules or alerts reads (the restriction would not hold
 * there). Writes are not label-restricted.
 */
export class DynamicForwardAuthorizer implements ForwardAuthorizer {
  readonly mode = 'dynamic';
  // RFC 6750 §3: a 401 names the scheme the client should authenticate with.
  readonly challenge = 'Bearer';
  // A policy without the label_policy rule fails every read: one line per interval says why.
  private readonly policyFaults = new RateLimit(10_000);

  constructor(
    private readonly options: DynamicForwardOptions,
    private readonly deps: DynamicForwardDeps,
  ) {}

  ready(): boolean {
    return this.deps.policy.ready();
  }

  credentialKey(req: ForwardAuthRequest): string | undefined {
    return bearerCredentialKey(this.mode, req.headers);
  }

  async authorize(req: ForwardAuthRequest): Promise<ForwardAuthResult> {
    const action = ACTIONS.get(req.scope);
    if (!action) return { kind: 'forbidden', code: 'scope_not_supported', reason: `scope ${req.scope} is not granted in dynamic mode` };
    const bearer = bearerFrom(req.headers);
    if (bearer.kind === 'none') return this.unauthenticated('no_token', 'no token: send Authorization: Bearer or X-Forwarded-Access-Token');
    if (bearer.kind === 'malformed') return this.unauthenticated('malformed_token', bearer.reason);

    const c = candidateTenants(this.options.tenants, bearer.token, req.requestedTenants, this.options.maxOpaqueTenants);
    switch (c.kind) {
      case 'none':
        return this.unauthenticated(c.code, c.reason);
      case 'foreign':
        // Decided before any call: the token's issuer cannot vouch for this tenant.
        return { kind: 'forbidden', code: 'tenant_not_for_token', reason: `tenant ${JSON.stringify(c.tenantID)} is not served by this token's issuer` };
      case 'too_many':
        return this.unauthenticated(
          'opaque_token_ambiguous',
          `an opaque token could belong to ${c.count} tenants, more than ${this.options.maxOpaqueTenants} checked per request: send X-Scope-OrgID naming the tenant`,
        );
    }

    const verified = await Promise.all(c.tenants.map((t) => this.verify(t, bearer.token, req.signal)));
    const identities = verified.filter((v): v is { tenant: Tenant; identity: Identity } => 'identity' in v);
    if (identities.length === 0) {
      const failures = verified as Array<{ tenant: Tenant; error: IdentityError }>;
      // Only a verdict on the token is a 401; a provider that could not answer says nothing about it.
      const verdict = failures.find((f) => DEFINITE_FAILURES.has(f.error.code));
      if (verdict) return { kind: 'unauthenticated', code: verdict.error.code, reason: verdict.error.message };
      const first = failures[0]!.error;
      throw upstreamUnavailable(`the identity provider could not verify the token: ${first.message}`, { cause: first });
    }

    const grants = new Map<string, TenantGrant>();
    for (const { tenant, identity } of identities) {
      const grant = await this.decide(tenant, identity, req.scope, action, req.signal);
      if (grant) grants.set(grant.id, mergeGrants(grants.get(grant.id), grant));
    }
    const subject = identities[0]!.identity.username;
    if (grants.size === 0) return { kind: 'forbidden', code: 'not_allowed', reason: `the policy grants ${req.scope} on no tenant`, subject };
    return { kind: 'granted', subject, grants: [...grants.values()] };
  }

  private async verify(
    tenant: Tenant,
    token: string,
    signal: AbortSignal,
  ): Promise<{ tenant: Tenant; identity: Identity } | { tenant: Tenant; error: IdentityError }> {
    try {
      const identity = await this.deps.verifier.verify(tenant.name, token, signal);
      this.deps.onVerification?.('ok');
      return { tenant, identity };
    } catch (err) {
      const error = err instanceof IdentityError ? err : new IdentityError('provider_error', reasonOf(err), { cause: err });
      this.deps.onVerification?.(error.code);
      this.deps.logger.info({ tenant: tenant.name, code: error.code, reason: error.message }, 'forward-auth: no identity for this tenant');
      return { tenant, error };
    }
  }

  /** The tenant's grant for this identity, or undefined. Policy errors are thrown: never an allow. */
  private async decide(
    tenant: Tenant,
    identity: Identity,
    scope: Scope,
    action: { resource: string; permission: string },
    signal: AbortSignal,
  ): Promise<TenantGrant | undefined> {
    // The input the Data API's DynamicAuthorizer evaluates: the verified identity, the configured ID.
    const input = { subject: identity.username, groups: identity.groups, claims: identity.claims, tenant: tenant.name, tenantID: tenant.id, ...action };
    const allow = await this.deps.policy.decide({ path: this.options.allowPath, input, signal });
    if (!(allow.defined && allow.value === true)) return undefined;
    if (action.permission !== 'read') return { id: tenant.id };

    let policy: LabelPolicy | undefined;
    try {
      policy = this.deps.labelPolicy(await this.deps.policy.decide({ path: this.options.labelPolicyPath, input, signal }));
    } catch (err) {
      if (err instanceof DecisionError && err.status >= 500) throw err;
      this.policyFault(tenant, `the label policy is malformed: ${reasonOf(err)}`);
      return undefined;
    }
    if (policy === undefined) {
      this.policyFault(tenant, `allow is true but ${this.options.labelPolicyPath.join('/')} is undefined: the policy has no label_policy rule`);
      return undefined;
    }
    if (!policy.restricted) return { id: tenant.id };
    if (policy.selectors.length === 0) {
      this.policyFault(tenant, 'a restricted label policy with no selectors');
      return undefined;
    }
    // Loki applies label policies to queries only: rules and alerts would show every stream's.
    if (scope !== 'logs:read') return undefined;
    return { id: tenant.id, selectors: [...policy.selectors] };
  }

  private policyFault(tenant: Tenant, reason: string): void {
    const suppressed = this.policyFaults.take(reason);
    if (suppressed !== undefined)
      this.deps.logger.error({ tenant: tenant.name, reason, ...(suppressed > 0 ? { suppressed } : {}) }, 'forward-auth: read denied (fail closed)');
  }

  private unauthenticated(code: ErrorCode, reason: string): ForwardAuthResult {
    this.deps.onVerification?.(code);
    return { kind: 'unauthenticated', code, reason };
  }
}

/** Two grants of one tenant ID (two tenants sharing an ID): the wider wins, selectors are ORed. */
export function mergeGrants(a: TenantGrant | undefined, b: TenantGrant): TenantGrant {
  if (!a) return b;
  if (!a.selectors || !b.selectors) return { id: b.id };
  return { id: b.id, selectors: [...new Set([...a.selectors, ...b.selectors])].sort() };
}

/**
 * Dynamic forward-auth from what server/wiring/dynamic-mode.ts already holds: the tenants, the
 * verifier, the compiled policy. The label policy is the rule beside the decision rule
 * (`<package>/label_policy` next to `<package>/<rule>`).
 */
export function makeDynamicForwardAuthorizer(args: {
  decisionPath: readonly string[];
  options: { maxOpaqueTenants: number };
  tenants: readonly Tenant[];
  verifier: IdentityVerifier;
  policy: Authorizer;
  labelPolicy: (decision: Decision) => LabelPolicy | undefined;
  logger: Logger;
  onVerification?: (result: string) => void;
}): DynamicForwardAuthorizer {
  return new DynamicForwardAuthorizer(
    {
      tenants: args.tenants,
      maxOpaqueTenants: args.options.maxOpaqueTenants,
      allowPath: args.decisionPath,
      labelPolicyPath: [...args.decisionPath.slice(0, -1), 'label_policy'],
    },
    {
      verifier: args.verifier,
      policy: args.policy,
      labelPolicy: args.labelPolicy,
      logger: args.logger,
      ...(args.onVerification ? { onVerification: args.onVerification } : {}),
    },
  );
}
