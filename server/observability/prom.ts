import { createRequire } from 'node:module';
import type * as Prom from 'prom-client';

/*
 * prom-client's core classes, each from its own file. Its index also loads the pushgateway (http,
 * https, zlib), the cluster aggregator and collectDefaultMetrics with @opentelemetry/api: about
 * 5 MiB of idle RSS that the service never uses (process metrics are ours: process-metrics.ts).
 * prom-client has no "exports" map, so its lib/ files are reachable; the types are still the
 * index's (a type-only import is erased). test/process-metrics.test.ts checks that a running
 * service loads none of the rest.
 */
const require = createRequire(import.meta.url);

export const Registry: typeof Prom.Registry = require('prom-client/lib/registry.js');
export const Counter: typeof Prom.Counter = require('prom-client/lib/counter.js');
export const Gauge: typeof Prom.Gauge = require('prom-client/lib/gauge.js');
export const Histogram: typeof Prom.Histogram = require('prom-client/lib/histogram.js');
export const Summary: typeof Prom.Summary = require('prom-client/lib/summary.js');

export type Registry = Prom.Registry;
export type Counter<T extends string = string> = Prom.Counter<T>;
export type Gauge<T extends string = string> = Prom.Gauge<T>;
export type Histogram<T extends string = string> = Prom.Histogram<T>;
export type Summary<T extends string = string> = Prom.Summary<T>;
export type { CounterConfiguration, HistogramConfiguration, LabelValues, SummaryConfiguration } from 'prom-client';
