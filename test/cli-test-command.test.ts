import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runTestCommand, TEST_USAGE } from '../server/cli/test-command.js';
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
    const dir = fixtureDir({ denied: { path: 'lokistack/allow', input: ALICE, want_result: false } });
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
      const dir = fixtureDir(
        {
          'alice reads': {
            path: 'lokistack/allow',
            input: { ...ALICE, token: 'secret-input-token' },
            headers: { 'X-Forwarded-Access-Token': 'secret-header-token' },
            want_result: true,
          },
        },
        null,
      );
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
      'malformed body': {
        path: 'lokistack/allow',
        raw_body: '{"input":',
        want_status: 400,
        want_error_code: 'invalid_parameter',
        want_message: 'malformed input document',
      },
      'wrong message': { path: 'lokistack/allow', raw_body: '{"input":', want_status: 400, want_message: 'something else' },
    });
    const { code, out } = await cli([dir]);
    assert.equal(code, 1);
    assert.match(out, /FAIL mine: wrong message/);
    assert.match(out, /1 passed, 1 failed/);
  });

  it('refuses fixtures with unknown keys, naming the file and case (exit 2)', async () => {
    const dir = fixtureDir({ typo: { path: 'lokistack/allow', input: ALICE, want_reslt: true } });
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

  it("is the bin entry point: `lokistack-authz test` runs the project's own static fixtures", async function () {
    this.timeout(60_000);
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'server/main.ts', 'test', 'fixtures/static'], { cwd: process.cwd() });
    assert.match(stdout, /^\d+ passed, 0 failed\n$/m);
  });

  it("checks an error message by its start with want_message_prefix (the openshift fixtures' key)", async () => {
    const dir = fixtureDir({
      'prefix matches': { path: 'lokistack/allow', raw_body: '{"input":', want_status: 400, want_message_prefix: 'body contains malformed input document' },
      // a substring of the message, but not its start
      'not the start': { path: 'lokistack/allow', raw_body: '{"input":', want_status: 400, want_message_prefix: 'malformed input document' },
    });
    const { code, out } = await cli([dir]);
    assert.equal(code, 1, out);
    assert.match(out, /FAIL mine: not the start/);
    assert.match(out, /want a message starting with "malformed input document"/);
    assert.match(out, /1 passed, 1 failed/);
  });

  it('a case whose path is a URL path is refused with the Data API path it means (exit 2)', async () => {
    for (const path of ['/v1/data/lokistack/allow', 'v1/data/lokistack/allow', '/lokistack/allow']) {
      const { code, err } = await cli([fixtureDir({ 'url path': { path, input: ALICE, want_result: true } })]);
      assert.equal(code, 2, path);
      assert.match(err, /case "url path": path ".*" looks like a URL path; a case names the Data API path after \/v1\/data\/, e.g. "lokistack\/allow"/);
    }
  });

  it('--url to a service that does not answer: one line naming the URL and why, exit 2', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const { code, out, err } = await cli([
      `--url=http://127.0.0.1:${port}`,
      fixtureDir({ a: { path: 'lokistack/allow', input: ALICE, want_result: true } }, null),
    ]);
    assert.equal(code, 2);
    assert.equal(out, '');
    assert.equal(err, `lokistack-authz test: cannot reach http://127.0.0.1:${port}: ECONNREFUSED\n`);
  });

  it('a mistyped option is refused with the closest known one, before anything starts (exit 2)', async () => {
    const dir = fixtureDir({ a: { path: 'lokistack/allow', input: ALICE, want_result: true } });
    for (const [typo, meant] of [
      ['--ulr=http://127.0.0.1:8080', '--url'],
      ['--fromat=json', '--format'],
      ['--rbac.confg=x.yaml', '--rbac.config'],
      ['--token-ulr=http://x', '--token-url'],
    ] as const) {
      const { code, err } = await cli([typo, dir]);
      assert.equal(code, 2, typo);
      assert.equal(err, `lokistack-authz test: unknown option ${typo.split('=')[0]} (did you mean ${meant}?)\n`);
    }
    assert.match((await cli(['--zzzzzz', dir])).err, /unknown option --zzzzzz \(lokistack-authz test --help lists the options\)/);
  });

  it('an option given without its value does not swallow the next option, and service flags are not silently dropped with --url', async () => {
    const dir = fixtureDir({ a: { path: 'lokistack/allow', input: ALICE, want_result: true } });
    const swallowed = await cli(['--rbac.config', '--url=http://127.0.0.1:9', dir]);
    assert.equal(swallowed.code, 2);
    assert.match(swallowed.err, /--rbac\.config needs a value/);
    const ignored = await cli(['--url=http://127.0.0.1:9', '--rbac.config=mine.yaml', dir]);
    assert.equal(ignored.code, 2);
    assert.match(ignored.err, /--rbac\.config configures a service this command starts; with --url the running service's own configuration decides/);
  });

  it('dynamic and openshift fixture sets say plainly, in --help and in the error, that they need a running service (exit 2)', async () => {
    assert.match(TEST_USAGE, /dynamic fixtures[\s\S]*only against a running service with --url and --token-url/);
    assert.match(TEST_USAGE, /openshift fixtures[\s\S]*only against a running service with --url/);
    const dynamic = await cli(['fixtures/dynamic/two-issuers']);
    assert.equal(dynamic.code, 2);
    assert.match(dynamic.out, /^SKIP set fixtures\/dynamic\/two-issuers \(\d+ cases\): dynamic fixtures need tokens from the set's OIDC providers/m);
    assert.match(dynamic.err, /no case could run here: .*npm run demo -- dynamic --fixtures=fixtures\/dynamic\/two-issuers/);
    const openshift = await cli(['fixtures/openshift/lokistack-network']);
    assert.equal(openshift.code, 2);
    assert.match(
      openshift.err,
      /openshift fixtures need a Kubernetes API \(a cluster\).*npm run demo -- openshift --fixtures=fixtures\/openshift\/lokistack-network/,
    );
  });

  it('a case needing a token without --token-url is skipped, and a run where nothing ran is not a pass (exit 2)', async () => {
    const svc = await startTestService();
    try {
      const dir = fixtureDir(
        { 'needs a token': { path: 'lokistack/allow', token: { issuer: 'a', account: 'alice', kind: 'jwt' }, input: ALICE, want_result: true } },
        null,
      );
      const { code, out, err } = await cli([`--url=${svc.publicUrl}`, dir]);
      assert.equal(code, 2);
      assert.match(out, /SKIP mine: needs a token: needs a token minted by the set's OIDC providers: give --token-url/);
      assert.match(err, /no case could run here/);
    } finally {
      await svc.stop();
    }
  });

  it('--token-url: a token endpoint answering anything but one plain token stops the run before the service sees it', async () => {
    const seen: string[] = [];
    const service = createServer((req, res) => {
      seen.push(req.url ?? '');
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"result":true}');
    });
    const minter = createServer((req, res) => {
      req.resume();
      res.writeHead(200).end('tok\r\nX-Injected: yes');
    });
    await Promise.all([service, minter].map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', r))));
    try {
      const dir = fixtureDir({ t: { path: 'lokistack/allow', token: { issuer: 'a', account: 'alice', kind: 'jwt' }, input: ALICE, want_result: true } }, null);
      const url = (s: typeof service) => `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
      const { code, err } = await cli([`--url=${url(service)}`, `--token-url=${url(minter)}/token`, dir]);
      assert.equal(code, 2);
      assert.match(err, /the token endpoint .* gave no token for \{"issuer":"a","account":"alice","kind":"jwt"\}: 200 tok/);
      assert.deepEqual(seen, [], 'nothing was sent to the service');
    } finally {
      service.close();
      minter.close();
    }
  });

  it('--url: an answer too large to be a decision fails the case instead of filling memory', async () => {
    const huge = createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(1 << 20, 0x20);
      for (let i = 0; i < 6; i++) res.write(chunk);
      res.end('{"result":true}');
    });
    await new Promise<void>((r) => huge.listen(0, '127.0.0.1', r));
    try {
      const dir = fixtureDir({ a: { path: 'lokistack/allow', input: ALICE, want_result: true } }, null);
      const { code, out } = await cli([`--url=http://127.0.0.1:${(huge.address() as AddressInfo).port}`, dir]);
      assert.equal(code, 1, out);
      assert.match(out, /an answer larger than 4194304 bytes; not read/);
    } finally {
      huge.close();
    }
  });

  it("an openshift fixture set's want_message is the exact message (as its own runner reads it), not a substring", async () => {
    const svc = await startTestService();
    try {
      const dir = join(makeTempDir(), 'openshift-set');
      mkdirSync(dir);
      const cases = {
        exact: {
          path: 'lokistack/allow',
          raw_body: '{"input":',
          want_status: 400,
          want_error_code: 'invalid_parameter',
          want_message: 'body contains malformed input document: unexpected EOF',
        },
        'only a substring': {
          path: 'lokistack/allow',
          raw_body: '{"input":',
          want_status: 400,
          want_error_code: 'invalid_parameter',
          want_message: 'malformed input document',
        },
      };
      writeFileSync(join(dir, 'cases.yaml'), JSON.stringify({ flags: ['--openshift.kubeconfig=$FAKE_KUBECONFIG'], cases }));
      const { code, out } = await cli([`--url=${svc.publicUrl}`, dir]);
      assert.equal(code, 1, out);
      assert.match(out, /FAIL openshift-set: only a substring/);
      assert.match(out, /want the message "malformed input document"/);
      assert.match(out, /1 passed, 1 failed/);
    } finally {
      await svc.stop();
    }
  });
});
