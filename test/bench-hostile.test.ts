import { strict as assert } from 'node:assert';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { rawPost, slowUploadPlan } from '../bench/lib/hostile.js';
import type { Authorizer } from '../server/decision/types.js';
import { createPublicApp } from '../server/http/app.js';
import { ByteBudget } from '../server/http/byte-budget.js';
import { Metrics } from '../server/observability/metrics.js';
import { captureLogger, eventually } from './support/service.js';

/**
 * The bench's slow-upload check (bench/lib/hostile.ts) against the Data API at a small budget: the
 * attacker's uploads fill --web.max-buffered-bytes one byte short each, one more is refused 503, and
 * every held upload is still decided once its last byte comes, as the check demands. Held uploads
 * sized to fill the budget with body bytes alone left no room to decode them (each decoded input is
 * charged too, or small bodies of many values would escape the bound), and one of them was refused:
 * the check asked for what the budget rightly forbids.
 */
describe('bench: the slow-upload plan against the buffered-bytes budget', () => {
  const maxBody = 16 << 10;
  const budget = new ByteBudget(64 << 10);
  let server: Server;
  let url: string;
  before(async () => {
    const authorizer: Authorizer = { mode: 'test', ready: () => true, decide: async () => ({ defined: true, value: true }) };
    const app = createPublicApp({
      authorizer,
      metrics: new Metrics({ processMetrics: false }),
      logger: captureLogger('warn').logger,
      health: { live: {}, ready: {} },
      version: 'test',
      options: { maxBytes: maxBody, maxDepth: 64, decisionTimeoutMs: 5000 },
      bodyBudget: budget,
    });
    server = createServer(app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/data/lokistack/allow`;
  });
  after(() => {
    server?.closeAllConnections();
    server?.close();
  });

  it('the upload past the held ones is refused 503; every held one is decided (200) when its last byte comes, all at once', async () => {
    const plan = slowUploadPlan(budget.max, maxBody, 4);
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const held = Array.from({ length: plan.held }, () => rawPost(url, plan.body, {}, { bytes: 1, release: released }));
    // Written is not read: wait until the service holds every held byte.
    assert.ok(await eventually(() => budget.inUse === plan.held * (plan.body.length - 1)), `held ${budget.inUse}`);
    const over = await rawPost(url, plan.body);
    assert.equal(over.status, 503, over.head);
    release();
    const answers = await Promise.all(held);
    assert.deepEqual(
      answers.map((a) => a.status),
      Array<number>(plan.held).fill(200),
    );
    assert.ok(await eventually(() => budget.inUse === 0), `everything given back: ${budget.inUse}`);
  });
});
