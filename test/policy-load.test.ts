/**
 * A bad policy file must never take the process down (issue 10 items 2, 3, 6): a module whose
 * start function, builtins export or entrypoint never ends, a bundle or data past its bounds, a
 * load that fills its heap, and a policy that prints. Loads run on their own thread: startup fails
 * with a message, a reload is rejected while probes and decisions keep being answered.
 */
import assert from 'node:assert/strict';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { ConfigError } from '../server/errors.js';
import { runPolicyLoad } from '../server/policy/load-runner.js';
import { CompiledPolicy } from '../server/policy/wasm-policy.js';
import { ALLOWED_INPUT, eventually, makeTempDir, metricValue, startTestService, writeTempFile } from './support/service.js';
import { stubModule } from './support/wasm-stub.js';

/** Status and result of a decision (a decision log's decision_id left out). */
const decide = (base: string, input: unknown = ALLOWED_INPUT) =>
  fetch(`${base}/v1/data/lokistack/allow`, { method: 'POST', body: JSON.stringify({ input }) }).then(
    async (r) => `${r.status} ${JSON.stringify({ result: ((await r.json()) as { result: unknown }).result })}`,
  );

/** A tar.gz holding `files` at `/name`, as opa build writes bundles. */
function bundle(files: Record<string, string | Uint8Array>): Uint8Array {
  const dir = makeTempDir();
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  const out = join(makeTempDir(), 'bundle.tar.gz');
  execFileSync('tar', ['czPf', out, '--format=pax', '--transform', 's,^\\./,/,', '-C', dir, ...Object.keys(files).map((f) => `./${f}`)]);
  return execFileSync('cat', [out]);
}

describe('policy loads: a file that never finishes loading (issue 10 item 2)', function () {
  this.timeout(60_000);

  for (const spin of ['start', 'builtins', 'entrypoints'] as const) {
    it(`a module whose ${spin === 'start' ? 'start function' : `${spin} export`} never ends fails startup with the deadline named`, async () => {
      const wasm = writeTempFile('spin.wasm', await stubModule({ spin }));
      await assert.rejects(
        startTestService({ flags: [`--policy.wasm=${wasm}`, '--policy.load-timeout=1s'] }),
        /loading the policy did not finish within 1000 ms \(--policy\.load-timeout\)/,
      );
    });
  }

  it('an entrypoint that never ends (on any input) fails startup the same way', async () => {
    const wasm = writeTempFile('spin.wasm', await stubModule({ evaluate: 'spin' }));
    await assert.rejects(startTestService({ flags: [`--policy.wasm=${wasm}`, '--policy.load-timeout=1s'] }), /did not finish within 1000 ms/);
  });

  it('on reload, /live and decisions are answered while the looping load runs; it is then rejected and counted, the old policy serving', async () => {
    const dir = makeTempDir();
    const live = join(dir, 'policy.wasm');
    writeFileSync(live, await stubModule({ result: '[{"result":true}]' }));
    const svc = await startTestService({ flags: [`--policy.wasm=${live}`, '--policy.load-timeout=3s'] });
    try {
      assert.equal(await decide(svc.publicUrl), '200 {"result":true}');
      writeFileSync(join(dir, 'next.wasm'), await stubModule({ spin: 'start' }));
      renameSync(join(dir, 'next.wasm'), live);
      let reloaded = false;
      const reload = svc.service.reload().finally(() => (reloaded = true));
      // The load is under way once the watcher has handed the new file to a loading thread.
      const loads = () => svc.log.records().filter((r) => r.msg === 'loading the policy on a loading thread').length;
      assert.ok(await eventually(() => loads() === 2), 'the reload reached the loading thread');
      const probe = await fetch(`${svc.internalUrl}/live`);
      assert.equal(probe.status, 200);
      assert.equal(await decide(svc.publicUrl), '200 {"result":true}');
      assert.equal(reloaded, false, 'the probe and the decision were answered while the load was still running');
      await reload;
      const metrics = await (await fetch(`${svc.internalUrl}/metrics`)).text();
      assert.equal(metricValue(metrics, 'config_reloads_total', { config: 'policy', result: 'failure' }), 1);
      assert.ok(
        svc.log
          .records()
          .some((r) => r.msg === 'rejected the new file; the previous policy and data keep serving' && /--policy\.load-timeout/.test(String(r.reason))),
      );
      assert.equal(await decide(svc.publicUrl), '200 {"result":true}');
    } finally {
      await svc.stop();
    }
  });
});

