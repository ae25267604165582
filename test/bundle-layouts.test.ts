/**
 * Bundle layouts against real OPA (issue 10 item 1). Each layout is packed twice: as a Rego bundle
 * (policy.rego beside the data files) that `opa eval -b` loads and evaluates, and as the Wasm bundle
 * this service serves (policy.wasm beside the same data files). Real OPA is the oracle: the same
 * bundles are refused, and the served ones answer the same, the data document included.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { readWasmBundle } from '../server/policy/bundle.js';
import { PolicyDocument } from '../server/policy/document.js';
import { CompiledPolicy } from '../server/policy/wasm-policy.js';
import { makeTempDir, startTestService } from './support/service.js';
import { requireOpa } from './support/tools.js';

// The rule: a subject listed under data.blocked is never allowed.
const REGO = `package authz

import rego.v1

default allow := false

allow if {
	not data.blocked[input.subject]
	input.subject == "guest"
}
`;

type Files = Record<string, string>;

/** A gzipped tar whose entries are named `/path`, as opa build writes them (PAX format, as Go's archive/tar). */
function pack(files: Files, extra: Record<string, Uint8Array> = {}): string {
  const dir = makeTempDir('bundle-layout-');
  const names: string[] = [];
  for (const [path, content] of [...Object.entries(files), ...Object.entries(extra)]) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
    names.push(`./${path}`);
  }
  const out = join(makeTempDir(), 'bundle.tar.gz');
  execFileSync('tar', ['czPf', out, '--format=pax', '--transform', 's,^\\./,/,', '-C', dir, ...names], { stdio: 'pipe' });
  return out;
}

type OpaAnswer = { refused: string } | { value: unknown };

function opaEval(opa: string, bundle: string, query: string, input?: unknown): OpaAnswer {
  const args = ['eval', '-f', 'json', '-b', bundle, query];
  if (input !== undefined) args.push('-I');
  const r = spawnSync(opa, args, { input: input === undefined ? '' : JSON.stringify(input), encoding: 'utf8' });
  const out = JSON.parse(r.stdout) as { result?: Array<{ expressions: Array<{ value: unknown }> }>; errors?: Array<{ message: string }> };
  if (out.errors) return { refused: out.errors.map((e) => e.message).join('; ') };
  return { value: out.result?.[0]?.expressions[0]?.value };
}

type OursAnswer = { refused: string } | { doc: PolicyDocument };

async function ours(bundle: string): Promise<OursAnswer> {
  try {
    const b = readWasmBundle(bundle, readFileSync(bundle));
    const policy = await CompiledPolicy.load(bundle, b.wasm, ['authz/allow'], { maxBytes: 64 << 20 });
    return { doc: await PolicyDocument.create(policy, b.data) };
  } catch (err) {
    return { refused: (err as Error).message };
  }
}

const value = (d: ReturnType<PolicyDocument['resolve']>): unknown => (d.defined ? d.value : undefined);

