/**
 * Probe (not part of `npm run bench`): idle RSS of the compiled service in static, dynamic and
 * openshift mode, as the bench's Targets table judges it (VmRSS one second after /ready, before any
 * request), with the image's V8 flags. Rounds alternate the modes; the median of each is printed,
 * because this machine is shared and a single reading moves by several MiB. Dynamic mode runs with
 * deploy/overlays/dynamic/tenants.yaml: its issuers are only asked on the first request.
 * With `--modules`, it then prints what each runtime dependency costs loaded alone into a bare node
 * with the same flags (bench/probes/module-rss.mjs), beside the bare process.
 * With `--cold N`, the openshift round then sends N cold decisions (a fresh token each, one
 * namespace, against the fake API with its default latency) and prints the service's CPU per
 * decision and its VmHWM afterwards.
 *
 *   node --import tsx bench/probes/idle-rss.ts [--rounds 3] [--settled 12] [--modules] [--cold 2000] [--hit 5000] [--cpu-prof DIR] [--prebuilt DIR]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildOurs, oursLoggingFlags, oursNodeOptions, startOurs } from '../lib/servers.js';
import { sleep, startFakeKubeProc } from '../lib/procs.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TMP = join(ROOT, 'bench/results/tmp');
const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const rounds = arg('--rounds', 3);
const cold = arg('--cold', 0);
// --hit N: then N decisions of one user and token, all but the first answered from the decision cache.
const hit = arg('--hit', 0);
// --settled S: each mode's VmRSS is read again S seconds after ready (12 in the bench): once V8's
// memory reducer, some 8 s after start-up's allocation stops, has given back start-up's transient.
const settled = arg('--settled', 0);
// --cpu-prof DIR: the openshift rounds write V8 CPU profiles there (bench/lib/profile.ts reads them).
const profDir = process.argv.includes('--cpu-prof') ? process.argv[process.argv.indexOf('--cpu-prof') + 1]! : undefined;
const mib = (b: number | undefined) => (b === undefined ? NaN : b / 1048576);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

mkdirSync(TMP, { recursive: true });
// --prebuilt DIR: run a build made elsewhere (e.g. another commit's bench/.build/probe) to compare.
const prebuilt = process.argv.includes('--prebuilt') ? process.argv[process.argv.indexOf('--prebuilt') + 1]! : undefined;
const build = prebuilt
  ? {
      ...(await buildOurs(ROOT, 'bench/.build/probe')),
      args: [...oursNodeOptions(ROOT).flags, join(prebuilt, 'dist/server/main.js')],
      how: `prebuilt ${prebuilt}`,
    }
  : await buildOurs(ROOT, 'bench/.build/probe');
console.log(`ours: ${build.how}`);
const fake = await startFakeKubeProc(ROOT, TMP, join(TMP, 'probe-idle-fake.log'));
const DECISION = '/v1/data/lokistack/allow';
// bench/run.ts's cold mix, two of its users in turn: bob (a cluster-wide review, then one per
// namespace asked: two) and alice (a cluster-wide review and her project list, made with her token).
const gatewayInput = (subject: string, extras: Record<string, unknown>) =>
  JSON.stringify({
    input: {
      groups: ['system:authenticated:oauth', 'system:authenticated'],
      permission: 'read',
      resource: 'logs',
      subject,
      tenant: 'application',
      tenantID: 'application',
      token: '',
      extras,
    },
  });
const COLD = [
  { who: 'bob', body: gatewayInput('bob', { selectors: { kubernetes_namespace_name: ['log-test-0', 'log-test-1'] } }) },
  { who: 'alice', body: gatewayInput('alice', {}) },
] as const;

const figures: Record<string, number[]> = { static: [], dynamic: [], openshift: [], 'openshift peak after cold': [], 'openshift cold CPU ms/decision': [] };
/** VmRSS 1 s after ready under `mode`, and with --settled, again that many seconds after ready under `<mode> settled`. */
async function idle(mode: string, proc: { memory(): { rssBytes: number } | undefined }): Promise<void> {
  await sleep(1000);
  figures[mode]!.push(mib(proc.memory()?.rssBytes));
  if (settled <= 1) return;
  await sleep((settled - 1) * 1000);
  (figures[`${mode} settled`] ??= []).push(mib(proc.memory()?.rssBytes));
}
try {
  if (cold > 0) for (const c of COLD) await fake.tokens(`probe-cold-${c.who}-`, cold, { username: c.who, groups: ['system:authenticated:oauth'] });
  for (let r = 0; r < rounds; r++) {
    const stat = await startOurs(build, ['--log.level=warn', `--rbac.config=${join(ROOT, 'deploy/examples/rbac.yaml')}`], join(TMP, 'probe-idle-static.log'));
    await idle('static', stat.proc);
    await stat.proc.stop();

    const dyn = await startOurs(
      build,
      [
        '--log.level=warn',
        '--mode=dynamic',
        `--rbac.config=${join(ROOT, 'deploy/examples/rbac.yaml')}`,
        `--tenants.config=${join(ROOT, 'deploy/overlays/dynamic/tenants.yaml')}`,
      ],
      join(TMP, 'probe-idle-dynamic.log'),
    );
    await idle('dynamic', dyn.proc);
    await dyn.proc.stop();

    const os = await startOurs(
      build,
      oursLoggingFlags(fake.kubeconfig, ['--kube.review-cache-ttl=0']),
      join(TMP, 'probe-idle-openshift.log'),
      profDir ? ['--cpu-prof', '--cpu-prof-dir', profDir] : [],
    );
    await idle('openshift', os.proc);
    if (cold > 0) {
      const cpu0 = os.proc.cpuSeconds() ?? 0;
      let next = 0;
      let failed = 0;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (next < cold) {
            const i = next++;
            const res = await fetch(`${os.base}${DECISION}`, {
              method: 'POST',
              body: COLD[i % 2]!.body,
              headers: { 'content-type': 'application/json', 'x-forwarded-access-token': `probe-cold-${COLD[i % 2]!.who}-${i}` },
            });
            await res.arrayBuffer();
            if (res.status !== 200) failed++;
          }
        }),
      );
      if (failed > 0) console.log(`round ${r}: ${failed} cold decisions did not answer 200`);
      figures['openshift cold CPU ms/decision']!.push((((os.proc.cpuSeconds() ?? 0) - cpu0) * 1000) / cold);
      figures['openshift peak after cold']!.push(mib(os.proc.memory()?.peakRssBytes));
    }
    if (hit > 0) {
      const send = () =>
        fetch(`${os.base}${DECISION}`, {
          method: 'POST',
          body: COLD[0].body,
          headers: { 'content-type': 'application/json', 'x-forwarded-access-token': 'token-bob' },
        }).then((r) => r.arrayBuffer());
      await send();
      const cpu0 = os.proc.cpuSeconds() ?? 0;
      let next = 0;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (next++ < hit) await send();
        }),
      );
      (figures['openshift cache hit CPU ms/decision'] ??= []).push((((os.proc.cpuSeconds() ?? 0) - cpu0) * 1000) / hit);
    }
    await os.proc.stop();
  }
} finally {
  await fake.proc.stop();
}
for (const [name, xs] of Object.entries(figures)) {
  if (xs.length) console.log(`${name}: median ${median(xs).toFixed(2)} (${xs.map((x) => x.toFixed(2)).join(', ')})`);
}

if (process.argv.includes('--modules')) {
  // Each package alone, as rounds of its own; the overlap between them (Node's CommonJS loader,
  // shared dependencies) is counted in each, so the costs do not add up to the service's RSS.
  const deps = Object.keys((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies);
  const script = join(ROOT, 'bench/probes/module-rss.mjs');
  const alone = (mod: string): number => {
    const xs = Array.from({ length: rounds }, () =>
      Number(execFileSync(process.execPath, [...oursNodeOptions(ROOT).flags, script, mod], { cwd: ROOT, encoding: 'utf8' }).trim()),
    );
    return median(xs) / 1048576;
  };
  // What the service loads of a package whose index it does not import (server/observability/prom.ts).
  const loaded: Record<string, string> = {
    'prom-client': ['registry', 'counter', 'gauge', 'histogram', 'summary'].map((f) => `prom-client/lib/${f}.js`).join(','),
  };
  const bare = alone('');
  console.log(`bare node: ${bare.toFixed(2)} MiB`);
  for (const mod of deps) console.log(`${mod}${loaded[mod] ? ' (core files)' : ''}: +${(alone(loaded[mod] ?? mod) - bare).toFixed(2)} MiB`);
}
