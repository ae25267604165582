/**
 * `npm run soak`: the service in openshift-logging mode (the Loki Operator's arguments) against the
 * fake Kubernetes API, at a fixed request rate for SOAK_MINUTES, with a rotating population of
 * users and tokens and a short-lived, bounded decision cache (entries expire and are evicted all
 * the time). Every answer is checked against the decision expected for its user; every
 * SOAK_SAMPLE_SECONDS the service's RSS, heap, open sockets, cache size and the fake API's calls
 * are sampled. Writes bench/results/soak.md, soak.json and soak.svg; exits 1 when there was an
 * error or a wrong answer, or memory or sockets were not flat. Not part of `npm test`.
 *
 *   npm run soak                                  10 minutes at 300 req/s (about 11 minutes)
 *   SOAK_MINUTES=1 npm run soak                   a short check of the harness
 *   SOAK_RATE=500 SOAK_MINUTES=30 npm run soak -- --out bench/results/tmp/soak30
 *   npm run soak -- --report-only                 re-render soak.md and soak.svg from soak.json
 *
 * Settings (environment): SOAK_MINUTES (10), SOAK_RATE (300 req/s), SOAK_CONNECTIONS (16, the most
 * the loader opens), SOAK_SAMPLE_SECONDS (10), SOAK_CACHE_TTL (5s, allow and deny),
 * SOAK_CACHE_MAX_ENTRIES (500: below the ~700 decisions alive within the TTL, so the LRU evicts as well as expires), SOAK_UPSTREAM_LATENCY_MS (3), per user SOAK_TOKEN_POOL (1000),
 * SOAK_ACTIVE_TOKENS (100) and SOAK_LOGINS_PER_SEC (5); the verdict's limits SOAK_RSS_GROWTH_PCT
 * (10), SOAK_HEAP_GROWTH_PCT (10), SOAK_SOCKET_SLACK (8); SOAK_IDLE_SECONDS (12), SOAK_SEED (1),
 * SOAK_TRACE_GC (1; 0 runs the service without --trace-gc and judges no heap), SOAK_OUT or --out.
 *
 * Processes: the service (compiled into bench/.build/soak, as `npm run bench` does into
 * bench/.build) and the fake Kubernetes API (bench/fake-kube-server.ts) run as child processes;
 * the loader (bench/lib/pacer.ts) and the sampler run here. See bench/README.md.
 */
import { option } from './lib/args.js';
import { gitDescription } from './lib/git.js';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GcLog } from './lib/gclog.js';
import { errorCount, Pacer, type PacedRequest } from './lib/pacer.js';
import { sleep, startFakeKubeProc, type FakeCounts, type FakeKubeProc } from './lib/procs.js';
import { fmtBytes, fmtMs } from './lib/report.js';
import { buildOurs, metricValue, oursLoggingFlags, scrape, startOurs, type Running } from './lib/servers.js';
import { flatness, soakMarkdown, soakSvg, thirds, type Check, type Flatness, type SoakReport, type SoakSample } from './lib/soak-report.js';
import { countSockets, type SocketRoles } from './lib/sockets.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const TMP = join(ROOT, 'bench/results/tmp'); // git-ignored: logs, kubeconfigs
const DECISION_PATH = '/v1/data/lokistack/allow';

// ---------------------------------------------------------------- options

function positive(env: string, fallback: number, integer = false): number {
  const raw = process.env[env];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n)))
    throw new Error(`${env}: ${JSON.stringify(raw)} is not a positive ${integer ? 'integer' : 'number'}`);
  return n;
}

