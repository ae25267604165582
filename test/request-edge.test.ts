/**
 * The request edge under attack: bodies decoded as Go decodes them, decoded inputs and YAML
 * bounded before evaluation, buffered bytes bounded across requests, redirects that stay on this
 * host, the forwarded token as opa-openshift reads it, client aborts, and log lines no value can
 * forge. Each case is something the attacker who read the source tried.
 */
import { strict as assert } from 'node:assert';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import fc from 'fast-check';
import request from 'supertest';
import type { Authorizer, DecisionRequest } from '../server/decision/types.js';
import { createPublicApp } from '../server/http/app.js';
import { Writable } from 'node:stream';
import { ByteBudget } from '../server/http/byte-budget.js';
import { DecisionLog } from '../server/observability/decision-log.js';
import { Metrics } from '../server/observability/metrics.js';
import { ALLOWED_INPUT, DENIED_INPUT, captureLogger, eventually, metricValue, rawRequest, startTestService, type TestService } from './support/service.js';

describe('request edge: decoding as Go does, in the running service', function () {
  this.timeout(60_000);
  let svc: TestService;
  before(async () => {
    svc = await startTestService({ flags: ['--web.max-input-nodes=100000'] });
  });
  after(async () => svc?.stop());

  const post = (body: string, type = 'application/json') => request(svc.publicUrl).post('/v1/data/lokistack/allow').set('Content-Type', type).send(body);

  it('{"input":<deny>,"INPUT":<allow>} decides the last one in the body, as OPA (a Go struct) does', async () => {
    const res = await post(`{"input":${JSON.stringify(DENIED_INPUT)},"INPUT":${JSON.stringify(ALLOWED_INPUT)}}`);
    assert.equal(res.text, '{"result":true}\n');
    const reversed = await post(`{"INPUT":${JSON.stringify(ALLOWED_INPUT)},"input":${JSON.stringify(DENIED_INPUT)}}`);
    assert.equal(reversed.text, '{"result":false}\n');
  });

  it('GET ?input= with exact duplicate keys: the last value wins, as in Go', async () => {
    const input = JSON.stringify(ALLOWED_INPUT).replace('"tenant":"application"', '"tenant":"application","tenant":"audit"');
    const res = await request(svc.publicUrl).get(`/v1/data/lokistack/allow?input=${encodeURIComponent(input)}`);
    assert.equal(res.text, '{"result":false}\n');
  });

  it('a YAML alias bomb that expands past --web.max-input-nodes: 400 naming the limit (not evaluated)', async () => {
    // 2,000 values, aliased 99 times: 198,000 values once expanded, in 8 KB of YAML.
    const yaml = `a: &a [${Array(2000).fill('x').join(',')}]\n${Array.from({ length: 99 }, (_, i) => `b${i}: *a`).join('\n')}\ninput: {subject: alice@example.com, groups: [staff], permission: read, resource: logs, tenant: application}\n`;
    const res = await post(yaml, 'application/yaml');
    assert.equal(res.status, 400, res.text);
    assert.equal(JSON.parse(res.text).code, 'invalid_parameter');
    assert.match(JSON.parse(res.text).message, /--web\.max-input-nodes/);
  });

  it('the 1 MB alias bomb of the report (500k-element list aliased 99 times): 400 naming --web.max-yaml-nodes', async () => {
    const yaml = `a: &a [${Array(500_000).fill('x').join(',')}]\n${Array.from({ length: 99 }, (_, i) => `b${i}: *a`).join('\n')}\ninput: *a\n`;
    const res = await rawRequest(`${svc.publicUrl}/v1/data/lokistack/allow`, {
      headers: { 'content-type': 'application/yaml', 'content-length': Buffer.byteLength(yaml) },
      chunks: [yaml],
    });
    assert.equal(res.status, 400, res.body);
    assert.match(JSON.parse(res.body).message, /--web\.max-yaml-nodes/);
  });

  it('YAML within the bounds still decides', async () => {
    const res = await post('input: {subject: alice@example.com, groups: [staff], permission: read, resource: logs, tenant: application}\n', 'application/yaml');
    assert.equal(res.text, '{"result":true}\n');
  });

  it('a gateway-sized input passes the default bounds: 10,000 groups of 256 bytes', async () => {
    const big = await startTestService({ flags: ['--web.max-body-bytes=4194304'] });
    try {
      const groups = Array.from({ length: 10_000 }, (_, i) => `${i}`.padEnd(256, 'g'));
      const res = await request(big.publicUrl)
        .post('/v1/data/lokistack/allow')
        .send({ input: { ...ALLOWED_INPUT, groups } });
      assert.equal(res.text, '{"result":true}\n');
    } finally {
      await big.stop();
    }
  });

  it('an array over --web.max-input-array-length: 400 naming the limit', async () => {
    const small = await startTestService({ flags: ['--web.max-input-array-length=10'] });
    try {
      const res = await request(small.publicUrl)
        .post('/v1/data/lokistack/allow')
        .send({ input: { ...ALLOWED_INPUT, groups: Array(11).fill('g') } });
      assert.equal(res.status, 400);
      assert.match(JSON.parse(res.text).message, /--web\.max-input-array-length/);
    } finally {
      await small.stop();
    }
  });

  it('GET /v1/data/../../\\evil.example never redirects to another host: Location /%5Cevil.example, as Go writes it', async () => {
    for (const path of ['/v1/data/../../\\evil.example', '/v1/data/../..//\\evil.example', '/v1/data/../../\\evil.example/', '/v1/data/../..///evil.example']) {
      const res = await rawGet(svc, path);
      const location = res.location;
      // Browsers read `//host` and `/\host` as network-path references.
      assert.ok(!/^\/[/\\]/.test(location) && !location.includes('\\'), `${path} -> ${res.status} ${location}`);
    }
    const res = await rawGet(svc, '/v1/data/../../\\evil.example');
    assert.equal(res.status, 307);
    assert.equal(res.location, '/%5Cevil.example');
  });

  it('an upload aborted mid-body is a client abort (code 499), not a 500 or an error line', async () => {
    const before = svc.log.lines.length;
    const socket = connect(Number(new URL(svc.publicUrl).port), '127.0.0.1');
    await new Promise<void>((r) => socket.once('connect', () => r()));
    socket.write('POST /v1/data/lokistack/allow HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"input":');
    await new Promise((r) => setTimeout(r, 50));
    socket.destroy();
    const counted = await eventually(async () => {
      const text = await (await fetch(`${svc.internalUrl}/metrics`)).text();
      return (metricValue(text, 'http_requests_total', { code: '499', handler: 'data' }) ?? 0) >= 1;
    });
    assert.ok(counted, 'the aborted request is counted as code 499');
    const lines = svc.log.records().slice(before);
    assert.deepEqual(
      lines.filter((l) => l.level === 'error' || /internal error/.test(String(l.msg))),
      [],
    );
  });
});

