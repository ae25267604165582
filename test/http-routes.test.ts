/**
 * The routes off the hot paths, on the wire: /health on the public listener, /live, /ready, /health
 * and /metrics on the internal one, and Go's 404 for everything else. Each answer is pinned byte for
 * byte (status line, header names, order and values, body) as the service answered before express
 * left it (issue 14): probes, scrapers and OPA clients see exactly what they saw. The counters each
 * request is counted under are pinned too.
 */
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type RequestListener, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { Gauge } from 'prom-client';
import { createInternalApp, createPublicApp } from '../server/http/app.js';
import type { HealthChecks } from '../server/http/health.js';
import type { Authorizer } from '../server/decision/types.js';
import { Metrics } from '../server/observability/metrics.js';
import { eventually, silentLogger } from './support/service.js';

const HEALTHY: HealthChecks = { live: { process: async () => {} }, ready: { policy: async () => {} } };
const UNREADY: HealthChecks = {
  live: { process: async () => {} },
  ready: {
    policy: async () => {
      throw new Error('no policy loaded');
    },
  },
};

/** Never reached by these requests: the Data API and /forward-auth are not what this file pins. */
const authorizer: Authorizer = {
  mode: 'test',
  ready: () => true,
  async decide() {
    throw new Error('not a decision route');
  },
};

async function serve(listener: RequestListener): Promise<{ server: Server; port: number }> {
  const server = createServer(listener);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, port: (server.address() as AddressInfo).port };
}

/** Sends `head` (and `body`) on a fresh connection and returns every byte answered, the Date value masked. */
async function exchange(port: number, head: string, body = ''): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  let text = '';
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => (text += d));
  socket.write(`${head}\r\nHost: x\r\nConnection: close\r\n${body ? `Content-Length: ${body.length}\r\n` : ''}\r\n${body}`);
  await new Promise((r) => socket.on('close', r));
  return text.replace(/\r\nDate: [^\r]*\r\n/, '\r\nDate: <date>\r\n');
}

type Listener = 'public' | 'internal' | 'unready' | 'broken';
/** An answer as it goes on the wire: status line and headers (Date masked, in order), then the body. */
type Answer = string | ((metricsText: string) => string);

const NOSNIFF_404 = 'X-Content-Type-Options: nosniff\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 19';
const wire = (status: string, headers: string, body: string) => `HTTP/1.1 ${status}\r\n${headers}\r\nDate: <date>\r\nConnection: close\r\n\r\n${body}`;
const json = (status: string, body: string, head = false) =>
  wire(status, `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}`, head ? '' : body);
const metrics =
  (head: boolean): Answer =>
  (text) =>
    wire('200 OK', `Content-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}`, head ? '' : text);

const OK_EMPTY = json('200 OK', '{}\n');
const HEAD_OK_EMPTY = json('200 OK', '{}\n', true);
const NOT_FOUND = wire('404 Not Found', NOSNIFF_404, '404 page not found\n');
const HEAD_NOT_FOUND = wire('404 Not Found', NOSNIFF_404, '');
const LIVE_OK = json('200 OK', '{\n    "process": "OK"\n}\n');
const READY_OK = json('200 OK', '{\n    "policy": "OK",\n    "process": "OK"\n}\n');
const HEAD_READY_OK = json('200 OK', '{\n    "policy": "OK",\n    "process": "OK"\n}\n', true);
const READY_FAILING = json('503 Service Unavailable', '{\n    "policy": "no policy loaded",\n    "process": "OK"\n}\n');
const HEAD_READY_FAILING = json('503 Service Unavailable', '{\n    "policy": "no policy loaded",\n    "process": "OK"\n}\n', true);
const UNREADY_HIDDEN = json('503 Service Unavailable', '{}\n');
const BUNDLES_NOT_ACTIVATED = json('500 Internal Server Error', '{"error":"one or more bundles are not activated"}\n');
const INTERNAL_ERROR = json('500 Internal Server Error', '{\n  "code": "internal_error",\n  "message": "internal error"\n}\n');
const HEAD_INTERNAL_ERROR = json('500 Internal Server Error', '{\n  "code": "internal_error",\n  "message": "internal error"\n}\n', true);
const METRICS = metrics(false);
const HEAD_METRICS = metrics(true);