const MINUTES = positive('SOAK_MINUTES', 10);
const RATE = positive('SOAK_RATE', 300);
const CONNECTIONS = positive('SOAK_CONNECTIONS', 16, true);
const SAMPLE_SEC = positive('SOAK_SAMPLE_SECONDS', 10);
const TTL = process.env.SOAK_CACHE_TTL || '5s';
const MAX_ENTRIES = positive('SOAK_CACHE_MAX_ENTRIES', 500, true);
const UPSTREAM_LATENCY_MS = process.env.SOAK_UPSTREAM_LATENCY_MS === '0' ? 0 : positive('SOAK_UPSTREAM_LATENCY_MS', 3);
/** Per user: tokens in the pool (cycled), tokens active at once, new logins per second. */
const TOKEN_POOL = positive('SOAK_TOKEN_POOL', 1000, true);
const ACTIVE_TOKENS = positive('SOAK_ACTIVE_TOKENS', 100, true);
const LOGINS_PER_SEC = positive('SOAK_LOGINS_PER_SEC', 5);
const RSS_GROWTH_PCT = positive('SOAK_RSS_GROWTH_PCT', 10);
const HEAP_GROWTH_PCT = positive('SOAK_HEAP_GROWTH_PCT', 10);
const SOCKET_SLACK = positive('SOAK_SOCKET_SLACK', 8, true);
const IDLE_SEC = positive('SOAK_IDLE_SECONDS', 12);
const SEED = positive('SOAK_SEED', 1, true);
/** The service runs with node --trace-gc (one log line per collection) unless SOAK_TRACE_GC=0. */
const TRACE_GC = process.env.SOAK_TRACE_GC !== '0';
const MAX_IN_FLIGHT = 1000;
const REQUEST_TIMEOUT_MS = 15_000; // above the service's --web.decision-timeout (10 s): its own 401/500 shows first
const OUT = resolve(option('out') ?? process.env.SOAK_OUT ?? join(ROOT, 'bench/results'));

const log = (msg: string) => process.stderr.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

// ---------------------------------------------------------------- workload (the fixture cluster)

// test/support/fake-kube/fixtures/lokistack-cluster.yaml: who may do what.
const OAUTH = 'system:authenticated:oauth';
const USERS: Record<'alice' | 'bob' | 'carol' | 'dave' | 'collector' | 'admin', { username: string; groups: string[] }> = {
  alice: { username: 'alice', groups: [OAUTH] },
  bob: { username: 'bob', groups: [OAUTH] },
  carol: { username: 'carol', groups: ['log-readers', OAUTH] },
  dave: { username: 'dave', groups: [OAUTH] },
  collector: {
    username: 'system:serviceaccount:openshift-logging:logcollector',
    groups: ['system:serviceaccounts', 'system:serviceaccounts:openshift-logging'],
  },
  admin: { username: 'kube:admin', groups: ['system:cluster-admins', OAUTH] },
};
type User = keyof typeof USERS;
const ALL_NAMESPACES = ['log-test-0', 'log-test-1', 'log-test-2', 'openshift-logging', 'kube-system'];

type Expected = { kind: 'bool'; value: boolean } | { kind: 'matcher'; key: string; namespaces: string[] };

interface Variant {
  label: string;
  who: User;
  weight: number;
  what: string;
  permission: 'read' | 'write';
  tenant: string;
  extras?: Record<string, unknown>;
  expected: Expected;
}

const matcher = (key: string, namespaces: string[]): Expected => ({ kind: 'matcher', key, namespaces });
const bool = (value: boolean): Expected => ({ kind: 'bool', value });
const VIAQ = 'kubernetes_namespace_name';
const OTEL = 'k8s_namespace_name';