/** A GET with the path exactly as given (URL parsers would resolve the dots and backslashes first). */
async function rawGet(svc: TestService, path: string): Promise<{ status: number; location: string }> {
  const socket = connect(Number(new URL(svc.publicUrl).port), '127.0.0.1');
  let text = '';
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => (text += d));
  socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  await new Promise((r) => socket.on('close', r));
  return { status: Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1]), location: /\r\nlocation: ([^\r]*)/i.exec(text)?.[1] ?? '' };
}

/** A Data API over a recording authorizer: what the HTTP layer hands to every mode. */
async function recordingApp(budget?: ByteBudget): Promise<{ server: Server; port: number; seen: DecisionRequest[] }> {
  const seen: DecisionRequest[] = [];
  const authorizer: Authorizer = {
    mode: 'test',
    ready: () => true,
    async decide(req) {
      seen.push(req);
      return { defined: true, value: true };
    },
  };
  const app = createPublicApp({
    authorizer,
    metrics: new Metrics({ processMetrics: false }),
    logger: captureLogger('debug').logger,
    health: { live: {}, ready: {} },
    version: 'test',
    options: { maxBytes: 4096, maxDepth: 64, decisionTimeoutMs: 5000 },
    ...(budget ? { bodyBudget: budget } : {}),
  });
  const server = createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, port: (server.address() as AddressInfo).port, seen };
}

