/**
 * CPU per openshift decision, A/B: builds of two checkouts (or one) run in alternating rounds, each
 * against a fresh fake Kubernetes API, under the bench's openshift-hit or openshift-cold load, and
 * optionally under `node --cpu-prof` with the profile summarised by self time per function and file.
 *
 *   npx tsx bench/profile-openshift.ts --scenario cold --root A=/tmp/base --root B=. --rounds 3 --duration 5
 *   npx tsx bench/profile-openshift.ts --scenario hit --root B=. --profile
 *
 * Not part of `npm run bench` (no peers, no report): a tool for changing the openshift path, whose
 * CPU per request is judged in alternating runs because the machine's other load moves req/s.
 */
import { mkdirSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { runLoad, TokenSequence, type RequestTemplate } from './lib/load.js';
import { startFakeKubeProc } from './lib/procs.js';
import { summarizeProfile } from './lib/profile.js';
import { buildOurs, oursLoggingFlags, startOurs, type OursBuild } from './lib/servers.js';

const { values } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'hit' },
    root: { type: 'string', multiple: true },
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '32' },
    profile: { type: 'boolean', default: false },
    // All builds under load at once (same contention), instead of one after another.
    together: { type: 'boolean', default: false },
    // Requests per second for all connections together; 0: as fast as the server answers. A fixed
    // rate compares CPU per request at the same batching, whatever else the machine runs.
    rate: { type: 'string', default: '0' },
    out: { type: 'string', default: '/tmp/osprof' },
  },
});
const cold = values.scenario === 'cold';
const rounds = Number(values.rounds);
const duration = Number(values.duration);
const connections = Number(values.connections);
const rate = Number(values.rate);
const out = resolve(values.out!);
mkdirSync(out, { recursive: true });
const roots = (values.root ?? ['B=.']).map((r) => {
  const [label, dir] = r.includes('=') ? (r.split('=', 2) as [string, string]) : [r, r];
  return { label, dir: resolve(dir) };
});

// The bench's mix (bench/run.ts OPENSHIFT_MIX): alice cluster-wide, bob two namespaces, carol one, dave denied.
const GROUPS = ['system:authenticated:oauth', 'system:authenticated'];
const FIELDS = { permission: 'read', resource: 'logs', tenant: 'application', tenantID: 'application', token: '' };
const input = (subject: string, groups: string[], selectors?: Record<string, string[]>) =>
  JSON.stringify({ input: { groups, ...FIELDS, subject, extras: selectors ? { selectors } : {} } });
const MIX = [
  { who: 'alice', body: input('alice', GROUPS), id: { username: 'alice', groups: ['system:authenticated:oauth'] } },
  {
    who: 'bob',
    body: input('bob', GROUPS, { kubernetes_namespace_name: ['log-test-0', 'log-test-1'] }),
    id: { username: 'bob', groups: ['system:authenticated:oauth'] },
  },
  {
    who: 'carol',
    body: input('carol', ['log-readers', ...GROUPS], { kubernetes_namespace_name: ['log-test-2'] }),
    id: { username: 'carol', groups: ['log-readers', 'system:authenticated:oauth'] },
  },
  { who: 'dave', body: input('dave', GROUPS, { kubernetes_namespace_name: ['log-test-0'] }), id: { username: 'dave', groups: ['system:authenticated:oauth'] } },
];
const PATH = '/v1/data/lokistack/allow';
const POOL = 200_000;

interface Started {
  label: string;
  tag: string;
  profDir: string;
  fake: Awaited<ReturnType<typeof startFakeKubeProc>>;
  ours?: Awaited<ReturnType<typeof startOurs>>;
  requests: RequestTemplate[];
}

interface Measured {
  msPerRequest: number;
  rps: number;
  upstream: number;
  errors: number;
}

/** Ours from `build`, against a fake API of its own (its fixture cluster, the cold tokens). */
async function start(label: string, build: OursBuild, round: number): Promise<Started> {
  const tag = `${values.scenario}-${label}-${round}`;
  const fake = await startFakeKubeProc(process.cwd(), out, join(out, `${tag}-fake.log`));
  const started: Started = {
    label,
    tag,
    profDir: join(out, `${tag}-prof`),
    fake,
    requests: MIX.map((m) => ({
      method: 'POST',
      path: PATH,
      body: m.body,
      token: cold ? new TokenSequence(`cold-${label}-${m.who}-`, POOL).next : `token-${m.who}`,
    })),
  };
  try {
    await fake.latency(cold ? 5 : 0);
    if (cold) for (const m of MIX) await fake.tokens(`cold-${label}-${m.who}-`, POOL, m.id);
    started.ours = await startOurs(
      build,
      oursLoggingFlags(fake.kubeconfig, cold ? ['--kube.review-cache-ttl=0'] : []),
      join(out, `${tag}-ours.log`),
      values.profile ? ['--cpu-prof', '--cpu-prof-dir', started.profDir] : [],
    );
  } catch (err) {
    await stop(started);
    throw err;
  }
  return started;
}