const VARIANTS: Variant[] = [
  {
    label: 'alice-all',
    who: 'alice',
    weight: 3,
    what: 'read application, no namespace (cluster-wide reader: her projects)',
    permission: 'read',
    tenant: 'application',
    expected: matcher(VIAQ, ALL_NAMESPACES),
  },
  {
    label: 'alice-otel',
    who: 'alice',
    weight: 2,
    what: 'read application, `k8s_namespace_name` log-test-1 (OTel label)',
    permission: 'read',
    tenant: 'application',
    extras: { selectors: { [OTEL]: ['log-test-1'] } },
    expected: matcher(OTEL, ['log-test-1']),
  },
  { label: 'alice-audit', who: 'alice', weight: 1, what: 'read audit (skipped tenant: no matcher)', permission: 'read', tenant: 'audit', expected: bool(true) },
  {
    label: 'bob-ns',
    who: 'bob',
    weight: 4,
    what: 'read application in log-test-0, log-test-1 (namespaced)',
    permission: 'read',
    tenant: 'application',
    extras: { selectors: { [VIAQ]: ['log-test-0', 'log-test-1'] } },
    expected: matcher(VIAQ, ['log-test-0', 'log-test-1']),
  },
  {
    label: 'bob-partial',
    who: 'bob',
    weight: 2,
    what: 'read application in log-test-1, log-test-2 (one allowed)',
    permission: 'read',
    tenant: 'application',
    extras: { selectors: { [VIAQ]: ['log-test-1', 'log-test-2'] } },
    expected: matcher(VIAQ, ['log-test-1']),
  },
  {
    label: 'bob-meta',
    who: 'bob',
    weight: 2,
    what: 'metadata request, no namespace (projects listed, then reviewed)',
    permission: 'read',
    tenant: 'application',
    extras: { metadataOnly: true },
    expected: matcher(VIAQ, ['log-test-0', 'log-test-1']),
  },
  {
    label: 'carol-group',
    who: 'carol',
    weight: 2,
    what: 'read application in log-test-2 (cluster-wide via the group log-readers)',
    permission: 'read',
    tenant: 'application',
    extras: { selectors: { [VIAQ]: ['log-test-2'] } },
    expected: matcher(VIAQ, ['log-test-2']),
  },
  {
    label: 'dave-denied',
    who: 'dave',
    weight: 2,
    what: 'read application in log-test-0 (no grant)',
    permission: 'read',
    tenant: 'application',
    extras: { selectors: { [VIAQ]: ['log-test-0'] } },
    expected: bool(false),
  },
  {
    label: 'dave-meta',
    who: 'dave',
    weight: 1,
    what: 'metadata request, no namespace (no projects)',
    permission: 'read',
    tenant: 'application',
    extras: { metadataOnly: true },
    expected: bool(false),
  },
  {
    label: 'dave-infra',
    who: 'dave',
    weight: 1,
    what: 'read infrastructure (skipped tenant, denied)',
    permission: 'read',
    tenant: 'infrastructure',
    expected: bool(false),
  },
  { label: 'dave-write', who: 'dave', weight: 1, what: 'write application (denied)', permission: 'write', tenant: 'application', expected: bool(false) },
  {
    label: 'collector-write',
    who: 'collector',
    weight: 4,
    what: 'write application (the log collector)',
    permission: 'write',
    tenant: 'application',
    expected: bool(true),
  },
  {
    label: 'admin',
    who: 'admin',
    weight: 1,
    what: 'read application in log-test-0 (admin group: no matcher)',
    permission: 'read',
    tenant: 'application',
    extras: { selectors: { [VIAQ]: ['log-test-0'] } },
    expected: bool(true),
  },
];

/** observatorium/api's field order: groups, permission, resource, subject, tenant, tenantID, token, extras. */
function gatewayBody(v: Variant): string {
  const u = USERS[v.who];
  return JSON.stringify({
    input: {
      groups: u.groups,
      permission: v.permission,
      resource: 'logs',
      subject: u.username,
      tenant: v.tenant,
      tenantID: v.tenant,
      token: '',
      extras: v.extras ?? {},
    },
  });
}

function expectedText(e: Expected): string {
  return e.kind === 'bool' ? `\`${e.value}\`` : `matcher ${e.key} =~ ${e.namespaces.join('\\|')}`;
}

/** The answer's problem, or undefined when it is the expected decision (namespace order aside). */
function checkAnswer(e: Expected, body: string): string | undefined {
  let result: unknown;
  try {
    result = (JSON.parse(body) as { result?: unknown }).result;
  } catch {
    return `not JSON: ${body.slice(0, 200)}`;
  }
  const got = () => `got ${JSON.stringify(result).slice(0, 300)}, want ${expectedText(e)}`;
  if (e.kind === 'bool') return result === e.value ? undefined : got();
  if (typeof result !== 'object' || result === null) return got();
  const r = result as { allowed?: unknown; data?: unknown };
  if (r.allowed !== 'true' || typeof r.data !== 'string') return got();
  let data: { matchers?: Array<{ Type?: unknown; Name?: unknown; Value?: unknown }>; matcherOp?: unknown };
  try {
    data = JSON.parse(r.data) as typeof data;
  } catch {
    return got();
  }
  const m = data.matchers;
  if (!Array.isArray(m) || m.length !== 1 || m[0]!.Type !== 2 || m[0]!.Name !== e.key || typeof m[0]!.Value !== 'string' || data.matcherOp !== undefined)
    return got();
  const have = m[0]!.Value.split('|')
    .map((s) => s.replace(/\\(.)/g, '$1'))
    .sort();
  const want = [...e.namespaces].sort();
  return have.length === want.length && have.every((n, i) => n === want[i]) ? undefined : got();
}

/** mulberry32: the same workload for the same SOAK_SEED. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Requests of the workload: a variant by weight, then one of its user's active tokens. Each user's
 * active tokens are a window of ACTIVE_TOKENS that slides by LOGINS_PER_SEC a second over a pool of
 * TOKEN_POOL (then wraps): new logins arrive, old sessions stop, every token is a new cache key.
 */
