import { policyHeaderEntries } from '../policy/label-policy.js';
import { isLokiTenantId } from './contracts.js';
import { forbidden } from './errors.js';
import type { Scope, TenantGrant } from './types.js';

/** The headers a granted request is answered with. */
export interface Granted {
  /** X-Scope-OrgID: tenant IDs joined by `|`. */
  orgId: string;
  /** X-Prom-Label-Policy: comma-separated `<tenant>:<percent-encoded selector>` entries; absent when no tenant is restricted. */
  labelPolicy?: string;
  tenants: readonly TenantGrant[];
}

/** Scopes a request may use across several tenants at once: Loki's multi-tenant reads. */
const MULTI_TENANT: ReadonlySet<Scope> = new Set(['logs:read']);

/**
 * Scopes that read more than streams: rules hold queries over any label, alerts carry the labels
 * of any stream. A user restricted to some streams of a tenant gets neither (Loki cannot restrict
 * them), rather than the whole tenant's.
 */
const WHOLE_TENANT_ONLY: ReadonlySet<Scope> = new Set(['rules:read', 'alerts:read']);

/**
 * Picks the tenants to answer with: each requested one must be granted; with none requested, a
 * read gets every granted tenant and anything else the one granted tenant. Throws the 403 to answer.
 */
export function answer(scope: Scope, requested: readonly string[], grants: readonly TenantGrant[], maxPolicyHeaderBytes: number): Granted {
  const usable = new Map<string, TenantGrant>();
  for (const g of grants) {
    // A mode's tenant IDs come from configuration; one Loki would read differently (`a|b` is two
    // tenants to Loki) must never reach the header.
    if (!isLokiTenantId(g.id)) throw new Error(`the ${scope} grant names an invalid tenant ID`);
    if (g.selectors !== undefined && g.selectors.length === 0) throw new Error('a grant with an empty selector list');
    if (WHOLE_TENANT_ONLY.has(scope) && g.selectors !== undefined) continue;
    usable.set(g.id, g);
  }
  let chosen: TenantGrant[];
  if (requested.length > 0) {
    if (requested.length > 1 && !MULTI_TENANT.has(scope)) throw forbidden('single_tenant_scope', `${scope} takes one tenant in X-Scope-OrgID`);
    chosen = requested.map((id) => {
      const g = usable.get(id);
      if (!g) throw forbidden('tenant_not_granted', `${scope} is not granted on tenant ${JSON.stringify(id)}`);
      return g;
    });
  } else {
    chosen = [...usable.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    if (chosen.length === 0) throw forbidden('no_tenant', `${scope} is not granted on any tenant`);
    if (chosen.length > 1 && !MULTI_TENANT.has(scope)) {
      throw forbidden('tenant_required', `${scope} is granted on several tenants: send X-Scope-OrgID naming one`);
    }
  }
  const out: Granted = { orgId: chosen.map((g) => g.id).join('|'), tenants: chosen };
  // Writes are not label-restricted in Loki (nor in GEL); only reads carry the policy.
  if (scope === 'logs:read') {
    const policy = labelPolicyHeader(chosen);
    if (policy !== undefined) {
      if (Buffer.byteLength(policy) > maxPolicyHeaderBytes) {
        throw forbidden(
          'policy_too_large',
          `the label policy for these tenants is ${Buffer.byteLength(policy)} bytes, more than the ${maxPolicyHeaderBytes} a proxy is configured to carry: name fewer tenants in X-Scope-OrgID`,
        );
      }
      out.labelPolicy = policy;
    }
  }
  return out;
}

/**
 * One header value for every restricted tenant: `<id>:<selector>` entries joined by commas
 * (server/policy/label-policy.ts encodes them). Unrestricted tenants have no entry: Loki reads
 * that as the whole tenant.
 */
export function labelPolicyHeader(grants: readonly TenantGrant[]): string | undefined {
  const entries = grants.flatMap((g) => (g.selectors ? [policyHeaderEntries(g.id, g.selectors)] : []));
  return entries.length > 0 ? entries.join(',') : undefined;
}