async function stop(s: Started): Promise<void> {
  await s.ours?.proc.stop(30_000);
  await s.fake.proc.stop(5_000);
  if (values.profile) printProfile(s.tag, s.profDir);
}

const load = (s: Started, durationSec: number) =>
  runLoad({ url: s.ours!.base, connections, durationSec, requests: s.requests, timeoutSec: 60, ...(rate > 0 ? { overallRate: rate } : {}) });

async function measure(s: Started): Promise<Measured> {
  const before = await s.fake.counts();
  const cpu0 = s.ours!.proc.cpuSeconds()!;
  const res = await load(s, duration);
  const cpu1 = s.ours!.proc.cpuSeconds()!;
  const after = await s.fake.counts();
  return {
    msPerRequest: ((cpu1 - cpu0) * 1000) / res.completed,
    rps: res.rps,
    upstream: (after.total - before.total) / res.completed,
    errors: res.errors.total,
  };
}

function printProfile(tag: string, dir: string): void {
  const file = readdirSync(dir).find((f) => /\.0\.\d+\.cpuprofile$/.test(f)) ?? readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) return;
  const s = summarizeProfile(join(dir, file), 40);
  console.log(`\n# ${tag}: ${join(dir, file)} (busy ${s.busyMs.toFixed(0)} ms)`);
  console.log('## areas');
  for (const a of s.areas.slice(0, 16)) console.log(`${a.pct.toFixed(1).padStart(5)}%  ${a.area}`);
  const byFile = new Map<string, number>();
  for (const f of s.topSelf) byFile.set(f.where.replace(/:\d+$/, ''), (byFile.get(f.where.replace(/:\d+$/, '')) ?? 0) + f.selfPct);
  console.log('## self, top 40 functions');
  for (const f of s.topSelf) console.log(`${f.selfPct.toFixed(1).padStart(5)}%  ${f.fn}  ${f.where}`);
  console.log('## self by file (of the top 40)');
  for (const [w, p] of [...byFile].sort((a, b) => b[1] - a[1])) console.log(`${p.toFixed(1).padStart(5)}%  ${w}`);
  console.log('## inclusive, top 40');
  for (const f of s.topTotal) console.log(`${f.totalPct.toFixed(1).padStart(5)}%  ${f.fn}  ${f.where}`);
}

const builds = [];
for (const r of roots) builds.push({ ...r, build: await buildOurs(r.dir, 'bench/.build/osprof') });
const results = new Map<string, number[]>();
const report = (label: string, round: number, r: Measured) => {
  results.set(label, [...(results.get(label) ?? []), r.msPerRequest]);
  console.log(
    `round ${round} ${label}: ${(r.msPerRequest * 1000).toFixed(1)} µs CPU/request, ${Math.round(r.rps)} req/s, ${r.upstream.toFixed(2)} upstream/request, errors ${r.errors}`,
  );
};
if (values.together) {
  // Every build under load at the same time, each from its own loader: whatever else the machine
  // runs then weighs on all of them alike, and the comparison is within each round.
  const running: Started[] = [];
  try {
    for (const b of builds) running.push(await start(b.label, b.build, 0));
    await Promise.all(running.map((s) => load(s, 2)));
    for (let round = 0; round < rounds; round++) {
      const measured = await Promise.all(running.map((s) => measure(s)));
      measured.forEach((r, i) => report(running[i]!.label, round, r));
    }
  } finally {
    for (const s of running) await stop(s);
  }
} else {
  for (let round = 0; round < rounds; round++) {
    // Alternating order per round, so neither build always runs first after a quiet spell.
    const order = round % 2 === 0 ? builds : [...builds].reverse();
    for (const b of order) {
      const s = await start(b.label, b.build, round);
      try {
        await load(s, 2);
        report(b.label, round, await measure(s));
      } finally {
        await stop(s);
      }
    }
  }
}
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
for (const [label, xs] of results) {
  console.log(`${label}: median ${(median(xs) * 1000).toFixed(1)} µs CPU/request over ${xs.length} (${xs.map((x) => (x * 1000).toFixed(1)).join(', ')})`);
}
const [first, ...others] = [...results.keys()];
for (const other of others) {
  const ratios = results.get(other)!.map((x, i) => x / results.get(first!)![i]!);
  console.log(`${other}/${first}: per-round ratios ${ratios.map((r) => r.toFixed(2)).join(', ')}; median ${median(ratios).toFixed(2)}`);
}
