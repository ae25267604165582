import { HotCounter, HotHistogram, HotSummary } from './hot-metrics.js';
import { registerProcessMetrics } from './process-metrics.js';
import { type Counter, Gauge, type Histogram, Registry, type Summary } from './prom.js';

/**
 * The service's metrics, on one registry per process (tests make their own). Names follow
 * opa-openshift where it has one, so existing LokiStack dashboards keep working.
 */
export class Metrics {
  readonly registry = new Registry();

  readonly httpRequests = this.counter('http_requests_total', 'HTTP requests by status code, method and handler.', ['code', 'method', 'handler']);

  // A superset of opa-openshift's buckets (.1 … 120 s), with the sub-millisecond ones decisions need.
  readonly httpDuration = this.histogram(
    'http_request_duration_seconds',
    'HTTP request latency by status code, method and handler.',
    ['code', 'method', 'handler'],
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 1, 2.5, 5, 8, 20, 60, 120],
  );

  readonly decisions = this.counter('decisions_total', 'Decisions by mode and result (allow, deny, undefined, other, error).', ['mode', 'result']);

  readonly configReloads = this.counter('config_reloads_total', 'Reloads of a watched configuration file, by file and result (success, failure).', [
    'config',
    'result',
  ]);

  readonly configLastReloadSuccessful = this.gauge(
    'config_last_reload_successful',
    'Whether the last reload of a watched configuration file succeeded (1) or was rejected (0).',
    ['config'],
  );

  readonly configLastReloadSuccessTime = this.gauge(
    'config_last_reload_success_timestamp_seconds',
    'When a watched configuration file was last loaded successfully.',
    ['config'],
  );

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

  readonly httpRequestSize = this.summary('http_request_size_bytes', 'HTTP request body sizes by status code, method and handler.', [
    'code',
    'method',
    'handler',
  ]);

  readonly httpResponseSize = this.histogram(
    'http_response_size_bytes',
    'HTTP response body sizes by status code, method and handler.',
    ['code', 'method', 'handler'],
    [100, 1000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000],
  );

  // opa-openshift's cache metrics, for the same dashboards; here they count the memcached cache too.
  readonly cacheRequests = this.counter('opa_openshift_cache_requests_total', 'Decision cache lookups by result (hit, miss).', ['result']);

  readonly cacheInserts = this.counter('opa_openshift_cache_inserts_total', 'Decisions stored in the cache.');

  readonly cacheEvictions = this.counter('opa_openshift_cache_evictions_total', 'Decisions evicted from the in-memory cache to stay within its bounds.');

  readonly cacheShared = this.counter(
    'decision_cache_shared_total',
    'Requests answered by joining an identical lookup already in flight, with no upstream call of their own.',
  );

  readonly cacheErrors = this.counter(
    'decision_cache_errors_total',
    'Cache store failures (memcached unreachable, corrupt entries); each decision was made as on a miss.',
  );

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
  readonly upstreamRequests = this.counter(
    'client_api_requests_total',
    'Kubernetes API calls by status code (or "error" when no answer came), method and client.',
    ['code', 'method', 'client'],
  );

  readonly upstreamDuration = this.histogram(
    'request_duration_seconds',
    'Kubernetes API call latency by method and client.',
    ['method', 'client'],
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  );

  readonly healthcheck = this.gauge('healthcheck', 'Result of each health check (1 healthy, 0 failing).', ['name', 'check']);

  readonly oidcVerifications = this.counter(
    'oidc_token_verifications_total',
    'Dynamic mode identity checks by result (ok, no_token, expired, bad_signature, wrong_issuer, wrong_audience, inactive, provider_unreachable, ...).',
    ['result'],
  );

  readonly oidcRequests = this.counter(
    'oidc_provider_requests_total',
    'Calls to OIDC providers by tenant, endpoint (discovery, jwks, userinfo, introspection) and status code.',
    ['tenant', 'endpoint', 'code'],
  );

  readonly oidcClaimsCache = this.counter('oidc_claims_cache_requests_total', 'Lookups of verified identities in the claims cache by result (hit, miss).', [
    'result',
  ]);

  readonly decisionLogDropped = this.counter('decision_logs_dropped_total', 'Decision log events dropped because the destination could not keep up.');

  readonly cacheRejected = this.counter(
    'decision_cache_rejected_entries_total',
    'memcached entries refused by reason (format, key, mac, expired): forged, moved or replayed; each was a miss.',
    ['reason'],
  );

  readonly forwardAuthDecisions = this.counter(
    'forward_auth_decisions_total',
    'Forward-auth answers by mode, scope and result (allow, unauthenticated, forbidden, invalid, error, busy).',
    ['mode', 'scope', 'result'],
  );

  readonly forwardAuthCache = this.counter(
    'forward_auth_cache_requests_total',
    'Forward-auth cache lookups by result (hit, miss, shared: joined an identical lookup in flight).',
    ['result'],
  );

  // The one metric with the service's prefix: a bare build_info would clash with whatever else a
  // shared job exports (the sidecar is scraped with the gateway). Always 1; its labels let a
  // dashboard tell replicas apart mid-rollout and an alert find one still on an old Node.
  readonly buildInfo = this.gauge('lokistack_authz_build_info', 'Always 1: the version of the service, the Node.js that runs it, and its mode, as labels.', [
    'version',
    'node_version',
    'mode',
  ]);

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics ?? true) registerProcessMetrics(this.registry);
  }

  // Declarations on this registry. Label names are typed from the list given, so observing with a
  // label the metric does not declare is a compile error.
  private counter<L extends string = string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return new HotCounter({ name, help, labelNames, registers: [this.registry] });
  }

  private gauge<L extends string = string>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
    return new Gauge({ name, help, labelNames, registers: [this.registry] });
  }

  private histogram<L extends string>(name: string, help: string, labelNames: readonly L[], buckets: number[]): Histogram<L> {
    return new HotHistogram({ name, help, labelNames, buckets, registers: [this.registry] });
  }

  // No quantiles, as opa-openshift's (client_golang's default objectives are none since v1.0): the
  // same exposition, and no quantile estimator fed on every request.
  private summary<L extends string>(name: string, help: string, labelNames: readonly L[]): Summary<L> {
    return new HotSummary({ name, help, labelNames, percentiles: [], registers: [this.registry] });
  }
}
