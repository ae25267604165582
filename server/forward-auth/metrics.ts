import { Counter } from 'prom-client';
import type { Metrics } from '../observability/metrics.js';

/** Forward-auth's counters, on the service's registry. */
export class ForwardAuthMetrics {
  readonly decisions: Counter<'mode' | 'scope' | 'result'>;
  readonly cache: Counter<'result'>;

  constructor(metrics: Metrics) {
    // One registry may serve several apps (tests start more than one): register once.
    const existing = metrics.registry.getSingleMetric('forward_auth_decisions_total');
    if (existing) {
      this.decisions = existing as Counter<'mode' | 'scope' | 'result'>;
      this.cache = metrics.registry.getSingleMetric('forward_auth_cache_requests_total') as Counter<'result'>;
      return;
    }
    this.decisions = new Counter({
      name: 'forward_auth_decisions_total',
      help: 'Forward-auth answers by mode, scope and result (allow, unauthenticated, forbidden, invalid, error, busy).',
      labelNames: ['mode', 'scope', 'result'] as const,
      registers: [metrics.registry],
    });
    this.cache = new Counter({
      name: 'forward_auth_cache_requests_total',
      help: 'Forward-auth cache lookups by result (hit, miss, shared: joined an identical lookup in flight).',
      labelNames: ['result'] as const,
      registers: [metrics.registry],
    });
  }
}
