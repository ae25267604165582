import { Counter, type CounterConfiguration, Histogram, type HistogramConfiguration, type LabelValues, Summary, type SummaryConfiguration } from './prom.js';

/*
 * prom-client's metrics for the per-request path. prom-client validates and hashes the label set
 * on every observation (and a summary feeds its quantile estimator even with no quantiles); the hot
 * path observes the same few frozen label objects over and over. These keep prom-client's own
 * series entry for each such object and add to it directly, so the exposition, the registry and the
 * types stay prom-client's: the first observation of a label object goes through prom-client (which
 * validates and creates the series), every later one is a Map lookup and an addition.
 *
 * What is relied on in prom-client 15 (test/hot-metrics.test.ts compares the exposition with plain
 * prom-client metrics fed the same observations, so an upgrade that changes it fails there):
 * `hashMap` holds one stable entry per series, `{ value }` for a counter and `{ sum, count,
 * bucketValues }` (bucketValues keyed by upper bound) for a histogram and a summary; `inc` and
 * `observe` are assigned per instance in the constructors; `reset` replaces `hashMap`.
 */

/** Label objects remembered per metric: the hot path uses a few dozen; a caller making fresh ones is not served here. */
const MAX_REMEMBERED = 1024;

interface CounterEntry {
  value: number;
  labels: object;
}
interface SeriesEntry {
  sum: number;
  count: number;
  labels: object;
  bucketValues: Record<string, number>;
}

type Internals<E> = { hashMap: Record<string, E> };

/** The series entry prom-client holds for `labels`, found after prom-client has observed it once. */
function entryOf<E extends { labels: object }>(metric: object, labels: object): E | undefined {
  const entries = Object.values((metric as Internals<E>).hashMap);
  const keys = Object.keys(labels);
  const same = (e: E) =>
    e.labels === labels ||
    (Object.keys(e.labels).length === keys.length && keys.every((k) => (e.labels as Record<string, unknown>)[k] === (labels as Record<string, unknown>)[k]));
  return entries.find(same);
}

export class HotCounter<T extends string = string> extends Counter<T> {
  private remembered = new Map<object, CounterEntry>();

  constructor(config: CounterConfiguration<T>) {
    super(config);
    // With exemplars, inc takes an options object: prom-client's own path serves it.
    if (config.enableExemplars) return;
    const slow = this.inc.bind(this);
    this.inc = ((labels?: LabelValues<T> | number, value?: number): void => {
      if (typeof labels === 'object' && (value === undefined || (value >= 0 && Number.isFinite(value)))) {
        const entry = this.remembered.get(labels);
        if (entry !== undefined) {
          entry.value += value ?? 1;
          return;
        }
        slow(labels, value as number);
        this.remember(labels);
        return;
      }
      slow(labels as LabelValues<T>, value as number);
    }) as Counter<T>['inc'];
  }

  private remember(labels: object): void {
    if (!Object.isFrozen(labels) || this.remembered.size >= MAX_REMEMBERED) return;
    const entry = entryOf<CounterEntry>(this, labels);
    if (entry) this.remembered.set(labels, entry);
  }

  override reset(): void {
    super.reset();
    this.remembered = new Map();
  }

  override remove(...args: unknown[]): void {
    (super.remove as (...a: unknown[]) => void)(...args);
    this.remembered = new Map();
  }
}

/** A histogram or summary series entry gains one observation. */
function observeEntry(entry: SeriesEntry, bounds: readonly number[] | undefined, value: number): void {
  entry.sum += value;
  entry.count += 1;
  if (bounds === undefined) return;
  for (let i = 0; i < bounds.length; i++) {
    const bound = bounds[i]!;
    if (value <= bound) {
      entry.bucketValues[bound]! += 1;
      return;
    }
  }
}

type Observe = (labels: object | number, value?: number) => void;

interface Observed {
  observe: unknown;
  reset(): void;
  remove(...args: unknown[]): void;
}

/**
 * Makes a histogram's (with its bounds) or a summary's (none) `observe` add to remembered series
 * entries, and its `reset` and `remove` forget them, as instance properties over prom-client's own.
 */
function rememberObservations(metric: Observed, bounds: readonly number[] | undefined): void {
  const slow = (metric.observe as Observe).bind(metric);
  let remembered = new Map<object, SeriesEntry>();
  metric.observe = ((labels, value) => {
    if (typeof labels !== 'object' || typeof value !== 'number' || !Number.isFinite(value)) return slow(labels, value);
    const entry = remembered.get(labels);
    if (entry !== undefined) return observeEntry(entry, bounds, value);
    slow(labels, value);
    if (Object.isFrozen(labels) && remembered.size < MAX_REMEMBERED) {
      const found = entryOf<SeriesEntry>(metric, labels);
      if (found) remembered.set(labels, found);
    }
  }) satisfies Observe;
  const reset = metric.reset.bind(metric);
  const remove = metric.remove.bind(metric);
  metric.reset = () => {
    reset();
    remembered = new Map();
  };
  metric.remove = (...args: unknown[]) => {
    remove(...args);
    remembered = new Map();
  };
}

export class HotHistogram<T extends string = string> extends Histogram<T> {
  constructor(config: HistogramConfiguration<T>) {
    super(config);
    if (!config.enableExemplars) rememberObservations(this as unknown as Observed, (this as unknown as { upperBounds: number[] }).upperBounds);
  }
}

/**
 * A summary without quantiles (the only kind the service declares): its sum and count. With
 * quantiles it is prom-client's own, unchanged, as the estimator must see every value.
 */
export class HotSummary<T extends string = string> extends Summary<T> {
  constructor(config: SummaryConfiguration<T>) {
    super(config);
    // Aged buckets prune a series whose estimator is empty: it must see every value too.
    const estimated = (config.percentiles ?? [0.01]).length > 0 || config.maxAgeSeconds !== undefined || config.pruneAgedBuckets;
    if (!estimated) rememberObservations(this as unknown as Observed, undefined);
  }
}
