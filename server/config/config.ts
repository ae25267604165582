import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { SecureVersion } from 'node:tls';
import type { LogFormat, LogLevel } from '../observability/logger.js';
import { FlagError, modesLabel, parseFlags, type FlagSpec, type FlagValues } from './flags.js';
import { cipherList, TLS_VERSIONS } from './tls.js';
import { FORWARD_AUTH_FLAGS, forwardAuthConfig, type ForwardAuthConfig } from './forward-auth.js';
import { FORWARD_AUTH_MODES_FLAGS, parseForwardAuthModes, type ForwardAuthModesConfig } from './forward-auth-modes.js';

/** Where the service listens: no host means every interface, as Go's `:8080`. */
export interface ListenAddress {
  host?: string;
  port: number;
}

export type Mode = 'static' | 'dynamic' | 'openshift-logging' | 'openshift-network';

/** Dynamic mode's settings. */
export interface DynamicConfig {
  tenantsFile: string;
  acceptInputWithoutToken: boolean;
  oidc: {
    timeoutMs: number;
    allowInsecureIssuers: boolean;
    maxTtlMs: number;
    maxEntries: number;
    clockToleranceSeconds: number;
    jwksCooldownMs: number;
    negativeTtlMs: number;
    discoveryBackoffMs: number;
    discoveryBackoffMaxMs: number;
    maxConcurrentCalls: number;
  };
}

/** The openshift modes' settings, opa-openshift's flags and ours. */
export interface OpenShiftConfig {
  mappings: ReadonlyMap<string, string>;
  kubeconfig?: string;
  matcherKeys: string[];
  matcherOp: '' | 'and' | 'or';
  skipTenants: Set<string>;
  adminGroups: Set<string>;
  ssar: boolean;
  viaqToOtelMigration: boolean;
  escapeNamespaces: boolean;
  matchAllForClusterReaders: boolean;
  reviewConcurrency: number;
  debugToken?: string;
  kube: {
    timeoutMs: number;
    maxConcurrentCalls: number;
    maxConcurrentCallsPerCaller: number;
    namespaceSource: 'projects' | 'namespaces' | 'auto';
    /** Access-review verdicts; ttlMs 0: off. */
    reviewCache: { ttlMs: number; maxEntries: number };
  };
  maxNamespaces: number;
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
    memcachedTimeoutMs: number;
    memcachedDnsIntervalMs: number;
    /** Keys that sign and verify memcached entries; absent only with --memcached.insecure-no-hmac. */
    memcachedHmacKeyFile?: string;
  };
}

export interface Config {
  mode: Mode;
  web: {
    listen: ListenAddress;
    internalListen: ListenAddress;
    maxBodyBytes: number;
    maxDepth: number;
    /** Bounds on the decoded input (http/input-limits.ts). */
    maxNodes: number;
    maxArrayLength: number;
    maxStringBytes: number;
    maxInputBytes: number;
    /** Nodes a YAML body may hold before it is parsed at all. */
    maxYamlNodes: number;
    /** Body bytes held across all requests at once. */
    maxBufferedBytes: number;
    decisionTimeoutMs: number;
    /** --web.reasons: the Data API answers ?reasons=true. */
    reasons: boolean;
    headersTimeoutMs: number;
    requestTimeoutMs: number;
    shutdownTimeoutMs: number;
    /** GET'ed by the liveness check, which expects 404 (opa-openshift's); null: no check;
     *  undefined: the service's own public listener. */
    healthcheckUrl?: string | null;
  };
  tls: {
    certFile?: string;
    keyFile?: string;
    internalCertFile?: string;
    internalKeyFile?: string;
    /** CA the liveness check trusts for --web.healthchecks.url. */
    internalCaFile?: string;
    minVersion: SecureVersion;
    /** OpenSSL cipher list from --tls.cipher-suites; undefined for Node's defaults. */
    ciphers?: string;
    /** How often the certificate files are re-read; 0: only on SIGHUP. */
    reloadIntervalMs: number;
  };
  log: { level: LogLevel; format: LogFormat; name: string };
  /** The decision path the gateway asks, e.g. ["lokistack", "allow"]; it must be an entrypoint. */
  decisionPath: string[];
  /** The compiled policy: a bare module (the bundled one by default) or an opa build bundle. */
  policy: {
    wasmFile: string;
    bundleFile?: string;
    dataFile?: string;
    maxMemoryBytes: number;
    reloadIntervalMs: number;
    /** Evaluation workers; 0 for none. */
    workers: number;
    inlineMaxInputBytes: number;
    maxQueuedEvaluations: number;
    memoryResetBytes: number;
    /** Decompressed bundle bound (and bound on a policy file as read). */
    maxBundleBytes: number;
    /** Data document bound: a bundle's data files together, the data file, the rbac file. */
    maxDataBytes: number;
    /** Deadline for one policy load on its loading thread. */
    loadTimeoutMs: number;
  };
  /** Static and dynamic modes' roles and bindings; absent when the data comes from --policy.data or a bundle. */
  rbac?: { file: string; reloadIntervalMs: number };
  /** How long a changed watched file must stay unchanged before it is applied. */
  fileSettleMs: number;
  openshift?: OpenShiftConfig;
  dynamic?: DynamicConfig;
  /** OPA-style decision logs; absent when off. */
  decisionLog?: { output: 'stdout' | string; mask: string[]; labels: Record<string, string>; maxPending: number; reasons: boolean };
  /** /forward-auth for proxies in front of Loki; absent when off. */
  forwardAuth?: ForwardAuthConfig;
  /** How forward-auth finds callers and tenants in the dynamic and openshift modes; present when it is on in one of them. */
  forwardAuthModes?: ForwardAuthModesConfig;
}