describe('policy loads: large bundles and data (issue 10 item 3)', function () {
  this.timeout(60_000);

  it('a bundle decompressing past --policy.max-bundle-bytes is refused at startup, naming the flag', async () => {
    const wasm = await stubModule();
    const big = bundle({ 'policy.wasm': wasm, 'pad.bin': Buffer.alloc(2 << 20) });
    const file = writeTempFile('bundle.tar.gz', big);
    await assert.rejects(
      startTestService({ flags: [`--policy.bundle=${file}`, '--rbac.config=', '--policy.max-bundle-bytes=1048576'] }),
      /decompresses to more than 1048576 bytes \(--policy\.max-bundle-bytes\)/,
    );
  });

  it('a bundle whose data files hold more than --policy.max-data-bytes is refused, though small compressed', async () => {
    const data = JSON.stringify({ users: Array.from({ length: 100_000 }, (_, i) => `user-${i}`) });
    const file = writeTempFile('bundle.tar.gz', bundle({ 'policy.wasm': await stubModule(), 'data.json': data }));
    await assert.rejects(
      startTestService({ flags: [`--policy.bundle=${file}`, '--rbac.config=', '--policy.max-data-bytes=1048576'] }),
      /data files hold more than 1048576 bytes \(--policy\.max-data-bytes\)/,
    );
  });

  it('a load that needs more heap than its bound ends its thread with a message; the process goes on', async () => {
    // 4 million small objects: about 40 MiB of JSON, several hundred MiB once parsed.
    const data = `{"rows":[${Array.from({ length: 4_000_000 }, (_, i) => `{"a":${i}}`).join(',')}]}`;
    const wasm = await stubModule();
    const files = new Map([
      ['policy.wasm', new Uint8Array(wasm)],
      ['data.json', new Uint8Array(Buffer.from(data))],
    ]);
    const spec = {
      entrypoint: 'lokistack/allow',
      policyFile: 'policy.wasm',
      dataFile: 'data.json',
      claims: false,
      reload: true,
      maxMemoryBytes: 256 << 20,
      instanceMaxBytes: 128 << 20,
      maxBundleBytes: 64 << 20,
      maxDataBytes: 64 << 20,
    };
    await assert.rejects(
      runPolicyLoad(spec, files as Map<string, Uint8Array<ArrayBuffer>>, { timeoutMs: 50_000, maxHeapMb: 128 }),
      /needs more than the 128 MiB heap a load may use/,
    );
  });
});

describe('policy loads: errors keep their class across the loading thread', function () {
  this.timeout(60_000);

  it('an invalid rbac file rejects with a ConfigError (code invalid_config) naming the file and the field, as a load on the main thread would', async () => {
    const rbac = 'roles:\n  - name: r\n    resources: [logs]\n    tenants: [application]\n    permissions: [fly]\nroleBindings: []\n';
    const files = new Map([
      ['policy.wasm', new Uint8Array(await stubModule())],
      ['rbac.yaml', new Uint8Array(Buffer.from(rbac))],
    ]);
    const spec = {
      entrypoint: 'lokistack/allow',
      policyFile: 'policy.wasm',
      rbacFile: 'rbac.yaml',
      claims: false,
      reload: false,
      maxMemoryBytes: 256 << 20,
      instanceMaxBytes: 128 << 20,
      maxBundleBytes: 64 << 20,
      maxDataBytes: 64 << 20,
    };
    const err = await runPolicyLoad(spec, files as Map<string, Uint8Array<ArrayBuffer>>, { timeoutMs: 50_000, maxHeapMb: 128 }).then(
      () => assert.fail('the load succeeded'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ConfigError, `a ConfigError: ${String(err)}`);
    assert.equal(err.code, 'invalid_config');
    assert.equal(err.source, 'rbac.yaml');
    assert.match(err.field, /permissions/);
    assert.match(err.message, /^rbac\.yaml: .*permissions.*fly/);
  });
});

describe('policy print() goes to the logger, never to stdout (issue 10 item 6)', function () {
  this.timeout(60_000);
  const FORGED = '{"decision_id":"forged","path":"lokistack/allow","result":true}';

  it('a print during evaluation reaches the print sink, and nothing reaches stdout', async () => {
    const lines: string[] = [];
    const policy = await CompiledPolicy.load(
      'print.wasm',
      await stubModule({ evaluate: 'print', printed: FORGED }),
      ['lokistack/allow'],
      { maxBytes: 64 << 20 },
      (l) => lines.push(l),
    );
    const instance = await policy.instantiate({});
    const written: string[] = [];
    const write = process.stdout.write;
    process.stdout.write = ((chunk: string | Uint8Array) => (written.push(String(chunk)), true)) as typeof process.stdout.write;
    try {
      instance.evaluate(0, '{}');
    } finally {
      process.stdout.write = write;
    }
    assert.deepEqual(lines, [FORGED]);
    assert.deepEqual(written, []);
  });

  it('the service logs prints with the policy name, from the main thread and from a worker, and stdout gets none', async () => {
    const wasm = writeTempFile('print.wasm', await stubModule({ evaluate: 'print', printed: FORGED }));
    const svc = await startTestService({
      flags: [`--policy.wasm=${wasm}`, '--policy.inline-max-input-bytes=200', '--policy.workers=1', '--decision-log.output=stdout'],
    });
    const written: string[] = [];
    const write = process.stdout.write;
    process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      written.push(String(chunk));
      const done = rest.find((a) => typeof a === 'function') as (() => void) | undefined;
      if (done) queueMicrotask(done);
      return true;
    }) as typeof process.stdout.write;
    try {
      assert.equal(await decide(svc.publicUrl), '200 {"result":true}');
      assert.equal(await decide(svc.publicUrl, { pad: 'x'.repeat(500) }), '200 {"result":true}');
      assert.ok(await eventually(() => svc.log.records().filter((r) => r.msg === 'policy print' && r.print === FORGED && r.policy === wasm).length >= 2));
      // stdout holds the decision log, and only it: the two events, none forged.
      assert.ok(
        await eventually(
          () =>
            written
              .join('')
              .split('\n')
              .filter((l) => l.includes('"decision_id"')).length === 2,
        ),
      );
      assert.ok(!written.join('').includes('"decision_id":"forged"'), 'the printed line reached stdout');
    } finally {
      process.stdout.write = write;
      await svc.stop();
    }
  });
});
