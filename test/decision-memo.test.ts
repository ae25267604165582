/**
 * Static mode remembers a decision by the exact request that produced it (server/decision/memo.ts,
 * --policy.memo-bytes). The attacker's goals here: be answered a decision made for another
 * request, for roles that no longer hold, or by a policy whose answer changes from call to call.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import fc from 'fast-check';
import { DecisionMemo, type RememberedAnswer } from '../server/decision/memo.js';
import { UNDEFINED, type Authorizer, type Decision, type DecisionRequest } from '../server/decision/types.js';
import { createPublicApp } from '../server/http/app.js';
import { DecisionLog } from '../server/observability/decision-log.js';
import { Metrics } from '../server/observability/metrics.js';
import { CompiledPolicy, NONDETERMINISTIC_BUILTINS } from '../server/policy/wasm-policy.js';
import { ALLOWED_INPUT, DENIED_INPUT, captureLogger, makeTempDir, metricValue, startTestService, type TestService } from './support/service.js';
import { requireOpa, ROOT } from './support/tools.js';

const PATH = '/v1/data/lokistack/allow';

async function post(base: string, body: string | Uint8Array, type = 'application/json', path = PATH): Promise<string> {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': type },
    body: typeof body === 'string' ? body : new Uint8Array(body),
  });
  return `${res.status} ${await res.text()}`;
}

describe('decision memo: which policies may be remembered', function () {
  this.timeout(120_000);
  let opa: string;
  before(function () {
    opa = requireOpa(this);
  });

  it('the nondeterministic built-ins are exactly those the real OPA marks so', () => {
    const caps = JSON.parse(execFileSync(opa, ['capabilities', '--current'], { encoding: 'utf8', maxBuffer: 64 << 20 })) as {
      builtins: Array<{ name: string; nondeterministic?: boolean }>;
    };
    const marked = caps.builtins.filter((b) => b.nondeterministic).map((b) => b.name);
    assert.ok(marked.length > 5, 'OPA marks some built-ins nondeterministic');
    assert.deepEqual([...NONDETERMINISTIC_BUILTINS].sort(), [...new Set(marked)].sort());
  });

  it('a policy calling any of them, compiled by the real OPA, is never remembered (or not loaded at all)', async () => {
    const dir = makeTempDir();
    const calls: Record<string, string> = {
      'http.send': 'http.send({"method": "get", "url": "http://127.0.0.1:9"})',
      'io.jwt.decode_verify': 'io.jwt.decode_verify(input.t, {"secret": "s"})',
      'io.jwt.encode_sign': 'io.jwt.encode_sign({"alg": "HS256"}, {}, {"kty": "oct", "k": "cw"})',
      'io.jwt.encode_sign_raw': 'io.jwt.encode_sign_raw(`{"alg":"HS256"}`, `{}`, `{"kty":"oct","k":"cw"}`)',
      'json.match_schema': 'json.match_schema(input, {})',
      'json.verify_schema': 'json.verify_schema({})',
      'net.lookup_ip_addr': 'net.lookup_ip_addr("localhost")',
      'opa.runtime': 'opa.runtime()',
      'rand.intn': 'rand.intn("x", 10)',
      'time.now_ns': 'time.now_ns()',
      'uuid.rfc4122': 'uuid.rfc4122("x")',
    };
    assert.deepEqual(Object.keys(calls).sort(), [...NONDETERMINISTIC_BUILTINS].sort(), 'one call per built-in');
    for (const [name, call] of Object.entries(calls)) {
      const rego = join(dir, `${name}.rego`);
      writeFileSync(rego, `package lokistack\n\nimport rego.v1\n\nallow if {\n  x := ${call}\n  x != null\n}\n`);
      const out = join(dir, `${name}.tar.gz`);
      execFileSync(opa, ['build', '-t', 'wasm', '-e', 'lokistack/allow', '-o', out, rego], { stdio: 'pipe' });
      execFileSync('tar', ['xzf', out, '-C', dir, '/policy.wasm'], { stdio: 'pipe' });
      const bytes = new Uint8Array(readFileSync(join(dir, 'policy.wasm')));
      let loaded: CompiledPolicy | undefined;
      try {
        loaded = await CompiledPolicy.load(name, bytes, ['lokistack/allow'], { maxBytes: 64 << 20 });
      } catch (err) {
        assert.match(String((err as Error).message), /built-ins this runtime lacks/, name);
        continue;
      }
      assert.ok(loaded.hostBuiltins?.includes(name), `${name} is a host call: ${loaded.hostBuiltins?.join(', ')}`);
      assert.equal(loaded.deterministic, false, name);
    }
  });

  it('the bundled lokistack policy is remembered; a policy with pure host built-ins too', async () => {
    const bundled = await CompiledPolicy.load('bundled', new Uint8Array(readFileSync(join(ROOT, 'wasm/lokistack.wasm'))), ['lokistack/allow'], {
      maxBytes: 64 << 20,
    });
    assert.equal(bundled.deterministic, true);
    const dir = makeTempDir();
    writeFileSync(join(dir, 'p.rego'), 'package lokistack\n\nimport rego.v1\n\nallow if sprintf("%v", [input.subject]) == "alice"\n');
    execFileSync(opa, ['build', '-t', 'wasm', '-e', 'lokistack/allow', '-o', join(dir, 'b.tar.gz'), join(dir, 'p.rego')], { stdio: 'pipe' });
    execFileSync('tar', ['xzf', join(dir, 'b.tar.gz'), '-C', dir, '/policy.wasm'], { stdio: 'pipe' });
    const pure = await CompiledPolicy.load('pure', new Uint8Array(readFileSync(join(dir, 'policy.wasm'))), ['lokistack/allow'], { maxBytes: 64 << 20 });
    assert.ok(pure.hostBuiltins?.includes('sprintf'));
    assert.equal(pure.deterministic, true);
  });
});

describe('decision memo: the running service answers a repeat as it answered the first', function () {
  this.timeout(120_000);
  let on: TestService;
  let off: TestService;
  before(async () => {
    on = await startTestService();
    off = await startTestService({ flags: ['--policy.memo-bytes=0'] });
  });
  after(async () => {
    await on?.stop();
    await off?.stop();
  });

  it('allow, deny and undefined: byte-identical to the first answer, and to a service that remembers nothing', async () => {
    const cases: Array<[string, string]> = [
      [PATH, JSON.stringify({ input: ALLOWED_INPUT })],
      [PATH, JSON.stringify({ input: DENIED_INPUT })],
      ['/v1/data/lokistack/nothing_here', JSON.stringify({ input: ALLOWED_INPUT })],
    ];
    for (const [path, body] of cases) {
      const want = await post(off.publicUrl, body, 'application/json', path);
      for (let i = 0; i < 3; i++) assert.equal(await post(on.publicUrl, body, 'application/json', path), want, `${path} ${body} #${i}`);
    }
    // Each answer was counted as a decision, remembered or not.
    const text = await (await fetch(`${on.internalUrl}/metrics`)).text();
    assert.equal(metricValue(text, 'decisions_total', { mode: 'static', result: 'allow' }), 3);
    assert.equal(metricValue(text, 'decisions_total', { mode: 'static', result: 'deny' }), 3);
    assert.equal(metricValue(text, 'decisions_total', { mode: 'static', result: 'undefined' }), 3);
  });

  it('requests differing in any byte, Content-Type or path are never answered for each other (fuzzed against a service that remembers nothing)', async () => {
    // Near-identical requests: the same inputs with keys recased, duplicated, escaped, respaced,
    // invalid UTF-8 inside strings, YAML instead of JSON, `input` missing.
    const allowed = JSON.stringify({ input: ALLOWED_INPUT });
    const denied = JSON.stringify({ input: DENIED_INPUT });
    const variants = [
      allowed,
      denied,
      allowed.replace('"input"', '"INPUT"'),
      allowed.replace('"input"', '"inpuT"'),
      `{"input":${JSON.stringify(ALLOWED_INPUT)},"input":${JSON.stringify(DENIED_INPUT)}}`,
      `{"input":${JSON.stringify(DENIED_INPUT)},"Input":${JSON.stringify(ALLOWED_INPUT)}}`,
      allowed.replace('application', 'applic\\u0061tion'),
      allowed.replace('application', 'applicatio\\u006e '),
      ` ${allowed}`,
      allowed.replace('alice@example.com', 'alice@example.co\u212a'),
      '{}',
      '{"input":null}',
      'input:\n  subject: alice@example.com\n  permission: read\n  resource: logs\n  tenant: application\n',
    ];
    const withBytes = (text: string, byte: number) => {
      const b = Buffer.from(text);
      const at = b.indexOf('alice');
      return at < 0 ? b : Buffer.concat([b.subarray(0, at + 5), Buffer.from([byte]), b.subarray(at + 5)]);
    };
    const types = ['application/json', 'application/x-yaml', 'text/plain'];
    const paths = [PATH, '/v1/data/lokistack', '/v1/data/lokistack/allow%2F'];
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            v: fc.nat(variants.length - 1),
            invalid: fc.option(fc.constantFrom(0x80, 0xbf, 0xc0, 0xfe, 0xff), { nil: undefined }),
            t: fc.nat(types.length - 1),
            p: fc.nat(paths.length - 1),
          }),
          { minLength: 1, maxLength: 12 },
        ),
        async (reqs) => {
          for (const r of reqs) {
            const text = variants[r.v]!;
            const body = r.invalid === undefined ? text : withBytes(text, r.invalid);
            const want = await post(off.publicUrl, body, types[r.t], paths[r.p]);
            assert.equal(await post(on.publicUrl, body, types[r.t], paths[r.p]), want, JSON.stringify(r));
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('a reload that takes a role away: the remembered allow is not answered again', async () => {
    const body = JSON.stringify({ input: ALLOWED_INPUT });
    assert.equal(await post(on.publicUrl, body), '200 {"result":true}\n');
    assert.equal(await post(on.publicUrl, body), '200 {"result":true}\n');
    writeFileSync(on.rbacFile, readFileSync(on.rbacFile, 'utf8').replace('name: alice@example.com', 'name: someone-else@example.com'));
    await on.service.reload();
    assert.equal(await post(on.publicUrl, body), '200 {"result":false}\n');
  });
});

/** The Data API over an authorizer that counts its decisions and says what generation it serves. */
async function countingApp(options: { memoBytes?: number; decisionLog?: boolean } = {}) {
  const state = { calls: 0, generation: {} as object | undefined, value: true as unknown };
  const authorizer: Authorizer = {
    mode: 'static',
    ready: () => true,
    memoGeneration: () => state.generation,
    async decide(_req: DecisionRequest): Promise<Decision> {
      state.calls++;
      return state.value === undefined ? UNDEFINED : { defined: true, value: state.value };
    },
  };
  const events: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      events.push(String(chunk));
      done();
    },
  });
  const metrics = new Metrics({ processMetrics: false });
  const app = createPublicApp({
    authorizer,
    metrics,
    logger: captureLogger('error').logger,
    health: { live: {}, ready: {} },
    version: 'test',
    options: { maxBytes: 4096, maxDepth: 64, decisionTimeoutMs: 5000, memoBytes: options.memoBytes ?? 1 << 20 },
    ...(options.decisionLog ? { decisionLog: new DecisionLog(sink, { mask: [], labels: {}, maxPending: 10, maxInputBytes: 100_000 }) } : {}),
  });
  const server: Server = createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { state, events, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((r) => server.close(r)) };
}