export const BUNDLED_WASM = fileURLToPath(new URL('../../wasm/lokistack.wasm', import.meta.url));
// Compiled to dist/server/config, the bundled policy is one level further up.
const bundledWasm = (): string => (existsSync(BUNDLED_WASM) ? BUNDLED_WASM : fileURLToPath(new URL('../../../wasm/lokistack.wasm', import.meta.url)));

// Which modes read a flag (FlagSpec.modes; absent: every mode): --help and docs/flags.md group by it,
// and a flag given in a mode that ignores it is warned about at startup, so a mistyped --mode or a
// flag left over from another deployment does not silently do nothing.
const POLICY_MODES: readonly Mode[] = ['static', 'dynamic'];
const DYNAMIC_MODE: readonly Mode[] = ['dynamic'];
const OPENSHIFT_MODES: readonly Mode[] = ['openshift-logging', 'openshift-network'];

export const FLAGS: readonly FlagSpec[] = [
  {
    name: 'mode',
    type: 'string',
    default: 'static',
    choices: ['static', 'dynamic', 'openshift-logging', 'openshift-network'],
    help: "How decisions are made: roles and bindings evaluated by the compiled policy (static), the same over identities verified with each tenant's OIDC provider (dynamic), or Kubernetes access reviews (openshift-*). With --openshift.mappings and no --mode, an openshift mode.",
  },
  { name: 'web.listen', type: 'string', default: ':8080', help: 'Address of the public listener (OPA Data API).' },
  { name: 'web.internal.listen', type: 'string', default: ':8081', help: 'Address of the internal listener (/live, /ready, /metrics, /health).' },
  { name: 'web.max-body-bytes', type: 'int', default: 1 << 20, help: 'Largest request body accepted, before and after gzip decoding.' },
  { name: 'web.max-input-depth', type: 'int', default: 64, help: 'Deepest nesting of arrays and objects accepted in input.' },
  {
    name: 'web.max-input-nodes',
    type: 'int',
    default: 200_000,
    help: 'Most values (objects, arrays, scalars; YAML aliases counted expanded) accepted in a decoded input.',
  },
  { name: 'web.max-input-array-length', type: 'int', default: 100_000, help: 'Longest array accepted in a decoded input.' },
  { name: 'web.max-input-string-bytes', type: 'int', default: 65_536, help: 'Longest string or object key accepted in a decoded input, in UTF-8 bytes.' },
  {
    name: 'web.max-input-bytes',
    type: 'int',
    default: 4 << 20,
    help: 'Largest decoded input: UTF-8 bytes of its strings and keys plus one per value, YAML aliases counted expanded.',
  },
  {
    name: 'web.max-yaml-nodes',
    type: 'int',
    default: 20_000,
    help: 'Most YAML nodes parsed in a YAML body (YAML parsing costs about 20µs a node; the gateway sends JSON).',
  },
  {
    name: 'web.max-buffered-bytes',
    type: 'int',
    default: 64 << 20,
    help: 'Request body bytes held across all requests, compressed and decompressed, plus the estimated heap of their decoded inputs; past it a request is answered 503 with Retry-After.',
  },
  { name: 'web.decision-timeout', type: 'duration', default: 10_000, help: 'Deadline for one decision, upstream calls included.' },
  { name: 'web.headers-timeout', type: 'duration', default: 10_000, help: 'Time a client has to send its request headers.' },
  { name: 'web.request-timeout', type: 'duration', default: 30_000, help: 'Time a client has to send its whole request.' },
  { name: 'web.shutdown-timeout', type: 'duration', default: 30_000, help: 'On SIGTERM, how long in-flight requests may take before the process exits.' },
  { name: 'tls.server.cert-file', type: 'string', default: '', help: 'TLS certificate for the public listener (PEM).' },
  { name: 'tls.server.key-file', type: 'string', default: '', help: 'TLS key for the public listener (PEM).' },
  {
    name: 'web.healthchecks.url',
    type: 'string',
    default: '',
    help: "URL the liveness check GETs, expecting 404 (opa-openshift's check); empty: this service's own public listener.",
  },
  { name: 'tls.min-version', type: 'string', default: 'VersionTLS13', choices: Object.keys(TLS_VERSIONS), help: 'Minimum TLS version, for both listeners.' },
  { name: 'tls.cipher-suites', type: 'list', default: [], help: 'TLS 1.2 cipher suites (Go names), for both listeners; empty for the defaults.' },
  { name: 'tls.internal.server.cert-file', type: 'string', default: '', help: 'TLS certificate for the internal listener (PEM).' },
  { name: 'tls.internal.server.key-file', type: 'string', default: '', help: 'TLS key for the internal listener (PEM).' },
  { name: 'tls.internal.server.ca-file', type: 'string', default: '', help: 'CA the liveness check trusts when it calls --web.healthchecks.url over TLS.' },
  {
    name: 'tls.reload-interval',
    type: 'duration',
    default: 10_000,
    help: 'How often the TLS certificate and key files are re-read; a changed pair serves new connections once it passes its checks. 0: only on SIGHUP.',
  },
  { name: 'log.level', type: 'string', default: 'info', choices: ['error', 'warn', 'info', 'debug'], help: 'Log level.' },
  { name: 'log.format', type: 'string', default: 'logfmt', choices: ['logfmt', 'json'], help: 'Log format.' },
  { name: 'opa.package', type: 'string', default: 'lokistack', help: 'Package of the decision rule; the gateway asks /v1/data/<package with / for .>/<rule>.' },
  { name: 'opa.rule', type: 'string', default: 'allow', help: 'Name of the decision rule.' },
  {
    name: 'policy.wasm',
    type: 'string',
    default: '',
    help: 'A compiled policy module (policy.wasm from opa build -t wasm); empty for the bundled lokistack policy. Watched and reloaded on change.',
    modes: POLICY_MODES,
  },
  {
    name: 'policy.bundle',
    type: 'string',
    default: '',
    help: 'An opa build -t wasm bundle (bundle.tar.gz: policy.wasm, data.json, .manifest) to serve instead of the bundled policy. Watched and reloaded on change.',
    modes: POLICY_MODES,
  },
  {
    name: 'policy.data',
    type: 'string',
    default: '',
    help: "The policy's data document (JSON or YAML), instead of --rbac.config; for your own policies. Watched and reloaded on change.",
    modes: POLICY_MODES,
  },
  {
    name: 'policy.max-memory-bytes',
    type: 'int',
    default: 256 << 20,
    help: "Upper bound on the policy instances' memory, all together: the main-thread instance and each evaluation worker get an equal share.",
    modes: POLICY_MODES,
  },
  {
    name: 'policy.workers',
    type: 'int',
    default: 2,
    help: 'Evaluation worker threads for inputs larger than --policy.inline-max-input-bytes; only they can be stopped at --web.decision-timeout. 0: every evaluation on the main thread.',
    modes: POLICY_MODES,
  },
  {
    name: 'policy.inline-max-input-bytes',
    type: 'int',
    default: 8192,
    help: 'Inputs up to this many bytes (serialized JSON) are evaluated on the main thread, larger ones on a worker.',
    modes: POLICY_MODES,
  },
  {
    name: 'policy.max-queued-evaluations',
    type: 'int',
    default: 16,
    help: 'Evaluations waiting for a busy worker at most; beyond, 503 at once.',
    modes: POLICY_MODES,
  },
  {
    name: 'policy.memory-reset-bytes',
    type: 'int',
    default: 32 << 20,
    help: 'A policy instance that an evaluation grew past this (and past 4 times its fresh size) is replaced, giving the memory back.',
    modes: POLICY_MODES,
  },
  {
    name: 'policy.max-bundle-bytes',
    type: 'int',
    default: 64 << 20,
    help: 'Upper bound on a --policy.bundle once decompressed (and on a --policy.wasm or bundle file as read); a larger one is refused.',
    modes: POLICY_MODES,
  },
  {
    name: 'policy.max-data-bytes',
    type: 'int',
    default: 16 << 20,
    help: "Upper bound on the policy's data as read: a bundle's data files together, --policy.data or --rbac.config; a larger one is refused.",
    modes: POLICY_MODES,
  },
  {
    name: 'policy.load-timeout',
    type: 'duration',
    default: 30_000,
    help: 'Deadline for loading a policy and its data (unpack, parse, compile, start, first evaluation), on its own thread; a load past it fails: startup exits, a reload is rejected.',
    modes: POLICY_MODES,
  },
  {
    name: 'rbac.config',
    type: 'string',
    default: '',
    help: 'Roles and roleBindings (observatorium/api rbac.yaml, or a LokiStack resource); watched and reloaded on change.',
    modes: POLICY_MODES,
  },
  {
    name: 'rbac.reload-interval',
    type: 'duration',
    default: 10_000,
    help: 'How often the rbac file is also checked for changes, besides file events; 0 relies on events alone.',
  },
  {
    name: 'watch.settle-interval',
    type: 'duration',
    default: 1_000,
    help: 'A changed watched file (rbac, policy, data, bundle, memcached keys) is applied only once two reads this far apart are identical, so a file written in parts is never applied half-written.',
  },
  {
    name: 'tenants.config',
    type: 'string',
    default: '',
    help: 'Tenants and their OIDC providers (observatorium/api tenants.yaml). Required in dynamic mode.',
    modes: DYNAMIC_MODE,
  },
  {
    name: 'dynamic.accept-input-without-token',
    type: 'bool',
    default: false,
    help: "Dynamic mode: decide on the input's subject and groups when no token is forwarded. Trusts the caller: off by default.",
    modes: DYNAMIC_MODE,
  },
  { name: 'oidc.timeout', type: 'duration', default: 5_000, help: 'Deadline for one call to an OIDC provider.', modes: DYNAMIC_MODE },
  {
    name: 'oidc.allow-insecure-issuers',
    type: 'bool',
    default: false,
    help: 'Accept http:// issuers (keys fetched over http can be forged; for tests).',
    modes: DYNAMIC_MODE,
  },
  {
    name: 'oidc.max-claims-ttl',
    type: 'duration',
    default: 300_000,
    help: 'Longest a verified identity is cached, even when its token lives longer.',
    modes: DYNAMIC_MODE,
  },
  { name: 'oidc.claims-cache-entries', type: 'int', default: 10_000, help: 'Most verified identities cached.', modes: DYNAMIC_MODE },
  {
    name: 'oidc.jwks-refresh-cooldown',
    type: 'duration',
    default: 30_000,
    help: "Least time between refetches of an issuer's keys for unknown key IDs.",
    modes: DYNAMIC_MODE,
  },
  { name: 'oidc.clock-tolerance', type: 'duration', default: 30_000, help: 'Clock skew tolerated on token expiry.', modes: DYNAMIC_MODE },
  {
    name: 'oidc.negative-cache-ttl',
    type: 'duration',
    default: 5_000,
    help: 'How long a token found invalid is denied without asking its provider again; provider failures are never remembered. 0 disables.',
    modes: DYNAMIC_MODE,
  },
  {
    name: 'oidc.discovery-backoff',
    type: 'duration',
    default: 1_000,
    help: "Wait after a failed discovery of a tenant's issuer before the next attempt; doubles with each failure.",
    modes: DYNAMIC_MODE,
  },
  {
    name: 'oidc.discovery-backoff-max',
    type: 'duration',
    default: 30_000,
    help: 'Longest wait between discovery attempts of a failing issuer (at least --oidc.discovery-backoff).',
    modes: DYNAMIC_MODE,
  },
  {
    name: 'oidc.max-concurrent-calls',
    type: 'int',
    default: 16,
    help: "Calls in flight to one tenant's provider at once; more wait within the request's deadline, then are denied.",
    modes: DYNAMIC_MODE,
  },
  {
    name: 'decision-log.output',
    type: 'string',
    default: '',
    help: 'Decision logs in OPA\'s event format: "stdout", a file path to append to, or empty for none. Turns on decision_id in answers.',
  },
  {
    name: 'decision-log.mask',
    type: 'list',
    default: ['/input/token'],
    help: 'JSON pointers erased from every decision log event (OPA erase-style), repeatable or comma-separated.',
  },
  { name: 'decision-log.labels', type: 'list', default: [], help: 'key=value labels added to every decision log event.' },
  {
    name: 'decision-log.reasons',
    type: 'bool',
    default: true,
    help: 'Give every decision log event its reason (which binding and role, claim rule or access reviews decided). In static and dynamic modes this evaluates a second rule per decision, about twice the policy CPU; false logs events without it.',
  },
  { name: 'decision-log.max-pending', type: 'int', default: 10_000, help: 'Events waiting for a slow destination before new ones are dropped and counted.' },
  { name: 'debug.name', type: 'string', default: 'lokistack-authz', help: 'The name= field of every log line.' },
  { name: 'debug.token', type: 'string', default: '', help: 'Token used when none is forwarded (tests only).', hidden: true, modes: OPENSHIFT_MODES },
  {
    name: 'openshift.mappings',
    type: 'list',
    default: [],
    help: "tenant=apiGroup, repeatable or comma-separated: the API group of each tenant's access reviews. Required in the openshift modes.",
    modes: OPENSHIFT_MODES,
  },
  {
    name: 'openshift.kubeconfig',
    type: 'string',
    default: '',
    help: 'Kubeconfig file; else $KUBECONFIG, else the in-cluster service account.',
    modes: OPENSHIFT_MODES,
  },
  { name: 'opa.matcher', type: 'string', default: '', help: 'Comma-separated label names the namespace matchers are built for.', modes: OPENSHIFT_MODES },
  { name: 'opa.matcher-op', type: 'string', default: '', choices: ['', 'and', 'or'], help: 'How the gateway joins several matchers.', modes: OPENSHIFT_MODES },
  { name: 'opa.skip-tenants', type: 'string', default: '', help: 'Comma-separated tenants answered without matchers.', modes: OPENSHIFT_MODES },
  { name: 'opa.admin-groups', type: 'string', default: '', help: 'Comma-separated groups answered without matchers.', modes: OPENSHIFT_MODES },
  {
    name: 'opa.ssar',
    type: 'bool',
    default: false,
    help: "Review with SelfSubjectAccessReview and the user's token instead of SubjectAccessReview.",
    modes: OPENSHIFT_MODES,
  },
  {
    name: 'opa.viaq-to-otel-migration',
    type: 'bool',
    default: false,
    help: 'Serve queries by kubernetes_namespace_name or k8s_namespace_name, never both; needs both in --opa.matcher.',
    modes: OPENSHIFT_MODES,
  },
  { name: 'opa.escape-namespaces', type: 'bool', default: true, help: 'Regex-escape namespace names in matcher values.', modes: OPENSHIFT_MODES },
  {
    name: 'opa.match-all-for-cluster-readers',
    type: 'bool',
    default: false,
    help: 'A cluster-wide reader whose query names no namespace gets a match-all matcher instead of every project (for very large clusters).',
    modes: OPENSHIFT_MODES,
  },
  { name: 'opa.review-concurrency', type: 'int', default: 16, help: 'Per-namespace access reviews one decision runs at once.', modes: OPENSHIFT_MODES },
  { name: 'kube.timeout', type: 'duration', default: 5_000, help: 'Deadline for one Kubernetes API call.', modes: OPENSHIFT_MODES },
  {
    name: 'kube.max-concurrent-calls',
    type: 'int',
    default: 64,
    help: 'Kubernetes API calls in flight at once, for the whole process.',
    modes: OPENSHIFT_MODES,
  },
  {
    name: 'kube.namespace-source',
    type: 'string',
    default: 'auto',
    choices: ['auto', 'projects', 'namespaces'],
    help: "Where a user's namespaces come from: OpenShift projects (user's token), every namespace (plain Kubernetes), or auto-detected.",
    modes: OPENSHIFT_MODES,
  },
  {
    name: 'kube.max-concurrent-calls-per-caller',
    type: 'int',
    default: 16,
    help: 'Kubernetes API calls in flight at once for one caller (one forwarded token); callers waiting for a call are served in turn.',
    modes: OPENSHIFT_MODES,
  },
  {
    name: 'kube.review-cache-ttl',
    type: 'duration',
    default: 30_000,
    help: 'How long an access-review verdict (allow or deny) is reused for the same user, groups and namespace; 0 turns the review cache off.',
    modes: OPENSHIFT_MODES,
  },
  { name: 'kube.review-cache-entries', type: 'int', default: 100_000, help: 'Most access-review verdicts cached.', modes: OPENSHIFT_MODES },
  {
    name: 'openshift.max-namespaces',
    type: 'int',
    default: 1000,
    help: 'Most distinct namespaces one query may name (one access review each); beyond it the request is answered 400.',
    modes: OPENSHIFT_MODES,
  },
  {
    name: 'openshift.verify-token',
    type: 'bool',
    default: false,
    help: "Decide on the identity the cluster's TokenReview gives the forwarded token, not on the input's subject and groups. Needs create on tokenreviews.",
    modes: OPENSHIFT_MODES,
  },
  {
    name: 'openshift.token-review-ttl',
    type: 'duration',
    default: 60_000,
    help: 'How long a TokenReview answer is reused: the longest a revoked token keeps working.',
    modes: OPENSHIFT_MODES,
  },
  { name: 'openshift.token-review-entries', type: 'int', default: 10_000, help: 'Most TokenReview answers cached.', modes: OPENSHIFT_MODES },
  { name: 'cache.enabled', type: 'bool', default: true, help: 'Cache decisions of the openshift modes.', modes: OPENSHIFT_MODES },
  { name: 'cache.allow-ttl', type: 'duration', default: 0, help: 'How long an allow stays cached; 0: --memcached.expire.', modes: OPENSHIFT_MODES },
  { name: 'cache.deny-ttl', type: 'duration', default: 0, help: 'How long a deny stays cached; 0: --memcached.expire.', modes: OPENSHIFT_MODES },
  { name: 'cache.max-entries', type: 'int', default: 100_000, help: 'Most decisions the in-memory cache holds.', modes: OPENSHIFT_MODES },
  { name: 'cache.max-bytes', type: 'int', default: 64 << 20, help: 'Most bytes the in-memory cache holds.', modes: OPENSHIFT_MODES },
  {
    name: 'memcached',
    type: 'list',
    default: [],
    help: 'memcached servers (host:port, repeatable or comma-separated): a cache shared by replicas instead of the in-memory one.',
    modes: OPENSHIFT_MODES,
  },
  {
    name: 'memcached.expire',
    type: 'int',
    default: 60,
    help: 'Seconds a cached decision lives (memcached and in-memory, as in opa-openshift).',
    modes: OPENSHIFT_MODES,
  },
  { name: 'memcached.interval', type: 'int', default: 10, help: 'Seconds between DNS refreshes of the memcached servers; 0 disables.', modes: OPENSHIFT_MODES },
  {
    name: 'memcached.timeout',
    type: 'duration',
    default: 500,
    help: 'Deadline for one memcached call; past it the decision is made as on a miss.',
    modes: OPENSHIFT_MODES,
  },
  {
    name: 'memcached.hmac-key-file',
    type: 'string',
    default: '',
    help: 'Keys that sign memcached entries: keyid=base64secret lines (32 bytes or more each); the first signs, all verify. Re-read on change. Required with --memcached.',
    modes: OPENSHIFT_MODES,
  },
  {
    name: 'memcached.insecure-no-hmac',
    type: 'bool',
    default: false,
    help: 'Use --memcached without --memcached.hmac-key-file: anyone who can write to memcached can then forge decisions. For tests.',
    modes: OPENSHIFT_MODES,
  },
  ...FORWARD_AUTH_FLAGS,
  ...FORWARD_AUTH_MODES_FLAGS,
  {
    name: 'web.reasons',
    type: 'bool',
    default: false,
    help: 'Answer ?reasons=true on the Data API with a "reason" beside "result": which binding and role, claim rule or access reviews decided (docs/troubleshooting.md). Off: reasons disclose policy structure.',
  },
];