function workload(startedAt: () => number): { next: () => PacedRequest; distinctTokens: () => number } {
  const random = prng(SEED);
  const totalWeight = VARIANTS.reduce((s, v) => s + v.weight, 0);
  const prepared = VARIANTS.map((v) => {
    const expected = v.expected;
    return { v, body: gatewayBody(v), check: (_status: number, body: string) => checkAnswer(expected, body) };
  });
  const seen = new Set<string>();
  const next = (): PacedRequest => {
    let pick = random() * totalWeight;
    let p = prepared[prepared.length - 1]!;
    for (const c of prepared) {
      pick -= c.v.weight;
      if (pick < 0) {
        p = c;
        break;
      }
    }
    const elapsed = (performance.now() - startedAt()) / 1000;
    const index = (Math.floor(elapsed * LOGINS_PER_SEC) + Math.floor(random() * ACTIVE_TOKENS)) % TOKEN_POOL;
    const token = `soak-${p.v.who}-${index}`;
    if (seen.size < 6 * TOKEN_POOL) seen.add(token);
    return { label: p.v.label, method: 'POST', path: DECISION_PATH, body: p.body, headers: { 'x-forwarded-access-token': token }, check: p.check };
  };
  return { next, distinctTokens: () => seen.size };
}

// ---------------------------------------------------------------- sampling

interface SampleState {
  at: number;
  cpu: number | undefined;
  metrics: string;
  fake: FakeCounts;
}

const CACHE_COUNTERS = {
  hits: ['opa_openshift_cache_requests_total', { result: 'hit' }],
  misses: ['opa_openshift_cache_requests_total', { result: 'miss' }],
  inserts: ['opa_openshift_cache_inserts_total', {}],
  evictions: ['opa_openshift_cache_evictions_total', {}],
  shared: ['decision_cache_shared_total', {}],
} as const;

function cacheCounters(metrics: string): Record<keyof typeof CACHE_COUNTERS, number> {
  const out = {} as Record<keyof typeof CACHE_COUNTERS, number>;
  for (const [k, [name, labels]] of Object.entries(CACHE_COUNTERS)) out[k as keyof typeof CACHE_COUNTERS] = metricValue(metrics, name, labels) ?? 0;
  return out;
}

async function takeSample(
  t: number,
  phase: SoakSample['phase'],
  ours: Running,
  fake: FakeKubeProc,
  roles: SocketRoles,
  prev: SampleState | undefined,
  pacer: Pacer | undefined,
  gcLog: GcLog | undefined,
): Promise<{ sample: SoakSample; state: SampleState }> {
  // Sockets first: the scrape below opens a connection of its own to the internal listener.
  const sockets = countSockets(ours.proc.pid, roles);
  const mem = ours.proc.memory();
  const cpu = ours.proc.cpuSeconds();
  const at = performance.now();
  const interval = pacer?.takeInterval();
  const gcs = gcLog?.read();
  const [metrics, fakeCounts] = await Promise.all([scrape(ours), fake.counts()]);
  const m = (name: string) => metricValue(metrics, name);
  const sample: SoakSample = {
    t: Math.round(t * 10) / 10,
    phase,
    ...(mem ? { rssBytes: mem.rssBytes } : {}),
    heapUsedBytes: m('nodejs_heap_size_used_bytes'),
    heapTotalBytes: m('nodejs_heap_size_total_bytes'),
    externalBytes: m('nodejs_external_memory_bytes'),
    activeHandles: m('nodejs_active_handles_total'),
    eventLoopLagP99Ms: (m('nodejs_eventloop_lag_p99_seconds') ?? NaN) * 1000,
    ...(sockets ? { sockets } : {}),
    cacheEntries: m('decision_cache_entries') ?? 0,
    upstream: { total: fakeCounts.total, delta: 0, perSec: NaN },
    fakeRssBytes: fake.proc.memory()?.rssBytes,
  };
  if (gcs) {
    const full = gcs.filter((g) => g.full);
    sample.gc = {
      scavenges: gcs.length - full.length,
      full: full.length,
      pauseMs: Math.round(gcs.reduce((s, g) => s + g.pauseMs, 0) * 10) / 10,
      ...(full.length ? { heapAfterFullGcBytes: Math.min(...full.map((g) => g.afterBytes)) } : {}),
    };
  }
  if (prev) {
    const sec = (at - prev.at) / 1000;
    if (cpu !== undefined && prev.cpu !== undefined) sample.cpuPct = ((cpu - prev.cpu) / sec) * 100;
    const now = cacheCounters(metrics);
    const before = cacheCounters(prev.metrics);
    sample.cache = {
      hits: now.hits - before.hits,
      misses: now.misses - before.misses,
      inserts: now.inserts - before.inserts,
      evictions: now.evictions - before.evictions,
      shared: now.shared - before.shared,
    };
    const delta = fakeCounts.total - prev.fake.total;
    sample.upstream = { total: fakeCounts.total, delta, perSec: delta / sec };
  }
  if (interval) {
    sample.load = {
      sent: interval.sent,
      answered: interval.answered,
      ok: interval.ok,
      ratePerSec: interval.answered / interval.seconds,
      errors: errorCount(interval),
      wrong: interval.wrong,
      skipped: interval.skipped,
      inFlight: interval.inFlight,
      latencyMs: interval.latencyMs,
    };
  }
  return { sample, state: { at, cpu, metrics, fake: fakeCounts } };
}