describe('bundles: every data file OPA loads, at its path, with its roots (real OPA as the oracle)', function () {
  this.timeout(120_000);
  let opa: string;
  let wasm: Uint8Array;
  before(function () {
    opa = requireOpa(this);
    const dir = makeTempDir();
    writeFileSync(join(dir, 'policy.rego'), REGO);
    execFileSync(opa, ['build', '-t', 'wasm', '-e', 'authz/allow', '-o', join(dir, 'b.tar.gz'), join(dir, 'policy.rego')], { stdio: 'pipe' });
    wasm = readWasmBundle('b.tar.gz', readFileSync(join(dir, 'b.tar.gz'))).wasm;
  });

  /** Packs the layout both ways, and checks ours refuses what OPA refuses and answers what OPA answers. */
  async function same(data: Files, roots?: string[]): Promise<{ refused: boolean; opaRefusal?: string; ourRefusal?: string }> {
    const regoManifest: Files = roots ? { '.manifest': JSON.stringify({ roots }) } : {};
    const wasmManifest = { '.manifest': JSON.stringify({ ...(roots ? { roots } : {}), wasm: [{ entrypoint: 'authz/allow', module: '/policy.wasm' }] }) };
    const regoBundle = pack({ ...data, ...regoManifest, 'policy.rego': REGO });
    const wasmBundle = pack({ ...data, ...wasmManifest }, { 'policy.wasm': wasm });
    const served = await ours(wasmBundle);
    const guest = opaEval(opa, regoBundle, 'data.authz.allow', { subject: 'guest' });
    if ('refused' in guest) {
      assert.ok('refused' in served, `OPA refuses the bundle (${guest.refused}) but it is served here`);
      return { refused: true, opaRefusal: guest.refused, ourRefusal: served.refused };
    }
    assert.ok('doc' in served, `OPA serves the bundle but it is refused here: ${'refused' in served ? served.refused : ''}`);
    for (const subject of ['guest', 'other']) {
      const want = opaEval(opa, regoBundle, 'data.authz.allow', { subject });
      assert.deepEqual(value(served.doc.resolve(['authz', 'allow'], JSON.stringify({ subject }))), (want as { value: unknown }).value, `allow for ${subject}`);
    }
    // The whole data document with no input: base data and the rule's value, as OPA stores them.
    const whole = opaEval(opa, regoBundle, 'data');
    assert.deepEqual(value(served.doc.resolve([], undefined)), (whole as { value: unknown }).value, 'the data document');
    return { refused: false };
  }

  it("the issue's case: /blocked/data.json is data.blocked, and blocks the guest as under OPA", async () => {
    assert.equal((await same({ 'blocked/data.json': '{"guest":true}' })).refused, false);
  });

  it('data.yaml and data.yml are data files too, at their directory path', async () => {
    assert.equal((await same({ 'blocked/data.yaml': 'guest: true\n' })).refused, false);
    assert.equal((await same({ 'blocked/data.yml': 'guest: true\n' })).refused, false);
  });

  it("YAML scalars read as OPA's YAML reads them (`no` is a string, so it blocks; 010 is 8; dates stay strings)", async () => {
    assert.equal((await same({ 'blocked/data.yaml': 'guest: no\nn: 010\nu: 1_000\nd: 2001-12-14\non: off\n' })).refused, false);
    assert.equal((await same({ 'blocked/data.yaml': 'guest: false\n' })).refused, false);
  });

  it('files merge as OPA merges them: a root data.json beside a nested one, JSON beside YAML', async () => {
    assert.equal((await same({ 'data.json': '{"blocked":{"eve":true},"x":1}', 'blocked/data.json': '{"guest":true}' })).refused, false);
    assert.equal((await same({ 'blocked/data.json': '{"eve":true}', 'blocked/data.yaml': 'guest: true\n' })).refused, false);
    assert.equal((await same({ 'a/b/c/data.json': '[1,2]', 'a/data.json': '{"b":{"d":null}}' })).refused, false);
  });

  it('conflicts OPA refuses are refused: the same key twice, a value where a directory has data', async () => {
    assert.equal((await same({ 'data.json': '{"blocked":{"guest":false}}', 'blocked/data.json': '{"guest":true}' })).refused, true);
    assert.equal((await same({ 'data.json': '{"blocked":1}', 'blocked/data.json': '{}' })).refused, true);
    assert.equal((await same({ 'blocked/data.json': '{"guest":true}', 'blocked/data.yaml': 'guest: true\n' })).refused, true);
  });

  it('a data file OPA cannot read is refused: a root value that is not an object, empty JSON, .inf in YAML', async () => {
    assert.equal((await same({ 'data.json': '[1]' })).refused, true);
    assert.equal((await same({ 'blocked/data.json': '' })).refused, true);
    assert.equal((await same({ 'blocked/data.yaml': 'guest: .inf\n' })).refused, true);
  });

  it("the manifest's roots: data outside every root refuses the bundle; inside, it serves; overlapping roots refuse", async () => {
    const outside = await same({ 'blocked/data.json': '{"guest":true}' }, ['authz']);
    assert.equal(outside.refused, true);
    assert.match(outside.ourRefusal!, /manifest roots \[authz\] do not permit data at path '\/blocked'/);
    assert.equal((await same({ 'blocked/data.json': '{"guest":true}' }, ['authz', 'blocked'])).refused, false);
    assert.equal((await same({ 'data.json': '{"blocked":{"guest":true,"x":{}}}' }, ['authz', 'blocked/guest'])).refused, false);
    assert.equal((await same({ 'blocked/data.json': '{"guest":true}' }, ['authz', 'authz/x', 'blocked'])).refused, true);
    assert.equal((await same({}, [])).refused, true);
  });

  it('a long path carried in a PAX header is the path OPA loads the file at', async () => {
    const deep = `${'d'.repeat(60)}/${'e'.repeat(60)}`;
    assert.equal((await same({ [`${deep}/data.json`]: '{"k":1}', 'blocked/data.json': '{"guest":true}' })).refused, false);
  });

  it('a Wasm entrypoint outside the roots is refused, as opa refuses the same bundle', async () => {
    const bundle = pack(
      { '.manifest': JSON.stringify({ roots: ['other'], wasm: [{ entrypoint: 'authz/allow', module: '/policy.wasm' }] }) },
      { 'policy.wasm': wasm },
    );
    const theirs = opaEval(opa, bundle, 'data');
    assert.ok('refused' in theirs && /do not permit 'authz\/allow' entrypoint/.test(theirs.refused), JSON.stringify(theirs));
    const mine = await ours(bundle);
    assert.ok('refused' in mine && /do not permit 'authz\/allow' entrypoint for wasm module '\/policy.wasm'/.test(mine.refused));
  });

  it('the service serves the nested data: the guest is denied over HTTP', async () => {
    const bundle = pack(
      { 'blocked/data.json': '{"guest":true}', '.manifest': JSON.stringify({ wasm: [{ entrypoint: 'authz/allow', module: '/policy.wasm' }] }) },
      { 'policy.wasm': wasm },
    );
    const svc = await startTestService({ flags: [`--policy.bundle=${bundle}`, '--rbac.config=', '--opa.package=authz'] });
    try {
      const res = await fetch(`${svc.publicUrl}/v1/data/authz/allow`, { method: 'POST', body: JSON.stringify({ input: { subject: 'guest' } }) });
      assert.deepEqual(await res.json(), { result: false });
    } finally {
      await svc.stop();
    }
  });
});