const PACKAGE_RE = /^[_A-Za-z]\w*(\.[_A-Za-z]\w*)*$/;
const RULE_RE = /^[_A-Za-z]\w*$/;

/**
 * What the command line asks for. `help: true`: print something and exit, nothing to run (--help,
 * or --version with `version`). Otherwise the validated Config and the warnings to log at startup:
 * settings that are valid but probably not what the operator meant.
 */
export type LoadResult = { help: true; version?: true } | { help: false; config: Config; warnings: readonly string[] };

/** Parses and validates the command line into a Config; throws FlagError naming the flag at fault. */
export function loadConfig(argv: readonly string[]): LoadResult {
  const { values, help, version, set } = parseFlags(argv, FLAGS);
  if (version) return { help: true, version: true };
  if (help) return { help: true };
  const config = toConfig(values, set);
  return { help: false, config, warnings: ignoredFlagWarnings(config.mode, set) };
}

/** One warning per flag given on the command line that the chosen mode never reads. */
function ignoredFlagWarnings(mode: Mode, set: ReadonlySet<string>): string[] {
  const warnings: string[] = [];
  for (const spec of FLAGS) {
    if (!set.has(spec.name) || !spec.modes || spec.modes.includes(mode)) continue;
    warnings.push(`--${spec.name} is read only in ${modesLabel(spec.modes)}; this service runs in ${mode} mode and ignores it`);
  }
  return warnings;
}

