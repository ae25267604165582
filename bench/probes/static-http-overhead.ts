/**
 * Probe (not part of `npm run bench`): how much of a static decision's CPU is the HTTP layer around
 * it. Alternating rounds of
 *   service  the service itself (bench/.build/dist/server/main.js)
 *   express  the same decision work behind a single express route (bench/probes/static-http-servers.mjs)
 *   raw      the same decision work on node:http alone
 * with the static scenario's eight inputs, 32 connections. Prints req/s, server CPU per request and RSS.
 *
 *   node --import tsx bench/probes/static-http-overhead.ts      (after one `npm run bench`, which builds bench/.build)
 *   PROBE_DURATION=5 PROBE_ROUNDS=2
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runLoad, type RequestTemplate } from '../lib/load.js';
import { fmtMs } from '../lib/report.js';
import { freePorts, spawnProc, waitReady } from '../lib/procs.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TMP = join(ROOT, 'bench/results/tmp');
const duration = Number(process.env.PROBE_DURATION ?? 5);
const rounds = Number(process.env.PROBE_ROUNDS ?? 2);
const rbac = join(ROOT, 'deploy/examples/rbac.yaml');
const variants: Record<string, string[]> = {
  service: [join(ROOT, 'bench/.build/dist/server/main.js')],
  express: [join(ROOT, 'bench/probes/static-http-servers.mjs'), '--variant=express'],
  raw: [join(ROOT, 'bench/probes/static-http-servers.mjs'), '--variant=raw'],
};
const input = (subject: string, groups: string[], permission: string, tenant: string, resource = 'logs') =>
  JSON.stringify({ input: { groups, permission, resource, subject, tenant, tenantID: tenant, token: '', extras: {} } });
const requests: RequestTemplate[] = [
  input('alice@example.com', ['staff'], 'read', 'application'),
  input('bob@example.com', ['developers'], 'read', 'application'),
  input('carol@example.com', ['staff', 'sre'], 'read', 'audit'),
  input('system:serviceaccount:openshift-logging:logcollector', ['system:serviceaccounts'], 'write', 'infrastructure'),
  input('alice@example.com', ['staff'], 'read', 'audit'),
  input('mallory@example.com', ['developers'], 'write', 'application'),
  input('eve@example.com', [], 'read', 'application'),
  input('dave@example.com', ['sre'], 'read', 'application', 'metrics'),
].map((body) => ({ method: 'POST', path: '/v1/data/lokistack/allow', body }));

const rows: Record<string, string[]> = {};
for (let round = 1; round <= rounds; round++) {
  for (const [name, args] of Object.entries(variants)) {
    const [port, internal] = (await freePorts(2)) as [number, number];
    const proc = spawnProc(
      name,
      process.execPath,
      [...args, `--web.listen=127.0.0.1:${port}`, `--web.internal.listen=127.0.0.1:${internal}`, `--rbac.config=${rbac}`, '--log.level=warn'],
      join(TMP, `probe-${name}.log`),
    );
    try {
      await waitReady(proc, `http://127.0.0.1:${internal}/ready`);
      const idle = proc.memory();
      const url = `http://127.0.0.1:${port}`;
      await runLoad({ url, connections: 32, durationSec: 1, requests });
      const cpu0 = proc.cpuSeconds()!;
      const r = await runLoad({ url, connections: 32, durationSec: duration, requests });
      const cpu = ((proc.cpuSeconds()! - cpu0) * 1000) / r.completed;
      const mem = proc.memory();
      (rows[name] ??= []).push(
        `${Math.round(r.rps)} req/s, ${fmtMs(cpu)} CPU/request, p50 ${fmtMs(r.latencyMs.p50)}, errors ${r.errors.total}, RSS idle ${((idle?.rssBytes ?? 0) / 2 ** 20).toFixed(0)} MiB, peak ${((mem?.peakRssBytes ?? 0) / 2 ** 20).toFixed(0)} MiB`,
      );
    } finally {
      await proc.stop();
    }
  }
}
for (const [name, list] of Object.entries(rows)) console.log(`${name.padEnd(8)} ${list.join(' | ')}`);
process.exit(0);