describe('request edge: the forwarded token', () => {
  it('two X-Forwarded-Access-Token headers: the first is the token (opa-openshift Header.Get), never the two joined', async () => {
    const { server, port, seen } = await recordingApp();
    try {
      const socket = connect(port, '127.0.0.1');
      const body = JSON.stringify({ input: ALLOWED_INPUT });
      socket.write(
        `POST /v1/data/lokistack/allow HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nX-Forwarded-Access-Token: first-token\r\nX-Forwarded-Access-Token: second-token\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      );
      await new Promise((r) => socket.on('close', r).resume());
      assert.equal(seen.length, 1);
      assert.equal(seen[0]!.token, 'first-token');
    } finally {
      server.close();
    }
  });

  it('fuzz: repeated, empty and mixed token headers: the token is the first X-Forwarded-Access-Token (Go Header.Get), else the first Authorization bearer, never a joined or later value', async () => {
    const { server, port, seen } = await recordingApp();
    const token = fc.stringMatching(/^[A-Za-z0-9._~+/=-]{0,24}$/);
    const header = fc.oneof(
      token.map((v) => ['X-Forwarded-Access-Token', v] as const),
      fc.constantFrom('x-forwarded-access-token', 'X-FORWARDED-ACCESS-TOKEN').chain((name) => token.map((v) => [name, v] as const)),
      token.map((v) => ['Authorization', `Bearer ${v}`] as const),
      token.map((v) => ['Authorization', `Basic ${v}`] as const),
    );
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(header, { minLength: 0, maxLength: 5 }), async (headers) => {
          seen.length = 0;
          const body = JSON.stringify({ input: ALLOWED_INPUT });
          const lines = headers.map(([name, value]) => `${name}: ${value}\r\n`).join('');
          const socket = connect(port, '127.0.0.1');
          socket.write(
            `POST /v1/data/lokistack/allow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${lines}Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
          );
          await new Promise((r) => socket.on('close', r).resume());
          // The protocol: Go's Header.Get returns the first value of a header (names case-insensitive).
          const first = (name: string) => headers.find(([n]) => n.toLowerCase() === name)?.[1];
          const forwarded = first('x-forwarded-access-token');
          const bearer = /^Bearer (\S+)$/.exec(first('authorization') ?? '')?.[1];
          const want = forwarded !== undefined && forwarded !== '' ? forwarded : bearer;
          assert.equal(seen.length, 1);
          assert.equal(seen[0]!.token, want, JSON.stringify(headers));
        }),
        { numRuns: 200 },
      );
    } finally {
      server.close();
    }
  });
});

