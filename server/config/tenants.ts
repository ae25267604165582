import { FileReadError, readRegularFileSync } from '../files.js';
import { ConfigError, reasonOf } from '../errors.js';
import { parseOperatorYaml, Validator } from '../file-format.js';

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
const OIDC_FIELDS = [
  'issuerURL',
  'clientID',
  'clientSecret',
  'issuerCA',
  'issuerCAPath',
  'usernameClaim',
  'groupClaim',
  'audiences',
  'introspection',
  'userinfoOpaqueTokens',
];

/**
 * Parses tenants.yaml: `tenants: [{name, id, oidc: {...}}]`. Every fault names the file, the field
 * path and the fault; unknown fields are faults. `readFile` resolves issuerCAPath.
 */
export function parseTenants(
  source: string,
  text: string,
  readFile: (path: string) => string = (p) => Buffer.from(readRegularFileSync(undefined, p, MAX_CA_BYTES)).toString('utf8'),
): Tenant[] {
  const root: unknown = parseOperatorYaml(source, text, { uniqueKeys: true }).toJS({ maxAliasCount: 100 });
  // The file holds client secrets and CA material: a fault names what it found by kind alone.
  const v = new Validator(source, { quoteValues: false });
  const top = v.object(root, '', ['tenants']);
  if (!Array.isArray(top.tenants) || top.tenants.length === 0) v.fail('tenants', 'must be a non-empty list of tenants');
  const names = new Set<string>();
  return (top.tenants as unknown[]).map((raw, i) => {
    const at = `tenants[${i}]`;
    const t = v.object(raw, at, ['name', 'id', 'oidc', ...GATEWAY_TENANT_FIELDS]);
    const name = v.name(t.name, `${at}.name`);
    if (names.has(name)) v.fail(`${at}.name`, `tenant "${name}" is listed twice`);
    names.add(name);
    const id = v.name(t.id, `${at}.id`);
    if (t.oidc === undefined || t.oidc === null) v.fail(`${at}.oidc`, `missing: tenant "${name}" needs an OIDC issuer in dynamic mode`);
    const o = v.object(t.oidc, `${at}.oidc`, [...OIDC_FIELDS, ...GATEWAY_OIDC_FIELDS]);
    const issuerURL = v.name(o.issuerURL, `${at}.oidc.issuerURL`);
    let url: URL;
    try {
      url = new URL(issuerURL);
    } catch {
      return v.fail(`${at}.oidc.issuerURL`, `not a URL: ${JSON.stringify(issuerURL)}`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') v.fail(`${at}.oidc.issuerURL`, 'must be an http(s) URL');
    const clientID = v.name(o.clientID, `${at}.oidc.clientID`);
    if (o.issuerCA !== undefined && o.issuerCAPath !== undefined) v.fail(`${at}.oidc`, 'set issuerCA or issuerCAPath, not both');
    let issuerCA: string | undefined;
    if (o.issuerCA !== undefined) issuerCA = pem(v.name(o.issuerCA, `${at}.oidc.issuerCA`), `${at}.oidc.issuerCA`, v);
    if (o.issuerCAPath !== undefined) {
      const path = v.name(o.issuerCAPath, `${at}.oidc.issuerCAPath`);
      try {
        issuerCA = pem(readFile(path), `${at}.oidc.issuerCAPath`, v);
      } catch (err) {
        if (err instanceof ConfigError) throw err;
        v.fail(
          `${at}.oidc.issuerCAPath`,
          err instanceof FileReadError ? err.message : `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? reasonOf(err)}`,
        );
      }
    }
    const audiences =
      o.audiences === undefined
        ? [clientID]
        : Array.isArray(o.audiences) && o.audiences.length > 0
          ? o.audiences.map((a, j) => v.name(a, `${at}.oidc.audiences[${j}]`))
          : v.fail(`${at}.oidc.audiences`, 'must be a non-empty list');
    if (o.introspection !== undefined && typeof o.introspection !== 'boolean') v.fail(`${at}.oidc.introspection`, 'must be true or false');
    if (o.userinfoOpaqueTokens !== undefined && typeof o.userinfoOpaqueTokens !== 'boolean') v.fail(`${at}.oidc.userinfoOpaqueTokens`, 'must be true or false');
    if (o.introspection === true && o.userinfoOpaqueTokens === true)
      v.fail(
        `${at}.oidc.userinfoOpaqueTokens`,
        'opaque tokens are resolved by introspection or by userinfo: set one of introspection and userinfoOpaqueTokens',
      );
    const clientSecret = o.clientSecret === undefined ? undefined : v.name(o.clientSecret, `${at}.oidc.clientSecret`);
    if (o.introspection === true && !clientSecret) v.fail(`${at}.oidc.introspection`, 'token introspection needs oidc.clientSecret to authenticate the client');
    return {
      name,
      id,
      oidc: {
        issuerURL,
        clientID,
        ...(clientSecret ? { clientSecret } : {}),
        ...(issuerCA ? { issuerCA } : {}),
        ...(o.usernameClaim !== undefined ? { usernameClaim: v.name(o.usernameClaim, `${at}.oidc.usernameClaim`) } : {}),
        ...(o.groupClaim !== undefined ? { groupClaim: v.name(o.groupClaim, `${at}.oidc.groupClaim`) } : {}),
        audiences,
        introspection: o.introspection === true,
        userinfoOpaqueTokens: o.userinfoOpaqueTokens === true,
      },
    };
  });
}

/** PEM as given, or base64 of it (observatorium/api reads issuerCA as []byte, base64 in YAML). */
function pem(value: string, path: string, v: Validator): string {
  const text = value.includes('-----BEGIN') ? value : Buffer.from(value, 'base64').toString('utf8');
  if (!text.includes('-----BEGIN CERTIFICATE-----')) v.fail(path, 'not a PEM certificate (nor base64 of one)');
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
