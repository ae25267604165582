/**
 * `npm run bench`: every scenario against our service and, in the same run, against the real peers
 * (OPA server for static decisions, opa-openshift for the openshift ones), with the same requests,
 * connections and duration; writes bench/results/latest.md, latest.json and scaling.svg. The
 * options are in USAGE below (`npm run bench -- --help`).
 *
 * The exit status is 1 when a scenario fails or one of its checks does not hold (the report is
 * written first), and under CI also when opa-openshift could not be found for an openshift scenario.
 *
 * Processes: each server under test and the fake Kubernetes API run in child processes of their
 * own; the loader (autocannon) runs here. See bench/README.md.
 */
import { gitDescription } from './lib/git.js';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLUSTER_READER, NS_READER, namespaceName } from './lib/cluster.js';
import { herd } from './lib/herd.js';
import {
  accepted,
  BOUNDS,
  deepBody,
  groupsBody,
  largest,
  namespacesBody,
  probeLoop,
  rawPost,
  slowUploadPlan,
  yamlAliasBody,
  yamlBomb,
  type RawAnswer,
} from './lib/hostile.js';
import { gzipSync } from 'node:zlib';
import { runLoad, TokenSequence, type LoadOptions, type RequestTemplate } from './lib/load.js';
import { diffCounts, sleep, startFakeKubeProc, type FakeKubeProc } from './lib/procs.js';
import { summarizeProfile } from './lib/profile.js';
import { fmtBytes, fmtMs, markdown } from './lib/report.js';
import {
  buildOurs,
  findOpa,
  findOpaOpenshift,
  metricValue,
  oursLoggingFlags,
  scrape,
  startBare,
  startOpa,
  startOpaOpenshift,
  startOurs,
  type Found,
  type OursBuild,
  type Running,
} from './lib/servers.js';
import { scalingSvg } from './lib/svg.js';
import { documentedBytesPerEntry, judgeTargets } from './lib/targets.js';
import type { Check, Ratio, Report, RunStats, ScalingPoint, Scenario, ServerName } from './lib/types.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const TMP = join(ROOT, 'bench/results/tmp'); // git-ignored: logs, kubeconfigs, profiles
const DECISION_PATH = '/v1/data/lokistack/allow';

const SCENARIO_IDS = ['static', 'openshift-hit', 'openshift-cold', 'herd', 'namespaces', 'projects', 'tokens', 'hostile', 'forward-auth'] as const;
type ScenarioId = (typeof SCENARIO_IDS)[number];

// ---------------------------------------------------------------- options

const USAGE = `Usage: npm run bench -- [options]

Runs every scenario against lokistack-authz and the real peers (OPA, opa-openshift) and writes
bench/results/latest.md, latest.json and scaling.svg (or the --out directory). See bench/README.md.

  --quick              smoke run: 2 s per measurement, smaller sizes
  --only a,b           some scenarios (${SCENARIO_IDS.join(', ')}); the others are
                       carried over from the previous latest.json when it was the same kind of run
  --duration N         seconds per measurement (default BENCH_DURATION, else 10; quick: 2)
  --connections N      connections for the comparisons (default BENCH_CONNECTIONS, else 32)
  --no-profile         skip the CPU profile of ours on static decisions (attached to the report otherwise)
  --report-only        re-render latest.md and scaling.svg from latest.json
  --out DIR            write the report there instead of bench/results
  -h, --help           this text; nothing is run or written

Environment: BENCH_DURATION, BENCH_CONNECTIONS, BENCH_SCALING_CONNECTIONS (4), BENCH_ROUNDS (static:
alternating rounds of ours and OPA; 5, quick: 1).

Exit status: 1 when a scenario fails or one of its checks does not hold (the report is written
first), and under CI also when opa-openshift could not be found for an openshift scenario; 2 for
a bad option.
`;

interface BenchArgs {
  help: boolean;
  quick: boolean;
  noProfile: boolean;
  reportOnly: boolean;
  only?: string;
  duration?: string;
  connections?: string;
  out?: string;
}

/**
 * The command line, strictly: a full run takes minutes and overwrites the committed report, so a
 * mistyped or unknown option (`--quik`, `--help` before this parser existed) must stop before
 * anything runs, not be ignored.
 */
function parseBenchArgs(argv: readonly string[]): BenchArgs {
  const args: BenchArgs = { help: false, quick: false, noProfile: false, reportOnly: false };
  const switches: Record<string, 'quick' | 'noProfile' | 'reportOnly' | 'help'> = {
    '--quick': 'quick',
    '--no-profile': 'noProfile',
    '--report-only': 'reportOnly',
    '--help': 'help',
    '-h': 'help',
  };
  const valued: Record<string, 'only' | 'duration' | 'connections' | 'out'> = {
    '--only': 'only',
    '--duration': 'duration',
    '--connections': 'connections',
    '--out': 'out',
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg : arg.slice(0, eq);
    if (switches[name]) {
      if (eq >= 0) throw new BenchUsageError(`${name} takes no value`);
      args[switches[name]] = true;
    } else if (valued[name]) {
      let value: string;
      if (eq >= 0) value = arg.slice(eq + 1);
      else {
        const next = argv[i + 1];
        if (next === undefined || next.startsWith('-')) throw new BenchUsageError(`${name} needs a value`);
        value = next;
        i++;
      }
      if ((name === '--duration' || name === '--connections') && !(Number(value) > 0 && Number.isFinite(Number(value)))) {
        throw new BenchUsageError(`${name}: ${JSON.stringify(value)} is not a positive number`);
      }
      if (name === '--only') {
        for (const id of value
          .split(',')
          .map((x) => x.trim())
          .filter(Boolean)) {
          if (!(SCENARIO_IDS as readonly string[]).includes(id))
            throw new BenchUsageError(`--only: unknown scenario ${JSON.stringify(id)}; known: ${SCENARIO_IDS.join(', ')}`);
        }
      }
      args[valued[name]] = value;
    } else {
      throw new BenchUsageError(`unknown option ${JSON.stringify(arg)}`);
    }
  }
  return args;
}

class BenchUsageError extends Error {}

let ARGS: BenchArgs;
try {
  ARGS = parseBenchArgs(process.argv.slice(2));
} catch (err) {
  if (!(err instanceof BenchUsageError)) throw err;
  process.stderr.write(`bench: ${err.message}\nRun npm run bench -- --help for the options.\n`);
  process.exit(2);
}
if (ARGS.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}

// Where latest.md, latest.json and scaling.svg go: bench/results, or --out DIR (e.g. a smoke run
// that must not replace the committed report).
const RESULTS = ARGS.out ? resolve(ARGS.out) : join(ROOT, 'bench/results');

