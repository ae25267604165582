import { FileReadError, readRegularFileSync } from '../files.js';
import { parseDocument } from 'yaml';
import { ConfigError } from '../errors.js';

/** Largest tenants.yaml, and largest issuerCAPath file, read. */
export const MAX_TENANTS_BYTES = 4 << 20;
const MAX_CA_BYTES = 1 << 20;

/** One tenant of observatorium/api's tenants.yaml, as dynamic mode needs it. */
export interface Tenant {
  name: string;
  id: string;
  oidc: TenantOidc;
}

export interface TenantOidc {
  issuerURL: string;
  clientID: string;
  clientSecret?: string;
  /** PEM of the CA that signs the issuer's certificate (issuerCA or issuerCAPath). */
  issuerCA?: string;
  /** Claim naming the user; `sub` when unset, as observatorium/api does. */
  usernameClaim?: string;
  /** Claim holding the user's groups (a string or a list). */
  groupClaim?: string;
  /** Accepted `aud` values of JWT access tokens; the client ID when unset. (lokistack-authz) */
  audiences: string[];
  /** Resolve opaque tokens with token introspection, bound by aud or client_id. (lokistack-authz) */
  introspection: boolean;
  /**
   * Resolve opaque tokens at userinfo, which cannot tell whom a token was issued to: a token of any
   * client of the provider is accepted. Off by default; refused opaque tokens get `unbound_token`.
   */
  userinfoOpaqueTokens: boolean;
}

/** Fields observatorium/api reads that matter to the gateway only: accepted, not used here. */
const GATEWAY_TENANT_FIELDS = ['openshift', 'authenticator', 'mTLS', 'opa', 'rateLimits'];
const GATEWAY_OIDC_FIELDS = ['redirectURL', 'config'];
const OIDC_FIELDS = ['issuerURL', 'clientID', 'clientSecret', 'issuerCA', 'issuerCAPath', 'usernameClaim', 'groupClaim', 'audiences', 'introspection', 'userinfoOpaqueTokens'];

/**
 * Parses tenants.yaml: `tenants: [{name, id, oidc: {...}}]`. Every fault names the file, the field
 * path and the fault; unknown fields are faults. `readFile` resolves issuerCAPath.
 */
