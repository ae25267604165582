import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runTestCommand } from '../server/cli/test-command.js';
import { EXAMPLE_RBAC, makeTempDir, startTestService } from './support/service.js';

const run = promisify(execFile);

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runTestCommand(argv, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

const ALICE = { subject: 'alice@example.com', groups: [], permission: 'read', resource: 'logs', tenant: 'application' };

function fixtureDir(cases: Record<string, unknown>, rbac: string | null = EXAMPLE_RBAC): string {
  const dir = join(makeTempDir(), 'mine');
  mkdirSync(dir);
  if (rbac !== null) writeFileSync(join(dir, 'rbac.yaml'), rbac);
  writeFileSync(join(dir, 'cases.yaml'), JSON.stringify({ cases }));
  return dir;
}

describe('lokistack-authz test', () => {
  it('runs a directory of fixtures against the rbac.yaml beside them and sums up', async () => {
    const dir = fixtureDir({
      'alice reads application': { path: 'lokistack/allow', input: ALICE, want_result: true },
      'alice cannot read audit': { path: 'lokistack/allow', input: { ...ALICE, tenant: 'audit' }, want_result: false },
      'no such rule': { path: 'nothing/here', input: {}, want_undefined: true },
    });
    const { code, out } = await cli([dir]);
    assert.equal(code, 0);
    assert.match(out, /^3 passed, 0 failed\n$/m);
  });

  it('prints each failing case with its input, the expected and the actual answer, and exits 1', async () => {
    const dir = fixtureDir({
      'wrong expectation': { path: 'lokistack/allow', input: { ...ALICE, tenant: 'audit' }, want_result: true },
      'right one': { path: 'lokistack/allow', input: ALICE, want_result: true },
    });
    const { code, out } = await cli([dir]);
    assert.equal(code, 1);
    assert.match(out, /FAIL mine: wrong expectation/);
    assert.match(out, /input: +\{"subject":"alice@example.com".*"tenant":"audit"\}/);
    assert.match(out, /expected: \{"result":true\}/);
    assert.match(out, /actual: +\{"result":false\}/);
    assert.match(out, /1 passed, 1 failed/);
    assert.doesNotMatch(out, /FAIL mine: right one/);
  });

  it('answers in JSON for CI with --format json', async () => {
    const dir = fixtureDir({ 'denied': { path: 'lokistack/allow', input: ALICE, want_result: false } });
    const { code, out } = await cli(['--format=json', dir]);
    assert.equal(code, 1);
    const report = JSON.parse(out) as { passed: number; failed: number; results: Array<{ note: string; status: string; actual: unknown }> };
    assert.equal(report.failed, 1);
    assert.equal(report.passed, 0);
    assert.deepEqual(report.results[0]!.actual, { result: true });
    assert.equal(report.results[0]!.note, 'denied');
  });

  it('asks a running service with --url', async () => {
    const svc = await startTestService();
    try {
      const dir = fixtureDir({ 'alice reads': { path: 'lokistack/allow', input: ALICE, want_result: true } }, null);
      const { code, out } = await cli([`--url=${svc.publicUrl}`, dir]);
      assert.equal(code, 0, out);
      assert.match(out, /1 passed, 0 failed/);
    } finally {
      await svc.stop();
    }
  });

  it('--url never follows a redirect to another origin: the token and input stay home, and the case fails', async () => {
    // The attacker's host answers every request with an allow and records what it received.
    const received: Array<{ headers: Record<string, unknown>; body: string }> = [];
    const evil = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"result":true}\n');
      });
    });
    await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
    const evilOrigin = `http://127.0.0.1:${(evil.address() as AddressInfo).port}`;
    // The "service" sends every client there with a 307 (which keeps the method and body).
    const redirecting = createServer((req, res) => {
      req.resume();
      res.writeHead(307, { location: `${evilOrigin}${req.url ?? '/'}` }).end();
    });
    await new Promise<void>((r) => redirecting.listen(0, '127.0.0.1', r));
    try {
      const dir = fixtureDir({ 'alice reads': { path: 'lokistack/allow', input: { ...ALICE, token: 'secret-input-token' }, headers: { 'X-Forwarded-Access-Token': 'secret-header-token' }, want_result: true } }, null);
      const { code, out } = await cli([`--url=http://127.0.0.1:${(redirecting.address() as AddressInfo).port}`, dir]);
      assert.deepEqual(received, [], 'the other origin received nothing');
      assert.equal(code, 1, out);
      assert.match(out, /0 passed, 1 failed/);
      assert.match(out, /redirected to another origin \(http:\/\/127\.0\.0\.1:\d+\); not followed/);
    } finally {
      evil.close();
      redirecting.close();
    }
  });

  it('uses the data the service flags name, over any rbac.yaml beside the cases', async () => {
    const other = join(makeTempDir(), 'other-rbac.yaml');
    writeFileSync(other, 'roles: []\nroleBindings: []\n');
    const dir = fixtureDir({ 'nobody is allowed': { path: 'lokistack/allow', input: ALICE, want_result: false } });
    const { code, out } = await cli([`--rbac.config=${other}`, dir]);
    assert.equal(code, 0, out);
  });

  it('checks error statuses, codes and messages', async () => {
    const dir = fixtureDir({
      'malformed body': { path: 'lokistack/allow', raw_body: '{"input":', want_status: 400, want_error_code: 'invalid_parameter', want_message: 'malformed input document' },
      'wrong message': { path: 'lokistack/allow', raw_body: '{"input":', want_status: 400, want_message: 'something else' },
    });
    const { code, out } = await cli([dir]);
    assert.equal(code, 1);
    assert.match(out, /FAIL mine: wrong message/);
    assert.match(out, /1 passed, 1 failed/);
  });

  it('refuses fixtures with unknown keys, naming the file and case (exit 2)', async () => {
    const dir = fixtureDir({ 'typo': { path: 'lokistack/allow', input: ALICE, want_reslt: true } });
    const { code, err } = await cli([dir]);
    assert.equal(code, 2);
    assert.match(err, /cases\.yaml: case "typo": unknown key "want_reslt"/);
  });

  it('says so when there is nothing to run, or the flags are wrong (exit 2)', async () => {
    assert.equal((await cli([])).code, 2);
    assert.equal((await cli([makeTempDir()])).code, 2);
    assert.equal((await cli(['--format=xml', fixtureDir({ a: { path: 'x', input: {}, want_undefined: true } })])).code, 2);
    const noData = fixtureDir({ a: { path: 'lokistack/allow', input: ALICE, want_result: true } }, null);
    const { code, err } = await cli([noData]);
    assert.equal(code, 2);
    assert.match(err, /cannot start the service/);
  });

  it('is the bin entry point: `lokistack-authz test` runs the project\'s own static fixtures', async function () {
    this.timeout(60_000);
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'server/main.ts', 'test', 'fixtures/static'], { cwd: process.cwd() });
    assert.match(stdout, /^\d+ passed, 0 failed\n$/m);
  });
});