const QUICK = ARGS.quick;
const positiveNumber = (what: string, raw: string | undefined, fallback: number): number => {
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${what}: ${JSON.stringify(raw)} is not a positive number`);
  return n;
};
const DURATION = positiveNumber('BENCH_DURATION / --duration', ARGS.duration ?? (QUICK ? undefined : process.env.BENCH_DURATION), QUICK ? 2 : 10);
const CONNECTIONS = Math.round(positiveNumber('BENCH_CONNECTIONS / --connections', ARGS.connections ?? process.env.BENCH_CONNECTIONS, 32));
const SCALING_CONNECTIONS = Math.round(positiveNumber('BENCH_SCALING_CONNECTIONS', process.env.BENCH_SCALING_CONNECTIONS, 4));
const WARMUP = QUICK ? 1 : 2;
const PROFILE = !ARGS.noProfile;
const ONLY = ARGS.only
  ?.split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const NS_SIZES = QUICK ? [1, 10, 100] : [1, 10, 100, 1000];
const PROJECT_SIZES = QUICK ? [10, 100, 1000] : [10, 100, 1000, 10_000];
const TOKENS = QUICK ? 10_000 : 100_000;
const HERD = 200;
// opa-openshift on the namespaces curve stops at 100: a cold decision over k namespaces is k + 1
// access reviews, and it also reviews every namespace again on a warm query, so 1,000 would cost
// minutes per point. Its cold scaling points are a fixed number of decisions (see scalingScenario).
// The quick run (CI) stops it at 10: at 100 its few decisions take about 40 s of the run.
const PEER_MAX_NAMESPACES = QUICK ? 10 : 100;
// Cold means every decision computed from the API. Ours reuses an access-review verdict for the same
// user, groups and namespace for --kube.review-cache-ttl (30 s), so a new token of a known user costs
// no review; the cold scenarios turn that off so both servers do the same upstream work per decision.
const NO_REVIEW_CACHE = ['--kube.review-cache-ttl=0'];
const PEER_COLD_DECISIONS = QUICK ? 4 : 8;
// Five: CPU per request moved by ±10% between single runs of three on this shared machine, about
// the margin of issue 14's 1.5× bound; the median of five holds still.
const STATIC_ROUNDS = Math.round(positiveNumber('BENCH_ROUNDS', process.env.BENCH_ROUNDS, QUICK ? 1 : 5));
const CACHE_MAX_ENTRIES_DEFAULT = 100_000;

const log = (msg: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

// ---------------------------------------------------------------- inputs (the gateway's real shapes)

const OAUTH_GROUPS = ['system:authenticated:oauth', 'system:authenticated'];

/** observatorium/api's field order: groups, permission, resource, subject, tenant, tenantID, token, extras. */
function gatewayInput(
  subject: string,
  groups: string[],
  permission: 'read' | 'write',
  tenant: string,
  extras: Record<string, unknown> = {},
  resource = 'logs',
) {
  return { input: { groups, permission, resource, subject, tenant, tenantID: tenant, token: '', extras } };
}

/** Static mode with deploy/examples/rbac.yaml: four allowed, four denied. */
const STATIC_INPUTS = [
  { note: 'user binding allows', want: true, body: gatewayInput('alice@example.com', ['staff'], 'read', 'application') },
  { note: 'group developers allows', want: true, body: gatewayInput('bob@example.com', ['developers'], 'read', 'application') },
  { note: 'group sre reads audit', want: true, body: gatewayInput('carol@example.com', ['staff', 'sre'], 'read', 'audit') },
  {
    note: 'collector writes',
    want: true,
    body: gatewayInput(
      'system:serviceaccount:openshift-logging:logcollector',
      ['system:serviceaccounts', 'system:serviceaccounts:openshift-logging', 'system:authenticated'],
      'write',
      'infrastructure',
    ),
  },
  { note: 'wrong tenant', want: false, body: gatewayInput('alice@example.com', ['staff'], 'read', 'audit') },
  { note: 'read-only role, write asked', want: false, body: gatewayInput('mallory@example.com', ['developers'], 'write', 'application') },
  { note: 'no binding', want: false, body: gatewayInput('eve@example.com', [], 'read', 'application') },
  { note: 'resource not granted', want: false, body: gatewayInput('dave@example.com', ['sre'], 'read', 'application', {}, 'metrics') },
];

/** The openshift-logging mix on the fixture cluster (test/support/fake-kube/fixtures/lokistack-cluster.yaml). */
const OPENSHIFT_MIX = [
  { who: 'alice', note: 'cluster-wide reader, no namespace: regex of her projects', body: gatewayInput('alice', OAUTH_GROUPS, 'read', 'application') },
  {
    who: 'bob',
    note: 'namespaced reader, two namespaces',
    body: gatewayInput('bob', OAUTH_GROUPS, 'read', 'application', { selectors: { kubernetes_namespace_name: ['log-test-0', 'log-test-1'] } }),
  },
  {
    who: 'carol',
    note: 'cluster-wide via group, one namespace',
    body: gatewayInput('carol', ['log-readers', ...OAUTH_GROUPS], 'read', 'application', { selectors: { kubernetes_namespace_name: ['log-test-2'] } }),
  },
  {
    who: 'dave',
    note: 'no grant: denied',
    body: gatewayInput('dave', OAUTH_GROUPS, 'read', 'application', { selectors: { kubernetes_namespace_name: ['log-test-0'] } }),
  },
] as const;
const FIXTURE_IDENTITY: Record<string, { username: string; groups: string[] }> = {
  alice: { username: 'alice', groups: ['system:authenticated:oauth'] },
  bob: { username: 'bob', groups: ['system:authenticated:oauth'] },
  carol: { username: 'carol', groups: ['log-readers', 'system:authenticated:oauth'] },
  dave: { username: 'dave', groups: ['system:authenticated:oauth'] },
};

// ---------------------------------------------------------------- measuring

interface Ctx {
  build: OursBuild;
  opa: Found;
  opaOpenshift: Found;
}

async function post(base: string, body: string, token?: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`${base}${DECISION_PATH}`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', ...(token ? { 'x-forwarded-access-token': token } : {}) },
  });
  return { status: res.status, text: await res.text() };
}

/** Warm-up (discarded), then the measured load, with RSS and upstream calls around it. */
async function measure(server: ServerName, running: Running, load: Omit<LoadOptions, 'url'>, fake?: FakeKubeProc, warmupSec = 0): Promise<RunStats> {
  if (warmupSec > 0) await runLoad({ ...load, url: running.base, durationSec: warmupSec, amount: undefined });
  if (fake) await settle(fake);
  const before = fake ? await fake.counts() : undefined;
  const metricsBefore = fake && running.internal && server === 'ours' ? await scrape(running) : undefined;
  const startMem = running.proc.memory();
  const cpu0 = running.proc.cpuSeconds();
  const fakeCpu0 = fake?.proc.cpuSeconds();
  log(`  ${server}: ${load.amount ? `${load.amount} requests` : `${load.durationSec ?? DURATION} s`} × ${load.connections} connections`);
  const result = await runLoad({ ...load, url: running.base });
  const endMem = running.proc.memory();
  const cpu1 = running.proc.cpuSeconds();
  const fakeCpu1 = fake?.proc.cpuSeconds();
  const stats: RunStats = { server, load: result };
  if (cpu0 !== undefined && cpu1 !== undefined) {
    stats.cpu = { serverSec: cpu1 - cpu0, serverMsPerRequest: result.completed > 0 ? ((cpu1 - cpu0) * 1000) / result.completed : NaN };
    if (fakeCpu0 !== undefined && fakeCpu1 !== undefined) stats.cpu.fakeKubeSec = fakeCpu1 - fakeCpu0;
  }
  if (startMem && endMem) stats.memory = { startRssBytes: startMem.rssBytes, endRssBytes: endMem.rssBytes, peakRssBytes: endMem.peakRssBytes };
  if (fake && before) {
    // Decisions still computing when the loader stopped finish their upstream calls: count them too,
    // and divide by the decisions computed (cache misses), not only by those answered in time.
    await settle(fake);
    const d = diffCounts(await fake.counts(), before);
    const ok = Object.entries(result.errors.statusCodes).reduce((s, [c, n]) => (c.startsWith('2') ? s + n : s), 0);
    let decisions = ok;
    if (metricsBefore !== undefined) {
      const after = await scrape(running);
      const delta = (result: string) =>
        (metricValue(after, 'opa_openshift_cache_requests_total', { result }) ?? 0) -
        (metricValue(metricsBefore, 'opa_openshift_cache_requests_total', { result }) ?? 0);
      const misses = delta('miss');
      stats.cache = {
        hits: delta('hit'),
        misses,
        sharedInFlight: (metricValue(after, 'decision_cache_shared_total') ?? 0) - (metricValue(metricsBefore, 'decision_cache_shared_total') ?? 0),
      };
      if (misses > 0) decisions = misses;
    }
    stats.upstream = { total: d.total, perDecision: decisions > 0 ? d.total / decisions : NaN, byEndpoint: d.byEndpoint, reviews: d.reviews };
  }
  log(
    `    ${Math.round(result.rps)} req/s, p50 ${fmtMs(result.latencyMs.p50)}, p99 ${fmtMs(result.latencyMs.p99)}, errors ${result.errors.total}` +
      (stats.upstream ? `, upstream ${stats.upstream.total}` : '') +
      (stats.memory ? `, peak RSS ${fmtBytes(stats.memory.peakRssBytes)}` : '') +
      (stats.cpu
        ? `, CPU ${stats.cpu.serverMsPerRequest.toFixed(3)} ms/request${stats.cpu.fakeKubeSec !== undefined ? ` (fake kube ${stats.cpu.fakeKubeSec.toFixed(1)} s)` : ''}`
        : ''),
  );
  return stats;
}

/** Waits until the fake API has had no new request for 200 ms (earlier decisions have finished), at most 60 s. */
/**
 * A server's VmRSS before any request: one second after ready, and settled (what an idle pod holds
 * for the rest of its life). Node's V8 runs its memory reducer some 8 s after start-up's
 * allocation stops, giving back a start-up transient of several MiB; a reading before it measures
 * the start-up, not the idle sidecar.
 */
const IDLE_SETTLED_MS = 12_000;

async function idleRssOf(running: Running): Promise<{ idleRssBytes?: number; readyRssBytes?: number }> {
  const t0 = Date.now();
  await sleep(1000);
  const ready = running.proc.memory()?.rssBytes;
  await sleep(IDLE_SETTLED_MS - (Date.now() - t0));
  const settled = running.proc.memory()?.rssBytes;
  return { ...(settled !== undefined ? { idleRssBytes: settled } : {}), ...(ready !== undefined ? { readyRssBytes: ready } : {}) };
}

async function settle(fake: FakeKubeProc): Promise<void> {
  const deadline = Date.now() + 60_000;
  let last = (await fake.counts()).total;
  while (Date.now() < deadline) {
    await sleep(200);
    const now = (await fake.counts()).total;
    if (now === last) return;
    last = now;
  }
}

/** The round with the median req/s, its peak RSS the highest of all rounds, every round listed in its notes. */
function medianRound(rounds: RunStats[]): RunStats {
  const sorted = [...rounds].sort((a, b) => (a.load?.rps ?? 0) - (b.load?.rps ?? 0));
  const median = { ...sorted[Math.floor((sorted.length - 1) / 2)]! };
  if (rounds.length > 1) {
    median.notes = [
      ...(median.notes ?? []),
      `${rounds.length} rounds (req/s, p50, p99): ${rounds.map((r) => `${Math.round(r.load?.rps ?? 0)}, ${fmtMs(r.load?.latencyMs.p50)}, ${fmtMs(r.load?.latencyMs.p99)}`).join(' | ')}; the median round is shown`,
    ];
    const peak = Math.max(...rounds.map((r) => r.memory?.peakRssBytes ?? 0));
    if (median.memory) median.memory = { ...median.memory, peakRssBytes: peak };
  }
  return median;
}

function ratio(ours: RunStats, peer: RunStats): Ratio {
  if (peer.unavailable) return { peer: peer.server, unavailable: peer.unavailable };
  const div = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined && b > 0 ? a / b : undefined);
  const r: Ratio = { peer: peer.server };
  const rps = div(ours.load?.rps, peer.load?.rps);
  const p50 = div(ours.load?.latencyMs.p50, peer.load?.latencyMs.p50);
  const p99 = div(ours.load?.latencyMs.p99, peer.load?.latencyMs.p99);
  const rss = div(ours.memory?.peakRssBytes, peer.memory?.peakRssBytes);
  if (rps !== undefined) r.rps = rps;
  if (p50 !== undefined) r.p50 = p50;
  if (p99 !== undefined) r.p99 = p99;
  if (rss !== undefined) r.peakRss = rss;
  return r;
}

function unavailable(server: ServerName, found: Found): RunStats | undefined {
  return 'unavailable' in found ? { server, unavailable: found.unavailable } : undefined;
}

const logFile = (name: string) => join(TMP, `${name}.log`);

async function withProcs<T>(fn: (track: <R extends { proc: { stop(): Promise<void> } }>(r: R) => R) => Promise<T>): Promise<T> {
  const started: Array<{ proc: { stop(): Promise<void> } }> = [];
  try {
    return await fn((r) => {
      started.push(r);
      return r;
    });
  } finally {
    await Promise.all(started.map((r) => r.proc.stop().catch(() => {})));
  }
}

// ---------------------------------------------------------------- scenarios

async function scenarioStatic(ctx: Ctx, report: Report): Promise<Scenario> {
  const rbac = join(ROOT, 'deploy/examples/rbac.yaml');
  const policy = join(ROOT, 'policies/lokistack.rego');
  const templates: RequestTemplate[] = STATIC_INPUTS.map((c) => ({ method: 'POST', path: DECISION_PATH, body: JSON.stringify(c.body) }));
  const load = { connections: CONNECTIONS, durationSec: DURATION, requests: templates };
  const scenario: Scenario = {
    id: 'static',
    title: 'static decision',
    what: "POST /v1/data/lokistack/allow with the gateway's input shape (groups, permission, resource, subject, tenant, tenantID, token, extras), a mix of four allowed and four denied inputs, cycled per connection. Ours: `--rbac.config=deploy/examples/rbac.yaml`, which answers a repeated request from its memo of decisions (`--policy.memo-bytes`, docs/static.md), and the same with `--policy.memo-bytes=0` (every request parsed and evaluated). Peer: `opa run --server policies/lokistack.rego deploy/examples/rbac.yaml` (same Rego, same data). Both answer every input identically (checked first).",
    settings: { connections: CONNECTIONS, durationSec: DURATION, warmupSec: WARMUP, inputs: templates.length, rounds: STATIC_ROUNDS },
    runs: [],
    ratios: [],
    checks: [],
  };
  const oursFlags = ['--log.level=warn', `--rbac.config=${rbac}`];
  await withProcs(async (track) => {
    const ours = track(await startOurs(ctx.build, oursFlags, logFile('static-ours')));
    const idleRss = await idleRssOf(ours);
    const opa = 'path' in ctx.opa ? track(await startOpa(ctx.opa.path, policy, rbac, logFile('static-opa'))) : undefined;
    // The limit (issue 14): node:http alone, parsing the same bodies and answering {"result":true}.
    const bare = track(await startBare(logFile('static-bare')));
    // Ours again, remembering nothing (--policy.memo-bytes=0): every request parsed and evaluated.
    const unremembered = track(await startOurs(ctx.build, [...oursFlags, '--policy.memo-bytes=0'], logFile('static-ours-no-memo')));
    // Same answers before measuring.
    const mismatches: string[] = [];
    let bytesSame = 0;
    for (const c of STATIC_INPUTS) {
      const body = JSON.stringify(c.body);
      const a = await post(ours.base, body);
      const wantText = JSON.stringify({ result: c.want });
      if (a.status !== 200 || JSON.stringify(JSON.parse(a.text)) !== wantText)
        mismatches.push(`ours on "${c.note}": ${a.status} ${a.text.trim()}, want ${wantText}`);
      if (opa) {
        const b = await post(opa.base, body);
        if (b.status !== a.status || JSON.stringify(JSON.parse(b.text)) !== JSON.stringify(JSON.parse(a.text)))
          mismatches.push(`"${c.note}": ours ${a.status} ${a.text.trim()}, OPA ${b.status} ${b.text.trim()}`);
        else if (a.text === b.text) bytesSame++;
      }
    }
    scenario.checks.push({
      name: opa ? 'ours and OPA answer every input identically' : 'ours answers every input as expected (OPA unavailable)',
      ok: mismatches.length === 0,
      detail:
        mismatches.length === 0
          ? `${STATIC_INPUTS.length} inputs, 4 allowed and 4 denied${opa ? `; byte-identical bodies for ${bytesSame}/${STATIC_INPUTS.length}` : ''}`
          : mismatches.join('; '),
    });
    // Rounds alternate ours and OPA, so a burst of other work on this shared machine lands on both;
    // each server's median round (by req/s) is reported, every round in its notes.
    const oursRounds: RunStats[] = [];
    const opaRounds: RunStats[] = [];
    const bareRounds: RunStats[] = [];
    const unrememberedRounds: RunStats[] = [];
    for (let round = 1; round <= STATIC_ROUNDS; round++) {
      log(`static: round ${round}/${STATIC_ROUNDS}: ours`);
      oursRounds.push(await measure('ours', ours, load, undefined, WARMUP));
      if (opa) {
        log(`static: round ${round}/${STATIC_ROUNDS}: opa`);
        opaRounds.push(await measure('opa', opa, load, undefined, WARMUP));
      }
      log(`static: round ${round}/${STATIC_ROUNDS}: ours, nothing remembered`);
      unrememberedRounds.push(await measure('ours', unremembered, load, undefined, WARMUP));
      log(`static: round ${round}/${STATIC_ROUNDS}: bare node:http`);
      bareRounds.push(await measure('bare', bare, load, undefined, WARMUP));
    }
    await Promise.all([ours.proc.stop(), opa?.proc.stop(), bare.proc.stop(), unremembered.proc.stop()]);
    const oursRun = medianRound(oursRounds);
    if (oursRun.memory) oursRun.memory = { ...oursRun.memory, ...idleRss };
    scenario.runs.push(oursRun);
    const opaRun = opa ? medianRound(opaRounds) : unavailable('opa', ctx.opa);
    if (opaRun) {
      scenario.runs.push(opaRun);
      scenario.ratios.push(ratio(oursRun, opaRun));
    }
    const bareRun = medianRound(bareRounds);
    bareRun.notes = [
      ...(bareRun.notes ?? []),
      'the limit: node:http alone, JSON.parse of the same body, answering {"result":true} (bench/lib/bare-server.mjs)',
    ];
    scenario.runs.push(bareRun);
    scenario.ratios.push(ratio(oursRun, bareRun));
    const unrememberedRun = { ...medianRound(unrememberedRounds), variant: 'nothing remembered' };
    unrememberedRun.notes = [
      ...(unrememberedRun.notes ?? []),
      '`--policy.memo-bytes=0`: every request parsed and evaluated, as when every input is new; the targets are judged on the default (`ours`), which answers a repeated request from its memo',
    ];
    scenario.runs.push(unrememberedRun);
    const behind = opaRun?.load && oursRun.load && oursRun.load.rps < opaRun.load.rps;
    // Always profiled (issue 14: the report carries a CPU profile of the static path).
    if (PROFILE) {
      log('static: profiling ours');
      const profDir = join(TMP, `profile-${Date.now()}`);
      mkdirSync(profDir, { recursive: true });
      const profiled = await startOurs(ctx.build, oursFlags, logFile('static-ours-profile'), ['--cpu-prof', '--cpu-prof-dir', profDir]);
      let loadDuringProfile;
      try {
        await runLoad({ ...load, url: profiled.base, durationSec: 1 });
        loadDuringProfile = await runLoad({ ...load, url: profiled.base, durationSec: Math.max(5, Math.min(DURATION, 10)) });
      } finally {
        await profiled.proc.stop(30_000);
      }
      // The main thread's (thread 0): workers (policy loading, evaluation) write profiles of their own.
      const files = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile'));
      const file = files.find((f) => /\.0\.\d+\.cpuprofile$/.test(f)) ?? files.sort()[0];
      if (file) {
        const summary = summarizeProfile(join(profDir, file));
        // Attached beside the report (the tmp directory is not kept): gunzip it for DevTools or speedscope.
        const attached = join(RESULTS, 'static.cpuprofile.gz');
        writeFileSync(attached, gzipSync(readFileSync(join(profDir, file)), { level: 9 }));
        report.profile = {
          ...summary,
          file: relative(ROOT, attached),
          why: `Ours served ${Math.round(oursRun.load?.rps ?? 0)} req/s${opaRun?.load ? ` against OPA's ${Math.round(opaRun.load.rps)} (${(oursRun.load!.rps / opaRun.load.rps).toFixed(2)}×${behind ? ', behind' : ''})` : ''} and the bare node:http server's ${Math.round(bareRun.load?.rps ?? 0)}; ours was run again under the same load with \`node --cpu-prof\` (warm-up discarded from the load numbers, not from the profile).`,
          loadDuringProfile,
        };
      }
    }
  });
  return scenario;
}

