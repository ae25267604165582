/**
 * The fake Kubernetes authorization API (test/support/fake-kube) as a process of its own, so its
 * CPU is not the benchmark loader's and its requests cross a real socket from the server under
 * test. Started by bench/run.ts; usable by hand too:
 *
 *   node --import tsx bench/fake-kube-server.ts [--dir DIR] [--http]
 *
 * It serves HTTPS (its own CA, written into the kubeconfig) and decodes client-go's protobuf reviews,
 * as a real API server does. On start it writes the kubeconfig (the gateway service account's token) to DIR and prints ONE
 * JSON line on stdout: {"url","controlUrl","kubeconfig","pid"}. The control API (loopback, its own
 * port) changes the cluster and reads what the API was asked:
 *
 *   GET  /counts            requests since the last reset, by endpoint; access reviews split into
 *                           cluster-wide and namespaced; statuses
 *   POST /reset             zero the counts
 *   POST /latency  {"ms"}   that latency on every endpoint (0: none)
 *   POST /cluster  {...}    replace the RBAC objects: {"kind":"fixture"} (fixtures/lokistack-cluster.yaml)
 *                           or {"kind":"generated","namespaces":N} (see generatedCluster below)
 *   POST /tokens   {"prefix","count","username","groups"}  accept prefix0..prefix{count-1} as that user
 *
 * The fake's request log is folded into counters every 25 ms and emptied, so a long run (100,000
 * decisions) does not keep every request body in memory.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOKISTACK_CLUSTER_YAML, LOKISTACK_IDENTITIES, LOKISTACK_TOKENS } from '../test/support/fake-kube/fixtures.js';
import { startFakeKube, type Identity, type RecordedRequest } from '../test/support/fake-kube/server.js';
import { generatedCluster, type ClusterSpec } from './lib/cluster.js';
import type { FakeCounts } from './lib/procs.js';

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const dir = argValue('--dir') ?? mkdtempSync(join(tmpdir(), 'bench-fake-kube-'));

const baseTokens: Record<string, Identity> = {};
for (const [who, token] of Object.entries(LOKISTACK_TOKENS)) {
  baseTokens[token] = LOKISTACK_IDENTITIES[who as keyof typeof LOKISTACK_TOKENS];
}
let tokens: Record<string, Identity> = { ...baseTokens };

// HTTPS, as a real API server: client-go (opa-openshift) sends the user's bearer token only over TLS,
// so over plain HTTP every one of its reviews is a 401. Ours gets the same kubeconfig (CA included).
const fake = await startFakeKube({ objects: LOKISTACK_CLUSTER_YAML, tokens, serviceIdentityToken: LOKISTACK_TOKENS.gateway, tls: true });

let counts: FakeCounts = emptyCounts();
// Requests whose answer is still pending when folded: their status is read on a later fold.
let pendingStatus: RecordedRequest[] = [];

function emptyCounts(): FakeCounts {
  return { total: 0, byEndpoint: {}, reviews: { clusterWide: 0, namespaced: 0 }, byStatus: {} };
}

function fold(): void {
  const batch = fake.requests.splice(0, fake.requests.length);
  for (const r of batch) {
    counts.total++;
    const endpoint = r.endpoint ?? `unknown ${r.method} ${r.path}`;
    counts.byEndpoint[endpoint] = (counts.byEndpoint[endpoint] ?? 0) + 1;
    if (r.endpoint === 'subjectaccessreviews' || r.endpoint === 'selfsubjectaccessreviews') {
      const ns = (r.body as { spec?: { resourceAttributes?: { namespace?: string } } } | undefined)?.spec?.resourceAttributes?.namespace;
      if (ns) counts.reviews.namespaced++;
      else counts.reviews.clusterWide++;
    }
    // Keep nothing else of the request (the body may be large).
    delete r.body;
  }
  const still: RecordedRequest[] = [];
  for (const r of [...pendingStatus, ...batch]) {
    if (r.status === undefined) still.push(r);
    else counts.byStatus[String(r.status)] = (counts.byStatus[String(r.status)] ?? 0) + 1;
  }
  // A request reset or never answered keeps no status: do not hold it forever.
  pendingStatus = still.length > 100_000 ? [] : still;
}
setInterval(fold, 25).unref();

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const parts: Buffer[] = [];
  for await (const c of req) parts.push(c as Buffer);
  const text = Buffer.concat(parts).toString('utf8');
  return text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
}

function reply(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const control = createServer((req, res) => {
  void (async () => {
    const route = `${req.method} ${new URL(req.url ?? '/', 'http://control').pathname}`;
    try {
      switch (route) {
        case 'GET /counts':
          fold();
          return reply(res, 200, counts);
        case 'POST /reset':
          fold();
          counts = emptyCounts();
          return reply(res, 200, counts);
        case 'POST /latency': {
          const { ms } = await readJson(req);
          const latencyMs = Number(ms ?? 0);
          if (latencyMs > 0) fake.setFaults({ endpoint: '*', latencyMs });
          else fake.setFaults();
          return reply(res, 200, { latencyMs });
        }
        case 'POST /cluster': {
          const spec = (await readJson(req)) as unknown as ClusterSpec;
          const started = Date.now();
          fake.setObjects(spec.kind === 'fixture' ? LOKISTACK_CLUSTER_YAML : generatedCluster(spec.namespaces));
          return reply(res, 200, { ok: true, ms: Date.now() - started });
        }
        case 'POST /tokens': {
          const body = await readJson(req);
          const prefix = String(body.prefix);
          const count = Number(body.count);
          const identity: Identity = { username: String(body.username), groups: (body.groups as string[] | undefined) ?? [] };
          const next: Record<string, Identity> = { ...tokens };
          for (let i = 0; i < count; i++) next[`${prefix}${i}`] = identity;
          tokens = next;
          fake.setTokens(tokens);
          return reply(res, 200, { tokens: Object.keys(tokens).length });
        }
        default:
          return reply(res, 404, { error: `no route ${route}` });
      }
    } catch (err) {
      return reply(res, 500, { error: err instanceof Error ? err.message : String(err) });
    }
  })();
});
await new Promise<void>((resolve) => control.listen(0, '127.0.0.1', resolve));
const controlPort = (control.address() as AddressInfo).port;

const kubeconfig = join(dir, `kubeconfig-fake-kube-${process.pid}.json`);
// --http: the plain HTTP listener (for the probes that call it with node:http).
const plain = process.argv.includes('--http');
writeFileSync(kubeconfig, fake.kubeconfigText(undefined, { https: !plain }));

const stop = () => {
  control.close();
  void fake.close().then(() => {
    rmSync(kubeconfig, { force: true });
    process.exit(0);
  });
  setTimeout(() => process.exit(0), 2000).unref();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);

process.stdout.write(
  `${JSON.stringify({ url: plain ? fake.url : (fake.httpsUrl ?? fake.url), controlUrl: `http://127.0.0.1:${controlPort}`, kubeconfig, pid: process.pid })}\n`,
);
