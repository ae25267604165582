/**
 * Probe (not part of `npm run bench`): CPU that one SubjectAccessReview costs the calling process,
 * through @kubernetes/client-node (with a keep-alive agent, as server/kube/client.ts sets one) and
 * through node:http with the same JSON, against the fake Kubernetes API in its own process.
 * 4,000 calls, 16 at once, two rounds each (the first warms the JIT).
 *
 *   node --import tsx bench/probes/kube-call-cost.ts
 */
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AuthorizationV1Api, KubeConfig, Observable, type RequestContext, type ResponseContext } from '@kubernetes/client-node';
import { startFakeKubeProc } from '../lib/procs.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TMP = join(ROOT, 'bench/results/tmp');
const fake = await startFakeKubeProc(ROOT, TMP, join(TMP, 'probe-kube-call-fake.log'), { http: true });
const kc = new KubeConfig();
kc.loadFromFile(fake.kubeconfig);
const api = kc.makeApiClient(AuthorizationV1Api);
const body = {
  apiVersion: 'authorization.k8s.io/v1',
  kind: 'SubjectAccessReview',
  spec: {
    user: 'bob',
    groups: ['system:authenticated'],
    resourceAttributes: { namespace: 'log-test-0', verb: 'get', group: 'loki.grafana.com', resource: 'application', name: 'logs' },
  },
};

const clientAgent = new Agent({ keepAlive: true, maxSockets: 16 });
const withAgent = {
  middleware: [
    {
      pre: (ctx: RequestContext) => {
        ctx.setAgent(clientAgent);
        return new Observable(Promise.resolve(ctx));
      },
      post: (res: ResponseContext) => new Observable(Promise.resolve(res)),
    },
  ],
  middlewareMergeStrategy: 'append' as const,
};
const viaClient = async () => (await api.createSubjectAccessReview({ body }, withAgent)).status?.allowed === true;

const rawAgent = new Agent({ keepAlive: true, maxSockets: 16 });
const url = new URL('/apis/authorization.k8s.io/v1/subjectaccessreviews', fake.url);
const viaHttp = () =>
  new Promise<boolean>((resolve, reject) => {
    const text = JSON.stringify(body);
    const req = request(
      url,
      {
        method: 'POST',
        agent: rawAgent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), authorization: 'Bearer token-gateway' },
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => resolve((JSON.parse(Buffer.concat(parts).toString('utf8')) as { status: { allowed: boolean } }).status.allowed));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(text);
  });

async function measure(name: string, call: () => Promise<boolean>, n = 4000, concurrency = 16): Promise<void> {
  let started = 0;
  let allowed = 0;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (started++ < n) if (await call()) allowed++;
    }),
  );
  const cpu = process.cpuUsage(cpu0);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`${name.padEnd(22)} ${((cpu.user + cpu.system) / 1000 / n).toFixed(3)} ms CPU/call, ${Math.round(n / seconds)} calls/s, ${allowed}/${n} allowed`);
}

for (let round = 1; round <= 2; round++) {
  await measure(`client-node (round ${round})`, viaClient);
  await measure(`node:http (round ${round})`, viaHttp);
}
await fake.proc.stop();
process.exit(0);