/** Ours (and opa-openshift when it can run) against one fake cluster; `body` runs the measurements. */
async function openshiftPair(
  ctx: Ctx,
  name: string,
  latencyMs: number,
  run: (server: ServerName, running: Running, fake: FakeKubeProc) => Promise<RunStats>,
  prepare?: (fake: FakeKubeProc) => Promise<void>,
  oursExtra: string[] = [],
): Promise<RunStats[]> {
  const runs: RunStats[] = [];
  for (const server of ['ours', 'opa-openshift'] as const) {
    if (server === 'opa-openshift' && 'unavailable' in ctx.opaOpenshift) {
      runs.push({ server, unavailable: ctx.opaOpenshift.unavailable });
      continue;
    }
    await withProcs(async (track) => {
      const fake = track(await startFakeKubeProc(ROOT, TMP, logFile(`${name}-fake-kube-${server}`)));
      await fake.latency(latencyMs);
      if (prepare) await prepare(fake);
      const running =
        server === 'ours'
          ? track(await startOurs(ctx.build, oursLoggingFlags(fake.kubeconfig, oursExtra), logFile(`${name}-${server}`)))
          : track(await startOpaOpenshift((ctx.opaOpenshift as { path: string }).path, fake.kubeconfig, logFile(`${name}-${server}`)));
      log(`${name}: ${server}`);
      runs.push(await run(server, running, fake));
    });
  }
  return runs;
}

async function scenarioOpenshiftHit(ctx: Ctx): Promise<Scenario> {
  const templates: RequestTemplate[] = OPENSHIFT_MIX.map((m) => ({
    method: 'POST',
    path: DECISION_PATH,
    body: JSON.stringify(m.body),
    token: `token-${m.who}`,
  }));
  const scenario: Scenario = {
    id: 'openshift-hit',
    title: 'openshift decision, cache hit',
    what: "openshift-logging with the Loki Operator's arguments (`--opa.matcher=kubernetes_namespace_name,k8s_namespace_name --opa.viaq-to-otel-migration=true --opa.skip-tenants=audit,infrastructure --opa.admin-groups=… --openshift.mappings=…`), `--openshift.kubeconfig` pointing at the fake Kubernetes API (fixture cluster). A mix of four users with their own tokens (alice: cluster-wide reader, no namespace; bob: two namespaces; carol: cluster-wide via a group, one namespace; dave: denied). Every decision is answered once first, so the measured load is all cache hits.",
    settings: { connections: CONNECTIONS, durationSec: DURATION, warmupSec: WARMUP, upstreamLatencyMs: 0 },
    runs: [],
    ratios: [],
    checks: [],
  };
  const answers: Record<string, string> = {};
  scenario.runs = await openshiftPair(ctx, 'openshift-hit', 0, async (server, running, fake) => {
    const idleRss = await idleRssOf(running);
    for (const [i, t] of templates.entries()) {
      const a = await post(running.base, t.body!, t.token as string);
      answers[`${server} ${OPENSHIFT_MIX[i]!.who}`] = `${a.status} ${a.text.trim()}`;
    }
    const stats = await measure(server, running, { connections: CONNECTIONS, durationSec: DURATION, requests: templates }, fake, WARMUP);
    stats.responseBytes = Buffer.byteLength((await post(running.base, templates[0]!.body!, templates[0]!.token as string)).text);
    if (stats.memory) stats.memory = { ...stats.memory, ...idleRss };
    if (server === 'ours') {
      const m = await scrape(running);
      scenario.checks.push({
        name: 'no upstream call while measuring (all cache hits)',
        ok: stats.upstream?.total === 0,
        detail: `${stats.upstream?.total} calls to the fake API; opa_openshift_cache_requests_total hit=${metricValue(m, 'opa_openshift_cache_requests_total', { result: 'hit' })}, miss=${metricValue(m, 'opa_openshift_cache_requests_total', { result: 'miss' })}`,
      });
    }
    return stats;
  });
  scenario.extra = { answers };
  if (!('unavailable' in ctx.opaOpenshift)) {
    // The same decision from both before their speed is compared (the conformance suites compare many more inputs).
    const differ = OPENSHIFT_MIX.filter((m) => !sameAnswer(answers[`ours ${m.who}`], answers[`opa-openshift ${m.who}`])).map(
      (m) => `${m.who}: ours ${answers[`ours ${m.who}`]}, opa-openshift ${answers[`opa-openshift ${m.who}`]}`,
    );
    scenario.checks.push({
      name: 'ours and opa-openshift give every user of the mix the same status and decision',
      ok: differ.length === 0,
      detail: differ.length ? differ.join('; ') : `${OPENSHIFT_MIX.length} users`,
    });
  }
  const ours = scenario.runs.find((r) => r.server === 'ours')!;
  for (const r of scenario.runs) if (r.server !== 'ours') scenario.ratios.push(ratio(ours, r));
  return scenario;
}