// ---------------------------------------------------------------- main

function writeReport(report: SoakReport): void {
  const caption = `${report.generatedAt}; ${report.parameters.minutes} min, ${report.parameters.rate} req/s, cache TTL ${report.parameters['cache TTL (allow and deny)']}, at most ${report.parameters['cache max entries']} entries. Dashed lines: the middle and last thirds start. Indicative (shared machine).`;
  writeFileSync(join(OUT, 'soak.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(OUT, 'soak.svg'), soakSvg(report, caption));
  writeFileSync(join(OUT, 'soak.md'), soakMarkdown(report, 'soak.svg'));
}

function commandLine(): string {
  const env = Object.entries(process.env)
    .filter(([k]) => k.startsWith('SOAK_'))
    .map(([k, v]) => `${k}=${v}`)
    .sort();
  const args = process.argv.slice(2);
  return [...env, 'npm run soak', ...(args.length ? ['--', ...args] : [])].join(' ');
}

async function main(): Promise<number> {
  mkdirSync(TMP, { recursive: true });
  mkdirSync(OUT, { recursive: true });
  if (process.argv.slice(2).includes('--report-only')) {
    const report = JSON.parse(readFileSync(join(OUT, 'soak.json'), 'utf8')) as SoakReport;
    writeReport(report);
    log(`re-rendered ${relative(ROOT, OUT) || OUT}/soak.md and soak.svg from soak.json (verdict ${report.verdict})`);
    return report.verdict === 'pass' ? 0 : 1;
  }
  const loadStart = loadavg();
  const durationSec = MINUTES * 60;
  log(
    `${MINUTES} min at ${RATE} req/s over at most ${CONNECTIONS} connections; cache TTL ${TTL}, max ${MAX_ENTRIES} entries; upstream latency ${UPSTREAM_LATENCY_MS} ms; sample every ${SAMPLE_SEC} s`,
  );
  const git = gitDescription(ROOT);
  log('building ours into bench/.build/soak');
  const build = await buildOurs(ROOT, 'bench/.build/soak');
  log(`ours: ${build.how}`);

  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const logs = { ours: join(TMP, `soak-${stamp}-ours.log`), fakeKube: join(TMP, `soak-${stamp}-fake-kube.log`) };
  const fake = await startFakeKubeProc(ROOT, TMP, logs.fakeKube);
  let ours: Running | undefined;
  try {
    if (UPSTREAM_LATENCY_MS > 0) await fake.latency(UPSTREAM_LATENCY_MS);
    for (const [who, identity] of Object.entries(USERS)) {
      await fake.tokens(`soak-${who}-`, TOKEN_POOL, identity);
      await fake.tokens(`soak-pre-${who}-`, 1, identity);
    }
    // The operator's arguments (--log.level=warn among them), plus a short-lived, bounded cache.
    const flags = oursLoggingFlags(fake.kubeconfig, [`--cache.allow-ttl=${TTL}`, `--cache.deny-ttl=${TTL}`, `--cache.max-entries=${MAX_ENTRIES}`]);
    ours = await startOurs(build, flags, logs.ours, TRACE_GC ? ['--trace-gc'] : []);
    const running = ours;
    const publicPort = Number(new URL(running.base).port);
    const internalPort = Number(new URL(running.internal!).port);
    const fakePort = Number(new URL(fake.url).port);
    const roles: SocketRoles = { inbound: { [publicPort]: 'public', [internalPort]: 'internal' }, outbound: { [fakePort]: 'fake-kube' } };

    // Preflight: every variant once, with a token used nowhere else; the answers the soak expects.
    const preflight: Check[] = [];
    for (const v of VARIANTS) {
      const res = await fetch(`${running.base}${DECISION_PATH}`, {
        method: 'POST',
        body: gatewayBody(v),
        headers: { 'content-type': 'application/json', 'x-forwarded-access-token': `soak-pre-${v.who}-0` },
      });
      const text = await res.text();
      const problem = res.status !== 200 ? `status ${res.status}: ${text.trim().slice(0, 200)}` : checkAnswer(v.expected, text);
      preflight.push({ name: `${v.label}: ${expectedText(v.expected)}`, ok: problem === undefined, detail: problem ?? text.trim().slice(0, 300) });
    }
    const badPreflight = preflight.filter((c) => !c.ok);
    log(
      badPreflight.length
        ? `preflight: ${badPreflight.length} variant(s) answered otherwise: ${badPreflight.map((c) => `${c.name}: ${c.detail}`).join('; ')}`
        : `preflight: all ${VARIANTS.length} variants answered as expected`,
    );

    // Baseline, then the load with a sample every SAMPLE_SEC.
    const samples: SoakSample[] = [];
    const gcLog = TRACE_GC ? new GcLog(logs.ours) : undefined;
    const first = await takeSample(0, 'baseline', running, fake, roles, undefined, undefined, gcLog);
    samples.push(first.sample);
    let state = first.state;
    let loadStarted = performance.now();
    const wl = workload(() => loadStarted);
    const pacer = new Pacer({
      url: running.base,
      ratePerSec: RATE,
      connections: CONNECTIONS,
      maxInFlight: MAX_IN_FLIGHT,
      timeoutMs: REQUEST_TIMEOUT_MS,
      next: wl.next,
    });
    const metricsAtStart = state.metrics;
    const fakeAtStart = state.fake;
    loadStarted = performance.now();
    pacer.start();
    const ticks = Math.max(1, Math.round(durationSec / SAMPLE_SEC));
    for (let k = 1; k <= ticks; k++) {
      const dueAt = loadStarted + Math.min(k * SAMPLE_SEC, durationSec) * 1000;
      await sleep(Math.max(0, dueAt - performance.now()));
      if (!running.proc.running()) throw new Error(`ours exited during the soak; see ${logs.ours}`);
      const r = await takeSample((performance.now() - loadStarted) / 1000, 'load', running, fake, roles, state, pacer, gcLog);
      samples.push(r.sample);
      state = r.state;
      const s = r.sample;
      log(
        `t=${s.t.toFixed(0)}s RSS ${fmtBytes(s.rssBytes)} heap ${fmtBytes(s.heapUsedBytes)}/${fmtBytes(s.heapTotalBytes)}${s.gc ? ` (after ${s.gc.full} full GC: ${fmtBytes(s.gc.heapAfterFullGcBytes)})` : ''} sockets ${s.sockets?.total ?? '–'} (public ${s.sockets?.inbound.public ?? '–'}, fake ${s.sockets?.outbound['fake-kube'] ?? '–'}) ` +
          `cache ${s.cacheEntries} (+${s.cache?.inserts ?? 0}, −${s.cache?.evictions ?? 0} evicted, ${s.cache?.hits ?? 0} hits) upstream ${Math.round(s.upstream?.perSec ?? 0)}/s ` +
          `${(s.load?.ratePerSec ?? 0).toFixed(0)} req/s p99 ${fmtMs(s.load?.latencyMs.p99)} errors ${s.load?.errors ?? 0} wrong ${s.load?.wrong ?? 0}`,
      );
    }
    await pacer.stop();
    const totals = pacer.totals();
    // After the load, the loader's connections closed: what the service still holds.
    const metricsAtEnd = await scrape(running);
    const fakeAtEnd = await fake.counts();
    log(`load done; idle ${IDLE_SEC} s, then a last sample`);
    await sleep(IDLE_SEC * 1000);
    const idle = await takeSample((performance.now() - loadStarted) / 1000, 'idle', running, fake, roles, undefined, undefined, gcLog);
    samples.push(idle.sample);

    // ------------------------------------------------ verdict
    const loadSamples = samples.filter((s) => s.phase === 'load');
    const baseline = samples[0]!;
    const range = thirds(loadSamples.length);
    const fl: Flatness[] = [
      flatness(loadSamples, 'RSS (VmRSS)', 'bytes', (s) => s.rssBytes, {
        limit: `growth < ${RSS_GROWTH_PCT} %`,
        ok: (f) => f.changeRatio < RSS_GROWTH_PCT / 100,
      }),
      ...(TRACE_GC
        ? [
            flatness(loadSamples, 'heap after full GC (live heap)', 'bytes', (s) => s.gc?.heapAfterFullGcBytes, {
              limit: `growth < ${HEAP_GROWTH_PCT} %`,
              ok: (f) => f.changeRatio < HEAP_GROWTH_PCT / 100,
            }),
          ]
        : []),
      flatness(loadSamples, 'heap used (when sampled)', 'bytes', (s) => s.heapUsedBytes),
      flatness(loadSamples, 'heap total', 'bytes', (s) => s.heapTotalBytes),
      flatness(loadSamples, 'external memory', 'bytes', (s) => s.externalBytes),
      flatness(loadSamples, 'open sockets (all)', 'count', (s) => s.sockets?.total, {
        limit: `within ±${SOCKET_SLACK}`,
        ok: (f) => Math.abs(f.change) <= SOCKET_SLACK,
      }),
      flatness(loadSamples, 'sockets to the fake API', 'count', (s) => s.sockets?.outbound['fake-kube']),
      flatness(loadSamples, 'sockets from the loader', 'count', (s) => s.sockets?.inbound.public),
      flatness(loadSamples, 'active handles', 'count', (s) => s.activeHandles),
      flatness(loadSamples, 'decision_cache_entries', 'count', (s) => s.cacheEntries),
      flatness(loadSamples, 'fake API RSS (not judged: the harness)', 'bytes', (s) => s.fakeRssBytes),
    ];
    const errors = errorCount(totals);
    const cacheEnd = cacheCounters(metricsAtEnd);
    const cacheStart = cacheCounters(metricsAtStart);
    const cache = {
      hits: cacheEnd.hits - cacheStart.hits,
      misses: cacheEnd.misses - cacheStart.misses,
      inserts: cacheEnd.inserts - cacheStart.inserts,
      evictions: cacheEnd.evictions - cacheStart.evictions,
      shared: cacheEnd.shared - cacheStart.shared,
      hitRatio: NaN,
    };
    cache.hitRatio = cache.hits / Math.max(1, cache.hits + cache.misses);
    const sub = (a: Record<string, number>, b: Record<string, number>) =>
      Object.fromEntries(
        Object.entries(a)
          .map(([k, n]) => [k, n - (b[k] ?? 0)])
          .filter(([, n]) => (n as number) !== 0),
      );
    const ratePerSec = totals.answered / totals.seconds;
    const lastThird = loadSamples.slice(range.last[0], range.last[1]);
    const maxEntries = Math.max(...loadSamples.map((s) => s.cacheEntries ?? 0));
    const checks: Check[] = [
      {
        name: 'no errors',
        ok: errors === 0,
        detail:
          errors === 0
            ? `0 of ${totals.sent.toLocaleString('en-US')} requests (non-2xx, connection errors, timeouts)`
            : `${errors}: non-2xx ${JSON.stringify(totals.non2xx)}, connection errors ${JSON.stringify(totals.connErrors)}, timeouts ${totals.timeouts}`,
      },
      {
        name: 'no wrong answers',
        ok: totals.wrong === 0 && badPreflight.length === 0,
        detail: `${totals.wrong} of ${totals.ok.toLocaleString('en-US')} 2xx answers differed from the expected decision (every answer checked); preflight ${preflight.length - badPreflight.length}/${preflight.length} as expected`,
      },
      {
        name: `the rate was held (≥ 95 % of ${RATE} req/s)`,
        ok: ratePerSec >= 0.95 * RATE && totals.skipped === 0,
        detail: `${ratePerSec.toFixed(1)} req/s answered over ${totals.seconds.toFixed(1)} s; ${totals.skipped} scheduled requests skipped (more than ${MAX_IN_FLIGHT} waiting)`,
      },
      {
        name: 'the cache churned and stayed bounded',
        ok: lastThird.some((s) => (s.cache?.evictions ?? 0) > 0) && lastThird.some((s) => (s.cache?.misses ?? 0) > 0) && maxEntries <= MAX_ENTRIES,
        detail: `${cache.misses.toLocaleString('en-US')} misses, ${cache.evictions.toLocaleString('en-US')} evictions (${lastThird.reduce((s, x) => s + (x.cache?.evictions ?? 0), 0).toLocaleString('en-US')} in the last third); decision_cache_entries at most ${maxEntries} (--cache.max-entries=${MAX_ENTRIES}); hit ratio ${(cache.hitRatio * 100).toFixed(1)} %`,
      },
      ...fl
        .filter((f) => f.ok !== undefined)
        .map((f) => ({
          name: `${f.metric} flat (${f.limit})`,
          ok: f.ok!,
          detail:
            loadSamples.length < 3
              ? `only ${loadSamples.length} samples under load: no thirds to compare`
              : !Number.isFinite(f.middleMean) || !Number.isFinite(f.lastMean)
                ? `no value in the middle or the last third (for the heap after full GC: no full collection logged there; a longer run has some)`
                : `${f.unit === 'bytes' ? fmtBytes(f.middleMean) : f.middleMean.toFixed(1)} in the middle third, ${f.unit === 'bytes' ? fmtBytes(f.lastMean) : f.lastMean.toFixed(1)} in the last (${(f.changeRatio * 100).toFixed(1)} %)`,
        })),
      (() => {
        const b = baseline.sockets?.total ?? NaN;
        const i = idle.sample.sockets?.total ?? NaN;
        const loaderLeft = idle.sample.sockets?.inbound.public ?? NaN;
        return {
          name: 'sockets released after the load',
          ok: i <= b + 2 && loaderLeft === 0,
          detail: `${i} open ${IDLE_SEC} s after the loader closed its connections (${loaderLeft} from the loader, ${idle.sample.sockets?.outbound['fake-kube'] ?? '–'} to the fake API), ${b} before the load (at most 2 more allowed)`,
        };
      })(),
    ];
    const verdict = checks.every((c) => c.ok) ? 'pass' : 'fail';

    const report: SoakReport = {
      generatedAt: new Date().toISOString(),
      command: commandLine(),
      environment: {
        node: process.version,
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model ?? 'unknown',
        memoryBytes: totalmem(),
        loadAverageStart: loadStart,
        loadAverageEnd: loadavg(),
        git,
        note: "This machine is shared with other engineers' work; the loader, the service and the fake Kubernetes API share its cores.",
      },
      ours: {
        how: build.how,
        why: build.why,
        flags: [
          ...flags.map((f) => (f.startsWith('--openshift.kubeconfig=') ? '--openshift.kubeconfig=<fake API>' : f)),
          '--web.listen=127.0.0.1:<port>',
          '--web.internal.listen=127.0.0.1:<port>',
        ],
      },
      parameters: {
        minutes: MINUTES,
        rate: RATE,
        'loader connections (most)': CONNECTIONS,
        'sample every (s)': SAMPLE_SEC,
        'cache TTL (allow and deny)': TTL,
        'cache max entries': MAX_ENTRIES,
        'upstream latency (ms, every fake endpoint)': UPSTREAM_LATENCY_MS,
        'tokens per user (pool, cycled)': TOKEN_POOL,
        'active tokens per user': ACTIVE_TOKENS,
        'new logins per user per second': LOGINS_PER_SEC,
        users: Object.keys(USERS).length,
        'RSS growth limit (%)': RSS_GROWTH_PCT,
        'heap growth limit (%)': HEAP_GROWTH_PCT,
        'socket slack (±)': SOCKET_SLACK,
        'request deadline (ms)': REQUEST_TIMEOUT_MS,
        seed: SEED,
        'node flags of the service': TRACE_GC ? '--trace-gc (heap after each full collection, from its log)' : 'none',
      },
      workload: VARIANTS.map((v) => ({ label: v.label, weight: v.weight, who: USERS[v.who].username, what: v.what, expected: expectedText(v.expected) })),
      totals: {
        ...totals,
        ratePerSec,
        errors,
        distinctTokens: wl.distinctTokens(),
        cache,
        upstreamCalls: fakeAtEnd.total - fakeAtStart.total,
        upstreamByEndpoint: sub(fakeAtEnd.byEndpoint, fakeAtStart.byEndpoint),
        upstreamByStatus: sub(fakeAtEnd.byStatus, fakeAtStart.byStatus),
      },
      preflight,
      samples,
      thirds: range,
      flatness: fl,
      checks,
      verdict,
      logs: { ours: relative(ROOT, logs.ours), 'fake Kubernetes API': relative(ROOT, logs.fakeKube) },
    };
    writeReport(report);
    for (const c of checks) log(`${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`);
    log(`verdict: ${verdict}; wrote ${relative(ROOT, OUT) || OUT}/soak.md, soak.json, soak.svg`);
    return verdict === 'pass' ? 0 : 1;
  } finally {
    await Promise.all([ours?.proc.stop().catch(() => {}), fake.proc.stop().catch(() => {})]);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`soak: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
