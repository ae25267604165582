import { BlockList, isIP } from 'node:net';
import { flagReader } from './flag-reader.js';
import { FlagError, type FlagSpec, type FlagValues } from './flags.js';
import { STATIC_MODE } from './mode.js';

/** Forward-auth's settings (docs/forward-auth.md); absent from Config when off. */
export interface ForwardAuthConfig {
  maxPolicyHeaderBytes: number;
  /** Tenants named in one X-Scope-OrgID at most. */
  maxRequestedTenants: number;
  maxBodyBytes: number;
  timeoutMs: number;
  cache: { allowTtlMs: number; denyTtlMs: number; maxEntries: number };
  /** Static mode: who the caller is. */
  static?: {
    htpasswdFile?: string;
    /** Tenant names to IDs, in tenants.yaml's format (--forward-auth.tenants-config); names are IDs without it. */
    tenantsFile?: string;
    /** CIDRs whose connections may assert identity headers (X-Auth-Request-*). */
    trustedProxies: string[];
    bcrypt: { workers: number; maxQueued: number; cacheTtlMs: number; failureTtlMs: number; cacheEntries: number };
    /** Candidate tenants evaluated for one request at most. */
    maxEvaluatedTenants: number;
  };
}

export const FORWARD_AUTH_FLAGS: readonly FlagSpec[] = [
  {
    name: 'forward-auth.enabled',
    type: 'bool',
    default: false,
    help: 'Serve /forward-auth on the public listener for proxies in front of Loki (nginx auth_request, Traefik ForwardAuth, Envoy ext_authz, db-auth-gateway). Off by default: it answers who a caller is to whoever can reach the listener.',
  },
  {
    name: 'forward-auth.max-policy-header-bytes',
    type: 'int',
    default: 3072,
    help: 'Largest X-Prom-Label-Policy answered; a larger policy is refused with 403 rather than sent in a header a proxy would truncate or reject (nginx holds answer headers in proxy_buffer_size, 4k or 8k by default).',
  },
  { name: 'forward-auth.max-tenants', type: 'int', default: 64, help: 'Most tenants a client may name in one X-Scope-OrgID; more is refused with 403.' },
  {
    name: 'forward-auth.max-evaluated-tenants',
    type: 'int',
    default: 512,
    help: 'Static mode: most tenants the policy is evaluated for in one forward-auth request (each a main-thread evaluation); a request needing more is refused with 403 asking for X-Scope-OrgID.',
    modes: STATIC_MODE,
  },
  {
    name: 'forward-auth.cache-allow-ttl',
    type: 'duration',
    default: 10_000,
    help: 'How long a forward-auth grant is reused for the same credential, scope and tenants; 0: not cached.',
  },
  {
    name: 'forward-auth.cache-deny-ttl',
    type: 'duration',
    default: 2_000,
    help: 'How long a forward-auth 401 or 403 is reused for the same credential, scope and tenants; 0: not cached.',
  },
  { name: 'forward-auth.cache-entries', type: 'int', default: 10_000, help: 'Most forward-auth answers cached.' },
  {
    name: 'forward-auth.htpasswd-file',
    type: 'string',
    default: '',
    help: 'Static mode: users and bcrypt hashes (htpasswd -B) for HTTP basic auth. Watched and reloaded on change.',
    modes: STATIC_MODE,
  },
  {
    name: 'forward-auth.tenants-config',
    type: 'string',
    default: '',
    help: "Static mode: tenant names to IDs (X-Scope-OrgID), in observatorium/api's tenants.yaml format (only name and id are read); without it the tenant names in roles are the IDs. Watched and reloaded on change.",
    modes: STATIC_MODE,
  },
  {
    name: 'forward-auth.trusted-proxies',
    type: 'list',
    default: [],
    help: 'Static mode: CIDRs of authenticating proxies whose X-Auth-Request-User, -Groups and -Email headers are trusted; from any other address those headers are ignored.',
    modes: STATIC_MODE,
  },
  {
    name: 'forward-auth.bcrypt-workers',
    type: 'int',
    default: 1,
    help: 'Static mode: threads verifying basic-auth passwords (bcrypt), off the main thread.',
    modes: STATIC_MODE,
  },
  {
    name: 'forward-auth.bcrypt-max-queued',
    type: 'int',
    default: 32,
    help: 'Static mode: password checks waiting for a bcrypt thread at most; beyond, 503 at once.',
    modes: STATIC_MODE,
  },
  {
    name: 'forward-auth.credential-cache-ttl',
    type: 'duration',
    default: 60_000,
    help: 'Static mode: how long a verified user and password is remembered (by its salted digest) without another bcrypt check. A wrong password is remembered for --forward-auth.cache-deny-ttl.',
    modes: STATIC_MODE,
  },
];

