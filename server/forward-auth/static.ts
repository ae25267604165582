import type { BlockList } from 'node:net';
import type { LabelPolicy } from '../policy/label-policy.js';
import type { BasicAuthVerifier } from './basic-auth.js';
import { isLokiTenantId } from './contracts.js';
import { hasProxyHeaders, isTrustedPeer, presentedIdentity, presentedKey } from './identity-headers.js';
import { POLICY_ACTION } from './scopes.js';
import type { ForwardAuthorizer, ForwardAuthRequest, ForwardAuthResult, TenantGrant } from './types.js';

/** The input `lokistack/allow` and `lokistack/label_policy` evaluate. */
export interface PolicyInput {
  subject: string;
  groups: readonly string[];
  tenant: string;
  tenantID: string;
  resource: string;
  permission: string;
}

export interface StaticForwardAuthDeps {
  ready(): boolean;
  /** Basic auth against the htpasswd file; absent: no basic auth. */
  passwords?: BasicAuthVerifier;
  /** Peers whose X-Auth-Request-* headers are trusted; absent: none. */
  trustedProxies?: BlockList;
  /** Tenant names to IDs (--forward-auth.tenants-config); undefined: the names in roles are the IDs. */
  tenantIds(): ReadonlyMap<string, string> | undefined;
  /** The tenant names the roles mention (the candidates without a tenants file). */
  roleTenants(): readonly string[];
  /** `lokistack/allow` for one input. */
  allow(input: PolicyInput, signal: AbortSignal): Promise<boolean>;
  /** `lokistack/label_policy` for one input that `allow` granted; undefined: the rule is undefined. */
  labelPolicy(input: PolicyInput, signal: AbortSignal): Promise<LabelPolicy | undefined>;
  /** Tenants evaluated for one request at most. */
  maxEvaluatedTenants: number;
  /** Identity headers arrived from an untrusted peer and were ignored (for a rate-limited warning). */
  onUntrustedHeaders?(peer: string): void;
}

/**
 * Static mode's forward-auth: the caller is a user of the htpasswd file (HTTP basic auth) or the
 * identity a trusted authenticating proxy asserts; each candidate tenant is decided by the same
 * compiled policy as the Data API (`lokistack/allow`), and reads are narrowed by its
 * `lokistack/label_policy`.
 */
export class StaticForwardAuthorizer implements ForwardAuthorizer {
  readonly mode = 'static';
  /** Browsers and Grafana's data source answer it with basic credentials. */
  readonly challenge = 'Basic realm="loki", charset="UTF-8"';

  constructor(private readonly deps: StaticForwardAuthDeps) {}

  ready(): boolean {
    return this.deps.ready();
  }

  credentialKey(req: ForwardAuthRequest): string | undefined {
    return presentedKey(this.presented(req), req.remoteAddress);
  }

  async authorize(req: ForwardAuthRequest): Promise<ForwardAuthResult> {
    const p = this.presented(req);
    let subject: string;
    let groups: readonly string[] = [];
    switch (p.kind) {
      case 'none':
        return { kind: 'unauthenticated', code: 'no_credential', reason: 'no credential: send HTTP basic credentials' };
      case 'invalid':
        return { kind: 'unauthenticated', code: 'invalid_credential', reason: p.reason };
      case 'basic':
        if (!this.deps.passwords) return { kind: 'unauthenticated', code: 'basic_auth_off', reason: 'basic auth is not configured' };
        // One answer for an unknown user and a wrong password.
        if (!(await this.deps.passwords.verify(p.user, p.password)))
          return { kind: 'unauthenticated', code: 'bad_credentials', reason: 'wrong user or password' };
        subject = p.user;
        break;
      case 'proxy':
        subject = p.user;
        groups = p.groups;
        break;
    }
    const action = POLICY_ACTION[req.scope];
    if (!action) return { kind: 'forbidden', code: 'scope_not_served', reason: `${req.scope} is not granted`, subject };

    const candidates = this.candidates(req.requestedTenants);
    if (candidates.length > this.deps.maxEvaluatedTenants) {
      return {
        kind: 'forbidden',
        code: 'too_many_tenants',
        reason: `more than ${this.deps.maxEvaluatedTenants} tenants to decide: send X-Scope-OrgID naming the ones you need`,
        subject,
      };
    }
    const grants: TenantGrant[] = [];
    for (const { name, id } of candidates) {
      const input: PolicyInput = { subject, groups, tenant: name, tenantID: id, resource: action.resource, permission: action.permission };
      if (!(await this.deps.allow(input, req.signal))) continue;
      if (action.permission !== 'read') {
        grants.push({ id });
        continue;
      }
      const policy = await this.deps.labelPolicy(input, req.signal);
      // The rule is defined whenever allow is true; anything else is a policy fault, not a grant.
      if (!policy) throw new Error(`lokistack/label_policy is undefined where lokistack/allow is true (tenant ${name})`);
      grants.push(policy.restricted ? { id, selectors: policy.selectors } : { id });
    }
    return { kind: 'granted', subject, grants };
  }

  private presented(req: ForwardAuthRequest) {
    const trusted = isTrustedPeer(this.deps.trustedProxies, req.remoteAddress);
    if (!trusted && hasProxyHeaders(req.headers)) this.deps.onUntrustedHeaders?.(req.remoteAddress);
    return presentedIdentity(req.headers, distinct(req), trusted);
  }

  /** The tenants to decide: the requested ones that exist, or every one there is. */
  private candidates(requested: readonly string[]): Array<{ name: string; id: string }> {
    const ids = this.deps.tenantIds();
    let all: Array<{ name: string; id: string }>;
    if (ids) {
      all = [...ids].map(([name, id]) => ({ name, id }));
    } else {
      // Without a tenants file a role's tenant name is the ID; a name Loki would read differently is no tenant.
      all = [...new Set(this.deps.roleTenants())].filter(isLokiTenantId).map((name) => ({ name, id: name }));
    }
    if (requested.length === 0) return all;
    const wanted = new Set(requested);
    return all.filter((t) => wanted.has(t.id));
  }
}

/** Every copy of each header; derived from the joined headers when the request did not carry them. */
function distinct(req: ForwardAuthRequest): NodeJS.Dict<string[]> {
  if (req.headersDistinct) return req.headersDistinct;
  const out: NodeJS.Dict<string[]> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v : [v];
  return out;
}
