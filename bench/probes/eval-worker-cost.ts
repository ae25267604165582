/**
 * Probe (not part of `npm run bench`): what evaluating on a worker thread costs against evaluating
 * inline, by serialized input size, to choose --policy.inline-max-input-bytes. In-process, no HTTP:
 * the StaticAuthorizer decides with the bundled policy, inline (no pool) and on a one-worker pool
 * (threshold 0), one decision at a time. CPU is the whole process's (process.cpuUsage counts every
 * thread), so the worker's evaluation, the structured clone both ways and the message handling are
 * all in it. Two data sets: deploy/examples/rbac.yaml (5 bindings) and 50 group bindings, where the
 * policy's cost grows with groups x bindings.
 *
 *   node --import tsx bench/probes/eval-worker-cost.ts        PROBE_SECONDS=1 (per cell)
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BUNDLED_WASM } from '../../server/config/bundled-policy.js';
import { StaticAuthorizer } from '../../server/decision/static.js';
import { parseRbac } from '../../server/policy/rbac.js';
import { PolicyStore } from '../../server/policy/store.js';
import { CompiledPolicy } from '../../server/policy/wasm-policy.js';
import { EvaluationPool } from '../../server/policy/worker-pool.js';

const seconds = Number(process.env.PROBE_SECONDS ?? 1);
const exampleFile = fileURLToPath(new URL('../../deploy/examples/rbac.yaml', import.meta.url));
const many = {
  roles: [{ name: 'r', resources: ['logs'], tenants: ['application'], permissions: ['read'] }],
  roleBindings: Array.from({ length: 50 }, (_, i) => ({ name: `team-${i}`, roles: ['r'], subjects: [{ kind: 'group', name: `team-${i}` }] })),
};
const datasets: Record<string, unknown> = { 'example rbac': parseRbac(exampleFile, readFileSync(exampleFile, 'utf8')).rbac, '50 bindings': many };
const groupCounts = [1, 10, 100, 400, 1600];
const inputFor = (groups: number) => ({
  subject: 'alice@example.com',
  groups: Array.from({ length: groups }, (_, i) => `system:group-${i}`),
  permission: 'read',
  resource: 'logs',
  tenant: 'application',
  tenantID: 'application',
  token: '',
  extras: {},
});

const policy = await CompiledPolicy.load('lokistack.wasm', new Uint8Array(readFileSync(BUNDLED_WASM)), ['lokistack/allow'], { maxBytes: 256 << 20 });
const signal = new AbortController().signal;

async function measure(authz: StaticAuthorizer, input: unknown): Promise<{ cpuUs: number; wallUs: number }> {
  const req = { path: ['lokistack', 'allow'], input, signal };
  for (let i = 0; i < 50; i++) await authz.decide(req);
  let n = 0;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const until = t0 + BigInt(Math.round(seconds * 1e9));
  while (process.hrtime.bigint() < until || n < 20) {
    await authz.decide(req);
    n++;
  }
  const wall = Number(process.hrtime.bigint() - t0) / 1e3;
  const cpu = process.cpuUsage(cpu0);
  return { cpuUs: (cpu.user + cpu.system) / n, wallUs: wall / n };
}

const fmt = (us: number) => (us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us.toFixed(1)} µs`);
console.log('| data | groups | input bytes | inline CPU | worker CPU | worker - inline | inline wall | worker wall |');
console.log('|---|---|---|---|---|---|---|---|');
for (const [name, data] of Object.entries(datasets)) {
  const store = new PolicyStore(policy);
  await store.replace(policy, data);
  const pool = new EvaluationPool({ size: 1, maxQueue: 1, resetBytes: 32 << 20 });
  const inline = new StaticAuthorizer({ store, memoryResetBytes: 32 << 20 });
  const onWorker = new StaticAuthorizer({ store, pool, inlineMaxInputBytes: 0, memoryResetBytes: 32 << 20 });
  for (const groups of groupCounts) {
    const input = inputFor(groups);
    const bytes = Buffer.byteLength(JSON.stringify(input));
    const a = await measure(inline, input);
    const b = await measure(onWorker, input);
    console.log(`| ${name} | ${groups} | ${bytes} | ${fmt(a.cpuUs)} | ${fmt(b.cpuUs)} | ${fmt(b.cpuUs - a.cpuUs)} | ${fmt(a.wallUs)} | ${fmt(b.wallUs)} |`);
  }
  await pool.close();
}