/** Parses the forward-auth flags; `{}` when forward-auth is off. */
export function forwardAuthConfig(v: FlagValues, mode: string): { forwardAuth?: ForwardAuthConfig } {
  if (!(v['forward-auth.enabled'] as boolean)) return {};
  const { positive, notNegative } = flagReader(v);
  const maxPolicyHeaderBytes = positive('forward-auth.max-policy-header-bytes');
  if (maxPolicyHeaderBytes > 65_536)
    throw new FlagError('--forward-auth.max-policy-header-bytes must be at most 65536: proxies and Loki refuse larger headers');
  const config: ForwardAuthConfig = {
    maxPolicyHeaderBytes,
    maxRequestedTenants: positive('forward-auth.max-tenants'),
    maxBodyBytes: 16 * 1024,
    timeoutMs: positive('web.decision-timeout'),
    cache: {
      allowTtlMs: notNegative('forward-auth.cache-allow-ttl'),
      denyTtlMs: notNegative('forward-auth.cache-deny-ttl'),
      maxEntries: positive('forward-auth.cache-entries'),
    },
  };
  if (mode !== 'static') return { forwardAuth: config };
  const htpasswdFile = v['forward-auth.htpasswd-file'] as string;
  const trustedProxies = (v['forward-auth.trusted-proxies'] as string[]).filter((s) => s !== '');
  for (const cidr of trustedProxies) parseCidr(cidr);
  if (htpasswdFile === '' && trustedProxies.length === 0) {
    throw new FlagError(
      'static mode with --forward-auth.enabled needs --forward-auth.htpasswd-file (basic auth) or --forward-auth.trusted-proxies (identity headers from an authenticating proxy)',
    );
  }
  const tenantsFile = v['forward-auth.tenants-config'] as string;
  config.static = {
    ...(htpasswdFile !== '' ? { htpasswdFile } : {}),
    ...(tenantsFile !== '' ? { tenantsFile } : {}),
    trustedProxies,
    bcrypt: {
      workers: positive('forward-auth.bcrypt-workers'),
      maxQueued: notNegative('forward-auth.bcrypt-max-queued'),
      cacheTtlMs: notNegative('forward-auth.credential-cache-ttl'),
      failureTtlMs: notNegative('forward-auth.cache-deny-ttl'),
      cacheEntries: positive('forward-auth.cache-entries'),
    },
    maxEvaluatedTenants: positive('forward-auth.max-evaluated-tenants'),
  };
  return { forwardAuth: config };
}

/** `10.0.0.0/8`, `::1/128`, or a bare address (one host). Throws FlagError naming the entry. */
export function parseCidr(cidr: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } {
  const [address = '', bits, ...rest] = cidr.split('/');
  const version = isIP(address);
  const max = version === 4 ? 32 : 128;
  const prefix = bits === undefined ? max : /^\d{1,3}$/.test(bits) ? Number(bits) : NaN;
  if (version === 0 || rest.length > 0 || !(prefix >= 0 && prefix <= max)) {
    throw new FlagError(`--forward-auth.trusted-proxies: ${JSON.stringify(cidr)} is not an address or CIDR such as 10.0.0.0/8 or ::1/128`);
  }
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

/** The trusted proxies as a BlockList (IPv4-mapped IPv6 peers match their IPv4 rules). */
export function trustedProxyList(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const c of cidrs) {
    const { address, prefix, family } = parseCidr(c);
    list.addSubnet(address, prefix, family);
  }
  return list;
}