describe('decision memo: when the Data API asks the authorizer again', () => {
  const body = JSON.stringify({ input: ALLOWED_INPUT });

  it('the same request is decided once per generation; a new generation decides it again', async () => {
    const app = await countingApp();
    try {
      for (let i = 0; i < 3; i++) assert.equal(await post(app.base, body), '200 {"result":true}\n');
      assert.equal(app.state.calls, 1);
      app.state.generation = {};
      app.state.value = false;
      assert.equal(await post(app.base, body), '200 {"result":false}\n');
      assert.equal(app.state.calls, 2);
    } finally {
      await app.close();
    }
  });

  it('every request is decided when the authorizer gives no generation, with query parameters, or with --policy.memo-bytes=0', async () => {
    const noGeneration = await countingApp();
    const zero = await countingApp({ memoBytes: 0 });
    try {
      noGeneration.state.generation = undefined;
      for (let i = 0; i < 3; i++) await post(noGeneration.base, body);
      assert.equal(noGeneration.state.calls, 3);
      noGeneration.state.generation = {};
      for (let i = 0; i < 3; i++) await post(noGeneration.base, body, 'application/json', `${PATH}?pretty=true`);
      assert.equal(noGeneration.state.calls, 6);
      for (let i = 0; i < 3; i++) await post(zero.base, body);
      assert.equal(zero.state.calls, 3);
    } finally {
      await noGeneration.close();
      await zero.close();
    }
  });

  it('with a decision log, every request is decided and logged with its input', async () => {
    const app = await countingApp({ decisionLog: true });
    try {
      for (let i = 0; i < 3; i++) await post(app.base, body);
      assert.equal(app.state.calls, 3);
      const logged = app.events
        .join('')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { input?: unknown });
      assert.equal(logged.length, 3);
      for (const e of logged) assert.deepEqual(e.input, ALLOWED_INPUT);
    } finally {
      await app.close();
    }
  });

  it('an object result is remembered as the bytes it was answered with', async () => {
    const app = await countingApp();
    try {
      app.state.value = { allowed: true, z: ['<a>'], a: 1 };
      for (let i = 0; i < 3; i++) assert.equal(await post(app.base, body), '200 {"result":{"a":1,"allowed":true,"z":["\\u003ca\\u003e"]}}\n');
      assert.equal(app.state.calls, 1);
    } finally {
      await app.close();
    }
  });
});

