/**
 * The service's life under load and abuse:
 *
 *   SIGTERM under load: the real entry point (`node --import tsx server/main.ts`) with the example
 *     rbac, ~50 concurrent keep-alive request loops and requests with their bodies half sent; every
 *     request that got an answer got a 200 with a decision, none was cut mid-answer, the requests
 *     whose bodies were still arriving are answered, and the process exits 0;
 *   config reload under load: the rbac file swapped (ConfigMap symlink swaps, an in-place write, an
 *     invalid file) while requests loop: zero failures, and every swap takes effect;
 *   slow clients: headers trickled past --web.headers-timeout=1s, a body trickled past
 *     --web.request-timeout=2s: the server cuts them while they are still sending;
 *   bounds: bodies over --web.max-body-bytes (plain, chunked, gzip), input deeper than
 *     --web.max-input-depth, and --kube.max-concurrent-calls=4 under 50 concurrent cold openshift
 *     decisions (the fake Kubernetes API never has more than 4 calls in flight).
 *
 * No assertion is about time: waits are bounded by polling and mocha's timeout, and a slow client
 * is judged by whether it was cut before it finished sending.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { LOKISTACK_TOKENS, lokistackFakeKubeOptions } from './support/fake-kube/fixtures.js';
import { startFakeKube, type FakeKube, type RecordedRequest } from './support/fake-kube/server.js';
import { KUBECONFIG_PLACEHOLDER, OPERATOR_LOGGING_ARGS, fakeKubeconfigFile, gatewayInput, postDecision, selecting, startAuthz } from './support/openshift.js';
import { eventually, makeTempDir, metricValue, rawRequest, startTestService, type TestService } from './support/service.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const EXAMPLE_RBAC = join(ROOT, 'deploy/examples/rbac.yaml');
const ALLOWED = JSON.stringify({ input: { subject: 'alice@example.com', groups: ['staff'], permission: 'read', resource: 'logs', tenant: 'application' } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// the real entry point as a child process
// ---------------------------------------------------------------------------------------------

interface Child {
  proc: ChildProcess;
  publicPort: number;
  internalPort: number;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

async function serve(args: string[]): Promise<Child> {
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', 'server/main.ts', '--web.listen=127.0.0.1:0', '--web.internal.listen=127.0.0.1:0', '--log.format=json', ...args],
    {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, NODE_OPTIONS: '' },
    },
  );
  children.push(proc);
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('close', (code, signal) => resolve({ code, signal })),
  );
  const portOf = (msg: string): number | undefined => {
    const line = err.split('\n').find((l) => l.includes(msg));
    return line ? Number((JSON.parse(line) as { address: string }).address.split(':').pop()) : undefined;
  };
  const up = await eventually(
    () => proc.exitCode === null && portOf('serving the Data API') !== undefined && portOf('serving internal endpoints') !== undefined,
    400,
    50,
  );
  if (!up) throw new Error(`the service did not start:\n${err}`);
  return { proc, publicPort: portOf('serving the Data API')!, internalPort: portOf('serving internal endpoints')!, stderr: () => err, exited };
}

type Outcome =
  | { kind: 'answer'; status: number; body: string; connection?: string }
  /** An error before any answer came: the request was never taken in (refused, or a closing idle connection). */
  | { kind: 'not-accepted'; code: string }
  /** An error after the answer started: the service cut a response. */
  | { kind: 'cut'; code: string; status: number };

function post(port: number, agent: Agent, body: string, path = '/v1/data/lokistack/allow'): Promise<Outcome> {
  return new Promise((resolve) => {
    let started = false;
    const req = httpRequest(
      { host: '127.0.0.1', port, method: 'POST', path, agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        started = true;
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () =>
          resolve({
            kind: 'answer',
            status: res.statusCode ?? 0,
            body: Buffer.concat(parts).toString('utf8'),
            ...(res.headers.connection ? { connection: res.headers.connection } : {}),
          }),
        );
        res.on('error', (e: NodeJS.ErrnoException) => resolve({ kind: 'cut', code: e.code ?? e.message, status: res.statusCode ?? 0 }));
        res.on('aborted', () => resolve({ kind: 'cut', code: 'aborted', status: res.statusCode ?? 0 }));
      },
    );
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (!started) resolve({ kind: 'not-accepted', code: e.code ?? e.message });
    });
    req.end(body);
  });
}

