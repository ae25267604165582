/**
 * The internal listener: /live and /ready as opa-openshift serves them (metalmatze/signal: a JSON map
 * of checks, 4-space indented, 503 on failure), /metrics in Prometheus text format, and OPA's /health.
 */
import { strict as assert } from 'node:assert';
import { connect } from 'node:net';
import request from 'supertest';
import { createInternalApp } from '../server/http/app.js';
import { Metrics } from '../server/observability/metrics.js';
import { ALLOWED_INPUT, DENIED_INPUT, eventually, metricValue, rawRequest, silentLogger, startTestService, type TestService } from './support/service.js';

function assertChecksBody(text: string): Record<string, string> {
  const body = JSON.parse(text) as Record<string, string>;
  assert.equal(text, `${JSON.stringify(body, null, 4)}\n`, 'indented with four spaces, newline-terminated');
  return body;
}

describe('internal listener', () => {
  let svc: TestService;

  before(async () => {
    svc = await startTestService();
  });
  after(async () => {
    await svc?.stop();
  });

  describe('/live and /ready', () => {
    it('/live: 200, every check OK, 4-space JSON', async () => {
      const res = await request(svc.internalUrl).get('/live');
      assert.equal(res.status, 200);
      assert.match(res.headers['content-type']!, /^application\/json/);
      const body = assertChecksBody(res.text);
      for (const [name, state] of Object.entries(body)) assert.equal(state, 'OK', name);
    });

    it('/ready: 200 with {"policy":"OK", ...}, 4-space JSON', async () => {
      const res = await request(svc.internalUrl).get('/ready');
      assert.equal(res.status, 200);
      assert.match(res.headers['content-type']!, /^application\/json/);
      const body = assertChecksBody(res.text);
      assert.equal(body.policy, 'OK');
      assert.ok(res.text.startsWith('{\n    "policy": "OK"'), res.text);
      for (const [name, state] of Object.entries(body)) assert.equal(state, 'OK', name);
    });

    it('?hide=1 answers {} with the same status', async () => {
      const res = await request(svc.internalUrl).get('/ready?hide=1');
      assert.equal(res.status, 200);
      assert.equal(res.text, '{}\n');
    });

    it("a failing check answers 503 naming the check and its reason; /health?bundles 500 in OPA's words", async () => {
      const metrics = new Metrics({ processMetrics: false });
      const app = createInternalApp({
        metrics,
        logger: silentLogger(),
        health: {
          live: { process: async () => {} },
          ready: {
            policy: async () => {
              throw new Error('no policy loaded');
            },
          },
        },
      });
      const ready = await request(app).get('/ready');
      assert.equal(ready.status, 503);
      assert.deepEqual(assertChecksBody(ready.text), { policy: 'no policy loaded', process: 'OK' });
      const live = await request(app).get('/live');
      assert.equal(live.status, 200);
      assert.deepEqual(assertChecksBody(live.text), { process: 'OK' });
      const bundles = await request(app).get('/health?bundles');
      assert.equal(bundles.status, 500);
      assert.equal(bundles.text, '{"error":"one or more bundles are not activated"}\n');
      const plain = await request(app).get('/health');
      assert.equal(plain.status, 200);
      assert.equal(plain.text, '{}\n');
    });
  });

  describe('/health (OPA)', () => {
    it('/health: 200 {} on both listeners', async () => {
      for (const base of [svc.internalUrl, svc.publicUrl]) {
        const res = await request(base).get('/health');
        assert.equal(res.status, 200, base);
        assert.match(res.headers['content-type']!, /^application\/json/);
        assert.equal(res.text, '{}\n');
      }
    });

    it('/health and /health?bundles answer with Content-Type exactly application/json, as OPA does', async () => {
      for (const path of ['/health', '/health?bundles']) {
        const res = await request(svc.internalUrl).get(path);
        assert.equal(res.headers['content-type'], 'application/json', path);
      }
    });

    it('/health?bundles (and the deprecated ?bundle): 200 {} once the policy is loaded', async () => {
      for (const q of ['bundles', 'bundle', 'bundles=true']) {
        const res = await request(svc.internalUrl).get(`/health?${q}`);
        assert.equal(res.status, 200, q);
        assert.equal(res.text, '{}\n', q);
      }
    });
  });

  describe('/metrics', () => {
    let text: string;

    before(async () => {
      const metricsSvc = svc;
      const post = (input: unknown) => request(metricsSvc.publicUrl).post('/v1/data/lokistack/allow').send({ input });
      assert.equal((await post(ALLOWED_INPUT)).text, '{"result":true}\n');
      assert.equal((await post(ALLOWED_INPUT)).text, '{"result":true}\n');
      assert.equal((await post(DENIED_INPUT)).text, '{"result":false}\n');
      assert.equal(
        (await request(metricsSvc.publicUrl).post('/v1/data/lokistack/allow').set('Content-Type', 'application/json').send('{"input":')).status,
        400,
      );
      assert.equal((await request(metricsSvc.publicUrl).get('/v1/data/nope')).status, 200);
      const res = await request(metricsSvc.internalUrl).get('/metrics');
      assert.equal(res.status, 200);
      assert.match(res.headers['content-type']!, /^text\/plain; version=0\.0\.4/);
      text = res.text;
    });

    it('http_requests_total{code,method,handler}: counts by status, lower-case method and handler', () => {
      assert.equal(metricValue(text, 'http_requests_total', { code: '200', method: 'post', handler: 'data' }), 3);
      assert.equal(metricValue(text, 'http_requests_total', { code: '400', method: 'post', handler: 'data' }), 1);
      assert.equal(metricValue(text, 'http_requests_total', { code: '200', method: 'get', handler: 'data' }), 1);
      assert.match(text, /# TYPE http_requests_total counter/);
    });

    it('http_request_duration_seconds: a histogram with the same labels', () => {
      assert.match(text, /# TYPE http_request_duration_seconds histogram/);
      assert.equal(metricValue(text, 'http_request_duration_seconds_count', { code: '200', method: 'post', handler: 'data' }), 3);
      const inf = metricValue(text, 'http_request_duration_seconds_bucket', { code: '200', method: 'post', handler: 'data', le: '+Inf' });
      assert.equal(inf, 3);
      const sum = metricValue(text, 'http_request_duration_seconds_sum', { code: '200', method: 'post', handler: 'data' });
      assert.ok(sum !== undefined && sum > 0);
    });

    it('decisions_total{mode="static",result}: allow, deny and undefined counted apart', () => {
      assert.equal(metricValue(text, 'decisions_total', { mode: 'static', result: 'allow' }), 2);
      assert.equal(metricValue(text, 'decisions_total', { mode: 'static', result: 'deny' }), 1);
      assert.equal(metricValue(text, 'decisions_total', { mode: 'static', result: 'undefined' }), 1);
      assert.equal(metricValue(text, 'decisions_total', { mode: 'static', result: 'error' }), undefined, 'a malformed request is not a decision');
    });

    it('reload state and policy memory', () => {
      assert.equal(metricValue(text, 'config_reloads_total', { config: 'rbac', result: 'success' }), 1);
      assert.equal(metricValue(text, 'config_last_reload_successful', { config: 'rbac' }), 1);
      const at = metricValue(text, 'config_last_reload_success_timestamp_seconds', { config: 'rbac' });
      assert.ok(at !== undefined && at > 1_600_000_000, String(at));
      const mem = metricValue(text, 'policy_wasm_memory_bytes');
      assert.ok(mem !== undefined && mem > 0 && mem % 65536 === 0, String(mem));
    });

    it('process metrics (process_cpu_user_seconds_total, resident memory, start time)', () => {
      for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'process_start_time_seconds']) {
        const v = metricValue(text, name);
        assert.ok(v !== undefined && v >= 0, `${name} missing`);
      }
    });

    it("internal endpoints are not on the public listener, and unknown internal paths are Go's 404", async () => {
      for (const path of ['/metrics', '/live', '/ready']) {
        const res = await request(svc.publicUrl).get(path);
        assert.equal(res.status, 404, path);
        assert.equal(res.text, '404 page not found\n');
      }
      const res = await request(svc.internalUrl).get('/v1/data/lokistack/allow');
      assert.equal(res.status, 404);
      assert.equal(res.text, '404 page not found\n');
    });
  });

  describe('while shutting down', () => {
    /** A service with a request in flight whose body is held back, and shutdown() begun. */
    async function draining() {
      const s = await startTestService();
      const body = JSON.stringify({ input: ALLOWED_INPUT });
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      let bodyStarted = false;
      const inflight = rawRequest(`${s.publicUrl}/v1/data/lokistack/allow`, {
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        chunks: [body.slice(0, 12), body.slice(12)],
        // The server has the request in hand (it answered 100 Continue) before shutdown begins.
        expectContinue: true,
        beforeChunk: () => {
          bodyStarted = true;
          return gate;
        },
      });
      assert.ok(await eventually(() => bodyStarted), 'the in-flight request did not start');
      return { s, inflight, release };
    }

    it('/ready answers 503 naming the shutdown, while in-flight requests drain', async () => {
      const { s, inflight, release } = await draining();
      const down = s.service.shutdown();
      try {
        const res = await rawRequest(`${s.internalUrl}/ready`, { method: 'GET' });
        assert.equal(res.status, 503, res.body);
        const body = assertChecksBody(res.body);
        assert.equal(body.policy, 'OK');
        assert.notEqual(body.shutdown, 'OK');
      } finally {
        release();
        const answered = await inflight;
        assert.equal(answered.status, 200);
        assert.equal(answered.body, '{"result":true}\n');
        await down;
      }
    });

    it('a readiness probe already connected when shutdown begins gets 503 naming the shutdown', async () => {
      const { s, inflight, release } = await draining();
      const sock = connect(s.service.internalAddress.port, '127.0.0.1');
      await new Promise<void>((r) => sock.once('connect', () => r()));
      let data = '';
      sock.on('data', (d: Buffer) => (data += d.toString('utf8')));
      await new Promise<void>((r) => sock.write('GET /ready HTTP/1.1\r\nHost: probe\r\n', () => r()));
      // Let the server read the start of the request, so that the connection is busy, not idle.
      await new Promise((r) => setTimeout(r, 100));
      const down = s.service.shutdown();
      try {
        sock.write('Connection: close\r\n\r\n');
        await new Promise<void>((r) => sock.once('close', () => r()));
        const [head, payload] = data.split('\r\n\r\n');
        assert.match(head!, /^HTTP\/1\.1 503 /);
        const body = assertChecksBody(payload!);
        assert.equal(body.policy, 'OK');
        assert.equal(body.shutdown, 'shutting down');
      } finally {
        release();
        const answered = await inflight;
        assert.equal(answered.status, 200);
        await down;
      }
    });
  });
});