/**
 * Recorded from the express version (commit before this file's router): listener, method, request
 * target, body, the answer, and on the public listener the `handler` label it is counted under.
 * Express matched a path case-insensitively with one optional trailing slash, on the path as Node's
 * legacy url.parse read it (a `#` or an absolute-form target takes that path: a backslash before the
 * query becomes a slash), never decoded; GET routes answer HEAD; every other method is a 404.
 */
const CASES: Array<[Listener, string, string, string, Answer, ('health' | 'other')?]> = [
  ['public', 'GET', '/health', '', OK_EMPTY, 'health'],
  ['public', 'GET', '/health?bundles', '', OK_EMPTY, 'health'],
  ['public', 'GET', '/health?bundle=x', '', OK_EMPTY, 'health'],
  ['public', 'GET', '/health?x=1', '', OK_EMPTY, 'health'],
  ['public', 'GET', '/HEALTH', '', OK_EMPTY, 'other'],
  ['public', 'GET', '/health/', '', OK_EMPTY, 'other'],
  ['public', 'GET', '//health', '', NOT_FOUND, 'other'],
  ['public', 'GET', '/health//', '', NOT_FOUND, 'other'],
  ['public', 'GET', '/%68ealth', '', NOT_FOUND, 'other'],
  ['public', 'GET', '/health%2F', '', NOT_FOUND, 'other'],
  ['public', 'GET', '/health;x', '', NOT_FOUND, 'other'],
  ['public', 'GET', '/health#frag', '', OK_EMPTY, 'health'],
  ['public', 'GET', '/nope', '', NOT_FOUND, 'other'],
  ['public', 'GET', '/', '', NOT_FOUND, 'other'],
  ['public', 'GET', '/live', '', NOT_FOUND, 'other'],
  ['public', 'GET', '/ready', '', NOT_FOUND, 'other'],
  ['public', 'GET', '/ready?hide=1', '', NOT_FOUND, 'other'],
  ['public', 'GET', '/ready?hide', '', NOT_FOUND, 'other'],
  ['public', 'GET', '/live?hide=0', '', NOT_FOUND, 'other'],
  ['public', 'GET', '/ready?%68ide', '', NOT_FOUND, 'other'],
  ['public', 'GET', '/metrics', '', NOT_FOUND, 'other'],
  ['public', 'GET', '/metrics?x', '', NOT_FOUND, 'other'],
  ['public', 'GET', '/metrics/', '', NOT_FOUND, 'other'],
  ['public', 'GET', '/METRICS', '', NOT_FOUND, 'other'],
  ['public', 'GET', 'http://x/health', '', OK_EMPTY, 'health'],
  ['public', 'GET', 'http://x/ready', '', NOT_FOUND, 'other'],
  ['public', 'GET', '*', '', NOT_FOUND, 'other'],
  ['public', 'GET', '/health?', '', OK_EMPTY, 'health'],
  ['public', 'GET', '/ready?hide=1&hide=2', '', NOT_FOUND, 'other'],
  ['public', 'GET', '/live?&', '', NOT_FOUND, 'other'],
  ['public', 'HEAD', '/health', '', HEAD_OK_EMPTY, 'health'],
  ['public', 'HEAD', '/ready', '', HEAD_NOT_FOUND, 'other'],
  ['public', 'HEAD', '/metrics', '', HEAD_NOT_FOUND, 'other'],
  ['public', 'HEAD', '/nope', '', HEAD_NOT_FOUND, 'other'],
  ['public', 'POST', '/health', '', NOT_FOUND, 'health'],
  ['public', 'POST', '/ready', '', NOT_FOUND, 'other'],
  ['public', 'POST', '/metrics', '', NOT_FOUND, 'other'],
  ['public', 'POST', '/nope', '', NOT_FOUND, 'other'],
  ['public', 'PUT', '/health', '', NOT_FOUND, 'health'],
  ['public', 'PUT', '/ready', '', NOT_FOUND, 'other'],
  ['public', 'PUT', '/metrics', '', NOT_FOUND, 'other'],
  ['public', 'PUT', '/nope', '', NOT_FOUND, 'other'],
  ['public', 'DELETE', '/health', '', NOT_FOUND, 'health'],
  ['public', 'DELETE', '/ready', '', NOT_FOUND, 'other'],
  ['public', 'DELETE', '/metrics', '', NOT_FOUND, 'other'],
  ['public', 'DELETE', '/nope', '', NOT_FOUND, 'other'],
  ['public', 'OPTIONS', '/health', '', NOT_FOUND, 'health'],
  ['public', 'OPTIONS', '/ready', '', NOT_FOUND, 'other'],
  ['public', 'OPTIONS', '/metrics', '', NOT_FOUND, 'other'],
  ['public', 'OPTIONS', '/nope', '', NOT_FOUND, 'other'],
  ['public', 'PATCH', '/health', '', NOT_FOUND, 'health'],
  ['public', 'PATCH', '/ready', '', NOT_FOUND, 'other'],
  ['public', 'PATCH', '/metrics', '', NOT_FOUND, 'other'],
  ['public', 'PATCH', '/nope', '', NOT_FOUND, 'other'],
  ['public', 'GET', '/health', 'hello', OK_EMPTY, 'health'],
  ['public', 'POST', '/health', '{}', NOT_FOUND, 'health'],
  ['public', 'HEAD', '/nope', '', HEAD_NOT_FOUND, 'other'],
  ['public', 'GET', '/ready', 'hello', NOT_FOUND, 'other'],
  ['internal', 'GET', '/health', '', OK_EMPTY],
  ['internal', 'GET', '/health?bundles', '', OK_EMPTY],
  ['internal', 'GET', '/health?bundle=x', '', OK_EMPTY],
  ['internal', 'GET', '/health?x=1', '', OK_EMPTY],
  ['internal', 'GET', '/HEALTH', '', OK_EMPTY],
  ['internal', 'GET', '/health/', '', OK_EMPTY],
  ['internal', 'GET', '//health', '', NOT_FOUND],
  ['internal', 'GET', '/health//', '', NOT_FOUND],
  ['internal', 'GET', '/%68ealth', '', NOT_FOUND],
  ['internal', 'GET', '/health%2F', '', NOT_FOUND],
  ['internal', 'GET', '/health;x', '', NOT_FOUND],
  ['internal', 'GET', '/health#frag', '', OK_EMPTY],
  ['internal', 'GET', '/nope', '', NOT_FOUND],
  ['internal', 'GET', '/', '', NOT_FOUND],
  ['internal', 'GET', '/live', '', LIVE_OK],
  ['internal', 'GET', '/ready', '', READY_OK],
  ['internal', 'GET', '/ready?hide=1', '', OK_EMPTY],
  ['internal', 'GET', '/ready?hide', '', OK_EMPTY],
  ['internal', 'GET', '/live?hide=0', '', OK_EMPTY],
  ['internal', 'GET', '/ready?%68ide', '', OK_EMPTY],
  ['internal', 'GET', '/metrics', '', METRICS],
  ['internal', 'GET', '/metrics?x', '', METRICS],
  ['internal', 'GET', '/metrics/', '', METRICS],
  ['internal', 'GET', '/METRICS', '', METRICS],
  ['internal', 'GET', 'http://x/health', '', OK_EMPTY],
  ['internal', 'GET', 'http://x/ready', '', READY_OK],
  ['internal', 'GET', '*', '', NOT_FOUND],
  ['internal', 'GET', '/health?', '', OK_EMPTY],
  ['internal', 'GET', '/ready?hide=1&hide=2', '', OK_EMPTY],
  ['internal', 'GET', '/live?&', '', LIVE_OK],
  ['internal', 'HEAD', '/health', '', HEAD_OK_EMPTY],
  ['internal', 'HEAD', '/ready', '', HEAD_READY_OK],
  ['internal', 'HEAD', '/metrics', '', HEAD_METRICS],
  ['internal', 'HEAD', '/nope', '', HEAD_NOT_FOUND],
  ['internal', 'POST', '/health', '', NOT_FOUND],
  ['internal', 'POST', '/ready', '', NOT_FOUND],
  ['internal', 'POST', '/metrics', '', NOT_FOUND],
  ['internal', 'POST', '/nope', '', NOT_FOUND],
  ['internal', 'PUT', '/health', '', NOT_FOUND],
  ['internal', 'PUT', '/ready', '', NOT_FOUND],
  ['internal', 'PUT', '/metrics', '', NOT_FOUND],
  ['internal', 'PUT', '/nope', '', NOT_FOUND],
  ['internal', 'DELETE', '/health', '', NOT_FOUND],
  ['internal', 'DELETE', '/ready', '', NOT_FOUND],
  ['internal', 'DELETE', '/metrics', '', NOT_FOUND],
  ['internal', 'DELETE', '/nope', '', NOT_FOUND],
  ['internal', 'OPTIONS', '/health', '', NOT_FOUND],
  ['internal', 'OPTIONS', '/ready', '', NOT_FOUND],
  ['internal', 'OPTIONS', '/metrics', '', NOT_FOUND],
  ['internal', 'OPTIONS', '/nope', '', NOT_FOUND],
  ['internal', 'PATCH', '/health', '', NOT_FOUND],
  ['internal', 'PATCH', '/ready', '', NOT_FOUND],
  ['internal', 'PATCH', '/metrics', '', NOT_FOUND],
  ['internal', 'PATCH', '/nope', '', NOT_FOUND],
  ['internal', 'GET', '/health', 'hello', OK_EMPTY],
  ['internal', 'POST', '/health', '{}', NOT_FOUND],
  ['internal', 'HEAD', '/nope', '', HEAD_NOT_FOUND],
  ['internal', 'GET', '/ready', 'hello', READY_OK],
  ['unready', 'GET', '/ready', '', READY_FAILING],
  ['unready', 'GET', '/live', '', LIVE_OK],
  ['unready', 'GET', '/health', '', OK_EMPTY],
  ['unready', 'GET', '/health?bundles', '', BUNDLES_NOT_ACTIVATED],
  ['unready', 'GET', '/health?bundle', '', BUNDLES_NOT_ACTIVATED],
  ['unready', 'GET', '/ready?hide=1', '', UNREADY_HIDDEN],
  ['unready', 'HEAD', '/ready', '', HEAD_READY_FAILING],
  ['broken', 'GET', '/metrics', '', INTERNAL_ERROR],
  ['broken', 'HEAD', '/metrics', '', HEAD_INTERNAL_ERROR],
  ['broken', 'GET', '/metrics?x', '', INTERNAL_ERROR],
  ['internal', 'GET', '/health\\#x', '', OK_EMPTY],
  ['internal', 'GET', '/ready#?hide', '', READY_OK],
  ['internal', 'GET', '/ready?hide#x', '', OK_EMPTY],
  ['internal', 'GET', '/ready?x#hide', '', READY_OK],
  ['internal', 'GET', 'HTTP://X/READY?hide', '', OK_EMPTY],
  ['internal', 'GET', 'http://x:80/ready', '', READY_OK],
  ['internal', 'GET', '//x/ready', '', NOT_FOUND],
  ['internal', 'GET', 'http://x?hide', '', NOT_FOUND],
  ['internal', 'GET', 'http://a@x/ready', '', READY_OK],
  ['internal', 'GET', 'http://[::1]/ready', '', READY_OK],
  ['internal', 'GET', '/ready?a=1;hide=2', '', READY_OK],
  ['internal', 'GET', '/ready?hide%00', '', READY_OK],
  ['internal', 'GET', '/%2e/ready', '', NOT_FOUND],
  ['internal', 'GET', '/./ready', '', NOT_FOUND],
  ['internal', 'GET', '/ready/.', '', NOT_FOUND],
  ['internal', 'GET', '/rea%64y', '', NOT_FOUND],
  ['internal', 'GET', '/ready\\?hide', '', NOT_FOUND],
  ['internal', 'GET', '/health\\', '', NOT_FOUND],
  ['internal', 'GET', '/ready?hide=%zz', '', OK_EMPTY],
  ['public', 'GET', '/health#', '', OK_EMPTY, 'health'],
  ['public', 'GET', '/Health/', '', OK_EMPTY, 'other'],
  ['public', 'GET', 'http://x/Health', '', OK_EMPTY, 'other'],
  ['public', 'GET', '/health?#', '', OK_EMPTY, 'health'],
  ['public', 'GET', '/health\\#', '', OK_EMPTY, 'other'],
  ['public', 'GET', '/health/?bundles', '', OK_EMPTY, 'other'],
  // The one deliberate change: an absolute-form target with no path got express's own HTML 404
  // page ("Cannot GET"); now it gets Go's, as every other path no route serves.
  ['internal', 'GET', 'foo://x', '', NOT_FOUND],
  ['public', 'GET', 'foo://x', '', NOT_FOUND, 'other'],
];

