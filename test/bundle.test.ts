import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { readWasmBundle } from '../server/policy/bundle.js';
import { eventually, makeTempDir, metricValue, startTestService, type TestService } from './support/service.js';
import { requireOpa } from './support/tools.js';

/** A user's own policy, as a platform team would write one: not the lokistack package. */
const USER_POLICY = `package authz

import rego.v1

default allow := false

allow if input.user in data.admins

reason := sprintf("user %s", [input.user])
`;

function buildBundle(opa: string, rego: string, data: unknown, entrypoints: string[]): string {
  const dir = makeTempDir();
  writeFileSync(join(dir, 'policy.rego'), rego);
  mkdirSync(join(dir, 'data'));
  writeFileSync(join(dir, 'data', 'data.json'), JSON.stringify(data));
  const out = join(dir, 'bundle.tar.gz');
  const args = ['build', '-t', 'wasm', ...entrypoints.flatMap((e) => ['-e', e]), '-o', out, join(dir, 'policy.rego'), join(dir, 'data', 'data.json')];
  execFileSync(opa, args, { stdio: 'pipe' });
  return out;
}

async function ask(svc: TestService, path: string, input: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${svc.publicUrl}/v1/data/${path}`, { method: 'POST', body: JSON.stringify({ input }) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('own policies: --policy.bundle and --policy.wasm with --policy.data', function () {
  this.timeout(60_000);
  let opa: string;
  before(function () {
    opa = requireOpa(this);
  });

  it('serves an opa build -t wasm bundle: its entrypoints at their Data API paths, its data.json as data', async () => {
    const bundle = buildBundle(opa, USER_POLICY, { admins: ['root'] }, ['authz/allow', 'authz/reason']);
    const svc = await startTestService({ flags: [`--policy.bundle=${bundle}`, '--rbac.config=', '--opa.package=authz'] });
    try {
      assert.deepEqual((await ask(svc, 'authz/allow', { user: 'root' })).body, { result: true });
      assert.deepEqual((await ask(svc, 'authz/allow', { user: 'eve' })).body, { result: false });
      assert.deepEqual((await ask(svc, 'authz/reason', { user: 'eve' })).body, { result: 'user eve' });
      assert.deepEqual((await ask(svc, 'admins/0', {})).body, { result: 'root' });
      assert.deepEqual((await ask(svc, 'lokistack/allow', {})).body, {});
    } finally {
      await svc.stop();
    }
  });

  it('refuses at startup a bundle without the decision entrypoint, naming it', async () => {
    const bundle = buildBundle(opa, USER_POLICY, { admins: [] }, ['authz/reason']);
    await assert.rejects(
      startTestService({ flags: [`--policy.bundle=${bundle}`, '--rbac.config=', '--opa.package=authz'] }),
      /entrypoint "authz\/allow" not found; the policy has "authz\/reason"/,
    );
  });

  it('refuses a policy calling built-ins the runtime lacks, naming them', async () => {
    const rego = 'package authz\n\nimport rego.v1\n\nallow if time.now_ns() > 0\n';
    const bundle = buildBundle(opa, rego, {}, ['authz/allow']);
    await assert.rejects(
      startTestService({ flags: [`--policy.bundle=${bundle}`, '--rbac.config=', '--opa.package=authz'] }),
      /built-ins this runtime lacks: time\.now_ns/,
    );
  });

  it('refuses what is not a bundle, and a bundle without policy.wasm', async () => {
    const dir = makeTempDir();
    const notGzip = join(dir, 'a.tar.gz');
    writeFileSync(notGzip, 'not a bundle');
    assert.throws(() => readWasmBundle(notGzip, readFileSync(notGzip)), /not a gzip-compressed bundle/);
    assert.throws(() => readWasmBundle('empty.tar.gz', gzipSync(Buffer.alloc(1024))), /no policy\.wasm in the bundle/);
  });

  it('serves a bare policy.wasm with its data from --policy.data (JSON or YAML)', async () => {
    const bundle = buildBundle(opa, USER_POLICY, {}, ['authz/allow']);
    const wasm = join(makeTempDir(), 'policy.wasm');
    writeFileSync(wasm, readWasmBundle(bundle, readFileSync(bundle)).wasm);
    const data = join(makeTempDir(), 'data.yaml');
    writeFileSync(data, 'admins: [alice]\n');
    const svc = await startTestService({ flags: [`--policy.wasm=${wasm}`, '--rbac.config=', `--policy.data=${data}`, '--opa.package=authz'] });
    try {
      assert.deepEqual((await ask(svc, 'authz/allow', { user: 'alice' })).body, { result: true });
      assert.deepEqual((await ask(svc, 'authz/allow', { user: 'root' })).body, { result: false });
    } finally {
      await svc.stop();
    }
  });

  it('reloads a changed bundle whole, and keeps serving the old one when the new one is broken', async () => {
    const first = buildBundle(opa, USER_POLICY, { admins: ['root'] }, ['authz/allow']);
    const second = buildBundle(opa, USER_POLICY, { admins: ['bob'] }, ['authz/allow']);
    const live = join(makeTempDir(), 'bundle.tar.gz');
    writeFileSync(live, readFileSync(first));
    const svc = await startTestService({ flags: [`--policy.bundle=${live}`, '--rbac.config=', '--opa.package=authz'] });
    try {
      assert.deepEqual((await ask(svc, 'authz/allow', { user: 'root' })).body, { result: true });
      const tmp = `${live}.tmp`;
      writeFileSync(tmp, readFileSync(second));
      renameSync(tmp, live);
      await svc.service.reload();
      assert.deepEqual((await ask(svc, 'authz/allow', { user: 'bob' })).body, { result: true });
      assert.deepEqual((await ask(svc, 'authz/allow', { user: 'root' })).body, { result: false });

      writeFileSync(tmp, 'broken');
      renameSync(tmp, live);
      await svc.service.reload();
      assert.deepEqual((await ask(svc, 'authz/allow', { user: 'bob' })).body, { result: true });
      const metrics = await (await fetch(`${svc.internalUrl}/metrics`)).text();
      assert.equal(metricValue(metrics, 'config_reloads_total', { config: 'policy', result: 'failure' }), 1);
      assert.ok(await eventually(() => svc.log.records().some((r) => r.msg === 'rejected the new file; the previous policy and data keep serving')));
    } finally {
      await svc.stop();
    }
  });

  it('refuses data in two places', async () => {
    const bundle = buildBundle(opa, USER_POLICY, { admins: ['root'] }, ['authz/allow']);
    const data = join(makeTempDir(), 'data.json');
    writeFileSync(data, '{"admins":[]}');
    await assert.rejects(
      startTestService({ flags: [`--policy.bundle=${bundle}`, '--rbac.config=', `--policy.data=${data}`, '--opa.package=authz'] }),
      /carries data too/,
    );
  });
});
