/**
 * Evaluation off the event loop (server/policy/worker-pool.ts, eval-worker.ts): large inputs are
 * evaluated on worker threads, so probes keep answering while they run; the decision deadline ends
 * an evaluation that runs past it; instances grown by a large input give their memory back.
 * Through the real service, with the real compiled policy where it can show the behaviour and a
 * stub module (test/support/wasm-stub.ts) where only a never-ending evaluation can.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { BUNDLED_WASM } from '../server/config/bundled-policy.js';
import { PolicyDocument } from '../server/policy/document.js';
import { CompiledPolicy } from '../server/policy/wasm-policy.js';
import { EvaluationPool, PoolEvaluationError } from '../server/policy/worker-pool.js';
import { eventually, metricValue, startTestService, writeTempFile, type TestService } from './support/service.js';
import { stubModule } from './support/wasm-stub.js';

/** Roles and bindings where every one of 50 groups may read application logs. */
const MANY_BINDINGS = `roles:
  - name: application-read
    resources: [logs]
    tenants: [application]
    permissions: [read]
roleBindings:
${Array.from({ length: 50 }, (_, i) => `  - name: team-${i}\n    roles: [application-read]\n    subjects:\n      - kind: group\n        name: team-${i}\n`).join('')}`;

/**
 * A user in thousands of groups, the last of which is bound: the policy's cost grows with groups
 * times bindings (seconds of CPU and tens of MiB of Wasm memory here), the answer is an allow.
 */
const hugeGroupsBody = (groups = 5000) =>
  JSON.stringify({
    input: {
      subject: 'mallory@example.com',
      groups: [...Array.from({ length: groups }, (_, i) => `group-${i}`), 'team-49'],
      permission: 'read',
      resource: 'logs',
      tenant: 'application',
    },
  });

/** The same user with only the bound group: small, inline, allowed. */
const SMALL_BODY = JSON.stringify({
  input: { subject: 'mallory@example.com', groups: ['team-49'], permission: 'read', resource: 'logs', tenant: 'application' },
});