function toConfig(v: FlagValues, set: ReadonlySet<string>): Config {
  const str = (name: string) => v[name] as string;
  const num = (name: string) => v[name] as number;
  const positive = (name: string) => {
    if (num(name) <= 0) throw new FlagError(`--${name} must be greater than zero, got ${num(name)}`);
    return num(name);
  };
  const notNegative = (name: string) => {
    if (num(name) < 0) throw new FlagError(`--${name} must not be negative, got ${num(name)}`);
    return num(name);
  };

  const pkg = str('opa.package');
  if (pkg !== '' && !PACKAGE_RE.test(pkg)) throw new FlagError(`--opa.package ${JSON.stringify(pkg)} is not a valid package name (e.g. lokistack or a.b.c)`);
  const rule = str('opa.rule');
  if (!RULE_RE.test(rule)) throw new FlagError(`--opa.rule ${JSON.stringify(rule)} is not a valid rule name`);

  const pair = (prefix: string) => {
    const cert = str(`${prefix}.cert-file`);
    const key = str(`${prefix}.key-file`);
    if ((cert === '') !== (key === '')) throw new FlagError(`--${prefix}.cert-file and --${prefix}.key-file go together: set both or neither`);
    return cert ? { cert, key } : undefined;
  };
  const publicTls = pair('tls.server');
  const internalTls = pair('tls.internal.server');

  const mappings = v['openshift.mappings'] as string[];
  const mode = (set.has('mode') || mappings.length === 0 ? str('mode') : inferOpenShiftMode(str('opa.matcher'))) as Mode;
  let rbac: Config['rbac'];
  let openshift: OpenShiftConfig | undefined;
  let dynamic: DynamicConfig | undefined;
  const reload = num('rbac.reload-interval');
  if (reload < 0) throw new FlagError('--rbac.reload-interval must not be negative');
  const settle = num('watch.settle-interval');
  if (settle <= 0 || settle > 60_000) throw new FlagError('--watch.settle-interval must be more than 0s and at most 1m: 0 would apply a file half-written');
  if (str('policy.wasm') && str('policy.bundle')) throw new FlagError('--policy.wasm and --policy.bundle both name a policy: give one');
  if (str('rbac.config') && str('policy.data')) throw new FlagError('--rbac.config and --policy.data both name the data: give one');
  if (mode === 'static' || mode === 'dynamic') {
    const rbacFile = str('rbac.config');
    if (rbacFile === '' && !str('policy.data') && !str('policy.bundle')) {
      throw new FlagError(
        `${mode} mode needs --rbac.config: the file of roles and roleBindings to decide with (or --policy.data, or a --policy.bundle carrying data)`,
      );
    }
    if (rbacFile !== '') rbac = { file: rbacFile, reloadIntervalMs: reload };
    if (mode === 'dynamic') dynamic = dynamicConfig(v);
  } else {
    openshift = openShiftConfig(v, mode);
  }
  const healthUrl = str('web.healthchecks.url');
  if (healthUrl !== '' && !/^https?:\/\/[^\s]+$/.test(healthUrl))
    throw new FlagError(`--web.healthchecks.url ${JSON.stringify(healthUrl)} is not an http(s) URL`);

  return {
    mode,
    web: {
      listen: parseListen('web.listen', str('web.listen')),
      internalListen: parseListen('web.internal.listen', str('web.internal.listen')),
      maxBodyBytes: positive('web.max-body-bytes'),
      maxDepth: positive('web.max-input-depth'),
      maxNodes: positive('web.max-input-nodes'),
      maxArrayLength: positive('web.max-input-array-length'),
      maxStringBytes: positive('web.max-input-string-bytes'),
      maxInputBytes: positive('web.max-input-bytes'),
      maxYamlNodes: positive('web.max-yaml-nodes'),
      maxBufferedBytes: positive('web.max-buffered-bytes'),
      decisionTimeoutMs: positive('web.decision-timeout'),
      reasons: v['web.reasons'] as boolean,
      headersTimeoutMs: positive('web.headers-timeout'),
      requestTimeoutMs: positive('web.request-timeout'),
      shutdownTimeoutMs: positive('web.shutdown-timeout'),
      ...(set.has('web.healthchecks.url') ? { healthcheckUrl: healthUrl === '' ? null : healthUrl } : {}),
    },
    tls: {
      ...(publicTls ? { certFile: publicTls.cert, keyFile: publicTls.key } : {}),
      ...(internalTls ? { internalCertFile: internalTls.cert, internalKeyFile: internalTls.key } : {}),
      ...(str('tls.internal.server.ca-file') ? { internalCaFile: str('tls.internal.server.ca-file') } : {}),
      minVersion: minTlsVersion(str('tls.min-version')),
      reloadIntervalMs: tlsReloadInterval(num('tls.reload-interval')),
      ...(cipherList(v['tls.cipher-suites'] as string[]) ? { ciphers: cipherList(v['tls.cipher-suites'] as string[]) } : {}),
    },
    log: { level: str('log.level') as LogLevel, format: str('log.format') as LogFormat, name: str('debug.name') },
    decisionPath: [...(pkg === '' ? [] : pkg.split('.')), rule],
    policy: {
      wasmFile: str('policy.wasm') || bundledWasm(),
      ...(str('policy.bundle') ? { bundleFile: str('policy.bundle') } : {}),
      ...(str('policy.data') ? { dataFile: str('policy.data') } : {}),
      maxMemoryBytes: positive('policy.max-memory-bytes'),
      reloadIntervalMs: reload,
      workers: notNegative('policy.workers'),
      inlineMaxInputBytes: notNegative('policy.inline-max-input-bytes'),
      maxQueuedEvaluations: notNegative('policy.max-queued-evaluations'),
      memoryResetBytes: positive('policy.memory-reset-bytes'),
      maxBundleBytes: positive('policy.max-bundle-bytes'),
      maxDataBytes: positive('policy.max-data-bytes'),
      loadTimeoutMs: positive('policy.load-timeout'),
    },
    ...(rbac ? { rbac } : {}),
    fileSettleMs: settle,
    ...(openshift ? { openshift } : {}),
    ...(dynamic ? { dynamic } : {}),
    ...decisionLogConfig(v),
    ...forwardAuthConfig(v, mode),
    ...(v['forward-auth.enabled'] && mode !== 'static' ? { forwardAuthModes: parseForwardAuthModes(v) } : {}),
  };
}

