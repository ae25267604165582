import { readdirSync, readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import type { Registry } from './prom.js';

/*
 * The process_* and nodejs_* metrics that prom-client 15's collectDefaultMetrics gives, with its
 * names, types, help and labels (test/process-metrics.test.ts holds them to it), read at scrape
 * time. Ours so that prom-client's index and @opentelemetry/api (which its CPU counter requires)
 * stay unloaded: 3-4 MiB loaded alone, 0.5-1.2 MiB of the service's idle RSS (bench/README.md).
 *
 * Differences from prom-client's, all listed in CHANGELOG.md:
 * - no nodejs_gc_duration_seconds: it observes every garbage collection through a
 *   PerformanceObserver (a quarter more CPU in an allocation-bound loop), and nothing we ship
 *   reads it;
 * - the CPU counters count from the process's start, as client_golang's do, not from the registry's
 *   creation (rate() is the same);
 * - nodejs_eventloop_lag_seconds is the lag measured by the scrape that reports it, not the previous
 *   one; an interval with no event loop delay recorded, or a /proc file that cannot be read, gives
 *   no sample rather than a made-up value.
 * The event loop delay monitor is kept (a 10 ms timer: about 8 ms of CPU a second when idle) because
 * the dashboard and the soak read nodejs_eventloop_lag_p99_seconds.
 */

type Labels = Readonly<Record<string, string | number>>;
interface Sample {
  labels: Labels;
  value: number;
}
type Aggregator = 'sum' | 'first' | 'min' | 'max' | 'average' | 'omit';

const NO_LABELS: Labels = Object.freeze({});
const one = (value: number | undefined): Sample[] => (value === undefined || Number.isNaN(value) ? [] : [{ labels: NO_LABELS, value }]);

/**
 * One metric in the shape prom-client's Registry formats (what its metrics' get() returns). It
 * stores nothing: reset() has nothing to clear.
 */
class ScrapedMetric {
  constructor(
    readonly name: string,
    readonly type: 'gauge' | 'counter',
    readonly help: string,
    readonly labelNames: readonly string[],
    private readonly read: () => Sample[] | Promise<Sample[]>,
    // For prom-client's cluster aggregation, as its default metrics declare them.
    readonly aggregator: Aggregator = 'sum',
  ) {}

  async get() {
    let values: Sample[];
    try {
      values = await this.read();
    } catch {
      // A platform where a reading throws (prom-client guards process.memoryUsage() for one): no
      // sample, rather than failing the whole scrape and the service's own metrics with it.
      values = [];
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {}
}

/**
 * A source several metrics read: the first of them in registration order (the Registry reads
 * metrics in that order) reads it afresh, the others see that reading, so that one scrape's figures
 * agree (user + system = total) and /proc is read once.
 */
function shared<T>(read: () => T): { fresh: () => T; last: () => T } {
  let last: { value: T } | undefined;
  const fresh = () => {
    last = { value: read() };
    return last.value;
  };
  return { fresh, last: () => (last ? last.value : fresh()) };
}

/** VmRSS, VmSize, VmData of /proc/self/status in bytes, or undefined without procfs. */
function procStatus(): Partial<Record<'VmRSS' | 'VmSize' | 'VmData', number>> | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/self/status', 'utf8');
  } catch {
    return undefined;
  }
  const out: Partial<Record<'VmRSS' | 'VmSize' | 'VmData', number>> = {};
  for (const m of text.matchAll(/^(VmRSS|VmSize|VmData):\s*(\d+) kB$/gm)) out[m[1] as 'VmRSS'] = Number(m[2]) * 1024;
  return out;
}

/** The soft limit on open files, from /proc/self/limits; undefined without procfs or when unlimited. */
function maxFds(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line === undefined ? undefined : /^Max open files\s+(\d+)\s/.exec(line)?.[1];
    return soft === undefined ? undefined : Number(soft);
  } catch {
    return undefined;
  }
}

function openFds(): number | undefined {
  try {
    // Less the descriptor readdirSync itself held open.
    return readdirSync('/proc/self/fd').length - 1;
  } catch {
    return undefined;
  }
}

/**
 * How many of `items` there are per key. Counts, not the items: holding the handle objects until the
 * next scrape would keep them alive.
 */
function countBy<T>(items: readonly T[], key: (item: T) => string | undefined): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) {
    const k = key(item);
    if (k !== undefined) counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return counts;
}

/** A libuv handle's or request's C++ class, as its JavaScript constructor is named. */
const className = (item: unknown): string | undefined => (item as { constructor?: { name?: string } } | null)?.constructor?.name;

const byType = (counts: Map<string, number>): Sample[] => [...counts].map(([type, value]) => ({ labels: { type }, value }));

// process._getActiveHandles and _getActiveRequests are undocumented, as prom-client uses them.
const internals = process as unknown as { _getActiveHandles?: () => unknown[]; _getActiveRequests?: () => unknown[] };

