import { FlagError } from './flags.js';
import type { FlagReader } from './flag-reader.js';
import type { OpenShiftMode } from './mode.js';

/**
 * The openshift authorizer's options (decision/openshift.ts), built whole from the flags: the
 * wiring hands them over as they are, so a new option is written here and where it is used.
 */
export interface OpenShiftDecisionOptions {
  mode: OpenShiftMode;
  /** The one path that decides, e.g. ["lokistack", "allow"]; every other path is undefined. */
  decisionPath: readonly string[];
  /** tenant -> API group of the tenant's access reviews (--openshift.mappings). */
  mappings: ReadonlyMap<string, string>;
  /** The namespace matchers' label names (--opa.matcher) and how the gateway joins them. */
  matcher: { keys: readonly string[]; op: '' | 'and' | 'or' };
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

/** The openshift modes' settings, opa-openshift's flags and ours. */
export interface OpenShiftConfig {
  decision: OpenShiftDecisionOptions;
  kubeconfig?: string;
  ssar: boolean;
  kube: {
    timeoutMs: number;
    maxConcurrentCalls: number;
    maxConcurrentCallsPerCaller: number;
    namespaceSource: 'projects' | 'namespaces' | 'auto';
    /** Access-review verdicts; ttlMs 0: off. */
    reviewCache: { ttlMs: number; maxEntries: number };
  };
  /** Present with --openshift.verify-token. */
  verifyToken?: { ttlMs: number; maxEntries: number };
  /** The TokenReview cache's bounds, whether or not the Data API verifies tokens: forward-auth always does. */
  tokenReview: { ttlMs: number; maxEntries: number };
  cache: {
    enabled: boolean;
    memcached: string[];
    allowTtlMs: number;
    denyTtlMs: number;
    maxEntries: number;
    maxBytes: number;
    /** Bytes of requests the Data API remembers with their answers while the in-memory cache holds them; 0: off. */
    memoBytes: number;
    memcachedTimeoutMs: number;
    memcachedDnsIntervalMs: number;
    /** Keys that sign and verify memcached entries; absent only with --memcached.insecure-no-hmac. */
    memcachedHmacKeyFile?: string;
  };
}

const csv = (s: string): string[] => s.split(',').filter((x) => x !== '');

export function openShiftConfig(r: FlagReader, mode: OpenShiftMode, decisionPath: readonly string[]): OpenShiftConfig {
  const { string: str, number: num, bool, positive, notNegative } = r;
  const rawMappings = r.list('openshift.mappings');
  // Forward-auth by namespace tenancy reviews namespaces, not tenants: mappings are then optional (the
  // Data API denies every tenant it has no mapping for, as opa-openshift does).
  const namespaceTenancy = bool('forward-auth.enabled') && str('forward-auth.kube-tenancy') === 'namespaces';
  if (rawMappings.length === 0 && !namespaceTenancy) {
    throw new FlagError(
      `${mode} mode needs --openshift.mappings: tenant=apiGroup for each tenant (e.g. application=loki.grafana.com), or --forward-auth.kube-tenancy=namespaces`,
    );
  }
  const mappings = new Map<string, string>();
  for (const m of rawMappings) {
    const parts = m.split('=');
    if (parts.length !== 2 || parts[0] === '' || parts[1] === '')
      throw new FlagError(`--openshift.mappings: invalid mapping ${JSON.stringify(m)}: want tenant=apiGroup`);
    mappings.set(parts[0]!, parts[1]!);
  }
  const matcherKeys = csv(str('opa.matcher'));
  const viaq = bool('opa.viaq-to-otel-migration');
  if (viaq && !(matcherKeys.includes('kubernetes_namespace_name') && matcherKeys.includes('k8s_namespace_name'))) {
    throw new FlagError('--opa.viaq-to-otel-migration needs --opa.matcher to name both kubernetes_namespace_name and k8s_namespace_name');
  }
  const expireMs = positive('memcached.expire') * 1000;
  const ttl = (name: string) => (num(name) > 0 ? num(name) : expireMs);
  const interval = num('memcached.interval');
  if (interval < 0) throw new FlagError('--memcached.interval must not be negative');
  const memcached = r.list('memcached').filter((s) => s !== '');
  for (const s of memcached) {
    if (!/^(\[[^\]]+\]|[^:\s]+):\d{1,5}$/.test(s)) throw new FlagError(`--memcached: ${JSON.stringify(s)} is not host:port`);
  }
  const hmacKeyFile = str('memcached.hmac-key-file');
  const insecureNoHmac = bool('memcached.insecure-no-hmac');
  if (hmacKeyFile !== '' && insecureNoHmac) throw new FlagError('--memcached.hmac-key-file and --memcached.insecure-no-hmac contradict each other: give one');
  if (memcached.length > 0 && bool('cache.enabled') && hmacKeyFile === '' && !insecureNoHmac) {
    throw new FlagError(
      '--memcached needs --memcached.hmac-key-file: anyone who can write to memcached could otherwise forge decisions (--memcached.insecure-no-hmac accepts that risk)',
    );
  }
  // Read in the order the flags are checked, so the first bad one is the one named.
  const reviewConcurrency = positive('opa.review-concurrency');
  const kube: OpenShiftConfig['kube'] = {
    timeoutMs: positive('kube.timeout'),
    maxConcurrentCalls: positive('kube.max-concurrent-calls'),
    maxConcurrentCallsPerCaller: positive('kube.max-concurrent-calls-per-caller'),
    namespaceSource: str('kube.namespace-source') as 'projects' | 'namespaces' | 'auto',
    reviewCache: { ttlMs: notNegative('kube.review-cache-ttl'), maxEntries: positive('kube.review-cache-entries') },
  };
  const maxNamespaces = positive('openshift.max-namespaces');
  const tokenReview = { ttlMs: positive('openshift.token-review-ttl'), maxEntries: positive('openshift.token-review-entries') };
  return {
    decision: {
      mode,
      decisionPath,
      mappings,
      matcher: { keys: matcherKeys, op: str('opa.matcher-op') as '' | 'and' | 'or' },
      skipTenants: new Set(csv(str('opa.skip-tenants'))),
      adminGroups: new Set(csv(str('opa.admin-groups'))),
      viaqToOtelMigration: viaq,
      escapeNamespaces: bool('opa.escape-namespaces'),
      matchAllForClusterReaders: bool('opa.match-all-for-cluster-readers'),
      reviewConcurrency,
      // Checked with the web flags (--web.decision-timeout is every mode's deadline).
      decisionTimeoutMs: num('web.decision-timeout'),
      ...(str('debug.token') ? { debugToken: str('debug.token') } : {}),
      maxNamespaces,
    },
    ...(str('openshift.kubeconfig') ? { kubeconfig: str('openshift.kubeconfig') } : {}),
    ssar: bool('opa.ssar'),
    kube,
    ...(bool('openshift.verify-token') ? { verifyToken: tokenReview } : {}),
    tokenReview,
    cache: {
      enabled: bool('cache.enabled'),
      memcached,
      allowTtlMs: ttl('cache.allow-ttl'),
      denyTtlMs: ttl('cache.deny-ttl'),
      maxEntries: positive('cache.max-entries'),
      maxBytes: positive('cache.max-bytes'),
      memoBytes: notNegative('cache.memo-bytes'),
      memcachedTimeoutMs: positive('memcached.timeout'),
      memcachedDnsIntervalMs: interval * 1000,
      ...(hmacKeyFile !== '' ? { memcachedHmacKeyFile: hmacKeyFile } : {}),
    },
  };
}