/**
 * --tls.min-version as Node names it. TLS 1.0 and 1.1 sign the handshake with SHA-1 (or MD5+SHA-1),
 * which OpenSSL 3 refuses at its default security level: Node would accept the setting and then
 * fail every 1.0/1.1 handshake with an internal error alert. Say so at startup instead.
 */
function minTlsVersion(name: string): SecureVersion {
  const v = TLS_VERSIONS[name]!;
  if (v === 'TLSv1' || v === 'TLSv1.1') {
    throw new FlagError(
      `--tls.min-version=${name}: this runtime (OpenSSL ${process.versions.openssl}) cannot negotiate TLS 1.0 or 1.1 at its security level (SHA-1 handshake signatures are refused); use VersionTLS12 or VersionTLS13 (clients speaking TLS 1.2 or later are served either way)`,
    );
  }
  return v;
}

function tlsReloadInterval(ms: number): number {
  if (ms < 0) throw new FlagError('--tls.reload-interval must not be negative');
  return ms;
}

function decisionLogConfig(v: FlagValues): Pick<Config, 'decisionLog'> {
  const output = v['decision-log.output'] as string;
  if (output === '') return {};
  const mask = (v['decision-log.mask'] as string[]).filter((m) => m !== '');
  for (const m of mask) {
    if (!m.startsWith('/') || m === '/') throw new FlagError(`--decision-log.mask: ${JSON.stringify(m)} is not a JSON pointer such as /input/token`);
  }
  const labels: Record<string, string> = {};
  for (const l of (v['decision-log.labels'] as string[]).filter((x) => x !== '')) {
    const eq = l.indexOf('=');
    if (eq <= 0) throw new FlagError(`--decision-log.labels: ${JSON.stringify(l)} is not key=value`);
    labels[l.slice(0, eq)] = l.slice(eq + 1);
  }
  const maxPending = v['decision-log.max-pending'] as number;
  if (maxPending <= 0) throw new FlagError('--decision-log.max-pending must be greater than zero');
  return { decisionLog: { output, mask, labels, maxPending, reasons: v['decision-log.reasons'] as boolean } };
}