describe('routes off the hot paths, on the wire', () => {
  const publicMetrics = new Metrics({ processMetrics: false });
  const internalMetrics = new Metrics({ processMetrics: false });
  const brokenMetrics = new Metrics({ processMetrics: false });
  // A collector that throws: the scrape fails, and the one error handler answers it.
  new Gauge({
    name: 'broken_collector',
    help: 'throws at every scrape',
    registers: [brokenMetrics.registry],
    collect() {
      throw new Error('collector failed');
    },
  });
  const servers: Partial<Record<Listener, { server: Server; port: number }>> = {};

  before(async () => {
    const logger = silentLogger();
    servers.public = await serve(
      createPublicApp({
        authorizer,
        metrics: publicMetrics,
        logger,
        health: HEALTHY,
        version: 'test',
        options: { maxBytes: 4096, maxDepth: 64, decisionTimeoutMs: 5000 },
      }),
    );
    servers.internal = await serve(createInternalApp({ metrics: internalMetrics, logger, health: HEALTHY }));
    servers.unready = await serve(createInternalApp({ metrics: new Metrics({ processMetrics: false }), logger, health: UNREADY }));
    servers.broken = await serve(createInternalApp({ metrics: brokenMetrics, logger, health: HEALTHY }));
  });
  after(() => {
    for (const s of Object.values(servers)) s.server.close();
  });

  /** http_requests_total of the public listener, by label set. */
  const counted = async (): Promise<Map<string, number>> => {
    const metric = (await publicMetrics.registry.getMetricsAsJSON()).find((m) => m.name === 'http_requests_total');
    return new Map((metric?.values ?? []).map((v) => [`${v.labels.code} ${v.labels.method} ${v.labels.handler}`, v.value]));
  };

  for (const [listener, method, target, body, answer, handler] of CASES) {
    it(`${listener}: ${method} ${target}${body ? ` with a ${body.length}-byte body` : ''}`, async () => {
      const before = listener === 'public' ? await counted() : undefined;
      const got = await exchange(servers[listener]!.port, `${method} ${target} HTTP/1.1`, body);
      // The internal listener counts nothing, so its exposition is the same before and after.
      const expected = typeof answer === 'string' ? answer : answer(await internalMetrics.registry.metrics());
      assert.equal(got, expected);
      if (before) {
        const code = /^HTTP\/1\.1 (\d{3})/.exec(got)![1];
        const key = `${code} ${method.toLowerCase()} ${handler}`;
        // Counted when the response closes, which the server sees about when the client does.
        await eventually(async () => ((await counted()).get(key) ?? 0) !== (before.get(key) ?? 0), 200, 5);
        const after = await counted();
        const changed = [...after].filter(([k, v]) => v !== (before.get(k) ?? 0));
        assert.deepEqual(changed, [[key, (before.get(key) ?? 0) + 1]]);
      }
    });
  }
});

describe('no HTTP framework at run time (issue 14: express held some 2.5 MiB of every idle sidecar)', () => {
  it('the image installs no express (package.json), and no module of server/ imports it', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { dependencies: Record<string, string> };
    assert.equal(pkg.dependencies.express, undefined);
    const importers = (readdirSync('server', { recursive: true }) as string[])
      .filter((f) => f.endsWith('.ts'))
      .filter((f) => /from ['"]express['"]|import\(['"]express['"]\)|require\(['"]express['"]\)/.test(readFileSync(`server/${f}`, 'utf8')));
    assert.deepEqual(importers, []);
  });
});