/** Two "status body" strings with the same status and the same JSON value (key order, spacing and the order of a matcher's alternatives aside). */
function sameAnswer(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return false;
  const split = (x: string) => [x.slice(0, 3), x.slice(4)] as const;
  const [sa, ba] = split(a);
  const [sb, bb] = split(b);
  if (sa !== sb) return false;
  const canon = (t: string): string => {
    try {
      // A regex matcher's alternatives in any order match the same label values (opa-openshift's order
      // follows its reviews' completion): compare them as a set.
      const value = (k: string, w: unknown): unknown =>
        k === 'Value' && typeof w === 'string' ? w.split('|').sort().join('|') : typeof w === 'string' && /^[{[]/.test(w) ? safeParse(w) : w;
      const sort = (v: unknown): unknown =>
        Array.isArray(v)
          ? v.map(sort)
          : v && typeof v === 'object'
            ? Object.fromEntries(
                Object.entries(v)
                  .sort(([x], [y]) => x.localeCompare(y))
                  .map(([k, w]) => [k, sort(value(k, w))]),
              )
            : v;
      return JSON.stringify(sort(JSON.parse(t)));
    } catch {
      return t.trim();
    }
  };
  return canon(ba) === canon(bb);
}

function safeParse(t: string): unknown {
  try {
    return JSON.parse(t);
  } catch {
    return t;
  }
}

async function scenarioOpenshiftCold(ctx: Ctx): Promise<Scenario> {
  const pool = Math.max(20_000, Math.ceil(DURATION * 3_000));
  const sequences: TokenSequence[] = [];
  const scenario: Scenario = {
    id: 'openshift-cold',
    title: 'openshift cold decisions, 5 ms upstream',
    what: 'The same mix and arguments as the cache-hit scenario, but every request carries a new token (the cache key hashes the token), so every decision misses and goes to the Kubernetes API (ours with `--kube.review-cache-ttl=0`: its access-review cache, keyed by user, groups and namespace, would otherwise answer a new token of a known user without a review); the fake answers every endpoint after 5 ms. alice and carol cost a cluster-wide review and a project list, bob a cluster-wide and two namespaced reviews, dave a cluster-wide and one namespaced review.',
    settings: { connections: CONNECTIONS, durationSec: DURATION, warmupSec: WARMUP, upstreamLatencyMs: 5, tokensPerUser: pool },
    runs: [],
    ratios: [],
    checks: [],
  };
  scenario.runs = await openshiftPair(
    ctx,
    'openshift-cold',
    5,
    async (server, running, fake) => {
      const templates: RequestTemplate[] = OPENSHIFT_MIX.map((m) => {
        const seq = new TokenSequence(`cold-${m.who}-`, pool);
        sequences.push(seq);
        return { method: 'POST', path: DECISION_PATH, body: JSON.stringify(m.body), token: seq.next };
      });
      // A long per-request timeout: opa-openshift's rate-limited client queues decisions for seconds, and
      // its latency is what is measured, not autocannon's default 10 s cut-off.
      const stats = await measure(server, running, { connections: CONNECTIONS, durationSec: DURATION, requests: templates, timeoutSec: 60 }, fake, WARMUP);
      const wrapped = sequences.reduce((s, q) => s + q.wrapped, 0);
      if (wrapped > 0) (stats.notes ??= []).push(`the token pool (${pool} per user) wrapped ${wrapped} time(s): some decisions may have hit the cache`);
      if (server === 'ours') {
        const m = await scrape(running);
        const hits = metricValue(m, 'opa_openshift_cache_requests_total', { result: 'hit' }) ?? 0;
        scenario.checks.push({
          name: 'every decision missed the cache',
          ok: hits === 0,
          detail: `cache hits ${hits}, misses ${metricValue(m, 'opa_openshift_cache_requests_total', { result: 'miss' })}`,
        });
      }
      return stats;
    },
    async (fake) => {
      for (const m of OPENSHIFT_MIX) await fake.tokens(`cold-${m.who}-`, pool, FIXTURE_IDENTITY[m.who]!);
    },
    NO_REVIEW_CACHE,
  );
  const ours = scenario.runs.find((r) => r.server === 'ours')!;
  for (const r of scenario.runs) if (r.server !== 'ours') scenario.ratios.push(ratio(ours, r));
  return scenario;
}

async function scenarioHerd(ctx: Ctx): Promise<Scenario> {
  const scenario: Scenario = {
    id: 'herd',
    title: `${HERD} concurrent identical cold requests`,
    what: `A freshly started server; ${HERD} sockets are connected, then the same request with one new token is written on all of them in the same tick, with 5 ms latency on every fake endpoint (so all ${HERD} arrive while the first decision is being computed). The fake API's request log is then read: how many upstream calls, of which kind, the ${HERD} decisions cost. Two requests: alice (cluster-wide reader, no namespace: cluster-wide review + project list) and bob (namespaced, two namespaces: cluster-wide review + two namespaced reviews).`,
    settings: { concurrent: HERD, upstreamLatencyMs: 5 },
    runs: [],
    ratios: [],
    checks: [],
  };
  const variants = [
    { who: 'alice' as const, mix: OPENSHIFT_MIX[0], token: 'herd-alice-0' },
    { who: 'bob' as const, mix: OPENSHIFT_MIX[1], token: 'herd-bob-0' },
  ];
  const extra: Record<string, unknown> = {};
  scenario.runs = await openshiftPair(
    ctx,
    'herd',
    5,
    async (server, running, fake) => {
      const stats: RunStats = { server, notes: [] };
      for (const v of variants) {
        const before = await fake.counts();
        const m0 = await scrape(running);
        const startMem = running.proc.memory();
        const res = await herd(running.base, HERD, DECISION_PATH, JSON.stringify(v.mix.body), { 'X-Forwarded-Access-Token': v.token });
        await settle(fake);
        const d = diffCounts(await fake.counts(), before);
        const m1 = await scrape(running);
        const delta = (name: string, labels: Record<string, string> = {}) => (metricValue(m1, name, labels) ?? 0) - (metricValue(m0, name, labels) ?? 0);
        const endMem = running.proc.memory();
        const summary = {
          answeredInMs: Math.round(res.ms * 10) / 10,
          statuses: res.statuses,
          distinctAnswers: res.distinctBodies.length,
          answer: res.distinctBodies[0]?.trim().slice(0, 300),
          failures: res.failures.slice(0, 5),
          upstream: { total: d.total, byEndpoint: d.byEndpoint, reviews: d.reviews },
          ...(server === 'ours'
            ? {
                cache: {
                  misses: delta('opa_openshift_cache_requests_total', { result: 'miss' }),
                  hits: delta('opa_openshift_cache_requests_total', { result: 'hit' }),
                  sharedInFlight: delta('decision_cache_shared_total'),
                  inserts: delta('opa_openshift_cache_inserts_total'),
                },
              }
            : {}),
        };
        extra[`${server} ${v.who}`] = summary;
        stats.notes!.push(
          `${v.who}: ${HERD} answers in ${summary.answeredInMs} ms, statuses ${JSON.stringify(res.statuses)}, ${res.distinctBodies.length} distinct answer(s); upstream ${d.total}: ${Object.entries(
            d.byEndpoint,
          )
            .map(([k, n]) => `${k} ${n}`)
            .join(', ')} (cluster-wide reviews ${d.reviews.clusterWide}, namespaced ${d.reviews.namespaced})`,
        );
        const wantNamespaced = v.who === 'bob' ? 2 : 0;
        // Ours is held to these; the peer is measured against the same bar and its result noted, not failed.
        const observe = (c: Check) =>
          server === 'ours' ? scenario.checks.push(c) : stats.notes!.push(`${c.ok ? 'meets' : 'does not meet'} "${c.name}": ${c.detail}`);
        observe({
          name: `${server}, ${v.who}: exactly 1 cluster-wide access review for ${HERD} identical requests`,
          ok: d.reviews.clusterWide === 1,
          detail: `cluster-wide reviews ${d.reviews.clusterWide}; also ${
            Object.entries(d.byEndpoint)
              .filter(([k]) => k !== 'subjectaccessreviews')
              .map(([k, n]) => `${k} ${n}`)
              .join(', ') || 'nothing else'
          }${wantNamespaced ? `, namespaced reviews ${d.reviews.namespaced} (want ${wantNamespaced}: one per namespace)` : ''}`,
        });
        observe({
          name: `${server}, ${v.who}: all ${HERD} answered 200 with the same answer`,
          ok: res.statuses['200'] === HERD && res.distinctBodies.length === 1,
          detail: `statuses ${JSON.stringify(res.statuses)}, ${res.distinctBodies.length} distinct bodies${res.failures.length ? `, failures: ${res.failures.slice(0, 3).join('; ')}` : ''}`,
        });
        if (startMem && endMem)
          stats.memory = { startRssBytes: stats.memory?.startRssBytes ?? startMem.rssBytes, endRssBytes: endMem.rssBytes, peakRssBytes: endMem.peakRssBytes };
        const byEndpoint = { ...(stats.upstream?.byEndpoint ?? {}) };
        for (const [k, n] of Object.entries(d.byEndpoint)) byEndpoint[k] = (byEndpoint[k] ?? 0) + n;
        stats.upstream = {
          total: (stats.upstream?.total ?? 0) + d.total,
          perDecision: NaN,
          byEndpoint,
          reviews: {
            clusterWide: (stats.upstream?.reviews.clusterWide ?? 0) + d.reviews.clusterWide,
            namespaced: (stats.upstream?.reviews.namespaced ?? 0) + d.reviews.namespaced,
          },
        };
      }
      if (stats.upstream) stats.upstream.perDecision = stats.upstream.total / (HERD * variants.length);
      return stats;
    },
    async (fake) => {
      await fake.tokens('herd-alice-', 1, FIXTURE_IDENTITY.alice!);
      await fake.tokens('herd-bob-', 1, FIXTURE_IDENTITY.bob!);
    },
  );
  scenario.extra = extra;
  return scenario;
}

/** Namespaces in the first matcher of an openshift answer. */
function namespacesInAnswer(text: string): number {
  try {
    const result = (JSON.parse(text) as { result?: unknown }).result;
    if (typeof result !== 'object' || result === null) return 0;
    const data = JSON.parse((result as { data: string }).data) as { matchers?: Array<{ Value: string }> };
    const v = data.matchers?.[0]?.Value ?? '';
    return v === '' ? 0 : v.split('|').length;
  } catch {
    return NaN;
  }
}

/**
 * One scaling curve: every size through ours on one fake cluster; then, on a fake cluster of its own,
 * the sizes in `peerSizes` through opa-openshift. Its cold points are a fixed number of decisions
 * (PEER_COLD_DECISIONS, all at once over the scaling connections) rather than a duration: its
 * client-go is rate-limited, and a duration could end before any cold decision is answered.
 */
async function scalingScenario(
  ctx: Ctx,
  id: 'namespaces' | 'projects',
  sizes: number[],
  peerSizes: number[],
  setup: (fake: FakeKubeProc) => Promise<void>,
  perSize: (fake: FakeKubeProc, size: number) => Promise<{ body: string; coldToken: () => string; warmToken: string; notes?: string[] }>,
): Promise<ScalingPoint[]> {
  const points: ScalingPoint[] = [];
  const base = { connections: SCALING_CONNECTIONS, durationSec: DURATION };
  await withProcs(async (track) => {
    const fake = track(await startFakeKubeProc(ROOT, TMP, logFile(`${id}-fake-kube`)));
    await setup(fake);
    const ours = track(await startOurs(ctx.build, oursLoggingFlags(fake.kubeconfig, NO_REVIEW_CACHE), logFile(`${id}-ours`)));
    for (const [i, size] of sizes.entries()) {
      log(`${id}: ${size}`);
      const { body, coldToken, warmToken } = await perSize(fake, size);
      const first = await post(ours.base, body, warmToken);
      const point: ScalingPoint = { size, responseBytes: Buffer.byteLength(first.text), namespacesInAnswer: namespacesInAnswer(first.text) };
      if (first.status !== 200) throw new Error(`${id} ${size}: ours answered ${first.status} ${first.text.slice(0, 300)}`);
      point.cold = await measure(
        'ours',
        ours,
        { ...base, requests: [{ method: 'POST', path: DECISION_PATH, body, token: coldToken }], timeoutSec: 30 },
        fake,
        i === 0 ? WARMUP : 0,
      );
      point.warm = await measure('ours', ours, { ...base, requests: [{ method: 'POST', path: DECISION_PATH, body, token: warmToken }], timeoutSec: 30 }, fake);
      point.cold.responseBytes = point.responseBytes;
      point.warm.responseBytes = point.responseBytes;
      points.push(point);
    }
  });
  if ('unavailable' in ctx.opaOpenshift || peerSizes.length === 0) return points;
  const bin = ctx.opaOpenshift.path;
  await withProcs(async (track) => {
    const fake = track(await startFakeKubeProc(ROOT, TMP, logFile(`${id}-fake-kube-opa-openshift`)));
    await setup(fake);
    const peer = track(await startOpaOpenshift(bin, fake.kubeconfig, logFile(`${id}-opa-openshift`)));
    for (const size of peerSizes) {
      const point = points.find((p) => p.size === size);
      if (!point) continue;
      log(`${id}: ${size} (opa-openshift)`);
      const { body, coldToken, warmToken } = await perSize(fake, size);
      const first = await post(peer.base, body, warmToken);
      const answer = { server: 'opa-openshift' as const, responseBytes: Buffer.byteLength(first.text), namespacesInAnswer: namespacesInAnswer(first.text) };
      if (first.status !== 200) {
        point.peer = { ...answer, cold: { server: 'opa-openshift', notes: [`its first answer was ${first.status} ${first.text.trim().slice(0, 200)}`] } };
        continue;
      }
      const cold = await measure(
        'opa-openshift',
        peer,
        {
          connections: SCALING_CONNECTIONS,
          amount: PEER_COLD_DECISIONS,
          requests: [{ method: 'POST', path: DECISION_PATH, body, token: coldToken }],
          timeoutSec: 120,
        },
        fake,
      );
      const warm = await measure(
        'opa-openshift',
        peer,
        { ...base, requests: [{ method: 'POST', path: DECISION_PATH, body, token: warmToken }], timeoutSec: 30 },
        fake,
      );
      cold.responseBytes = answer.responseBytes;
      warm.responseBytes = answer.responseBytes;
      (cold.notes ??= []).push(
        `${PEER_COLD_DECISIONS} cold decisions over ${SCALING_CONNECTIONS} connections (a fixed number, not ${DURATION} s: its client is rate-limited)`,
      );
      point.peer = { ...answer, cold, warm };
    }
  });
  return points;
}

/** Checks of a scaling point through the peer: what ours is held to, recorded as notes (the peer is measured, not judged). */
function peerScalingNote(p: ScalingPoint, wantCallsPerDecision?: number): string | undefined {
  if (!p.peer) return undefined;
  const per = p.peer.cold?.upstream?.perDecision;
  const warm = p.peer.warm?.upstream;
  const warmDecisions = p.peer.warm?.load ? Object.entries(p.peer.warm.load.errors.statusCodes).reduce((n, [c, k]) => (c.startsWith('2') ? n + k : n), 0) : 0;
  return `opa-openshift at ${p.size}: ${p.peer.namespacesInAnswer} namespaces in its answer (ours ${p.namespacesInAnswer}), ${fmtBytes(p.peer.responseBytes)}${per !== undefined ? `; ${per.toFixed(2)} upstream calls per cold decision${wantCallsPerDecision !== undefined ? ` (ours: ${wantCallsPerDecision})` : ''}` : ''}${warm && warmDecisions > 0 ? `; warm (one token): ${(warm.total / warmDecisions).toFixed(2)} upstream calls per decision` : ''}`;
}

/** What the report says about the peer's scaling points: unavailable, or which sizes it ran and why not the others. */
function peerScalingCap(ctx: Ctx, sizes: number[], peerSizes: number[], why: string): string {
  if ('unavailable' in ctx.opaOpenshift) return `opa-openshift unavailable: ${ctx.opaOpenshift.unavailable}`;
  const skipped = sizes.filter((k) => !peerSizes.includes(k));
  const cold = `its cold points are ${PEER_COLD_DECISIONS} decisions each over ${SCALING_CONNECTIONS} connections, not ${DURATION} s (its client-go is rate-limited: a duration could end before a cold decision is answered)`;
  return skipped.length ? `opa-openshift ran at ${peerSizes.join(', ')} only: ${why}; ${cold}.` : `opa-openshift ran at every size; ${cold}.`;
}

/** The peer's entry in a scaling scenario's runs: unavailable, or its per-size observations. */
function peerRun(ctx: Ctx, points: ScalingPoint[], callsPerDecision?: (p: ScalingPoint) => number): RunStats {
  if ('unavailable' in ctx.opaOpenshift) return { server: 'opa-openshift', unavailable: ctx.opaOpenshift.unavailable };
  return { server: 'opa-openshift', notes: points.flatMap((p) => peerScalingNote(p, callsPerDecision?.(p)) ?? []) };
}

async function scenarioNamespaces(ctx: Ctx): Promise<Scenario> {
  const max = Math.max(...NS_SIZES);
  const scenario: Scenario = {
    id: 'namespaces',
    title: 'namespaces per query',
    what: `A namespaced user (ns-reader: a RoleBinding in each of ${max} generated namespaces, nothing cluster-wide) queries k namespaces (\`extras.selectors.kubernetes_namespace_name\`): one cluster-wide review (denied) and k namespaced reviews (at most \`--opa.review-concurrency\`=16 at once), answered with a matcher over the k namespaces. Cold: a new token per request (every decision misses; ours with \`--kube.review-cache-ttl=0\`, so every review goes upstream); warm: one token, cache hits. Upstream latency 0 (loopback only). Ours and opa-openshift with the Loki Operator's logging arguments, each on a fake cluster of its own.`,
    settings: { connections: SCALING_CONNECTIONS, durationSec: DURATION, clusterNamespaces: max, sizes: NS_SIZES.join('/') },
    runs: [],
    ratios: [],
    checks: [],
  };
  const peerSizes = NS_SIZES.filter((k) => k <= PEER_MAX_NAMESPACES);
  const points = await scalingScenario(
    ctx,
    'namespaces',
    NS_SIZES,
    peerSizes,
    async (fake) => {
      await fake.cluster({ kind: 'generated', namespaces: max });
      await fake.tokens('nsq-', 1, NS_READER); // tokens are only checked for project lists; registered for realism
    },
    async (_fake, k) => {
      const names = Array.from({ length: k }, (_, i) => namespaceName(i));
      const seq = new TokenSequence(`nsq-cold-${k}-`);
      return {
        body: JSON.stringify(gatewayInput(NS_READER.username, OAUTH_GROUPS, 'read', 'application', { selectors: { kubernetes_namespace_name: names } })),
        coldToken: seq.next,
        warmToken: `nsq-warm-${k}`,
      };
    },
  );
  scenario.scaling = {
    xLabel: 'namespaces in the query',
    points,
    peerNote: peerScalingCap(
      ctx,
      NS_SIZES,
      peerSizes,
      'a cold decision over k namespaces costs it k + 1 access reviews and a warm one reviews the namespaces again, so the 1,000 point would take minutes of this run',
    ),
  };
  for (const p of points) {
    scenario.checks.push({
      name: `${p.size} namespaces: answer names all ${p.size}`,
      ok: p.namespacesInAnswer === p.size,
      detail: `${p.namespacesInAnswer} namespaces in the matcher, ${fmtBytes(p.responseBytes)}`,
    });
    const per = p.cold?.upstream?.perDecision;
    if (per !== undefined)
      scenario.checks.push({
        name: `${p.size} namespaces cold: ${p.size + 1} upstream calls per decision`,
        ok: Math.abs(per - (p.size + 1)) < 0.5,
        detail: `${per.toFixed(2)} per decision`,
      });
  }
  scenario.runs.push(peerRun(ctx, points, (p) => p.size + 1));
  return scenario;
}

async function scenarioProjects(ctx: Ctx): Promise<Scenario> {
  const pool = Math.max(20_000, Math.ceil(DURATION * 5_000));
  const scenario: Scenario = {
    id: 'projects',
    title: 'projects per user',
    what: `A cluster-wide reader (cluster-reader: a ClusterRoleBinding for application logs and one to list namespaces) queries with no namespace selector, so the answer is a regex of every project the user can list: P projects (the fake cluster is regenerated with P namespaces for each size). Cold (a new token per request; ours with \`--kube.review-cache-ttl=0\`): one cluster-wide review and one project list with the user's token; warm: cache hits. Upstream latency 0.`,
    settings: { connections: SCALING_CONNECTIONS, durationSec: DURATION, sizes: PROJECT_SIZES.join('/'), tokensPerSize: pool },
    runs: [],
    ratios: [],
    checks: [],
  };
  const points = await scalingScenario(
    ctx,
    'projects',
    PROJECT_SIZES,
    PROJECT_SIZES,
    async () => {},
    async (fake, p) => {
      await fake.cluster({ kind: 'generated', namespaces: p });
      await fake.tokens(`proj-cold-${p}-`, pool, CLUSTER_READER);
      await fake.tokens(`proj-warm-${p}-`, 1, CLUSTER_READER);
      const seq = new TokenSequence(`proj-cold-${p}-`, pool);
      return {
        body: JSON.stringify(gatewayInput(CLUSTER_READER.username, OAUTH_GROUPS, 'read', 'application')),
        coldToken: seq.next,
        warmToken: `proj-warm-${p}-0`,
      };
    },
  );
  scenario.scaling = { xLabel: 'projects per user', points, peerNote: peerScalingCap(ctx, PROJECT_SIZES, PROJECT_SIZES, '') };
  for (const p of points) {
    scenario.checks.push({
      name: `${p.size} projects: answer names all ${p.size}`,
      ok: p.namespacesInAnswer === p.size,
      detail: `${p.namespacesInAnswer} namespaces in the matcher, ${fmtBytes(p.responseBytes)}`,
    });
  }
  scenario.runs.push(peerRun(ctx, points));
  return scenario;
}

async function scenarioTokens(ctx: Ctx): Promise<Scenario> {
  const overflow = Math.round(TOKENS / 10);
  const scenario: Scenario = {
    id: 'tokens',
    title: `${TOKENS.toLocaleString('en-US')} distinct tokens`,
    what: `${TOKENS.toLocaleString('en-US')} decisions, each with a new token (bob reading log-test-0: a cluster-wide and a namespaced review, answered with a matcher), through ours with \`--cache.max-entries\` at its default (${CACHE_MAX_ENTRIES_DEFAULT.toLocaleString('en-US')}) and \`--cache.max-bytes\` at its default (64 MiB), TTLs of an hour so nothing expires mid-run; then ${overflow.toLocaleString('en-US')} more new tokens. RSS before and after, and \`decision_cache_entries\` from /metrics: the cache stays within its bound.`,
    settings: { connections: CONNECTIONS, tokens: TOKENS, overflowTokens: overflow, cacheMaxEntries: CACHE_MAX_ENTRIES_DEFAULT },
    runs: [],
    ratios: [],
    checks: [],
  };
  await withProcs(async (track) => {
    const fake = track(await startFakeKubeProc(ROOT, TMP, logFile('tokens-fake-kube')));
    // TTLs past the run: on a loaded machine 100,000 decisions can take longer than the default 60 s,
    // and entries expiring mid-run would hide both the bound and the memory per entry.
    const ours = track(await startOurs(ctx.build, oursLoggingFlags(fake.kubeconfig, ['--cache.allow-ttl=1h', '--cache.deny-ttl=1h']), logFile('tokens-ours')));
    const body = JSON.stringify(OPENSHIFT_MIX[1].body).replace('"log-test-0","log-test-1"', '"log-test-0"');
    await runLoad({ url: ours.base, connections: 4, amount: 200, requests: [{ method: 'POST', path: DECISION_PATH, body, token: 'token-bob' }] });
    const seq = new TokenSequence('t100k-');
    const rssBefore = ours.proc.memory();
    log(`tokens: ${TOKENS} distinct tokens`);
    const run = await measure(
      'ours',
      ours,
      { connections: CONNECTIONS, amount: TOKENS, requests: [{ method: 'POST', path: DECISION_PATH, body, token: seq.next }], timeoutSec: 30 },
      fake,
    );
    const m1 = await scrape(ours);
    const rssAfter = ours.proc.memory();
    log(`tokens: ${overflow} more`);
    const over = await runLoad({
      url: ours.base,
      connections: CONNECTIONS,
      amount: overflow,
      requests: [{ method: 'POST', path: DECISION_PATH, body, token: seq.next }],
      timeoutSec: 30,
    });
    const m2 = await scrape(ours);
    const rssOverflow = ours.proc.memory();
    const entries1 = metricValue(m1, 'decision_cache_entries') ?? NaN;
    const entries2 = metricValue(m2, 'decision_cache_entries') ?? NaN;
    const ev1 = metricValue(m1, 'opa_openshift_cache_evictions_total') ?? 0;
    const ev2 = metricValue(m2, 'opa_openshift_cache_evictions_total') ?? 0;
    const inserts2 = metricValue(m2, 'opa_openshift_cache_inserts_total') ?? NaN;
    const ok1 = run.load!.errors.total === 0;
    scenario.runs.push(run);
    const perEntry = rssBefore && rssAfter && entries1 > 0 ? (rssAfter.rssBytes - rssBefore.rssBytes) / entries1 : NaN;
    scenario.extra = {
      rssBeforeBytes: rssBefore?.rssBytes,
      rssAfterBytes: rssAfter?.rssBytes,
      rssAfterOverflowBytes: rssOverflow?.rssBytes,
      peakRssBytes: rssOverflow?.peakRssBytes,
      rssGrowthPerEntryBytes: Math.round(perEntry),
      decisionCacheEntries: { afterTokens: entries1, afterOverflow: entries2 },
      evictions: { afterTokens: ev1, afterOverflow: ev2 },
      inserts: inserts2,
      overflowLoad: { rps: over.rps, p50: over.latencyMs.p50, p99: over.latencyMs.p99, errors: over.errors.total },
    };
    scenario.checks.push({
      name: `decision_cache_entries stays within --cache.max-entries (${CACHE_MAX_ENTRIES_DEFAULT.toLocaleString('en-US')})`,
      ok: entries1 <= CACHE_MAX_ENTRIES_DEFAULT && entries2 <= CACHE_MAX_ENTRIES_DEFAULT,
      detail: `${entries1.toLocaleString('en-US')} after ${TOKENS.toLocaleString('en-US')} tokens, ${entries2.toLocaleString('en-US')} after ${overflow.toLocaleString('en-US')} more; evictions ${ev1} then ${ev2}; inserts ${inserts2}`,
    });
    if (TOKENS + overflow > CACHE_MAX_ENTRIES_DEFAULT) {
      scenario.checks.push({
        name: 'past the bound, the least recently used entries are evicted',
        ok: ev2 > 0 && entries2 === CACHE_MAX_ENTRIES_DEFAULT,
        detail: `${ev2} evictions, ${entries2} entries`,
      });
    } else {
      scenario.checks.push({
        name: 'the bound was not reached in this (quick) run',
        ok: true,
        detail: `${TOKENS + overflow} tokens < ${CACHE_MAX_ENTRIES_DEFAULT}`,
      });
    }
    scenario.checks.push({
      name: 'RSS growth over the run',
      ok: ok1,
      detail: `RSS ${fmtBytes(rssBefore?.rssBytes)} before, ${fmtBytes(rssAfter?.rssBytes)} after ${TOKENS.toLocaleString('en-US')} tokens (${Number.isFinite(perEntry) ? `${Math.round(perEntry)} B per cached decision, GC state included` : '–'}), ${fmtBytes(rssOverflow?.rssBytes)} after the overflow; peak ${fmtBytes(rssOverflow?.peakRssBytes)}${ok1 ? '' : `; ${run.load!.errors.total} errors`}`,
    });
  });
  return scenario;
}

/** One kind of hostile input: the largest body the defaults accept, and one step past it. */
interface HostileKind {
  kind: string;
  bound: string;
  mode: 'static' | 'openshift';
  accepted: { size: string; send: (url: string, i: number) => Promise<RawAnswer> };
  past: { size: string; send: (url: string) => Promise<RawAnswer>; want: number };
  /** Instead of four accepted requests at once (the slow uploads: their own concurrency). */
  concurrent?: (url: string) => Promise<{ statuses: number[]; note: string }>;
}

async function scenarioHostile(ctx: Ctx): Promise<Scenario> {
  const rounds = QUICK ? 1 : 3;
  const scenario: Scenario = {
    id: 'hostile',
    title: 'hostile inputs',
    what:
      "Each kind of hostile input at the largest size ours' default bounds accept, and one step past it, which must be refused cheaply. Each kind gets a fresh process of ours (static mode with deploy/examples/rbac.yaml, or openshift-logging with the operator's arguments against the fake API holding 1,000 generated namespaces): first the refused request, then one accepted request, then four accepted requests at once (" +
      `${rounds} round(s)) while a probe loop GETs \`/live\` on the internal listener every 10 ms. CPU is the service process's user+system time over each step (/proc/<pid>/stat); peak RSS is its VmHWM after the step (cumulative over the process's life: the refused step runs first). The boundary sizes are found with the service's own decoder at the default bounds and confirmed by the statuses. Bounds in force (defaults): --web.max-body-bytes=${BOUNDS.maxBodyBytes}, --web.max-input-depth=${BOUNDS.maxDepth}, --web.max-input-nodes=${BOUNDS.maxNodes}, --web.max-input-array-length=${BOUNDS.maxArrayLength}, --web.max-input-string-bytes=${BOUNDS.maxStringBytes}, --web.max-input-bytes=${BOUNDS.maxDecodedBytes}, --web.max-yaml-nodes=${BOUNDS.maxYamlNodes}, --web.max-buffered-bytes=${BOUNDS.maxBufferedBytes}, --openshift.max-namespaces=${BOUNDS.maxNamespaces}, --web.decision-timeout=10s, evaluation workers at their defaults (--policy.inline-max-input-bytes=8192).`,
    settings: { rounds, concurrent: 4, probeIntervalMs: 10 },
    runs: [],
    ratios: [],
    checks: [],
  };
  const url = (base: string) => `${base}${DECISION_PATH}`;
  const json = { 'content-type': 'application/json' };
  const yaml = { 'content-type': 'application/yaml' };

  log('hostile: finding the boundary sizes with the service decoder');
  const maxGroups = largest(1, 4 * BOUNDS.maxArrayLength, (n) => accepted(groupsBody(n)));
  const groupsAt = groupsBody(maxGroups);
  const groupsPast = groupsBody(maxGroups + 1);
  const aliases = 99;
  const yamlItems = largest(1, BOUNDS.maxYamlNodes, (k) => accepted(yamlAliasBody(k, aliases), 'application/yaml'));
  const yamlAt = yamlAliasBody(yamlItems, aliases);
  const yamlPast = yamlAliasBody(yamlItems + 1, aliases);
  const bomb = yamlBomb();
  const depth = largest(3, 4 * BOUNDS.maxDepth, (d) => accepted(deepBody(d, 1)));
  const chains = largest(1, BOUNDS.maxNodes, (c) => accepted(deepBody(depth, c)));
  const deepAt = deepBody(depth, chains);
  const deepPast = deepBody(depth + 1, 1);
  const inflatedAt = groupsBody(maxGroups, BOUNDS.maxBodyBytes);
  const gzAt = gzipSync(inflatedAt);
  const gzPast = gzipSync(groupsBody(maxGroups, BOUNDS.maxBodyBytes + 1));
  const gz = { ...json, 'content-encoding': 'gzip' };
  const nsGroups = (i: number) => [...OAUTH_GROUPS, `hostile-${i}`]; // a new group set per request: no review-cache hit
  const nsAt = (i: number) => namespacesBody(BOUNDS.maxNamespaces, namespaceName, NS_READER.username, nsGroups(i));
  const nsPast = namespacesBody(BOUNDS.maxNamespaces + 1, namespaceName, NS_READER.username, nsGroups(-1));
  // Cheap to decide (four groups, whitespace to the body bound): this kind measures the budget, not evaluation.
  const { body: slow, held: slowHeld } = slowUploadPlan(BOUNDS.maxBufferedBytes, BOUNDS.maxBodyBytes);
  let token = 0;
  const tok = () => ({ ...json, 'x-forwarded-access-token': `hostile-${token++}` });
  const kinds: HostileKind[] = [
    {
      kind: 'JSON body, most groups',
      bound: '--web.max-input-array-length',
      mode: 'static',
      accepted: { size: `${maxGroups.toLocaleString('en-US')} groups, ${fmtBytes(groupsAt.length)}`, send: (u) => rawPost(u, groupsAt, json) },
      past: { size: `${(maxGroups + 1).toLocaleString('en-US')} groups`, send: (u) => rawPost(u, groupsPast, json), want: 400 },
    },
    {
      kind: 'YAML, aliases at the node bound',
      bound: '--web.max-input-nodes (aliases expanded), --web.max-yaml-nodes',
      mode: 'static',
      accepted: {
        size: `${yamlItems.toLocaleString('en-US')}-item list anchored, aliased ${aliases}×: ${((yamlItems * (aliases + 1)) / 1000).toFixed(0)}k values, ${fmtBytes(yamlAt.length)}`,
        send: (u) => rawPost(u, yamlAt, yaml),
      },
      past: { size: `${(yamlItems + 1).toLocaleString('en-US')}-item list, aliased ${aliases}×`, send: (u) => rawPost(u, yamlPast, yaml), want: 400 },
    },
    {
      kind: "YAML alias bomb (the issue's)",
      bound: '--web.max-yaml-nodes',
      mode: 'static',
      accepted: { size: `(none accepted) ${fmtBytes(bomb.length)}: 500,000-element list aliased 99×, four at once`, send: (u) => rawPost(u, bomb, yaml) },
      past: { size: `${fmtBytes(bomb.length)}, 50M values expanded`, send: (u) => rawPost(u, bomb, yaml), want: 400 },
    },
    {
      kind: 'deep nesting',
      bound: '--web.max-input-depth, --web.max-input-nodes',
      mode: 'static',
      accepted: {
        size: `${chains.toLocaleString('en-US')} arrays nested to the depth bound, ${fmtBytes(deepAt.length)}`,
        send: (u) => rawPost(u, deepAt, json),
      },
      past: { size: 'one array a level deeper', send: (u) => rawPost(u, deepPast, json), want: 400 },
    },
    {
      kind: 'gzip body inflating to the body bound',
      bound: '--web.max-body-bytes (after gunzip)',
      mode: 'static',
      accepted: { size: `${fmtBytes(gzAt.length)} → ${fmtBytes(inflatedAt.length)}`, send: (u) => rawPost(u, gzAt, gz) },
      past: { size: `${fmtBytes(gzPast.length)} → ${(BOUNDS.maxBodyBytes + 1).toLocaleString('en-US')} B`, send: (u) => rawPost(u, gzPast, gz), want: 400 },
    },
    {
      kind: 'openshift, most namespaces',
      bound: '--openshift.max-namespaces',
      mode: 'openshift',
      accepted: {
        size: `${BOUNDS.maxNamespaces} namespaces (ns-reader, a RoleBinding in each; a new token and group set per request)`,
        send: (u, i) => rawPost(u, nsAt(i), tok()),
      },
      past: { size: `${BOUNDS.maxNamespaces + 1} namespaces`, send: (u) => rawPost(u, nsPast, tok()), want: 400 },
    },
    {
      kind: 'slow uploads against the buffered-bytes budget',
      bound: '--web.max-buffered-bytes',
      mode: 'static',
      accepted: { size: `one ${fmtBytes(slow.length)} upload (four groups, whitespace)`, send: (u) => rawPost(u, slow, json) },
      past: {
        size: `upload ${slowHeld + 1} while ${slowHeld} uploads of ${fmtBytes(slow.length)} hold all but their last byte`,
        send: async () => ({ status: 0, head: '' }),
        want: 503,
      },
      concurrent: async (u) => {
        let release!: () => void;
        const released = new Promise<void>((r) => (release = r));
        let sent = 0;
        const held: Promise<RawAnswer>[] = [];
        const allSent = new Promise<void>((r) => {
          const one = () => ++sent === slowHeld && r();
          held.push(...Array.from({ length: slowHeld }, () => rawPost(u, slow, json, { bytes: 1, release: released, sent: one })));
        });
        await allSent;
        // Written is not read: wait until the service holds the bytes (its RSS has grown by most of them).
        const idleRss = procRss();
        for (let t = 0; t < 40 && procRss() - idleRss < 0.8 * slowHeld * slow.length; t++) await sleep(250);
        await sleep(300);
        const over = await rawPost(u, slow, json);
        release();
        const answers = await Promise.all(held);
        return {
          statuses: [over.status, ...answers.map((a) => a.status)],
          note: `the ${slowHeld + 1}th: ${over.status} ${over.head.replace(/\s+/g, ' ').trim().slice(0, 70)}`,
        };
      },
    },
  ];

  const rows: string[][] = [];
  const results: Record<string, unknown>[] = [];
  let current: Running | undefined;
  const procRss = () => current?.proc.memory()?.rssBytes ?? 0;
  await withProcs(async (track) => {
    let fake: FakeKubeProc | undefined;
    for (const k of kinds) {
      log(`hostile: ${k.kind}`);
      if (k.mode === 'openshift' && !fake) {
        fake = track(await startFakeKubeProc(ROOT, TMP, logFile('hostile-fake-kube')));
        await fake.cluster({ kind: 'generated', namespaces: BOUNDS.maxNamespaces });
      }
      const flags = k.mode === 'static' ? [`--rbac.config=${join(ROOT, 'deploy/examples/rbac.yaml')}`] : oursLoggingFlags(fake!.kubeconfig);
      const ours = await startOurs(ctx.build, flags, logFile(`hostile-${k.kind.replace(/\W+/g, '-')}`));
      current = ours;
      try {
        const u = url(ours.base);
        const step = async <T>(fn: () => Promise<T>) => {
          const cpu0 = ours.proc.cpuSeconds() ?? NaN;
          const value = await fn();
          return { value, cpuSec: (ours.proc.cpuSeconds() ?? NaN) - cpu0, peakRssBytes: ours.proc.memory()?.peakRssBytes ?? NaN };
        };
        const idle = ours.proc.memory();
        const past = k.concurrent ? undefined : await step(() => k.past.send(u));
        const one = k.concurrent ? undefined : await step(() => k.accepted.send(u, 0));
        const probe = probeLoop(`${ours.internal}/live`);
        const many = await step(async () => {
          if (k.concurrent) return k.concurrent(u);
          const statuses: number[] = [];
          for (let r = 0; r < rounds; r++) statuses.push(...(await Promise.all([1, 2, 3, 4].map((i) => k.accepted.send(u, r * 4 + i)))).map((a) => a.status));
          return { statuses, note: '' };
        });
        const live = await probe.stop();
        const statusList = (xs: number[]) =>
          Object.entries(xs.reduce<Record<string, number>>((m, s) => ((m[s] = (m[s] ?? 0) + 1), m), {}))
            .map(([s, n]) => `${n}× ${s}`)
            .join(', ');
        const liveCell = `${fmtMs(live.p50)} / ${fmtMs(live.max)}${live.failures ? ` (${live.failures} failed)` : ''}`;
        if (past)
          rows.push([
            k.kind,
            `past: ${k.past.size}`,
            `${past.value.status} ${past.value.head.replace(/\s+/g, ' ').trim().slice(0, 70)}`,
            past.cpuSec.toFixed(2),
            fmtBytes(past.peakRssBytes),
            '',
          ]);
        if (one) rows.push(['', `at the bound: ${k.accepted.size}`, String(one.value.status), one.cpuSec.toFixed(2), fmtBytes(one.peakRssBytes), '']);
        rows.push([
          k.concurrent ? k.kind : '',
          k.concurrent ? `${slowHeld} held + 1 past; ${many.value.note}` : `four at once × ${rounds}`,
          statusList(many.value.statuses),
          many.cpuSec.toFixed(2),
          fmtBytes(many.peakRssBytes),
          liveCell,
        ]);
        results.push({ kind: k.kind, bound: k.bound, idleRssBytes: idle?.rssBytes, past, one, concurrent: many, live });
        // Checks: past refused with the bound's status, cheaply; the bound itself not refused by a bound.
        if (past)
          scenario.checks.push({
            name: `${k.kind}: one step past is refused (${k.past.want})`,
            ok: past.value.status === k.past.want,
            detail: `${past.value.status}, ${past.cpuSec.toFixed(2)} CPU-s, ${k.bound}`,
          });
        if (one && k.past.want === 400 && k.kind !== "YAML alias bomb (the issue's)")
          scenario.checks.push({
            name: `${k.kind}: the largest accepted is decided`,
            ok: one.value.status !== 400 && one.value.status !== 0,
            detail: `${one.value.status}, ${one.cpuSec.toFixed(2)} CPU-s`,
          });
        if (k.concurrent) {
          const [over, ...rest] = many.value.statuses;
          scenario.checks.push({
            name: `${k.kind}: the upload past the budget is refused 503, the held ones decided`,
            ok: over === 503 && rest.every((s) => s === 200),
            detail: `${over}; held: ${statusList(rest)}`,
          });
        }
        scenario.checks.push({
          name: `${k.kind}: /live answered throughout`,
          ok: live.failures === 0 && live.count > 0,
          detail: `${live.count} probes, p50 ${fmtMs(live.p50)}, max ${fmtMs(live.max)}`,
        });
      } finally {
        await ours.proc.stop();
      }
    }
  });
  scenario.table = { header: ['kind', 'request', 'status', 'CPU-s (ours)', 'peak RSS', '/live p50 / max'], rows };
  scenario.extra = { results };
  return scenario;
}

// ---------------------------------------------------------------- main

function writeReport(report: Report): void {
  // Judged on every write (--report-only too), from the scenarios as they stand in this report.
  report.targets = judgeTargets(report, documentedBytesPerEntry(readFileSync(join(ROOT, 'docs/operations.md'), 'utf8')));
  const svg = scalingSvg(
    report.scenarios.find((s) => s.id === 'namespaces'),
    report.scenarios.find((s) => s.id === 'projects'),
    `${report.scenarios.find((s) => s.id === 'namespaces' || s.id === 'projects')?.carriedFrom ?? report.generatedAt}${report.quick ? ' (quick run)' : ''}; ${report.settings.scalingConnections} connections, ${report.settings.durationSec} s per point; opa-openshift: ${report.peers.opaOpenshift.unavailable ? 'unavailable, not plotted' : `p50 where it ran (namespaces up to ${PEER_MAX_NAMESPACES})`}. Indicative (shared 2-core machine).`,
  );
  writeFileSync(join(RESULTS, 'scaling.svg'), svg);
  writeFileSync(join(RESULTS, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(RESULTS, 'latest.md'), markdown(report));
}

async function main(): Promise<void> {
  mkdirSync(TMP, { recursive: true });
  mkdirSync(RESULTS, { recursive: true });
  if (ARGS.reportOnly) {
    // Re-renders latest.md and scaling.svg from latest.json (after a change to the report's layout).
    writeReport(JSON.parse(readFileSync(join(RESULTS, 'latest.json'), 'utf8')) as Report);
    log('re-rendered bench/results/latest.md and scaling.svg from latest.json');
    return;
  }
  const loadStart = loadavg();
  log(
    `${QUICK ? 'quick' : 'full'} run: ${DURATION} s per measurement, ${CONNECTIONS} connections (scaling ${SCALING_CONNECTIONS})${ONLY ? `, only ${ONLY.join(',')}` : ''}`,
  );
  log('building ours; finding OPA and opa-openshift');
  // What the build compiles: read before it, so later commits or edits by others do not relabel it.
  const git = gitDescription(ROOT);
  const [build, opa, opaOpenshift] = await Promise.all([buildOurs(ROOT), findOpa(ROOT), findOpaOpenshift()]);
  log(`ours: ${build.how}`);
  log(`opa: ${'path' in opa ? `${opa.version} ${opa.path}` : `unavailable: ${opa.unavailable}`}`);
  log(`opa-openshift: ${'path' in opaOpenshift ? `${opaOpenshift.version}` : `unavailable: ${opaOpenshift.unavailable}`}`);
  const ctx: Ctx = { build, opa, opaOpenshift };

  const report: Report = {
    generatedAt: new Date().toISOString(),
    quick: QUICK,
    ...(ONLY ? { only: ONLY } : {}),
    settings: { durationSec: DURATION, connections: CONNECTIONS, scalingConnections: SCALING_CONNECTIONS, warmupSec: WARMUP },
    environment: {
      node: process.version,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      memoryBytes: totalmem(),
      loadAverageStart: loadStart,
      loadAverageEnd: [],
      git,
      note: "This machine is shared with other engineers' test runs while benchmarking, so absolute numbers move between runs; compare ratios taken in the same run.",
    },
    ours: { how: build.how, why: build.why },
    peers: {
      opa: 'path' in opa ? { version: opa.version, path: opa.path } : { unavailable: opa.unavailable },
      opaOpenshift: 'path' in opaOpenshift ? { version: opaOpenshift.version, path: opaOpenshift.path } : { unavailable: opaOpenshift.unavailable },
    },
    scenarios: [],
  };

  const runners: Record<ScenarioId, () => Promise<Scenario>> = {
    static: () => scenarioStatic(ctx, report),
    'openshift-hit': () => scenarioOpenshiftHit(ctx),
    'openshift-cold': () => scenarioOpenshiftCold(ctx),
    herd: () => scenarioHerd(ctx),
    namespaces: () => scenarioNamespaces(ctx),
    projects: () => scenarioProjects(ctx),
    tokens: () => scenarioTokens(ctx),
    hostile: () => scenarioHostile(ctx),
    'forward-auth': () => scenarioForwardAuth(ctx),
  };
  const previous = ONLY ? readPrevious() : undefined;
  for (const id of SCENARIO_IDS) {
    if (ONLY && !ONLY.includes(id)) {
      const carried = previous?.scenarios.find((s) => s.id === id);
      if (carried)
        report.scenarios.push({ ...carried, carriedFrom: carried.carriedFrom ?? previous!.generatedAt, code: carried.code ?? previous!.environment.git });
      if (id === 'static' && previous?.profile && carried) report.profile = previousProfile(previous);
      continue;
    }
    const started = Date.now();
    try {
      report.scenarios.push({ ...(await runners[id]()), code: report.environment.git });
    } catch (err) {
      log(`${id} failed: ${err instanceof Error ? err.stack : String(err)}`);
      report.scenarios.push({
        id,
        title: id,
        what: '',
        settings: {},
        runs: [],
        ratios: [],
        checks: [],
        error: err instanceof Error ? err.message : String(err),
      });
    }
    log(`${id}: done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }
  report.environment.loadAverageEnd = loadavg();
  // A static run where ours kept up with OPA makes no profile: keep the last one, marked with its code.
  if (!report.profile && ONLY?.includes('static') && previous?.profile) report.profile = previousProfile(previous);
  if (report.profile) {
    report.profile.code ??= report.environment.git;
    report.profile.generatedAt ??= report.generatedAt;
  }

  writeReport(report);
  log('targets (issue 14):');
  for (const t of report.targets ?? []) log(`  ${t.met === undefined ? '–  not measured' : t.met ? 'met    ' : 'NOT MET'}  ${t.name}: ${t.measured}`);
  writeFileSync(join(TMP, `run-${report.generatedAt.replace(/[:.]/g, '-')}.json`), `${JSON.stringify(report, null, 2)}\n`);
  const failed = report.scenarios.filter((s) => s.error || s.checks.some((c) => !c.ok));
  log(
    `wrote ${RESULTS.slice(ROOT.length) || RESULTS}/latest.md, latest.json, scaling.svg${failed.length ? `; scenarios with failed checks or errors: ${failed.map((s) => s.id).join(', ')}` : ''}`,
  );
  // The report is written either way; the exit status says whether every check held (CI fails the step).
  if (failed.length) process.exitCode = 1;
  // Under CI the peer's columns must not silently go empty (the rule of test/support/peers.ts).
  const ranOpenshift = report.scenarios.some((s) => !s.carriedFrom && s.runs.some((r) => r.server === 'opa-openshift'));
  if (process.env.CI && ranOpenshift && 'unavailable' in opaOpenshift) {
    log(`opa-openshift is required under CI: ${opaOpenshift.unavailable}`);
    process.exitCode = 1;
  }
}

// ---------------------------------------------------------------- forward-auth

/**
 * STATIC_INPUTS' callers as a proxy in front of Loki asks for them (nginx auth_request: the original
 * method and URI in X-Original-*), with the identity an authenticating proxy asserts
 * (X-Auth-Request-*) or HTTP basic auth. dave's metrics read has no Loki scope: his stands for a
 * multi-tenant read naming no tenant (three tenants evaluated).
 */
const FA_CASES: Array<{
  note: string;
  user: string;
  groups: string[];
  method: 'GET' | 'POST';
  uri: string;
  tenant?: string;
  want: number;
  wantBasic?: number;
}> = [
  {
    note: 'user binding allows',
    user: 'alice@example.com',
    groups: ['staff'],
    method: 'GET',
    uri: '/loki/api/v1/query_range?query=%7Bapp%3D%22x%22%7D',
    tenant: 'application',
    want: 200,
  },
  {
    note: 'group developers allows',
    user: 'bob@example.com',
    groups: ['developers'],
    method: 'GET',
    uri: '/loki/api/v1/query?query=%7Bapp%3D%22x%22%7D',
    tenant: 'application',
    want: 200,
    wantBasic: 403,
  },
  {
    note: 'group sre reads audit',
    user: 'carol@example.com',
    groups: ['staff', 'sre'],
    method: 'GET',
    uri: '/loki/api/v1/labels',
    tenant: 'audit',
    want: 200,
    wantBasic: 403,
  },
  {
    note: 'collector writes',
    user: 'system:serviceaccount:openshift-logging:logcollector',
    groups: ['system:authenticated'],
    method: 'POST',
    uri: '/loki/api/v1/push',
    tenant: 'infrastructure',
    want: 200,
  },
  { note: 'wrong tenant', user: 'alice@example.com', groups: ['staff'], method: 'GET', uri: '/loki/api/v1/query', tenant: 'audit', want: 403 },
  {
    note: 'read-only role, write asked',
    user: 'mallory@example.com',
    groups: ['developers'],
    method: 'POST',
    uri: '/loki/api/v1/push',
    tenant: 'application',
    want: 403,
  },
  { note: 'no binding', user: 'eve@example.com', groups: [], method: 'GET', uri: '/loki/api/v1/query', tenant: 'application', want: 403 },
  {
    note: 'sre, every tenant (no X-Scope-OrgID)',
    user: 'dave@example.com',
    groups: ['sre'],
    method: 'GET',
    uri: '/loki/api/v1/query',
    want: 200,
    wantBasic: 403,
  },
];
const FA_PASSWORD = 'bench-password';

function forwardAuthTemplate(c: (typeof FA_CASES)[number], identity: 'headers' | 'basic'): RequestTemplate {
  const headers: Record<string, string> = { 'x-original-method': c.method, 'x-original-uri': c.uri, ...(c.tenant ? { 'x-scope-orgid': c.tenant } : {}) };
  if (identity === 'headers') {
    headers['x-auth-request-user'] = c.user;
    if (c.groups.length > 0) headers['x-auth-request-groups'] = c.groups.join(',');
  } else {
    headers.authorization = `Basic ${Buffer.from(`${c.user}:${FA_PASSWORD}`).toString('base64')}`;
  }
  return { method: 'GET', path: '/forward-auth', headers };
}

async function forwardAuthStatus(base: string, t: RequestTemplate): Promise<number> {
  const res = await fetch(`${base}${t.path}`, { method: t.method, headers: t.headers ?? {} });
  await res.arrayBuffer();
  return res.status;
}

async function scenarioForwardAuth(ctx: Ctx): Promise<Scenario> {
  const rbac = join(ROOT, 'deploy/examples/rbac.yaml');
  const { default: bcrypt } = await import('bcryptjs');
  // Basic-auth users (bcrypt cost 10, as `htpasswd -B` writes by default); groups come only from identity headers.
  const htpasswd = join(TMP, 'forward-auth.htpasswd');
  // htpasswd names cannot hold ':' (the service account): that caller is in the headers mix only.
  const basicCases = FA_CASES.filter((c) => !c.user.includes(':'));
  writeFileSync(htpasswd, `${[...new Set(basicCases.map((c) => c.user))].map((u) => `${u}:${bcrypt.hashSync(FA_PASSWORD, 10)}`).join('\n')}\n`);
  const dataApi: RequestTemplate[] = STATIC_INPUTS.map((c) => ({ method: 'POST', path: DECISION_PATH, body: JSON.stringify(c.body) }));
  const headers = FA_CASES.map((c) => forwardAuthTemplate(c, 'headers'));
  const basic = basicCases.map((c) => forwardAuthTemplate(c, 'basic'));
  const common = [
    '--log.level=warn',
    `--rbac.config=${rbac}`,
    '--forward-auth.enabled',
    `--forward-auth.htpasswd-file=${htpasswd}`,
    '--forward-auth.trusted-proxies=127.0.0.1/32,::1/128',
  ];
  const scenario: Scenario = {
    id: 'forward-auth',
    title: 'forward-auth decisions beside the Data API (static mode)',
    what: "One process of ours in static mode with `deploy/examples/rbac.yaml`, serving the Data API and `/forward-auth`. The Data API mix is the static scenario's (four allowed, four denied); the forward-auth mix is the same callers as nginx `auth_request` asks for them (`X-Original-Method`/`-URI`, `X-Scope-OrgID`), one of them a multi-tenant read naming no tenant (three tenants evaluated). Identity from trusted `X-Auth-Request-*` headers, or HTTP basic auth against bcrypt (cost 10) hashes (the seven callers an htpasswd name can hold; a password proves no groups, so group-bound callers are denied there), whose verified credentials are cached (`--forward-auth.credential-cache-ttl`). Forward-auth's answer cache off (`--forward-auth.cache-allow-ttl=0`, `-deny-ttl=0`: every request evaluated), then on (defaults: repeated requests are cache hits). Answers/s counts every answer (denials are 403 on forward-auth, 200 with false on the Data API). No peer offers forward-auth.",
    settings: { connections: CONNECTIONS, durationSec: DURATION, warmupSec: WARMUP, inputs: FA_CASES.length },
    runs: [],
    ratios: [],
    checks: [],
  };
  const rows: string[][] = [];
  const row = (what: string, r: RunStats) => {
    const l = r.load!;
    const answered = l.completed / l.durationSec;
    r.notes = [...(r.notes ?? []), what];
    rows.push([
      what,
      String(Math.round(answered)),
      fmtMs(l.latencyMs.p50),
      fmtMs(l.latencyMs.p99),
      r.cpu ? r.cpu.serverMsPerRequest.toFixed(3) : '',
      Object.entries(l.errors.statusCodes)
        .map(([c, n]) => `${c}×${n}`)
        .join(' '),
    ]);
    scenario.runs.push(r);
  };
  const load = (requests: RequestTemplate[]) => ({ connections: CONNECTIONS, durationSec: DURATION, requests });
  await withProcs(async (track) => {
    for (const cached of [false, true]) {
      const flags = [...common, ...(cached ? [] : ['--forward-auth.cache-allow-ttl=0', '--forward-auth.cache-deny-ttl=0'])];
      const ours = track(await startOurs(ctx.build, flags, logFile(`forward-auth-ours${cached ? '-cached' : ''}`)));
      // Each forward-auth request answers what the roles say, before anything is measured.
      const wrong: string[] = [];
      for (const [how, cases, templates] of [
        ['headers', FA_CASES, headers],
        ['basic', basicCases, basic],
      ] as const) {
        for (const [i, c] of cases.entries()) {
          const got = await forwardAuthStatus(ours.base, templates[i]!);
          // Basic auth proves a user and no groups: group bindings grant it nothing.
          const want = how === 'basic' ? (c.wantBasic ?? c.want) : c.want;
          if (got !== want) wrong.push(`${c.note} (${how}): ${got}, want ${want}`);
        }
      }
      scenario.checks.push({
        name: `forward-auth answers every caller as the roles say${cached ? ' (cache on)' : ''}`,
        ok: wrong.length === 0,
        detail: wrong.length ? wrong.join('; ') : `${FA_CASES.length} callers by headers, ${basicCases.length} by basic auth`,
      });
      if (!cached) {
        log('forward-auth: Data API');
        row('Data API, POST /v1/data/lokistack/allow', await measure('ours', ours, load(dataApi), undefined, WARMUP));
        log('forward-auth: identity headers, answer cache off');
        row('forward-auth, X-Auth-Request-* headers, answer cache off', await measure('ours', ours, load(headers), undefined, WARMUP));
        log('forward-auth: basic auth, answer cache off');
        row('forward-auth, basic auth (credential cache), answer cache off', await measure('ours', ours, load(basic), undefined, WARMUP));
      } else {
        log('forward-auth: identity headers, answer cache on');
        row('forward-auth, X-Auth-Request-* headers, answer cache on', await measure('ours', ours, load(headers), undefined, WARMUP));
      }
      await ours.proc.stop();
    }
  });
  scenario.table = { header: ['path', 'answers/s', 'p50', 'p99', 'CPU ms/answer', 'statuses'], rows };
  return scenario;
}

function previousProfile(previous: Report): NonNullable<Report['profile']> {
  const p = previous.profile!;
  return { ...p, code: p.code ?? previous.environment.git, generatedAt: p.generatedAt ?? previous.generatedAt };
}

/** The previous latest.json, when it was the same kind of run (quick or full), for --only. */
function readPrevious(): Report | undefined {
  const file = join(RESULTS, 'latest.json');
  if (!existsSync(file)) return undefined;
  try {
    const prev = JSON.parse(readFileSync(file, 'utf8')) as Report;
    return prev.quick === QUICK ? prev : undefined;
  } catch {
    return undefined;
  }
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
