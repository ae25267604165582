import { decodeJwt, decodeProtectedHeader } from 'jose';
import type { Tenant } from '../config/tenants.js';

/** Where a token may be verified, decided from the token and the configuration alone (no call). */
export type Candidates =
  | { kind: 'tenants'; tenants: readonly Tenant[]; jwt: boolean }
  /** Nothing configured can verify this token: a verdict on it, not on the request. */
  | { kind: 'none'; code: 'wrong_issuer' | 'unbound_token'; reason: string }
  /** A requested tenant this token can never be verified for (another issuer's, or unknown). */
  | { kind: 'foreign'; tenantID: string }
  /** An opaque token would cost more provider calls than allowed: the client must name the tenant. */
  | { kind: 'too_many'; count: number };

/**
 * The tenants a token can be verified for. A JWT's unverified `iss` picks the tenants configured
 * with that issuer: whatever a forger writes there, the token is still verified against that
 * issuer's keys, so `iss` only saves the calls to every other provider. An opaque token names no
 * issuer: it goes to tenants that opted into opaque tokens (introspection or userinfo), and only to
 * `maxOpaqueTenants` of them, each of which is one call to a provider, so a made-up string cannot
 * fan out to every provider configured. Requested tenant IDs narrow the set first.
 */
export function candidateTenants(tenants: readonly Tenant[], token: string, requested: readonly string[], maxOpaqueTenants: number): Candidates {
  const iss = jwtIssuer(token);
  const jwt = iss !== undefined;
  let pool: Tenant[];
  if (jwt) {
    const want = normalizeIssuer(iss);
    pool = tenants.filter((t) => normalizeIssuer(t.oidc.issuerURL) === want);
    if (pool.length === 0) return { kind: 'none', code: 'wrong_issuer', reason: 'the token was issued by an issuer no tenant is configured with' };
  } else {
    pool = tenants.filter((t) => t.oidc.introspection || t.oidc.userinfoOpaqueTokens);
    if (pool.length === 0)
      return {
        kind: 'none',
        code: 'unbound_token',
        reason: 'an opaque token, and no tenant accepts opaque tokens (oidc.introspection or oidc.userinfoOpaqueTokens)',
      };
  }
  if (requested.length > 0) {
    const wanted = new Set(requested);
    for (const id of wanted) {
      if (!pool.some((t) => t.id === id)) return { kind: 'foreign', tenantID: id };
    }
    pool = pool.filter((t) => wanted.has(t.id));
  }
  if (!jwt && pool.length > maxOpaqueTenants) return { kind: 'too_many', count: pool.length };
  return { kind: 'tenants', tenants: pool, jwt };
}

/** The `iss` of something shaped like a JWT, unverified; undefined for anything else (opaque). */
function jwtIssuer(token: string): string | undefined {
  if (token.split('.').length !== 3) return undefined;
  try {
    // The verifier's own test for "a JWT" (server/oidc/verifier.ts): the same token is a JWT here.
    if (typeof decodeProtectedHeader(token).alg !== 'string') return undefined;
  } catch {
    return undefined;
  }
  try {
    const iss = decodeJwt(token).iss;
    // A JWT without an issuer, or with a payload that is no JSON, matches no tenant ('\0' equals none).
    return typeof iss === 'string' ? iss : '\0';
  } catch {
    return '\0';
  }
}

/** Issuer URLs compared as the verifier will check them, bar the trailing slash tenants.yaml may add. */
function normalizeIssuer(url: string): string {
  return url.endsWith('/') ? url.slice(0, -1) : url;
}
