/**
 * server/policy/wasm-policy.ts: loading compiled policies. The real wasm/lokistack.wasm, and small
 * hand-written OPA ABI modules (assembled from WAT with wabt) for the faults a real build cannot
 * produce: wrong ABI, missing exports, built-ins the runtime lacks, evaluation that traps.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import request from 'supertest';
import { BUNDLED_WASM } from '../server/config/bundled-policy.js';
import { StaticAuthorizer } from '../server/decision/static.js';
import { PolicyLoadError } from '../server/errors.js';
import { createPublicApp } from '../server/http/app.js';
import { Metrics } from '../server/observability/metrics.js';
import { PolicyStore } from '../server/policy/store.js';
import { CompiledPolicy } from '../server/policy/wasm-policy.js';
import { captureLogger, metricValue } from './support/service.js';
import { stubModule, type StubOptions } from './support/wasm-stub.js';

const LIMITS = { maxBytes: 64 << 20 };
const realBytes = (): Uint8Array<ArrayBuffer> => new Uint8Array(readFileSync(BUNDLED_WASM));

const RBAC = {
  roles: [{ name: 'app-read', resources: ['logs'], tenants: ['application'], permissions: ['read'] }],
  roleBindings: [{ name: 'b', roles: ['app-read'], subjects: [{ kind: 'user', name: 'alice' }] }],
};
const ALLOW = { subject: 'alice', groups: [], permission: 'read', resource: 'logs', tenant: 'application' };

/** Expects `promise` to reject with a PolicyLoadError of `code`; returns its message. */
async function loadFails(promise: Promise<unknown>, code: PolicyLoadError['code']): Promise<string> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof PolicyLoadError, `expected a PolicyLoadError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err.message;
  }
  assert.fail(`expected a PolicyLoadError ${code}`);
}

describe('CompiledPolicy', () => {
  describe('the real compiled policy (wasm/lokistack.wasm)', () => {
    it('loads with its entrypoints lokistack/allow, lokistack/label_policy, lokistack and the reasons package', async () => {
      const policy = await CompiledPolicy.load('lokistack.wasm', realBytes(), ['lokistack/allow', 'lokistack'], LIMITS);
      assert.deepEqual([...policy.entrypoints.keys()].sort(), [
        'lokistack',
        'lokistack/allow',
        'lokistack/label_policy',
        // The reasons package (policies/reasons.rego): OPA's build exposes the rules `why` is made of too.
        'lokistack_reasons/grants',
        'lokistack_reasons/matched',
        'lokistack_reasons/why',
      ]);
      assert.equal(policy.source, 'lokistack.wasm');
    });

    it('evaluates allow and deny over the data it is given', async () => {
      const policy = await CompiledPolicy.load('lokistack.wasm', realBytes(), ['lokistack/allow'], LIMITS);
      const instance = await policy.instantiate(RBAC);
      const allow = policy.entrypoints.get('lokistack/allow')!;
      assert.deepEqual(instance.evaluate(allow, JSON.stringify(ALLOW)), [{ result: true }]);
      assert.deepEqual(instance.evaluate(allow, JSON.stringify({ ...ALLOW, tenant: 'audit' })), [{ result: false }]);
      assert.deepEqual(instance.evaluate(allow, undefined), [{ result: false }]);
      const pkg = policy.entrypoints.get('lokistack')!;
      assert.deepEqual(instance.evaluate(pkg, JSON.stringify(ALLOW)), [
        { result: { allow: true, label_policy: { restricted: false }, matched_role_binding: [0] } },
      ]);
    });

    it('falsy inputs (false, 0, "", null) reach the policy as input, not as no input', async () => {
      // The SDK drops falsy JavaScript inputs; the serialized form must get through. A stub tells.
      const policy = await CompiledPolicy.load('stub.wasm', await stubModule({ evaluate: 'tell-input', result: '[{"result":"input"}]' }), [], LIMITS);
      const instance = await policy.instantiate({});
      for (const json of ['false', '0', '""', 'null', '{}']) assert.deepEqual(instance.evaluate(0, json), [{ result: 'input' }], json);
      assert.deepEqual(instance.evaluate(0, undefined), [{ result: 'no input' }]);
      // And the real policy keeps answering after them.
      const real = await (await CompiledPolicy.load('lokistack.wasm', realBytes(), ['lokistack/allow'], LIMITS)).instantiate(RBAC);
      for (const json of ['false', '0', '""']) assert.deepEqual(real.evaluate(0, json), [{ result: false }], json);
      assert.deepEqual(real.evaluate(0, JSON.stringify(ALLOW)), [{ result: true }]);
    });

    it('instances are independent: new data in one does not change another', async () => {
      const policy = await CompiledPolicy.load('lokistack.wasm', realBytes(), ['lokistack/allow'], LIMITS);
      const before = await policy.instantiate(RBAC);
      const after = await policy.instantiate({ roles: [], roleBindings: [] });
      assert.deepEqual(before.evaluate(0, JSON.stringify(ALLOW)), [{ result: true }]);
      assert.deepEqual(after.evaluate(0, JSON.stringify(ALLOW)), [{ result: false }]);
    });

    it('a required entrypoint it lacks: the error names it and lists the ones it has', async () => {
      const msg = await loadFails(CompiledPolicy.load('/p/lokistack.wasm', realBytes(), ['lokistack/deny'], LIMITS), 'missing_entrypoint');
      assert.ok(msg.startsWith('/p/lokistack.wasm: '), msg);
      assert.ok(msg.includes('"lokistack/deny"'), msg);
      assert.ok(msg.includes('"lokistack/allow"') && msg.includes('"lokistack"'), msg);
    });

    it('the memory bound holds: an input larger than --policy.max-memory-bytes fails, memory stays within the bound', async () => {
      const maxBytes = 4 << 20;
      const policy = await CompiledPolicy.load('lokistack.wasm', realBytes(), ['lokistack/allow'], { maxBytes });
      const instance = await policy.instantiate(RBAC);
      const huge = JSON.stringify({ ...ALLOW, pad: 'x'.repeat(maxBytes * 2) });
      assert.throws(() => instance.evaluate(0, huge));
      assert.ok(instance.memoryBytes() <= maxBytes, `${instance.memoryBytes()} > ${maxBytes}`);
    });
  });

  describe('modules that cannot serve', () => {
    it('bytes that are not WebAssembly: not_wasm, naming the file', async () => {
      const msg = await loadFails(CompiledPolicy.load('/p/policy.wasm', new Uint8Array(Buffer.from('package lokistack\n')), [], LIMITS), 'not_wasm');
      assert.ok(msg.startsWith('/p/policy.wasm: '), msg);
      assert.match(msg, /not a WebAssembly module/);
    });

    it('a truncated real policy: not_wasm', async () => {
      const bytes = realBytes();
      await loadFails(CompiledPolicy.load('/p/policy.wasm', bytes.slice(0, Math.floor(bytes.length / 2)), [], LIMITS), 'not_wasm');
    });

    it('the stub itself loads and evaluates (so the faults below are the only difference)', async () => {
      const policy = await CompiledPolicy.load('stub.wasm', await stubModule(), ['lokistack/allow', 'lokistack'], LIMITS);
      const instance = await policy.instantiate({});
      assert.deepEqual(instance.evaluate(0, '{}'), [{ result: true }]);
    });

    it('a wrong ABI major version: abi_version, naming the file and the version', async () => {
      const msg = await loadFails(CompiledPolicy.load('/p/v2.wasm', await stubModule({ abiVersion: 2 }), ['lokistack/allow'], LIMITS), 'abi_version');
      assert.ok(msg.startsWith('/p/v2.wasm: '), msg);
      assert.match(msg, /ABI version 2\b/);
    });

    it('missing exports: missing_export, naming each one', async () => {
      const msg = await loadFails(
        CompiledPolicy.load('/p/partial.wasm', await stubModule({ omit: ['opa_json_dump', 'opa_malloc'] }), ['lokistack/allow'], LIMITS),
        'missing_export',
      );
      assert.ok(msg.startsWith('/p/partial.wasm: '), msg);
      assert.ok(msg.includes('opa_json_dump') && msg.includes('opa_malloc'), msg);
    });

    it('no ABI version global: missing_export', async () => {
      const msg = await loadFails(CompiledPolicy.load('/p/x.wasm', await stubModule({ omit: ['opa_wasm_abi_version'] }), [], LIMITS), 'missing_export');
      assert.ok(msg.includes('opa_wasm_abi_version'), msg);
    });

    it('no evaluation export at all (neither opa_eval nor eval): missing_export', async () => {
      const msg = await loadFails(CompiledPolicy.load('/p/x.wasm', await stubModule({ omit: ['opa_eval'] }), [], LIMITS), 'missing_export');
      assert.match(msg, /opa_eval/);
    });

    it('a policy calling a built-in this runtime lacks: missing_builtin, naming it', async () => {
      const msg = await loadFails(
        CompiledPolicy.load('/p/net.wasm', await stubModule({ builtins: '{"http.send":0,"count":1}' }), ['lokistack/allow'], LIMITS),
        'missing_builtin',
      );
      assert.ok(msg.startsWith('/p/net.wasm: '), msg);
      assert.ok(msg.includes('http.send'), msg);
      assert.ok(!msg.includes('count'), `count is implemented and must not be listed: ${msg}`);
    });

    it('a required entrypoint missing from a module with none: lists "none"', async () => {
      const msg = await loadFails(
        CompiledPolicy.load('/p/empty.wasm', await stubModule({ entrypoints: '{}' }), ['lokistack/allow'], LIMITS),
        'missing_entrypoint',
      );
      assert.ok(msg.includes('"lokistack/allow"'), msg);
      assert.match(msg, /none/);
    });
  });

  describe('evaluation failures through the HTTP layer', () => {
    async function appFor(evaluate: StubOptions['evaluate']) {
      const policy = await CompiledPolicy.load('stub.wasm', await stubModule({ evaluate }), ['lokistack/allow'], LIMITS);
      const store = new PolicyStore(policy);
      await store.setData({});
      const log = captureLogger('debug');
      const renewed: unknown[] = [];
      const authorizer = new StaticAuthorizer({ store, onRenew: (err) => renewed.push(err) });
      const metrics = new Metrics({ processMetrics: false });
      const app = createPublicApp({
        authorizer,
        metrics,
        logger: log.logger,
        health: { live: {}, ready: {} },
        version: 'test',
        options: { maxBytes: 1 << 20, maxDepth: 64, decisionTimeoutMs: 5000 },
      });
      return { app, renewed, metrics, log };
    }

    it("a trap answers 500 internal_error in OPA's envelope, and the next request is answered", async () => {
      const { app, metrics } = await appFor('trap');
      const res = await request(app).post('/v1/data/lokistack/allow').send({ input: ALLOW });
      assert.equal(res.status, 500);
      assert.equal(res.headers['content-type'], 'application/json');
      const body = JSON.parse(res.text) as { code: string; message: string; errors?: Array<{ code: string; message: string }> };
      assert.deepEqual(Object.keys(body), ['code', 'message', 'errors']);
      assert.equal(body.code, 'internal_error');
      assert.equal(body.message, 'error(s) occurred while evaluating query');
      assert.equal(body.errors?.[0]?.code, 'eval_internal_error');
      assert.equal(res.text, `${JSON.stringify(body, null, 2)}\n`);
      // Served again (still failing: this stub always traps), not hung, not crashed.
      const again = await request(app).post('/v1/data/lokistack/allow').send({ input: ALLOW });
      assert.equal(again.status, 500);
      assert.equal(JSON.parse(again.text).code, 'internal_error');
      assert.equal(metricValue(await metrics.registry.metrics(), 'decisions_total', { mode: 'static', result: 'error' }), 2);
    });

    it('after a trap the broken instance is replaced: the next request is decided by a fresh one', async () => {
      const { app, renewed, log } = await appFor('trap-on-large-input');
      const ok = await request(app).post('/v1/data/lokistack/allow').send({ input: 1 });
      assert.equal(ok.text, '{"result":true}\n');
      const trapped = await request(app).post('/v1/data/lokistack/allow').send({ input: ALLOW });
      assert.equal(trapped.status, 500);
      assert.equal(JSON.parse(trapped.text).code, 'internal_error');
      assert.equal(renewed.length, 1);
      assert.ok(renewed[0] instanceof WebAssembly.RuntimeError);
      // The old instance would trap on every call now; a fresh one answers.
      const next = await request(app).post('/v1/data/lokistack/allow').send({ input: 1 });
      assert.equal(next.status, 200, next.text);
      assert.equal(next.text, '{"result":true}\n');
      assert.ok(log.text().includes('error(s) occurred while evaluating query'), 'the 500 is logged');
    });

    it("opa_abort (the policy's own error) answers 500 internal_error with the abort message", async () => {
      const { app } = await appFor('abort');
      const res = await request(app).post('/v1/data/lokistack/allow').send({ input: ALLOW });
      assert.equal(res.status, 500);
      const body = JSON.parse(res.text) as { code: string; errors?: Array<{ message: string }> };
      assert.equal(body.code, 'internal_error');
      assert.equal(body.errors?.[0]?.message, 'stub policy aborted');
      const again = await request(app).post('/v1/data/lokistack/allow').send({ input: ALLOW });
      assert.equal(again.status, 500);
    });

    it('a request for another path than the failing entrypoint is still answered', async () => {
      const { app } = await appFor('trap');
      const res = await request(app).post('/v1/data/roles').send({ input: ALLOW });
      assert.equal(res.status, 200);
      assert.equal(res.text, '{}\n');
    });
  });
});