describe('DecisionMemo: bounded by bytes, oldest forgotten first, expired never answered', () => {
  const allow: RememberedAnswer = { outcome: 'allow', text: '{"result":true}\n', until: Infinity };

  it('holds no more than its bytes, and forgets the oldest requests first', () => {
    const memo = new DecisionMemo(10_000);
    const generation = {};
    for (let i = 0; i < 1000; i++) memo.set(generation, `request-${String(i).padStart(4, '0')}${'x'.repeat(100)}`, allow);
    // Each key is 108 characters and its answer 16: 2 bytes each plus the entry overhead.
    assert.ok(memo.size > 0 && memo.size <= Math.floor(10_000 / (2 * (108 + 16))), `size ${memo.size}`);
    assert.deepEqual(memo.get(generation, `request-0999${'x'.repeat(100)}`), allow);
    assert.equal(memo.get(generation, `request-0000${'x'.repeat(100)}`), undefined);
  });

  it('a key larger than the whole memo is not kept; another generation sees nothing', () => {
    const memo = new DecisionMemo(1000);
    const generation = {};
    memo.set(generation, 'x'.repeat(1000), allow);
    assert.equal(memo.size, 0);
    memo.set(generation, 'small', allow);
    assert.equal(memo.get({}, 'small'), undefined);
    assert.deepEqual(memo.get(generation, 'small'), allow);
    memo.set({}, 'other', allow);
    assert.equal(memo.get(generation, 'small'), undefined, 'a new generation forgets the old one');
  });

  it('an answer given a time is answered until then and never after; a later time replaces an earlier one', () => {
    let now = 1000;
    const memo = new DecisionMemo(10_000, () => now);
    const generation = {};
    const until = (t: number): RememberedAnswer => ({ outcome: 'allow', text: '{"result":{"allowed":true}}\n', until: t });
    memo.set(generation, 'past', until(999));
    assert.equal(memo.size, 0, 'an answer already expired is not kept');
    memo.set(generation, 'k', until(1500));
    now = 1500;
    assert.equal(memo.get(generation, 'k')?.until, 1500, 'answered up to its time, as the decision cache judges its entries');
    memo.set(generation, 'k', until(1400));
    assert.equal(memo.get(generation, 'k')?.until, 1500, 'an earlier time does not shorten it');
    memo.set(generation, 'k', until(2500));
    assert.equal(memo.get(generation, 'k')?.until, 2500);
    now = 2500.001;
    assert.equal(memo.get(generation, 'k'), undefined, 'past its time');
    assert.equal(memo.size, 0, 'and forgotten');
    // The bytes of what was forgotten are given back: a full memo of expired answers takes new ones.
    for (let i = 0; i < 100; i++) memo.set(generation, `a${i}`, until(3000));
    const held = memo.size;
    now = 3001;
    for (let i = 0; i < 100; i++) assert.equal(memo.get(generation, `a${i}`), undefined);
    for (let i = 0; i < 100; i++) memo.set(generation, `b${i}`, until(4000));
    assert.equal(memo.size, held, 'as many new answers fit as expired ones left');
  });
});
