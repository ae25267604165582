/**
 * The forward-auth core with a mode the test drives: how each kind of mode answer, and each mode
 * failure, becomes a status a proxy acts on, and that identical requests in flight share one
 * decision (the race driven from the test, not from timing).
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { DecisionError } from '../server/errors.js';
import { forwardAuthHandler } from '../server/forward-auth/core.js';
import type { ForwardAuthorizer, ForwardAuthRequest, ForwardAuthResult } from '../server/forward-auth/types.js';
import { Metrics } from '../server/observability/metrics.js';
import { send } from './support/forward-auth.js';
import { metricValue, silentLogger } from './support/service.js';

interface Driven extends ForwardAuthorizer {
  calls: ForwardAuthRequest[];
  /** Each authorize() waits for the test to settle it. */
  pending: Array<{ resolve: (r: ForwardAuthResult) => void; reject: (e: unknown) => void }>;
}

function drivenAuthorizer(): Driven {
  const calls: ForwardAuthRequest[] = [];
  const pending: Driven['pending'] = [];
  return {
    mode: 'test',
    challenge: 'Bearer',
    calls,
    pending,
    ready: () => true,
    credentialKey: (req) => (req.headers.authorization ? `k:${req.headers.authorization}` : undefined),
    authorize: (req) => {
      calls.push(req);
      return new Promise((resolve, reject) => pending.push({ resolve, reject }));
    },
  };
}

describe('forward-auth core with a driven mode', function () {
  this.timeout(20_000);
  let server: Server;
  let url: string;
  let mode: Driven;
  let metrics: Metrics;

  beforeEach(async () => {
    mode = drivenAuthorizer();
    metrics = new Metrics({ processMetrics: false });
    const handle = forwardAuthHandler({
      authorizer: mode,
      metrics,
      logger: silentLogger(),
      options: {
        maxBodyBytes: 16384,
        maxRequestedTenants: 8,
        maxPolicyHeaderBytes: 3072,
        timeoutMs: 5000,
        cache: { allowTtlMs: 60_000, denyTtlMs: 60_000, maxEntries: 100 },
      },
    });
    server = createServer((req, res) => void handle(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/forward-auth`;
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  const read = (auth?: string): Array<[string, string]> => [
    ['X-Original-Method', 'GET'],
    ['X-Original-URI', '/loki/api/v1/query'],
    ...(auth ? ([['Authorization', auth]] as Array<[string, string]>) : []),
  ];
  const settled = async (n: number) => {
    while (mode.pending.length < n) await new Promise((r) => setImmediate(r));
  };

  it('identical requests in flight share one decision; a different credential gets its own', async () => {
    const a1 = send(url, { headers: read('Bearer a') });
    const a2 = send(url, { headers: read('Bearer a') });
    const b = send(url, { headers: read('Bearer b') });
    await settled(2);
    // Both requests for credential a are in the handler before the decision is answered.
    while ((metricValue(await metrics.registry.metrics(), 'forward_auth_cache_requests_total', { result: 'shared' }) ?? 0) < 1)
      await new Promise((r) => setImmediate(r));
    assert.equal(mode.calls.length, 2);
    mode.pending[0]!.resolve({ kind: 'granted', subject: 'a', grants: [{ id: 'team-a' }] });
    mode.pending[1]!.resolve({ kind: 'forbidden', code: 'not_allowed', reason: 'no', subject: 'b' });
    const [r1, r2, rb] = await Promise.all([a1, a2, b]);
    assert.deepEqual([r1.status, r2.status, rb.status], [200, 200, 403]);
    assert.equal(r1.headers['x-scope-orgid'], 'team-a');
    assert.equal(r2.headers['x-scope-orgid'], 'team-a');
    // And cached afterwards: no third call.
    assert.equal((await send(url, { headers: read('Bearer a') })).status, 200);
    assert.equal(mode.calls.length, 2);
  });

  it('the mode failing is a 5xx, never cached, never a 401/403 or a 200', async () => {
    const r = send(url, { headers: read('Bearer a') });
    await settled(1);
    mode.pending[0]!.reject(new Error('upstream down'));
    const failed = await r;
    assert.equal(failed.status, 500);
    assert.equal(failed.headers['x-scope-orgid'], undefined);
    const again = send(url, { headers: read('Bearer a') });
    await settled(2);
    mode.pending[1]!.resolve({ kind: 'granted', subject: 'a', grants: [{ id: 'team-a' }] });
    assert.equal((await again).status, 200);
    // A mode's typed upstream failure keeps its 503.
    const down = send(url, { headers: read('Bearer c') });
    await settled(3);
    mode.pending[2]!.reject(new DecisionError('internal_error', 503, 'the identity provider could not verify the token'));
    assert.equal((await down).status, 503);
  });

  it("no credential is a 401 with the mode's challenge, without asking the mode", async () => {
    const r = await send(url, { headers: read() });
    assert.equal(r.status, 401);
    assert.equal(r.headers['www-authenticate'], 'Bearer');
    assert.equal(mode.calls.length, 0);
  });

  it('a mode answering with a tenant ID Loki would split (`a|b`) is a 500, not a header', async () => {
    const r = send(url, { headers: read('Bearer a') });
    await settled(1);
    mode.pending[0]!.resolve({ kind: 'granted', subject: 'a', grants: [{ id: 'a|b' }] });
    assert.equal((await r).status, 500);
  });
});
