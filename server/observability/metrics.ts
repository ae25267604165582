import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, Summary } from 'prom-client';

/**
 * The service's metrics, on one registry per process (tests make their own). Names follow
 * opa-openshift where it has one, so existing LokiStack dashboards keep working.
 */
export class Metrics {
  readonly registry = new Registry();

  readonly httpRequests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests by status code, method and handler.',
    labelNames: ['code', 'method', 'handler'] as const,
    registers: [this.registry],
  });

  // A superset of opa-openshift's buckets (.1 … 120 s), with the sub-millisecond ones decisions need.
  readonly httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency by status code, method and handler.',
    labelNames: ['code', 'method', 'handler'] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 1, 2.5, 5, 8, 20, 60, 120],
    registers: [this.registry],
  });

  readonly decisions = new Counter({
    name: 'decisions_total',
    help: 'Decisions by mode and result (allow, deny, undefined, other, error).',
    labelNames: ['mode', 'result'] as const,
    registers: [this.registry],
  });

  readonly configReloads = new Counter({
    name: 'config_reloads_total',
    help: 'Reloads of a watched configuration file, by file and result (success, failure).',
    labelNames: ['config', 'result'] as const,
    registers: [this.registry],
  });

  readonly configLastReloadSuccessful = new Gauge({
    name: 'config_last_reload_successful',
    help: 'Whether the last reload of a watched configuration file succeeded (1) or was rejected (0).',
    labelNames: ['config'] as const,
    registers: [this.registry],
  });

  readonly configLastReloadSuccessTime = new Gauge({
    name: 'config_last_reload_success_timestamp_seconds',
    help: 'When a watched configuration file was last loaded successfully.',
    labelNames: ['config'] as const,
    registers: [this.registry],
  });

  /** Where policy_wasm_memory_bytes is read at each scrape, once a mode serves a policy. */
  private policyMemorySource: (() => number) | undefined;

  readonly policyMemory = new Gauge({
    name: 'policy_wasm_memory_bytes',
    help: "Linear memory held by the serving policy instances: the main-thread one plus each evaluation worker's.",
    registers: [this.registry],
    // Read live: instances are replaced after growing, and workers come and go between scrapes.
    collect: () => {
      if (this.policyMemorySource) this.policyMemory.set(this.policyMemorySource());
    },
  });

  /** Reads policy_wasm_memory_bytes from `source` at every scrape. */
  observePolicyMemory(source: () => number): void {
    this.policyMemorySource = source;
  }

  readonly httpRequestSize = new Summary({
    name: 'http_request_size_bytes',
    help: 'HTTP request body sizes by status code, method and handler.',
    labelNames: ['code', 'method', 'handler'] as const,
    registers: [this.registry],
  });

  readonly httpResponseSize = new Histogram({
    name: 'http_response_size_bytes',
    help: 'HTTP response body sizes by status code, method and handler.',
    labelNames: ['code', 'method', 'handler'] as const,
    buckets: [100, 1000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000],
    registers: [this.registry],
  });

  // opa-openshift's cache metrics, for the same dashboards; here they count the memcached cache too.
  readonly cacheRequests = new Counter({
    name: 'opa_openshift_cache_requests_total',
    help: 'Decision cache lookups by result (hit, miss).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly cacheInserts = new Counter({
    name: 'opa_openshift_cache_inserts_total',
    help: 'Decisions stored in the cache.',
    registers: [this.registry],
  });

  readonly cacheEvictions = new Counter({
    name: 'opa_openshift_cache_evictions_total',
    help: 'Decisions evicted from the in-memory cache to stay within its bounds.',
    registers: [this.registry],
  });

  readonly cacheShared = new Counter({
    name: 'decision_cache_shared_total',
    help: 'Requests answered by joining an identical lookup already in flight, with no upstream call of their own.',
    registers: [this.registry],
  });

  readonly cacheErrors = new Counter({
    name: 'decision_cache_errors_total',
    help: 'Cache store failures (memcached unreachable, corrupt entries); each decision was made as on a miss.',
    registers: [this.registry],
  });

  private cacheSize: (() => number | undefined) | undefined;

  readonly cacheEntries = new Gauge({
    name: 'decision_cache_entries',
    help: 'Unexpired decisions held by the in-memory cache, read at each scrape.',
    registers: [this.registry],
    collect: () => {
      const size = this.cacheSize?.();
      if (size !== undefined) this.cacheEntries.set(size);
    },
  });

  /** Where decision_cache_entries reads the cache's size at each scrape. */
  observeCacheSize(size: () => number | undefined): void {
    this.cacheSize = size;
  }

  // opa-openshift's Kubernetes client metrics (client="openshift").
  readonly upstreamRequests = new Counter({
    name: 'client_api_requests_total',
    help: 'Kubernetes API calls by status code (or "error" when no answer came), method and client.',
    labelNames: ['code', 'method', 'client'] as const,
    registers: [this.registry],
  });

  readonly upstreamDuration = new Histogram({
    name: 'request_duration_seconds',
    help: 'Kubernetes API call latency by method and client.',
    labelNames: ['method', 'client'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly healthcheck = new Gauge({
    name: 'healthcheck',
    help: 'Result of each health check (1 healthy, 0 failing).',
    labelNames: ['name', 'check'] as const,
    registers: [this.registry],
  });

  readonly oidcVerifications = new Counter({
    name: 'oidc_token_verifications_total',
    help: 'Dynamic mode identity checks by result (ok, no_token, expired, bad_signature, wrong_issuer, wrong_audience, inactive, provider_unreachable, ...).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly oidcRequests = new Counter({
    name: 'oidc_provider_requests_total',
    help: 'Calls to OIDC providers by tenant, endpoint (discovery, jwks, userinfo, introspection) and status code.',
    labelNames: ['tenant', 'endpoint', 'code'] as const,
    registers: [this.registry],
  });

  readonly oidcClaimsCache = new Counter({
    name: 'oidc_claims_cache_requests_total',
    help: 'Lookups of verified identities in the claims cache by result (hit, miss).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly decisionLogDropped = new Counter({
    name: 'decision_logs_dropped_total',
    help: 'Decision log events dropped because the destination could not keep up.',
    registers: [this.registry],
  });

  readonly cacheRejected = new Counter({
    name: 'decision_cache_rejected_entries_total',
    help: 'memcached entries refused by reason (format, key, mac, expired): forged, moved or replayed; each was a miss.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly forwardAuthDecisions = new Counter({
    name: 'forward_auth_decisions_total',
    help: 'Forward-auth answers by mode, scope and result (allow, unauthenticated, forbidden, invalid, error, busy).',
    labelNames: ['mode', 'scope', 'result'] as const,
    registers: [this.registry],
  });

  readonly forwardAuthCache = new Counter({
    name: 'forward_auth_cache_requests_total',
    help: 'Forward-auth cache lookups by result (hit, miss, shared: joined an identical lookup in flight).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  // The one metric with the service's prefix: a bare build_info would clash with whatever else a
  // shared job exports (the sidecar is scraped with the gateway). Always 1; its labels let a
  // dashboard tell replicas apart mid-rollout and an alert find one still on an old Node.
  readonly buildInfo = new Gauge({
    name: 'lokistack_authz_build_info',
    help: 'Always 1: the version of the service, the Node.js that runs it, and its mode, as labels.',
    labelNames: ['version', 'node_version', 'mode'] as const,
    registers: [this.registry],
  });

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }
}
