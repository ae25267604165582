/**
 * What a user meets on the command line (server/main.ts as a child process): --version, --help's
 * subcommand and mode groups, a flag missing its value, warnings for flags the mode ignores, a port
 * already taken, an http OIDC issuer without --oidc.allow-insecure-issuers.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { startOidcProvider, type OidcProvider } from './support/oidc.js';
import { EXAMPLE_RBAC, writeTempFile } from './support/service.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const children: ChildProcess[] = [];

interface Run {
  proc: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
  /** Resolves once stderr holds a line matching `re`; rejects if the process exits first. */
  waitFor(re: RegExp): Promise<string>;
}

function run(args: string[]): Run {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  children.push(proc);
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => proc.once('close', (code) => resolve(code)));
  const waitFor = (re: RegExp) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const line = err.split('\n').find((l) => re.test(l));
        if (line !== undefined) {
          proc.stderr!.off('data', check);
          resolve(line);
        }
      };
      proc.stderr!.on('data', check);
      check();
      void exited.then(() => {
        check();
        reject(new Error(`exited before logging ${re}; stderr:\n${err}`));
      });
    });
  return { proc, stdout: () => out, stderr: () => err, exited, waitFor };
}

after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

const LOOPBACK = ['--web.listen=127.0.0.1:0', '--web.internal.listen=127.0.0.1:0'];

describe('lokistack-authz on the command line', function () {
  this.timeout(30_000);

  it('--version prints the package version and exits 0, without starting anything', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    const child = run(['--version']);
    assert.equal(await child.exited, 0, child.stderr());
    assert.equal(child.stdout(), `lokistack-authz ${pkg.version}\n`);
    assert.equal(child.stderr(), '');
  });

  it('--help names the test subcommand and groups the flags by mode', async () => {
    const child = run(['--help']);
    assert.equal(await child.exited, 0, child.stderr());
    const out = child.stdout();
    assert.match(out, /^ +lokistack-authz test /m, 'the subcommand has a usage line');
    const headings = out.split('\n').filter((l) => l.startsWith('Flags for'));
    assert.equal(headings[0], 'Flags for all modes:');
    assert.equal(new Set(headings).size, headings.length, 'each group once');
    // Each flag is listed under the group of the modes that read it.
    const groupOf = (flag: string) => {
      const at = out.indexOf(`  --${flag}`);
      assert.ok(at >= 0, `--${flag} is listed`);
      return out
        .slice(0, at)
        .split('\n')
        .filter((l) => l.startsWith('Flags for'))
        .at(-1);
    };
    assert.equal(groupOf('web.listen'), 'Flags for all modes:');
    assert.equal(groupOf('rbac.config'), 'Flags for static and dynamic modes:');
    assert.equal(groupOf('tenants.config'), 'Flags for dynamic mode:');
    assert.equal(groupOf('openshift.mappings'), 'Flags for openshift-logging and openshift-network modes:');
    assert.match(out, /\(one of "" \(none\), and, or\)/);
  });

  it('a flag given without its value exits 2 naming it, and the next flag is not swallowed', async () => {
    const child = run(['--web.internal.listen=127.0.0.1:0', '--rbac.config', '--web.listen=127.0.0.1:0']);
    assert.equal(await child.exited, 2, child.stderr());
    assert.match(child.stderr(), /needs a value: --rbac\.config/);
    assert.doesNotMatch(child.stderr(), /serving/);
  });

  it('a flag the mode ignores is warned about at startup, naming the mode that reads it', async () => {
    const rbac = writeTempFile('rbac.yaml', EXAMPLE_RBAC);
    const child = run([...LOOPBACK, `--rbac.config=${rbac}`, '--mode=static', '--tenants.config=/etc/tenants.yaml', '--log.format=json']);
    await child.waitFor(/serving the Data API/);
    child.proc.kill('SIGTERM');
    assert.equal(await child.exited, 0, child.stderr());
    const warnings = child
      .stderr()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level: string; msg: string })
      .filter((r) => r.level === 'warn');
    assert.equal(warnings.length, 1, child.stderr());
    assert.match(warnings[0]!.msg, /--tenants\.config .*dynamic mode/);
  });

  describe('a listen address already taken', () => {
    let holder: Server;
    let port: number;
    before(async () => {
      holder = createServer();
      await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
      port = (holder.address() as { port: number }).port;
    });
    after(() => holder.close());

    for (const flag of ['web.listen', 'web.internal.listen']) {
      it(`--${flag}: exit 1 naming the flag and the address`, async () => {
        const rbac = writeTempFile('rbac.yaml', EXAMPLE_RBAC);
        const other = flag === 'web.listen' ? 'web.internal.listen' : 'web.listen';
        const child = run([`--${flag}=127.0.0.1:${port}`, `--${other}=127.0.0.1:0`, `--rbac.config=${rbac}`]);
        assert.equal(await child.exited, 1, child.stderr());
        const err = child.stderr();
        assert.ok(err.includes(`--${flag}=127.0.0.1:${port}`), `the flag and address are named: ${err}`);
        assert.match(err, /already in use/);
        assert.match(err, /listen_failed/, 'the stable code is logged');
      });
    }
  });

  describe('an http:// OIDC issuer', () => {
    let idp: OidcProvider;
    let tenants: string;
    before(async () => {
      idp = await startOidcProvider({ accounts: { alice: { claims: {} } }, clients: [{ client_id: 'gateway', client_secret: 'gateway-secret' }] });
      assert.match(idp.issuer, /^http:\/\//);
      tenants = writeTempFile(
        'tenants.yaml',
        `tenants:\n  - name: application\n    id: application\n    oidc:\n      issuerURL: ${idp.issuer}\n      clientID: gateway\n`,
      );
    });
    after(() => idp.stop());

    it('without --oidc.allow-insecure-issuers: startup stops (exit 1) naming the tenant, the field and the flag; the issuer is never called', async () => {
      idp.requests.reset();
      const rbac = writeTempFile('rbac.yaml', EXAMPLE_RBAC);
      const child = run([...LOOPBACK, '--mode=dynamic', `--rbac.config=${rbac}`, `--tenants.config=${tenants}`]);
      assert.equal(await child.exited, 1, child.stderr());
      const err = child.stderr();
      assert.ok(err.includes(tenants), `the file is named: ${err}`);
      assert.match(err, /tenants\[0\]\.oidc\.issuerURL/);
      assert.match(err, /--oidc\.allow-insecure-issuers/);
      assert.doesNotMatch(err, /serving the Data API/);
      assert.deepEqual(idp.requests.log, []);
    });

    it('with --oidc.allow-insecure-issuers: it starts', async () => {
      const rbac = writeTempFile('rbac.yaml', EXAMPLE_RBAC);
      const child = run([...LOOPBACK, '--mode=dynamic', `--rbac.config=${rbac}`, `--tenants.config=${tenants}`, '--oidc.allow-insecure-issuers']);
      await child.waitFor(/serving the Data API/);
      child.proc.kill('SIGTERM');
      assert.equal(await child.exited, 0, child.stderr());
    });
  });
});