function dynamicConfig(v: FlagValues): DynamicConfig {
  const tenantsFile = v['tenants.config'] as string;
  if (tenantsFile === '') throw new FlagError("dynamic mode needs --tenants.config: the tenants and their OIDC providers (observatorium/api's tenants.yaml)");
  const positive = (name: string) => {
    const n = v[name] as number;
    if (n <= 0) throw new FlagError(`--${name} must be greater than zero, got ${n}`);
    return n;
  };
  const nonNegative = (name: string) => {
    const n = v[name] as number;
    if (n < 0) throw new FlagError(`--${name} must not be negative`);
    return n;
  };
  return {
    tenantsFile,
    acceptInputWithoutToken: v['dynamic.accept-input-without-token'] as boolean,
    oidc: {
      timeoutMs: positive('oidc.timeout'),
      allowInsecureIssuers: v['oidc.allow-insecure-issuers'] as boolean,
      maxTtlMs: positive('oidc.max-claims-ttl'),
      maxEntries: positive('oidc.claims-cache-entries'),
      clockToleranceSeconds: Math.round((v['oidc.clock-tolerance'] as number) / 1000),
      jwksCooldownMs: v['oidc.jwks-refresh-cooldown'] as number,
      negativeTtlMs: nonNegative('oidc.negative-cache-ttl'),
      discoveryBackoffMs: positive('oidc.discovery-backoff'),
      // A first wait longer than the cap raises the cap: setting one flag alone does what it says.
      discoveryBackoffMaxMs: Math.max(positive('oidc.discovery-backoff-max'), positive('oidc.discovery-backoff')),
      maxConcurrentCalls: positive('oidc.max-concurrent-calls'),
    },
  };
}