export function parseTenants(source: string, text: string, readFile: (path: string) => string = (p) => Buffer.from(readRegularFileSync(undefined, p, MAX_CA_BYTES)).toString('utf8')): Tenant[] {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true, logLevel: 'error' });
  const yamlError = doc.errors[0] ?? doc.warnings[0];
  if (yamlError) throw new ConfigError(source, '', `invalid YAML: ${yamlError.message.split('\n')[0]!.replace(/:\s*$/, '')}`);
  const root: unknown = doc.toJS({ maxAliasCount: 100 });
  const fail = (field: string, fault: string): never => {
    throw new ConfigError(source, field, fault);
  };
  const top = mapping(root, '', ['tenants'], fail);
  if (!Array.isArray(top.tenants) || top.tenants.length === 0) fail('tenants', 'must be a non-empty list of tenants');
  const names = new Set<string>();
  return (top.tenants as unknown[]).map((raw, i) => {
    const at = `tenants[${i}]`;
    const t = mapping(raw, at, ['name', 'id', 'oidc', ...GATEWAY_TENANT_FIELDS], fail);
    const name = text_(t.name, `${at}.name`, fail);
    if (names.has(name)) fail(`${at}.name`, `tenant "${name}" is listed twice`);
    names.add(name);
    const id = text_(t.id, `${at}.id`, fail);
    if (t.oidc === undefined || t.oidc === null) fail(`${at}.oidc`, `missing: tenant "${name}" needs an OIDC issuer in dynamic mode`);
    const o = mapping(t.oidc, `${at}.oidc`, [...OIDC_FIELDS, ...GATEWAY_OIDC_FIELDS], fail);
    const issuerURL = text_(o.issuerURL, `${at}.oidc.issuerURL`, fail);
    let url: URL;
    try {
      url = new URL(issuerURL);
    } catch {
      return fail(`${at}.oidc.issuerURL`, `not a URL: ${JSON.stringify(issuerURL)}`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') fail(`${at}.oidc.issuerURL`, 'must be an http(s) URL');
    const clientID = text_(o.clientID, `${at}.oidc.clientID`, fail);
    if (o.issuerCA !== undefined && o.issuerCAPath !== undefined) fail(`${at}.oidc`, 'set issuerCA or issuerCAPath, not both');
    let issuerCA: string | undefined;
    if (o.issuerCA !== undefined) issuerCA = pem(text_(o.issuerCA, `${at}.oidc.issuerCA`, fail), `${at}.oidc.issuerCA`, fail);
    if (o.issuerCAPath !== undefined) {
      const path = text_(o.issuerCAPath, `${at}.oidc.issuerCAPath`, fail);
      try {
        issuerCA = pem(readFile(path), `${at}.oidc.issuerCAPath`, fail);
      } catch (err) {
        if (err instanceof ConfigError) throw err;
        fail(`${at}.oidc.issuerCAPath`, err instanceof FileReadError ? err.message : `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    }
    const audiences =
      o.audiences === undefined ? [clientID] : Array.isArray(o.audiences) && o.audiences.length > 0 ? o.audiences.map((a, j) => text_(a, `${at}.oidc.audiences[${j}]`, fail)) : fail(`${at}.oidc.audiences`, 'must be a non-empty list');
    if (o.introspection !== undefined && typeof o.introspection !== 'boolean') fail(`${at}.oidc.introspection`, 'must be true or false');
    if (o.userinfoOpaqueTokens !== undefined && typeof o.userinfoOpaqueTokens !== 'boolean') fail(`${at}.oidc.userinfoOpaqueTokens`, 'must be true or false');
    if (o.introspection === true && o.userinfoOpaqueTokens === true) fail(`${at}.oidc.userinfoOpaqueTokens`, 'opaque tokens are resolved by introspection or by userinfo: set one of introspection and userinfoOpaqueTokens');
    const clientSecret = o.clientSecret === undefined ? undefined : text_(o.clientSecret, `${at}.oidc.clientSecret`, fail);
    if (o.introspection === true && !clientSecret) fail(`${at}.oidc.introspection`, 'token introspection needs oidc.clientSecret to authenticate the client');
    return {
      name,
      id,
      oidc: {
        issuerURL,
        clientID,
        ...(clientSecret ? { clientSecret } : {}),
        ...(issuerCA ? { issuerCA } : {}),
        ...(o.usernameClaim !== undefined ? { usernameClaim: text_(o.usernameClaim, `${at}.oidc.usernameClaim`, fail) } : {}),
        ...(o.groupClaim !== undefined ? { groupClaim: text_(o.groupClaim, `${at}.oidc.groupClaim`, fail) } : {}),
        audiences,
        introspection: o.introspection === true,
        userinfoOpaqueTokens: o.userinfoOpaqueTokens === true,
      },
    };
  });
}

function mapping(x: unknown, path: string, allowed: readonly string[], fail: (f: string, m: string) => never): Record<string, unknown> {
  if (x === null || typeof x !== 'object' || Array.isArray(x)) return fail(path || '(top level)', 'must be a mapping');
  for (const key of Object.keys(x)) {
    if (!allowed.includes(key)) fail(path ? `${path}.${key}` : key, `unknown field (expected one of ${allowed.join(', ')})`);
  }
  return x as Record<string, unknown>;
}

function text_(x: unknown, path: string, fail: (f: string, m: string) => never): string {
  if (typeof x !== 'string') return fail(path, x === undefined ? 'missing' : 'must be a string');
  if (x === '') fail(path, 'must not be empty');
  return x;
}

/** PEM as given, or base64 of it (observatorium/api reads issuerCA as []byte, base64 in YAML). */
function pem(value: string, path: string, fail: (f: string, m: string) => never): string {
  const text = value.includes('-----BEGIN') ? value : Buffer.from(value, 'base64').toString('utf8');
  if (!text.includes('-----BEGIN CERTIFICATE-----')) fail(path, 'not a PEM certificate (nor base64 of one)');
  return text;
}

/**
 * Stops startup on an `http://` issuer unless --oidc.allow-insecure-issuers is given. The verifier
 * refuses such an issuer on every request anyway (its keys could be swapped in transit); found here,
 * the operator gets one error naming the tenant, the field and the flag instead of a service that
 * starts and denies everything.
 */
export function requireSecureIssuers(source: string, tenants: readonly Tenant[], allowInsecureIssuers: boolean): void {
  if (allowInsecureIssuers) return;
  tenants.forEach((t, i) => {
    if (new URL(t.oidc.issuerURL).protocol === 'http:') {
      throw new ConfigError(
        source,
        `tenants[${i}].oidc.issuerURL`,
        `tenant "${t.name}": issuer ${JSON.stringify(t.oidc.issuerURL)} is not https: keys fetched over http can be forged; use https, or --oidc.allow-insecure-issuers for a local test provider`,
      );
    }
  });
}