describe('request edge: buffered body bytes across requests (--web.max-buffered-bytes)', () => {
  /** Opens an upload that declares 1100 bytes, sends `sent` of them and holds the rest back. */
  async function holdUpload(port: number, sent: number): Promise<{ socket: Socket; answer: Promise<string> }> {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((r) => socket.once('connect', () => r()));
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (text += d));
    const answer = new Promise<string>((r) => socket.on('close', () => r(text)));
    socket.write(
      `POST /v1/data/lokistack/allow HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1100\r\n\r\n${'{"input":{"pad":"'.padEnd(sent, 'p')}`,
    );
    return { socket, answer };
  }

  it('past the budget the next upload gets 503 with Retry-After; bytes come back when requests end, however they end', async () => {
    const budget = new ByteBudget(3000);
    const { server, port } = await recordingApp(budget);
    try {
      const held = [await holdUpload(port, 1000), await holdUpload(port, 1000)];
      assert.ok(await eventually(() => budget.inUse === 2000), `held ${budget.inUse}`);
      const third = await holdUpload(port, 1000);
      assert.ok(await eventually(() => budget.inUse === 3000), `held ${budget.inUse}`);

      const refused = await holdUpload(port, 1000);
      const text = await refused.answer;
      assert.match(text, /^HTTP\/1\.1 503 /, text);
      assert.match(text, /\r\nretry-after: 1\r\n/i);
      assert.equal(budget.inUse, 3000, 'the refused request holds nothing');

      // Aborted: its bytes come back.
      held[0]!.socket.destroy();
      assert.ok(await eventually(() => budget.inUse === 2000), `after abort ${budget.inUse}`);
      // Answered with an error (400, malformed): its bytes come back.
      held[1]!.socket.end('x'.repeat(100));
      assert.match(await held[1]!.answer, /^HTTP\/1\.1 400 /);
      assert.ok(await eventually(() => budget.inUse === 1000), `after 400 ${budget.inUse}`);
      // Completed and decided: its bytes come back.
      third.socket.end('"}}'.padStart(100, 'p'));
      assert.match(await third.answer, /^HTTP\/1\.1 200 /);
      assert.ok(await eventually(() => budget.inUse === 0), `after 200 ${budget.inUse}`);

      const ok = await rawRequest(`http://127.0.0.1:${port}/v1/data/lokistack/allow`, {
        headers: { 'content-type': 'application/json' },
        chunks: [JSON.stringify({ input: ALLOWED_INPUT })],
      });
      assert.equal(ok.status, 200);
      assert.ok(await eventually(() => budget.inUse === 0));
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});

describe('request edge: decoded inputs are charged to the byte budget', () => {
  it('a small body that decodes to many values (each costs the heap far more than its bytes) gets 503 with Retry-After past the budget', async () => {
    const budget = new ByteBudget(3000);
    const { server, port, seen } = await recordingApp(budget);
    const post = (input: unknown) =>
      rawRequest(`http://127.0.0.1:${port}/v1/data/lokistack/allow`, { headers: { 'content-type': 'application/json' }, chunks: [JSON.stringify({ input })] });
    try {
      // 1,000 bytes of text as one string: about its size decoded, within the budget.
      const string = await post({ pad: 'p'.repeat(1000) });
      assert.equal(string.status, 200, string.body);
      // About the same bytes as 500 numbers: 500 values on the heap, past the budget.
      const values = await post({ g: Array.from({ length: 500 }, () => 1) });
      assert.equal(values.status, 503, values.body);
      assert.equal(values.headers['retry-after'], '1');
      assert.equal(seen.length, 1, 'the many-valued input never reached the authorizer');
      assert.ok(await eventually(() => budget.inUse === 0), `everything given back: ${budget.inUse}`);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});

describe('request edge: log lines', () => {
  it('logfmt escapes control characters (ESC, NUL, C1, DEL, bidi overrides) in values and keys', () => {
    const log = captureLogger('debug', 'logfmt');
    log.logger.info({ path: '/v1/data/\u001b[31mred\u0000\u009b\u007f\u202e', 'k\u001b': 'v' }, 'm\u001b[0m');
    const line = log.lines.join('');
    assert.equal(line.split('\n').length, 2, 'one line');
    assert.doesNotMatch(line, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/);
    assert.match(line, /path="\/v1\/data\/\\u001b\[31mred\\u0000\\u009b\\u007f\\u202e"/);
  });
});

describe('request edge: the decision log keeps a bounded input', () => {
  it('an input past the bound is logged truncated, shape kept, and marked; a small one whole', async () => {
    const lines: string[] = [];
    const out = new Writable({
      write(chunk: Buffer, _e, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const log = new DecisionLog(out, { mask: [], labels: {}, maxPending: 10, maxInputBytes: 1000 });
    const base = { decision_id: 'd', path: 'lokistack/allow', requested_by: 'x', timestamp: 't', metrics: {} };
    const groups = Array.from({ length: 10_000 }, (_, i) => `group-${i}`.padEnd(256, 'g'));
    log.write({ ...base, input: { ...ALLOWED_INPUT, groups } });
    log.write({ ...base, input: ALLOWED_INPUT });
    await new Promise((r) => setImmediate(r));
    const [big, small] = lines.map((l) => JSON.parse(l) as { input: { groups: string[]; subject: string }; truncated?: string[] });
    assert.ok(lines[0]!.length < 3000, `event of ${lines[0]!.length} bytes`);
    assert.deepEqual(big!.truncated, ['/input']);
    assert.equal(big!.input.subject, ALLOWED_INPUT.subject);
    assert.match(String(big!.input.groups.at(-1)), /truncated/);
    assert.deepEqual(small!.input, ALLOWED_INPUT);
    assert.equal(small!.truncated, undefined);
  });
});