/** Started with opa-openshift's arguments and no --mode: the network flavour when its labels are asked for. */
function inferOpenShiftMode(matcher: string): Mode {
  return /\b(SrcK8S_Namespace|DstK8S_Namespace)\b/.test(matcher) ? 'openshift-network' : 'openshift-logging';
}

const csv = (s: string): string[] => s.split(',').filter((x) => x !== '');

function openShiftConfig(v: FlagValues, mode: Mode): OpenShiftConfig {
  const str = (name: string) => v[name] as string;
  const num = (name: string) => v[name] as number;
  const positive = (name: string) => {
    if (num(name) <= 0) throw new FlagError(`--${name} must be greater than zero, got ${num(name)}`);
    return num(name);
  };
  const nonNegative = (name: string) => {
    if (num(name) < 0) throw new FlagError(`--${name} must not be negative, got ${num(name)}`);
    return num(name);
  };
  const rawMappings = v['openshift.mappings'] as string[];
  // Forward-auth by namespace tenancy reviews namespaces, not tenants: mappings are then optional (the
  // Data API denies every tenant it has no mapping for, as opa-openshift does).
  const namespaceTenancy = v['forward-auth.enabled'] === true && v['forward-auth.kube-tenancy'] === 'namespaces';
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
  const viaq = v['opa.viaq-to-otel-migration'] as boolean;
  if (viaq && !(matcherKeys.includes('kubernetes_namespace_name') && matcherKeys.includes('k8s_namespace_name'))) {
    throw new FlagError('--opa.viaq-to-otel-migration needs --opa.matcher to name both kubernetes_namespace_name and k8s_namespace_name');
  }
  const expireMs = positive('memcached.expire') * 1000;
  const ttl = (name: string) => (num(name) > 0 ? num(name) : expireMs);
  const interval = num('memcached.interval');
  if (interval < 0) throw new FlagError('--memcached.interval must not be negative');
  const memcached = (v.memcached as string[]).filter((s) => s !== '');
  for (const s of memcached) {
    if (!/^(\[[^\]]+\]|[^:\s]+):\d{1,5}$/.test(s)) throw new FlagError(`--memcached: ${JSON.stringify(s)} is not host:port`);
  }
  const hmacKeyFile = str('memcached.hmac-key-file');
  const insecureNoHmac = v['memcached.insecure-no-hmac'] as boolean;
  if (hmacKeyFile !== '' && insecureNoHmac) throw new FlagError('--memcached.hmac-key-file and --memcached.insecure-no-hmac contradict each other: give one');
  if (memcached.length > 0 && (v['cache.enabled'] as boolean) && hmacKeyFile === '' && !insecureNoHmac) {
    throw new FlagError(
      '--memcached needs --memcached.hmac-key-file: anyone who can write to memcached could otherwise forge decisions (--memcached.insecure-no-hmac accepts that risk)',
    );
  }
  return {
    mappings,
    ...(str('openshift.kubeconfig') ? { kubeconfig: str('openshift.kubeconfig') } : {}),
    matcherKeys,
    matcherOp: str('opa.matcher-op') as '' | 'and' | 'or',
    skipTenants: new Set(csv(str('opa.skip-tenants'))),
    adminGroups: new Set(csv(str('opa.admin-groups'))),
    ssar: v['opa.ssar'] as boolean,
    viaqToOtelMigration: viaq,
    escapeNamespaces: v['opa.escape-namespaces'] as boolean,
    matchAllForClusterReaders: v['opa.match-all-for-cluster-readers'] as boolean,
    reviewConcurrency: positive('opa.review-concurrency'),
    ...(str('debug.token') ? { debugToken: str('debug.token') } : {}),
    kube: {
      timeoutMs: positive('kube.timeout'),
      maxConcurrentCalls: positive('kube.max-concurrent-calls'),
      maxConcurrentCallsPerCaller: positive('kube.max-concurrent-calls-per-caller'),
      namespaceSource: str('kube.namespace-source') as 'projects' | 'namespaces' | 'auto',
      reviewCache: { ttlMs: nonNegative('kube.review-cache-ttl'), maxEntries: positive('kube.review-cache-entries') },
    },
    maxNamespaces: positive('openshift.max-namespaces'),
    ...(v['openshift.verify-token']
      ? { verifyToken: { ttlMs: positive('openshift.token-review-ttl'), maxEntries: positive('openshift.token-review-entries') } }
      : {}),
    tokenReview: { ttlMs: positive('openshift.token-review-ttl'), maxEntries: positive('openshift.token-review-entries') },
    cache: {
      enabled: v['cache.enabled'] as boolean,
      memcached,
      allowTtlMs: ttl('cache.allow-ttl'),
      denyTtlMs: ttl('cache.deny-ttl'),
      maxEntries: positive('cache.max-entries'),
      maxBytes: positive('cache.max-bytes'),
      memcachedTimeoutMs: positive('memcached.timeout'),
      memcachedDnsIntervalMs: interval * 1000,
      ...(hmacKeyFile !== '' ? { memcachedHmacKeyFile: hmacKeyFile } : {}),
    },
  };
}

/** `:8080`, `127.0.0.1:8080`, `[::1]:8080` or `localhost:8080`, as Go's net.Listen takes them. */
export function parseListen(flag: string, raw: string): ListenAddress {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(raw);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new FlagError(`--${flag} ${JSON.stringify(raw)} is not a listen address such as :8080 or 127.0.0.1:8080`);
  const host = m[1] ?? m[2];
  return host ? { host, port } : { port };
}