describe('lifecycle: SIGTERM under load (the real entry point, the example rbac)', function () {
  this.timeout(90_000);

  it('every request that got an answer got a 200 with a decision; none was cut; half-sent requests are answered; exit 0', async () => {
    const child = await serve([`--rbac.config=${EXAMPLE_RBAC}`, '--web.shutdown-timeout=10s']);
    const agent = new Agent({ keepAlive: true, maxSockets: 64 });
    const outcomes: Outcome[] = [];
    let stop = false;
    let afterSignal = 0;
    let signalled = false;

    // ~50 keep-alive loops, each sending the next request as soon as the last is answered, until
    // its request is not taken in (the listener is closed).
    const loops = Array.from({ length: 50 }, async () => {
      while (!stop) {
        const o = await post(child.publicPort, agent, ALLOWED);
        outcomes.push(o);
        if (signalled) afterSignal++;
        if (o.kind !== 'answer') return;
      }
    });

    // Requests caught mid-body by the signal: headers and half the body now, the rest after SIGTERM.
    const halfSent = Array.from({ length: 5 }, () => {
      const socket = connect(child.publicPort, '127.0.0.1');
      const body = Buffer.from(ALLOWED);
      const head = `POST /v1/data/lokistack/allow HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
      let got = '';
      const closed = new Promise<string>((resolve) => {
        socket.on('data', (d) => (got += d.toString('latin1')));
        socket.on('close', () => resolve(got));
        socket.on('error', () => {});
      });
      socket.write(head + body.subarray(0, 10).toString('latin1'));
      return { socket, rest: body.subarray(10), closed };
    });

    // Load first, then the signal while requests are in flight.
    const warm = await eventually(() => outcomes.length >= 1000, 800, 25);
    assert.ok(warm, `requests flow before the signal (${outcomes.length} answered)`);
    const before = outcomes.length;
    signalled = true;
    child.proc.kill('SIGTERM');
    // Draining for sure (the internal listener says not ready), then the half-sent bodies complete.
    const notReady = await eventually(async () => (await fetch(`http://127.0.0.1:${child.internalPort}/ready`)).status === 503, 500, 20);
    assert.ok(notReady, '/ready answers 503 while draining');
    for (const h of halfSent) h.socket.end(h.rest);
    const exit = await child.exited;
    stop = true;
    await Promise.all(loops);
    const halfAnswers = await Promise.all(halfSent.map((h) => h.closed));
    agent.destroy();

    const answers = outcomes.filter((o): o is Extract<Outcome, { kind: 'answer' }> => o.kind === 'answer');
    const bad = answers.filter((a) => a.status !== 200 || a.body !== '{"result":true}\n');
    const cut = outcomes.filter((o) => o.kind === 'cut');
    const notAccepted = outcomes.filter((o): o is Extract<Outcome, { kind: 'not-accepted' }> => o.kind === 'not-accepted');
    console.log(
      `      [sigterm] ${answers.length} answered (${before} before the signal, ${afterSignal} requests after it), ${notAccepted.length} not taken in (${[...new Set(notAccepted.map((o) => o.code))].join(', ')}), ${cut.length} cut`,
    );
    assert.deepEqual(bad.slice(0, 5), [], 'every answer is a 200 with the decision');
    assert.deepEqual(cut, [], 'no answer was cut mid-response');
    assert.ok(notAccepted.length <= 50, 'at most one refused request per loop: each loop stops at its first');
    for (const [i, text] of halfAnswers.entries()) {
      assert.match(
        text,
        /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\n\{"result":true\}\n$/,
        `the half-sent request ${i} is answered once its body arrives, draining: got ${JSON.stringify(text)} (and ${afterSignal} requests were answered after the signal)`,
      );
    }
    assert.deepEqual(exit, { code: 0, signal: null }, `exit status; stderr:\n${child.stderr().slice(-2000)}`);
    assert.match(child.stderr(), /draining in-flight requests/);
  });

  it('answers given while draining say "Connection: close", so keep-alive clients send no request that would be reset', async () => {
    const child = await serve([`--rbac.config=${EXAMPLE_RBAC}`, '--web.shutdown-timeout=10s']);
    const socket = connect(child.publicPort, '127.0.0.1');
    const body = Buffer.from(ALLOWED);
    let got = '';
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.on('data', (d: Buffer) => (got += d.toString('latin1')));
    socket.on('error', () => {});
    await new Promise((r) => socket.once('connect', r));
    // Keep-alive, as the gateway's HTTP client: one request in flight (half its body) at the signal.
    socket.write(
      `POST /v1/data/lokistack/allow HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.subarray(0, 10).toString('latin1')}`,
    );
    child.proc.kill('SIGTERM');
    assert.ok(
      await eventually(async () => (await fetch(`http://127.0.0.1:${child.internalPort}/ready`)).status === 503, 500, 20),
      '/ready answers 503 while draining',
    );
    socket.end(body.subarray(10));
    await closed;
    assert.deepEqual(await child.exited, { code: 0, signal: null });
    const [head, rest] = got.split('\r\n\r\n');
    assert.match(head ?? '', /^HTTP\/1\.1 200 OK\r\n/);
    assert.equal(rest, '{"result":true}\n');
    // Go's Server.Shutdown answers in-flight requests with "Connection: close" (doKeepAlives is false
    // once shutting down); an answer that says keep-alive invites a next request on a connection the
    // server is about to close, and that request is reset unanswered (the ECONNRESETs above).
    assert.match(head ?? '', /\r\nConnection: close(\r\n|$)/i, `the answer given while draining: ${JSON.stringify(head)}`);
  });
});

// ---------------------------------------------------------------------------------------------
// config reload under load
// ---------------------------------------------------------------------------------------------

/** Both versions allow alice to read application logs; only B lets the sre group read audit. */
const RBAC_A = `roles:
  - name: application-read
    resources: [logs]
    tenants: [application]
    permissions: [read]
roleBindings:
  - name: alice
    roles: [application-read]
    subjects:
      - {kind: user, name: alice@example.com}
`;
const RBAC_B = `roles:
  - name: application-read
    resources: [logs]
    tenants: [application]
    permissions: [read]
  - name: audit-read
    resources: [logs]
    tenants: [audit]
    permissions: [read]
roleBindings:
  - name: alice
    roles: [application-read]
    subjects:
      - {kind: user, name: alice@example.com}
  - name: sre-audit
    roles: [audit-read]
    subjects:
      - {kind: group, name: sre}
`;
const PROBE = JSON.stringify({ input: { subject: 'someone', groups: ['sre'], permission: 'read', resource: 'logs', tenant: 'audit' } });

describe('lifecycle: config reload under load (the real entry point)', function () {
  this.timeout(90_000);

  it('the rbac file swapped several times while requests loop: zero failures, and each swap takes effect', async () => {
    // A ConfigMap volume: rbac.yaml -> ..data/rbac.yaml, ..data -> a timestamped directory.
    const dir = makeTempDir('reload-under-load-');
    let version = 0;
    const publish = (content: string) => {
      const target = `..${++version}`;
      mkdirSync(join(dir, target));
      writeFileSync(join(dir, target, 'rbac.yaml'), content);
      symlinkSync(target, join(dir, '..data_tmp'));
      renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    };
    publish(RBAC_A);
    symlinkSync('..data/rbac.yaml', join(dir, 'rbac.yaml'));
    const child = await serve([`--rbac.config=${join(dir, 'rbac.yaml')}`, '--rbac.reload-interval=200ms']);
    const agent = new Agent({ keepAlive: true, maxSockets: 32 });

    let stop = false;
    const failures: Outcome[] = [];
    let total = 0;
    const loops = Array.from({ length: 20 }, async () => {
      while (!stop) {
        const o = await post(child.publicPort, agent, ALLOWED);
        total++;
        if (o.kind !== 'answer' || o.status !== 200 || o.body !== '{"result":true}\n') failures.push(o);
      }
    });
    const probe = async (): Promise<boolean> => {
      const o = await post(child.publicPort, agent, PROBE);
      assert.equal(o.kind, 'answer');
      return (o as { body: string }).body === '{"result":true}\n';
    };
    const reloads = async (result: 'success' | 'failure') => {
      const text = await (await fetch(`http://127.0.0.1:${child.internalPort}/metrics`)).text();
      return metricValue(text, 'config_reloads_total', { config: 'rbac', result }) ?? 0;
    };

    try {
      await eventually(() => total > 200, 200, 25);
      for (let round = 0; round < 3; round++) {
        publish(RBAC_B);
        assert.ok(await eventually(probe, 400, 25), `swap ${round}: B is served`);
        publish(RBAC_A);
        assert.ok(await eventually(async () => !(await probe()), 400, 25), `swap ${round}: A is served again`);
      }
      // An invalid file: rejected, the previous roles keep serving, requests keep passing.
      const failuresBefore = await reloads('failure');
      publish('roles: [ {name: broken, permissions: [admin]} ]\nroleBindings: 3\n');
      assert.ok(await eventually(async () => (await reloads('failure')) > failuresBefore, 400, 25), 'the invalid file was rejected');
      assert.equal(await probe(), false, 'A still serves');
      // An in-place write of the file the link points to (not atomic: readers may see it half written).
      writeFileSync(join(dir, '..data', 'rbac.yaml'), RBAC_B);
      assert.ok(await eventually(probe, 400, 25), 'the in-place write is picked up');
      await sleep(300);
    } finally {
      stop = true;
      await Promise.all(loops);
      agent.destroy();
      child.proc.kill('SIGTERM');
      await child.exited;
    }
    console.log(`      [reload] ${total} requests through ${version} publications, ${failures.length} failures`);
    assert.deepEqual(failures.slice(0, 5), [], `zero failures among ${total} requests`);
    assert.ok(total > 1000, `enough requests ran through the swaps (${total})`);
  });
});

// ---------------------------------------------------------------------------------------------
// slow clients
// ---------------------------------------------------------------------------------------------

/**
 * Writes `bytes` one at a time, `gapMs` apart, until they are all sent or the server closes the
 * connection. Returns how many were sent and what the server answered.
 */
async function trickle(socket: Socket, bytes: Buffer, gapMs: number): Promise<{ sent: number; closedEarly: boolean; reply: string }> {
  let closed = false;
  let reply = '';
  socket.on('data', (d: Buffer) => (reply += d.toString('latin1')));
  socket.on('close', () => (closed = true));
  socket.on('error', () => (closed = true));
  let sent = 0;
  for (; sent < bytes.length && !closed; sent++) {
    socket.write(bytes.subarray(sent, sent + 1));
    await sleep(gapMs);
  }
  const closedEarly = closed && sent < bytes.length;
  // Whatever the server still says about a complete request.
  await eventually(() => closed || reply.includes('\r\n\r\n'), 40, 50);
  socket.destroy();
  return { sent, closedEarly, reply };
}

describe('lifecycle: slow clients are cut (--web.headers-timeout=1s, --web.request-timeout=2s)', function () {
  this.timeout(60_000);
  let authz: TestService;

  // A fresh service per case: nothing about when it started leaks into when a client is cut. (Node
  // enforces headersTimeout and requestTimeout from a periodic check, every
  // connectionsCheckingInterval, 30 s unless the server is created with a shorter one; a check that
  // late lets a client trickle for up to 30 s whatever the flags say.)
  beforeEach(async () => {
    authz = await startTestService({ rbacFile: EXAMPLE_RBAC, flags: ['--web.headers-timeout=1s', '--web.request-timeout=2s', '--log.level=error'] });
  });
  afterEach(async () => {
    await authz?.stop();
  });

  it('headers sent a byte every 100 ms (~10 s for all) past the 1 s headers timeout: the connection is closed while they trickle', async () => {
    const socket = connect(authz.service.publicAddress.port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    const head = Buffer.from(
      `POST /v1/data/lokistack/allow HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${ALLOWED.length}\r\n\r\n`,
    );
    const r = await trickle(socket, head, 100);
    assert.ok(
      r.closedEarly,
      `the server let the client send ${r.sent} of ${head.length} header bytes over ~${(r.sent * 0.1).toFixed(0)} s without cutting it; it answered ${JSON.stringify(r.reply.slice(0, 80))}`,
    );
    assert.doesNotMatch(r.reply, /^HTTP\/1\.1 200/, 'no request came of it');
  });

  it('a body sent a byte every 100 ms (~12 s for all) past the 2 s request timeout: the connection is cut while it trickles', async () => {
    const socket = connect(authz.service.publicAddress.port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    const body = Buffer.from(ALLOWED.padEnd(120, ' '));
    socket.write(`POST /v1/data/lokistack/allow HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
    const r = await trickle(socket, body, 100);
    assert.ok(
      r.closedEarly,
      `the server let the client send ${r.sent} of ${body.length} body bytes over ~${(r.sent * 0.1).toFixed(0)} s without cutting it; it answered ${JSON.stringify(r.reply.slice(0, 80))}`,
    );
    assert.doesNotMatch(r.reply, /^HTTP\/1\.1 200/, 'no decision came of it');
  });

  it('a client that is merely slow but within the timeouts is served', async () => {
    const socket = connect(authz.service.publicAddress.port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    const whole = Buffer.from(
      `POST /v1/data/lokistack/allow HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${ALLOWED.length}\r\nConnection: close\r\n\r\n${ALLOWED}`,
    );
    // Three pieces, 100 ms apart: well within both timeouts.
    let reply = '';
    socket.on('data', (d: Buffer) => (reply += d.toString('latin1')));
    const closed = new Promise((r) => socket.once('close', r));
    for (const piece of [whole.subarray(0, 20), whole.subarray(20, whole.length - 20), whole.subarray(whole.length - 20)]) {
      socket.write(piece);
      await sleep(100);
    }
    await closed;
    assert.match(reply, /^HTTP\/1\.1 200 OK[\s\S]*\{"result":true\}\n$/);
  });
});

// ---------------------------------------------------------------------------------------------
// bounds
// ---------------------------------------------------------------------------------------------

describe('lifecycle: bounded request bodies and input depth (--web.max-body-bytes=4096, --web.max-input-depth=8)', function () {
  this.timeout(30_000);
  let authz: TestService;

  before(async () => {
    authz = await startTestService({ rbacFile: EXAMPLE_RBAC, flags: ['--web.max-body-bytes=4096', '--web.max-input-depth=8', '--log.level=error'] });
  });
  after(async () => {
    await authz?.stop();
  });

  const url = () => `${authz.publicUrl}/v1/data/lokistack/allow`;
  const big = (n: number) =>
    JSON.stringify({ input: { subject: 'alice@example.com', permission: 'read', resource: 'logs', tenant: 'application', pad: 'x'.repeat(n) } });
  const message = (body: string) => (JSON.parse(body) as { message: string }).message;

  it('a body of exactly the limit is decided; one byte more is 400 "request body too large" (declared length)', async () => {
    const fits = big(4096 - big(0).length);
    assert.equal(Buffer.byteLength(fits), 4096);
    const ok = await rawRequest(url(), { headers: { 'content-type': 'application/json', 'content-length': 4096 }, chunks: [fits] });
    assert.equal(ok.status, 200, ok.body);
    const over = big(4097 - big(0).length);
    const r = await rawRequest(url(), { headers: { 'content-type': 'application/json', 'content-length': 4097 }, chunks: [over] });
    assert.equal(r.status, 400);
    assert.equal(message(r.body), 'request body too large');
  });

  it('a chunked body that grows past the limit is 400 "request body too large", and the connection is closed', async () => {
    const r = await rawRequest(url(), { headers: { 'content-type': 'application/json' }, chunks: [big(3000), 'y'.repeat(3000), 'z'.repeat(100_000)] });
    assert.equal(r.status, 400);
    assert.equal(message(r.body), 'request body too large');
    assert.equal(r.headers.connection, 'close');
  });

  it('a gzip body under the limit that inflates past it is 400 "compressed request body too large"', async () => {
    const bomb = gzipSync(Buffer.from(big(1_000_000)));
    assert.ok(bomb.length < 4096);
    const r = await rawRequest(url(), {
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': bomb.length },
      chunks: [bomb],
    });
    assert.equal(r.status, 400);
    assert.equal(message(r.body), 'compressed request body too large');
  });

  it('input nested 8 deep is decided; 9 deep is 400, in the body and in ?input=', async () => {
    const nest = (depth: number): unknown => {
      let v: unknown = 'leaf';
      for (let i = 1; i < depth; i++) v = [v];
      return { subject: 'alice@example.com', permission: 'read', resource: 'logs', tenant: 'application', deep: v };
    };
    const at8 = await postDecision(authz.publicUrl, { input: nest(8) });
    assert.equal(at8.status, 200, at8.text);
    assert.deepEqual(at8.body, { result: true });
    const at9 = await postDecision(authz.publicUrl, { input: nest(9) });
    assert.equal(at9.status, 400, at9.text);
    assert.match(message(at9.text), /nested deeper than 8 levels/);
    const get = await fetch(`${url()}?input=${encodeURIComponent(JSON.stringify(nest(9)))}`);
    assert.equal(get.status, 400);
    // A very deep document is refused without exhausting any stack.
    const deep = `{"input":${'['.repeat(200_000)}${']'.repeat(200_000)}}`;
    const r = await rawRequest(`${authz.publicUrl}/v1/data/lokistack/allow`, {
      headers: { 'content-type': 'application/json', 'content-length': deep.length },
      chunks: [deep],
    });
    assert.equal(r.status, 400);
    const live = await fetch(`${authz.internalUrl}/live`);
    assert.equal(live.status, 200);
  });
});

describe('lifecycle: --kube.max-concurrent-calls=4 bounds upstream calls (openshift-logging, 50 concurrent cold decisions)', function () {
  this.timeout(60_000);

  it('the fake Kubernetes API never sees more than 4 calls in flight, and every decision is answered', async () => {
    const fake: FakeKube = await startFakeKube(lokistackFakeKubeOptions());
    const args = [
      ...OPERATOR_LOGGING_ARGS.filter((a) => !a.startsWith('--web.healthchecks.url')),
      `--openshift.kubeconfig=${KUBECONFIG_PLACEHOLDER}`,
      '--kube.max-concurrent-calls=4',
      '--kube.review-cache-ttl=0',
    ];
    const authz = await startAuthz(args, { kubeconfig: fakeKubeconfigFile(fake) });
    try {
      // Each call is held 100 ms at the fake, so concurrent calls overlap there.
      fake.setFaults({ endpoint: '*', latencyMs: 100 });
      const inFlight = (r: RecordedRequest) => r.status === undefined;
      let peak = 0;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          peak = Math.max(peak, fake.requests.filter(inFlight).length);
          await new Promise((r) => setImmediate(r));
        }
      })();
      // 50 distinct cold decisions (distinct namespaces: distinct cache keys), all at once; dave is
      // reviewed cluster-wide and then in his namespace, so each decision makes two calls.
      const answers = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          postDecision(authz.url, { input: gatewayInput('dave', { extras: selecting([`team-${i}`]) }), token: LOKISTACK_TOKENS.dave }),
        ),
      );
      sampling = false;
      await sampler;
      for (const a of answers) assert.deepEqual([a.status, a.body], [200, { result: false }], a.text);
      const reviews = fake.requests.filter((r) => r.endpoint === 'subjectaccessreviews');
      assert.equal(reviews.length, 100, 'two reviews per decision reached the fake');
      console.log(`      [concurrency] peak ${peak} calls in flight at the fake over ${reviews.length} calls`);
      assert.ok(peak <= 4, `at most 4 calls in flight at the fake, saw ${peak}`);
      assert.ok(peak >= 2, `the measure sees overlapping calls (peak ${peak})`);
    } finally {
      fake.clearFaults();
      await authz.stop();
      await fake.close();
    }
  });

  it('the measure is sound: without the bound, the same load has more than 4 calls in flight', async () => {
    const fake: FakeKube = await startFakeKube(lokistackFakeKubeOptions());
    const args = [...OPERATOR_LOGGING_ARGS.filter((a) => !a.startsWith('--web.healthchecks.url')), `--openshift.kubeconfig=${KUBECONFIG_PLACEHOLDER}`];
    const authz = await startAuthz(args, { kubeconfig: fakeKubeconfigFile(fake) });
    try {
      fake.setFaults({ endpoint: '*', latencyMs: 100 });
      let peak = 0;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          peak = Math.max(peak, fake.requests.filter((r) => r.status === undefined).length);
          await new Promise((r) => setImmediate(r));
        }
      })();
      await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          postDecision(authz.url, { input: gatewayInput('dave', { extras: selecting([`team-${i}`]) }), token: LOKISTACK_TOKENS.dave }),
        ),
      );
      sampling = false;
      await sampler;
      assert.ok(peak > 4, `more than 4 in flight without the bound (peak ${peak})`);
    } finally {
      fake.clearFaults();
      await authz.stop();
      await fake.close();
    }
  });
});

describe('lifecycle: SIGHUP (the real entry point)', function () {
  this.timeout(30_000);

  it('does not kill the process: it re-reads the watched files, keeps answering, and SIGTERM still drains to exit 0', async () => {
    const child = await serve([`--rbac.config=${EXAMPLE_RBAC}`]);
    const agent = new Agent({ keepAlive: false });
    try {
      child.proc.kill('SIGHUP');
      assert.ok(await eventually(() => child.stderr().includes('re-reading the watched files'), 200, 25), 'the reload is logged');
      assert.equal(child.proc.exitCode, null, 'still running');
      const o = await post(child.publicPort, agent, ALLOWED);
      assert.equal(o.kind === 'answer' && o.status === 200 && o.body, '{"result":true}\n');
    } finally {
      child.proc.kill('SIGTERM');
    }
    assert.deepEqual(await child.exited, { code: 0, signal: null });
  });
});
