/**
 * The process metrics on /metrics (process_* and nodejs_*): what dashboards built for Node.js
 * services read, the project's own included (deploy/dashboards/lokistack-authz.json, bench/soak.ts).
 * Two oracles from outside the code under test: prom-client's own collectDefaultMetrics, run beside
 * the service in this process, for the names, types, help and label names; /proc/self and process.*
 * for the values. The service runs in this process, so /proc/self is the service's.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { getHeapSpaceStatistics } from 'node:v8';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { Metrics } from '../server/observability/metrics.js';
import { startTestService, type TestService } from './support/service.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
interface Family {
  help: string;
  type: string;
  samples: Sample[];
}

/** A text exposition's families by name; a sample belongs to the family whose TYPE line precedes it. */
function families(text: string): Map<string, Family> {
  const out = new Map<string, Family>();
  let current: Family | undefined;
  const helps = new Map<string, string>();
  for (const line of text.split('\n')) {
    const help = /^# HELP (\S+) (.*)$/.exec(line);
    if (help) {
      helps.set(help[1]!, help[2]!);
      continue;
    }
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) {
      current = { help: helps.get(type[1]!) ?? '', type: type[2]!, samples: [] };
      out.set(type[1]!, current);
      continue;
    }
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || !current) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    current.samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

const isProcessMetric = (name: string) => /^(process|nodejs)_/.test(name);

/**
 * prom-client's default metrics the service leaves out, and why (CHANGELOG.md, Upgrading):
 * nodejs_gc_duration_seconds observes every garbage collection through a PerformanceObserver, on
 * the hot path, and nothing we ship reads it.
 */
const DROPPED = ['nodejs_gc_duration_seconds'];

/** The one unlabelled sample of `name` (or the one with `labels`). */
function value(fams: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const fam = fams.get(name);
  assert.ok(fam, `${name}: not exposed`);
  const s = fam.samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  assert.ok(s, `${name}${JSON.stringify(labels)}: no sample`);
  return s.value;
}

/** VmRSS, VmSize, VmData in bytes, from /proc/self/status (proc(5): "kB" is KiB). */
function status(): Record<'VmRSS' | 'VmSize' | 'VmData', number> {
  const text = readFileSync('/proc/self/status', 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(text)![1]) * 1024;
  return { VmRSS: kib('VmRSS'), VmSize: kib('VmSize'), VmData: kib('VmData') };
}

/** The soft limit on open files, from /proc/self/limits (proc(5)). */
function softNofile(): number {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'))!;
  return Number(/^Max open files\s+(\d+)\s/.exec(line)![1]);
}

const cpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

const MiB = 1024 * 1024;

/** `x` within [lo - slack, hi + slack]. */
function within(name: string, x: number, lo: number, hi: number, slack: number): void {
  assert.ok(x >= lo - slack && x <= hi + slack, `${name} = ${x}, expected within [${lo - slack}, ${hi + slack}]`);
}