async function post(t: TestService, body: string) {
  const res = await fetch(`${t.publicUrl}/v1/data/lokistack/allow`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  return { status: res.status, text: await res.text(), retryAfter: res.headers.get('retry-after') };
}

async function gauge(t: TestService): Promise<number> {
  const value = metricValue(await (await fetch(`${t.internalUrl}/metrics`)).text(), 'policy_wasm_memory_bytes');
  assert.ok(value !== undefined, 'policy_wasm_memory_bytes is exposed');
  return value;
}

/** Resolves once the service has handed an evaluation to a worker (its debug line). */
async function dispatched(t: TestService, count = 1): Promise<void> {
  const seen = () => t.log.lines.filter((l) => l.includes('evaluating on a worker')).length >= count;
  assert.ok(await eventually(seen, 400), 'the evaluation is handed to a worker');
}

/** Tracks a promise: whether it has settled yet. */
function track<T>(p: Promise<T>) {
  const state = { settled: false, promise: p };
  p.then(
    () => (state.settled = true),
    () => (state.settled = true),
  );
  return state;
}

describe('evaluation workers', function () {
  this.timeout(60_000);
  const services: TestService[] = [];
  afterEach(async () => {
    for (const s of services.splice(0)) await s.stop();
  });
  const start = async (options: Parameters<typeof startTestService>[0]) => {
    const t = await startTestService(options);
    services.push(t);
    return t;
  };

  it('a huge-groups input runs on a worker: /live, /ready and /metrics answer while it is still being evaluated', async () => {
    const t = await start({ rbac: MANY_BINDINGS });
    const decision = track(post(t, hugeGroupsBody()));
    await dispatched(t);
    // Each probe is sent once the evaluation is under way, and answered before it is done.
    for (const path of ['/live', '/ready', '/metrics']) {
      const probe = await fetch(`${t.internalUrl}${path}`);
      assert.equal(probe.status, 200, path);
      await probe.text();
      assert.equal(decision.settled, false, `${path} was answered while the decision was pending`);
    }
    const res = await decision.promise;
    assert.equal(res.status, 200, res.text);
    assert.equal(res.text, '{"result":true}\n', 'the worker decides as the policy does: team-49 is bound');
  });

  it("an evaluation past --web.decision-timeout is ended: OPA's cancelled-evaluation error, and the next decisions are answered", async () => {
    const policy = writeTempFile('spin.wasm', await stubModule({ evaluate: 'spin-on-large-input' }));
    const t = await start({ flags: [`--policy.wasm=${policy}`, '--policy.inline-max-input-bytes=200', '--web.decision-timeout=3s', '--policy.workers=1'] });
    const large = JSON.stringify({ input: { pad: 'x'.repeat(2000) } });
    const medium = JSON.stringify({ input: { pad: 'x'.repeat(500) } });

    const cut = await post(t, large);
    assert.equal(cut.status, 500, cut.text);
    const body = JSON.parse(cut.text) as { code: string; message: string; errors?: Array<{ code: string; message: string }> };
    assert.equal(body.code, 'internal_error');
    assert.equal(body.message, 'error(s) occurred while evaluating query');
    assert.deepEqual(body.errors, [{ code: 'eval_cancel_error', message: 'context deadline exceeded' }]);
    assert.ok(t.log.text().includes('evaluation past its deadline: worker ended and replaced'));

    // The replacement worker answers (medium goes to a worker, and this stub ends on it), and so
    // does the main thread.
    assert.equal((await post(t, medium)).text, '{"result":true}\n');
    assert.equal((await post(t, JSON.stringify({ input: {} }))).text, '{"result":true}\n');
    // A second runaway is cut the same way: replacement is not a one-off.
    assert.equal((await post(t, large)).status, 500);
    assert.equal((await post(t, medium)).text, '{"result":true}\n');
  });

  it('evaluations beyond the workers and --policy.max-queued-evaluations are refused at once with 503 and Retry-After', async () => {
    const policy = writeTempFile('spin.wasm', await stubModule({ evaluate: 'spin-on-large-input' }));
    const t = await start({
      flags: [
        `--policy.wasm=${policy}`,
        '--policy.inline-max-input-bytes=200',
        '--web.decision-timeout=3s',
        '--policy.workers=1',
        '--policy.max-queued-evaluations=1',
      ],
    });
    const large = JSON.stringify({ input: { pad: 'x'.repeat(2000) } });
    const running = track(post(t, large));
    await dispatched(t);
    const waiting = track(post(t, large));
    // The queue holds one: this one is refused while both others are still pending.
    let refused: { status: number; text: string; retryAfter: string | null } | undefined;
    assert.ok(
      await eventually(async () => {
        refused = await post(t, large);
        return refused.status === 503;
      }, 50),
      `a third large evaluation is refused: ${refused?.text}`,
    );
    assert.equal(running.settled, false);
    assert.equal(waiting.settled, false);
    assert.equal(JSON.parse(refused!.text).code, 'internal_error');
    assert.equal(refused!.retryAfter, '1', 'a shed request says when to come back');
    // Small inputs are not queued behind them.
    assert.equal((await post(t, JSON.stringify({ input: {} }))).text, '{"result":true}\n');
    assert.equal((await running.promise).status, 500);
    assert.equal((await waiting.promise).status, 500);
  });

  it('policy_wasm_memory_bytes reports the live instances: grown by a huge input, back down once the instance is replaced', async () => {
    // Without a reset (threshold out of reach), the worker's instance keeps what the input grew.
    const kept = await start({ rbac: MANY_BINDINGS, flags: [`--policy.memory-reset-bytes=${2 ** 40}`] });
    const idle = await gauge(kept);
    assert.equal((await post(kept, hugeGroupsBody())).status, 200);
    const grown = await gauge(kept);
    assert.ok(grown > idle + (32 << 20), `the huge input grew the policy memory (${idle} -> ${grown})`);

    // With the default reset, the same input leaves the worker's instance fresh again.
    const reset = await start({ rbac: MANY_BINDINGS });
    const before = await gauge(reset);
    assert.equal((await post(reset, hugeGroupsBody())).text, '{"result":true}\n');
    const after = await gauge(reset);
    assert.ok(after < before + (16 << 20), `the grown instance was replaced (${before} -> ${after}, ${grown} without a reset)`);
    assert.equal((await post(reset, hugeGroupsBody(100))).text, '{"result":true}\n', 'the fresh instance serves');
  });

  it('without workers the main-thread instance is replaced after growing, and the gauge follows', async () => {
    const t = await start({ rbac: MANY_BINDINGS, flags: ['--policy.workers=0'] });
    const before = await gauge(t);
    assert.equal((await post(t, hugeGroupsBody())).text, '{"result":true}\n');
    let now = 0;
    assert.ok(
      await eventually(async () => (now = await gauge(t)) < before + (16 << 20)),
      `the gauge drops back once the instance is replaced (${before} -> ${now})`,
    );
    assert.equal((await post(t, SMALL_BODY)).text, '{"result":true}\n');
  });
});

describe('EvaluationPool', function () {
  this.timeout(30_000);
  const RBAC = (user: string) => ({
    roles: [{ name: 'r', resources: ['logs'], tenants: ['application'], permissions: ['read'] }],
    roleBindings: [{ name: 'b', roles: ['r'], subjects: [{ kind: 'user', name: user }] }],
  });
  const INPUT = JSON.stringify({ subject: 'alice', groups: [], permission: 'read', resource: 'logs', tenant: 'application' });
  let pool: EvaluationPool | undefined;
  afterEach(async () => {
    await pool?.close();
    pool = undefined;
  });

  it("each evaluation uses its own decision's policy and data, alternating between reloads", async () => {
    const policy = await CompiledPolicy.load('lokistack.wasm', new Uint8Array(readFileSync(BUNDLED_WASM)), ['lokistack/allow'], { maxBytes: 64 << 20 });
    const allows = await PolicyDocument.create(policy, RBAC('alice'));
    const denies = await PolicyDocument.create(policy, RBAC('bob'));
    pool = new EvaluationPool({ size: 1, maxQueue: 8, resetBytes: 32 << 20 });
    const signal = new AbortController().signal;
    // One worker, so each call switches the documents it holds; queued ones too.
    const results = await Promise.all(
      [allows, denies, allows, denies, denies, allows].map((doc) => pool!.evaluate(doc, ['lokistack', 'allow'], INPUT, signal)),
    );
    assert.deepEqual(
      results.map((d) => (d.defined ? d.value : 'undefined')),
      [true, false, true, false, false, true],
    );
  });

  it('a caller that goes away ends the evaluation; close() ends the workers and fails what waits', async () => {
    const policy = await CompiledPolicy.load('spin.wasm', await stubModule({ evaluate: 'spin-on-large-input' }), ['lokistack/allow'], { maxBytes: 64 << 20 });
    const doc = await PolicyDocument.create(policy, {});
    const ended: string[] = [];
    pool = new EvaluationPool({ size: 1, maxQueue: 4, resetBytes: 32 << 20, onWorkerEnd: (r) => ended.push(r) });
    const leaving = new AbortController();
    const spinning = pool.evaluate(doc, ['lokistack', 'allow'], 'x'.repeat(2000), leaving.signal);
    leaving.abort(new Error('client closed the connection'));
    await assert.rejects(spinning, (err: unknown) => err instanceof PoolEvaluationError && err.kind === 'cancelled');
    assert.equal(ended.length, 1);
    const ok = await pool.evaluate(doc, ['lokistack', 'allow'], '"small"', new AbortController().signal);
    assert.deepEqual(ok, { defined: true, value: true });

    const closed = (err: unknown) => err instanceof PoolEvaluationError && err.kind === 'closed';
    const stuck = assert.rejects(pool.evaluate(doc, ['lokistack', 'allow'], 'x'.repeat(2000), new AbortController().signal), closed);
    const queued = assert.rejects(pool.evaluate(doc, ['lokistack', 'allow'], '"small"', new AbortController().signal), closed);
    await pool.close();
    await stuck;
    await queued;
    assert.equal(pool.workers, 0);
  });
});
