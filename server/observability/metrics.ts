import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

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

  readonly policyMemory = new Gauge({
    name: 'policy_wasm_memory_bytes',
    help: 'Linear memory held by the serving policy instance.',
    registers: [this.registry],
  });

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }
}