describe('process metrics (process_*, nodejs_*)', () => {
  let svc: TestService;
  let ours: Map<string, Family>;
  let oracle: Map<string, Family>;
  let oracleRegistry: Registry;
  const pre: { status?: ReturnType<typeof status>; cpu?: number; fds?: number; mem?: NodeJS.MemoryUsage } = {};
  const post: typeof pre = {};

  before(async () => {
    svc = await startTestService();
    oracleRegistry = new Registry();
    collectDefaultMetrics({ register: oracleRegistry });
    // Block the event loop well past the monitors' 10 ms resolution, so the lag figures have
    // something to show; a lower bound only, whatever the machine's speed.
    const until = Date.now() + 60;
    while (Date.now() < until);
    await new Promise((r) => setImmediate(r));
    pre.status = status();
    pre.cpu = cpuSeconds();
    pre.fds = readdirSync('/proc/self/fd').length;
    pre.mem = process.memoryUsage();
    const res = await fetch(`${svc.internalUrl}/metrics`);
    assert.equal(res.status, 200);
    ours = families(await res.text());
    post.status = status();
    post.cpu = cpuSeconds();
    post.fds = readdirSync('/proc/self/fd').length;
    post.mem = process.memoryUsage();
    oracle = families(await oracleRegistry.metrics());
  });
  after(async () => {
    await svc?.stop();
  });

  it("exposes every default metric prom-client's collectDefaultMetrics gives, with its type and help", () => {
    const mine = [...ours.keys()].filter(isProcessMetric).sort();
    const theirs = [...oracle.keys()].filter((n) => !DROPPED.includes(n)).sort();
    assert.deepEqual(mine, theirs);
    for (const name of theirs) {
      assert.equal(ours.get(name)!.type, oracle.get(name)!.type, `${name}: TYPE`);
      assert.equal(ours.get(name)!.help, oracle.get(name)!.help, `${name}: HELP`);
    }
  });

  it("declares prom-client's label names for each, and carries them on its samples", () => {
    const declared = (registry: { getMetricsAsArray(): unknown[] }) =>
      new Map(
        (registry.getMetricsAsArray() as Array<{ name: string; labelNames?: string[] }>)
          .filter((m) => isProcessMetric(m.name) && !DROPPED.includes(m.name))
          .map((m) => [m.name, [...(m.labelNames ?? [])].sort()]),
      );
    assert.deepEqual(declared(new Metrics().registry), declared(oracleRegistry));
    // On the wire: the label names of each sample, where prom-client's scrape has samples too.
    const labelSets = (f: Family) => [...new Set(f.samples.map((s) => Object.keys(s.labels).sort().join(',')))].sort();
    for (const [name, fam] of oracle) {
      if (fam.samples.length === 0 || DROPPED.includes(name)) continue;
      assert.deepEqual(labelSets(ours.get(name)!), labelSets(fam), `${name}: label names on the samples`);
    }
  });

  it('process_resident_memory_bytes, _virtual_memory_bytes, _heap_bytes: VmRSS, VmSize, VmData of /proc/self/status', () => {
    const b = pre.status!;
    const a = post.status!;
    within('process_resident_memory_bytes', value(ours, 'process_resident_memory_bytes'), Math.min(b.VmRSS, a.VmRSS), Math.max(b.VmRSS, a.VmRSS), 4 * MiB);
    within('process_virtual_memory_bytes', value(ours, 'process_virtual_memory_bytes'), Math.min(b.VmSize, a.VmSize), Math.max(b.VmSize, a.VmSize), 8 * MiB);
    within('process_heap_bytes', value(ours, 'process_heap_bytes'), Math.min(b.VmData, a.VmData), Math.max(b.VmData, a.VmData), 8 * MiB);
  });

  // Counted from the process's start (process.cpuUsage(), as client_golang reads /proc/self/stat),
  // not from when the registry was made: prom-client's left out the startup's CPU.
  it("process_cpu_seconds_total is user + system: the process's CPU time since it started", () => {
    const user = value(ours, 'process_cpu_user_seconds_total');
    const system = value(ours, 'process_cpu_system_seconds_total');
    const total = value(ours, 'process_cpu_seconds_total');
    assert.ok(user > 0 && system >= 0, `user ${user}, system ${system}`);
    assert.ok(Math.abs(total - (user + system)) < 1e-6, `${total} != ${user} + ${system}`);
    within('process_cpu_seconds_total', total, pre.cpu!, post.cpu!, 1e-6);
  });

  it('process_start_time_seconds: when this process started', () => {
    const started = Date.now() / 1000 - process.uptime();
    within('process_start_time_seconds', value(ours, 'process_start_time_seconds'), started, started, 2);
  });

  it('process_max_fds: the soft RLIMIT_NOFILE; process_open_fds: the entries of /proc/self/fd', () => {
    assert.equal(value(ours, 'process_max_fds'), softNofile());
    // Less the one the reading itself holds open; the scrape's own sockets come and go around it.
    within('process_open_fds', value(ours, 'process_open_fds'), Math.min(pre.fds!, post.fds!) - 1, Math.max(pre.fds!, post.fds!), 4);
  });

  it('nodejs_heap_*, nodejs_external_memory_bytes: process.memoryUsage() and v8.getHeapSpaceStatistics()', () => {
    const b = pre.mem!;
    const a = post.mem!;
    const total = value(ours, 'nodejs_heap_size_total_bytes');
    within('nodejs_heap_size_total_bytes', total, Math.min(b.heapTotal, a.heapTotal), Math.max(b.heapTotal, a.heapTotal), 4 * MiB);
    const used = value(ours, 'nodejs_heap_size_used_bytes');
    assert.ok(used > 0 && used <= total, `used ${used} of ${total}`);
    within(
      'nodejs_external_memory_bytes',
      value(ours, 'nodejs_external_memory_bytes'),
      Math.min(b.external, a.external),
      Math.max(b.external, a.external),
      4 * MiB,
    );
    const spaces = getHeapSpaceStatistics().map((s) => s.space_name.replace(/_space$/, ''));
    for (const space of spaces) {
      const t = value(ours, 'nodejs_heap_space_size_total_bytes', { space });
      const u = value(ours, 'nodejs_heap_space_size_used_bytes', { space });
      assert.ok(u <= t, `${space}: used ${u} > total ${t}`);
      value(ours, 'nodejs_heap_space_size_available_bytes', { space });
    }
    assert.equal(ours.get('nodejs_heap_space_size_total_bytes')!.samples.length, spaces.length);
  });

  it('nodejs_version_info: process.version, split', () => {
    const [major, minor, patch] = process.version.slice(1).split('.');
    assert.equal(value(ours, 'nodejs_version_info', { version: process.version, major: major!, minor: minor!, patch: patch! }), 1);
  });

  it("nodejs_active_*: by type adds up to the total, and the service's two listeners are among them", () => {
    for (const kind of ['handles', 'resources']) {
      const byType = ours.get(`nodejs_active_${kind}`)!.samples;
      const total = value(ours, `nodejs_active_${kind}_total`);
      assert.equal(
        byType.reduce((n, s) => n + s.value, 0),
        total,
        kind,
      );
    }
    assert.ok(value(ours, 'nodejs_active_handles', { type: 'Server' }) >= 2);
    assert.ok(value(ours, 'nodejs_active_resources', { type: 'TCPServerWrap' }) >= 2);
    const requests = ours.get('nodejs_active_requests')!.samples.reduce((n, s) => n + s.value, 0);
    assert.equal(requests, value(ours, 'nodejs_active_requests_total'));
  });

  it('nodejs_eventloop_lag_*: ordered, and the 60 ms block shows in the maximum', () => {
    const get = (stat: string) => value(ours, `nodejs_eventloop_lag_${stat}_seconds`);
    const [min, p50, p90, p99, max, mean] = ['min', 'p50', 'p90', 'p99', 'max', 'mean'].map(get) as [number, number, number, number, number, number];
    assert.ok(min >= 0 && min <= p50 && p50 <= p90 && p90 <= p99 && p99 <= max, JSON.stringify({ min, p50, p90, p99, max }));
    assert.ok(mean >= min && mean <= max, `mean ${mean}`);
    assert.ok(max >= 0.03, `max ${max}`);
    assert.ok(get('stddev') >= 0);
    assert.ok(value(ours, 'nodejs_eventloop_lag_seconds') >= 0);
  });

  it('a reading that throws leaves its metrics without samples, and the rest of the scrape whole', async () => {
    const metrics = new Metrics();
    metrics.decisions.inc({ mode: 'static', result: 'allow' });
    const real = process.memoryUsage;
    process.memoryUsage = (() => {
      throw new Error('EPERM');
    }) as unknown as typeof process.memoryUsage;
    let text: string;
    try {
      text = await metrics.registry.metrics();
    } finally {
      process.memoryUsage = real;
    }
    const fams = families(text);
    assert.equal(fams.get('nodejs_heap_size_used_bytes')?.samples.length, 0);
    assert.equal(value(fams, 'decisions_total', { mode: 'static', result: 'allow' }), 1);
    assert.ok(value(fams, 'process_resident_memory_bytes') > 0);
  });

  // A child process, so that what this suite loads (prom-client's index, as the oracle) does not count.
  it("a running service loads prom-client's core only: no index, pushgateway, cluster, defaultMetrics, @opentelemetry/api", function () {
    // A fresh node compiling the service's TypeScript: slow on a loaded machine.
    this.timeout(120_000);
    const script = `
      import { createRequire } from 'node:module';
      const { startTestService } = await import('./test/support/service.ts');
      const svc = await startTestService();
      const scrape = await (await fetch(svc.internalUrl + '/metrics')).text();
      await svc.stop();
      const loaded = Object.keys(createRequire(import.meta.url).cache);
      process.stdout.write(JSON.stringify({ scraped: scrape.includes('process_cpu_seconds_total'), loaded }));
    `;
    const root = fileURLToPath(new URL('..', import.meta.url));
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
    const { scraped, loaded } = JSON.parse(out) as { scraped: boolean; loaded: string[] };
    assert.ok(scraped, 'the child scraped its process metrics');
    const prom = loaded.filter((f) => f.includes('/node_modules/prom-client/')).map((f) => f.slice(f.indexOf('/prom-client/') + 1));
    // The check can see prom-client's files at all: its Registry is there.
    assert.ok(prom.includes('prom-client/lib/registry.js'), prom.join(', '));
    const unwanted = loaded.filter((f) =>
      /\/node_modules\/(prom-client\/(index|lib\/(pushgateway|cluster|defaultMetrics|metrics\/.*))\.js|@opentelemetry\/)/.test(f),
    );
    assert.deepEqual(unwanted, []);
  });
});