/** Registers the process metrics on `registry`, and starts the event loop delay monitor they read. */
export function registerProcessMetrics(registry: Registry): void {
  const metrics: ScrapedMetric[] = [];
  const add = (
    name: string,
    type: 'gauge' | 'counter',
    help: string,
    read: () => Sample[] | Promise<Sample[]>,
    labelNames: readonly string[] = [],
    aggregator?: Aggregator,
  ) => metrics.push(new ScrapedMetric(name, type, help, labelNames, read, aggregator));

  const cpu = shared(() => process.cpuUsage());
  add('process_cpu_user_seconds_total', 'counter', 'Total user CPU time spent in seconds.', () => one(cpu.fresh().user / 1e6));
  add('process_cpu_system_seconds_total', 'counter', 'Total system CPU time spent in seconds.', () => one(cpu.last().system / 1e6));
  add('process_cpu_seconds_total', 'counter', 'Total user and system CPU time spent in seconds.', () => {
    const { user, system } = cpu.last();
    return one((user + system) / 1e6);
  });

  const startTime = Math.round(Date.now() / 1000 - process.uptime());
  add('process_start_time_seconds', 'gauge', 'Start time of the process since unix epoch in seconds.', () => one(startTime), [], 'omit');

  const status = shared(procStatus);
  // Without procfs, the resident size from libuv as prom-client's other platforms have it.
  add('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.', () => one(status.fresh()?.VmRSS ?? process.memoryUsage.rss()));
  add('process_virtual_memory_bytes', 'gauge', 'Virtual memory size in bytes.', () => one(status.last()?.VmSize));
  add('process_heap_bytes', 'gauge', 'Process heap size in bytes.', () => one(status.last()?.VmData));

  add('process_open_fds', 'gauge', 'Number of open file descriptors.', () => one(openFds()));
  const maxOpen = maxFds();
  add('process_max_fds', 'gauge', 'Maximum number of open file descriptors.', () => one(maxOpen));

  add(
    'nodejs_eventloop_lag_seconds',
    'gauge',
    'Lag of event loop in seconds.',
    async () => {
      const start = process.hrtime.bigint();
      await new Promise((resolve) => setImmediate(resolve));
      return one(Number(process.hrtime.bigint() - start) / 1e9);
    },
    [],
    'average',
  );
  // prom-client's resolution; the figures are per scrape interval (reset at each scrape).
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const lag = shared(() => {
    const figures =
      delay.count === 0
        ? undefined
        : {
            min: delay.min,
            max: delay.max,
            mean: delay.mean,
            stddev: delay.stddev,
            p50: delay.percentile(50),
            p90: delay.percentile(90),
            p99: delay.percentile(99),
          };
    delay.reset();
    return figures;
  });
  const lagFigures = [
    ['min', 'The minimum recorded event loop delay.', 'min'],
    ['max', 'The maximum recorded event loop delay.', 'max'],
    ['mean', 'The mean of the recorded event loop delays.', 'average'],
    ['stddev', 'The standard deviation of the recorded event loop delays.', 'average'],
    ['p50', 'The 50th percentile of the recorded event loop delays.', 'average'],
    ['p90', 'The 90th percentile of the recorded event loop delays.', 'average'],
    ['p99', 'The 99th percentile of the recorded event loop delays.', 'average'],
  ] as const;
  for (const [i, [figure, help, aggregator]] of lagFigures.entries()) {
    const read = i === 0 ? lag.fresh : lag.last;
    add(`nodejs_eventloop_lag_${figure}_seconds`, 'gauge', help, () => one(nodeNanos(read()?.[figure])), [], aggregator);
  }

  // By type and in all, from one count per scrape.
  const active = (kind: string, help: string, count: () => Map<string, number>) => {
    const counts = shared(count);
    add(`nodejs_active_${kind}`, 'gauge', help, () => byType(counts.fresh()), ['type']);
    add(`nodejs_active_${kind}_total`, 'gauge', `Total number of active ${kind}.`, () => one(total(counts.last())));
  };
  active('resources', 'Number of active resources that are currently keeping the event loop alive, grouped by async resource type.', () =>
    countBy(process.getActiveResourcesInfo(), (type) => type),
  );
  active('handles', 'Number of active libuv handles grouped by handle type. Every handle type is C++ class name.', () =>
    countBy(internals._getActiveHandles?.() ?? [], className),
  );
  active('requests', 'Number of active libuv requests grouped by request type. Every request type is C++ class name.', () =>
    countBy(internals._getActiveRequests?.() ?? [], className),
  );

  const memory = shared(() => process.memoryUsage());
  add('nodejs_heap_size_total_bytes', 'gauge', 'Process heap size from Node.js in bytes.', () => one(memory.fresh().heapTotal));
  add('nodejs_heap_size_used_bytes', 'gauge', 'Process heap size used from Node.js in bytes.', () => one(memory.last().heapUsed));
  add('nodejs_external_memory_bytes', 'gauge', 'Node.js external memory size in bytes.', () => one(memory.last().external));

  const spaces = shared(getHeapSpaceStatistics);
  const spaceFigures = [
    ['total', 'space_size'],
    ['used', 'space_used_size'],
    ['available', 'space_available_size'],
  ] as const;
  for (const [i, [figure, field]] of spaceFigures.entries()) {
    const read = i === 0 ? spaces.fresh : spaces.last;
    add(
      `nodejs_heap_space_size_${figure}_bytes`,
      'gauge',
      `Process heap space size ${figure} from Node.js in bytes.`,
      () => read().map((s) => ({ labels: { space: s.space_name.replace(/_space$/, '') }, value: s[field] })),
      ['space'],
    );
  }

  const [major, minor, patch] = process.version.slice(1).split('.').map(Number);
  const version: Labels = Object.freeze({ version: process.version, major: major!, minor: minor!, patch: patch! });
  add('nodejs_version_info', 'gauge', 'Node.js version info.', () => [{ labels: version, value: 1 }], ['version', 'major', 'minor', 'patch'], 'first');

  // The Registry formats any object of this shape; its types admit only prom-client's classes.
  for (const m of metrics) registry.registerMetric(m as unknown as Parameters<Registry['registerMetric']>[0]);
}

const total = (counts: Map<string, number>): number => {
  let n = 0;
  for (const c of counts.values()) n += c;
  return n;
};

/** An event loop delay figure (nanoseconds) in seconds. */
const nodeNanos = (ns: number | undefined): number | undefined => (ns === undefined ? undefined : ns / 1e9);
