/**
 * The real entry point as a child process (`node --import tsx server/main.ts ...`): what an
 * operator sees on the command line and in the logs, exit codes, and graceful shutdown on SIGTERM.
 */
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { fileURLToPath } from 'node:url';
import { FLAGS } from '../server/config/config.js';
import { ALLOWED_INPUT, EXAMPLE_RBAC, writeTempFile } from './support/service.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MAIN = 'server/main.ts';

interface Child {
  proc: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first stderr line matching `re` (bounded by the test's timeout). */
  waitFor(re: RegExp): Promise<string>;
}

const children: ChildProcess[] = [];

function run(args: string[]): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  children.push(proc);
  let out = '';
  let err = '';
  const waiters: Array<{ re: RegExp; resolve: (line: string) => void }> = [];
  const check = () => {
    for (const w of [...waiters]) {
      const line = err.split('\n').find((l) => w.re.test(l));
      if (line !== undefined) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  };
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  proc.stderr!.on('data', (d: Buffer) => {
    err += d.toString('utf8');
    check();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('close', (code, signal) => resolve({ code, signal })),
  );
  return {
    proc,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor: (re) =>
      new Promise<string>((resolve, reject) => {
        waiters.push({ re, resolve });
        check();
        void exited.then(() => {
          check();
          if (waiters.some((w) => w.re === re)) reject(new Error(`process exited before logging ${re}; stderr:\n${err}`));
        });
      }),
  };
}

/** Starts the service on loopback ports of the system's choosing; resolves once it serves. */
async function serve(extra: string[] = []): Promise<Child & { publicPort: number; internalPort: number }> {
  const rbac = writeTempFile('rbac.yaml', EXAMPLE_RBAC);
  const child = run(['--web.listen=127.0.0.1:0', '--web.internal.listen=127.0.0.1:0', `--rbac.config=${rbac}`, '--log.format=json', ...extra]);
  const pub = JSON.parse(await child.waitFor(/serving the Data API/)) as { address: string };
  const internal = JSON.parse(await child.waitFor(/serving internal endpoints/)) as { address: string };
  return { ...child, publicPort: Number(pub.address.split(':').pop()), internalPort: Number(internal.address.split(':').pop()) };
}

after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

describe('server/main.ts as a process', function () {
  this.timeout(30_000);

  it('--help prints every flag with its default and exits 0', async () => {
    const child = run(['--help']);
    const { code } = await child.exited;
    assert.equal(code, 0, child.stderr());
    const out = child.stdout();
    assert.ok(out.startsWith('Usage: lokistack-authz'), out);
    for (const spec of FLAGS.filter((s) => !s.hidden)) {
      const at = out.indexOf(`  --${spec.name}`);
      assert.ok(at >= 0, `--${spec.name} missing from --help`);
      const next = out.indexOf('\n  --', at + 1);
      const block = out.slice(at, next < 0 ? undefined : next);
      assert.match(block, /\(default [^)]*\)/, `--${spec.name}: no default in ${JSON.stringify(block)}`);
    }
    for (const spec of FLAGS.filter((s) => s.hidden)) assert.ok(!out.includes(`--${spec.name}`), `hidden --${spec.name} listed`);
    // The defaults the README documents, as an operator reads them.
    assert.match(out, /--web\.listen string\n.*\(default ":8080"\)/);
    assert.match(out, /--web\.decision-timeout duration\n.*\(default "?10s"?\)/);
    assert.match(out, /--rbac\.reload-interval duration\n.*\(default "?10s"?\)/);
  });

  it('an unknown flag exits 2 with a message naming it', async () => {
    const child = run(['--rbac.config=/x', '--web.lisen=:8080']);
    const { code } = await child.exited;
    assert.equal(code, 2);
    assert.match(child.stderr(), /--web\.lisen/);
    assert.match(child.stderr(), /did you mean --web\.listen/);
    assert.equal(child.stdout(), '');
  });

  it('a bad flag value exits 2 naming the flag', async () => {
    const child = run(['--rbac.config=/x', '--web.max-body-bytes=lots']);
    assert.equal((await child.exited).code, 2);
    assert.match(child.stderr(), /--web\.max-body-bytes/);
  });

  it('--tls.min-version=VersionTLS10 (which this runtime cannot negotiate) exits 2 saying which value to set', async () => {
    const child = run(['--rbac.config=/x', '--tls.min-version=VersionTLS10']);
    assert.equal((await child.exited).code, 2);
    assert.match(child.stderr(), /--tls\.min-version=VersionTLS10: .*cannot negotiate TLS 1\.0 or 1\.1/);
    assert.match(child.stderr(), /use VersionTLS12 or VersionTLS13/);
  });

  it('an invalid rbac file stops startup (exit 1) naming the file, the field and the fault', async () => {
    const file = writeTempFile('rbac.yaml', EXAMPLE_RBAC.replace('permissions: [read]', 'permissions: [read, admin]'));
    const child = run(['--web.listen=127.0.0.1:0', '--web.internal.listen=127.0.0.1:0', `--rbac.config=${file}`]);
    const { code } = await child.exited;
    assert.equal(code, 1, child.stderr());
    const err = child.stderr();
    assert.ok(err.includes(file), `the file is named: ${err}`);
    assert.ok(err.includes('roles[0].permissions[1]'), `the field is named: ${err}`);
    assert.match(err, /admin/);
    assert.doesNotMatch(err, /serving the Data API/);
  });

  it('a missing rbac file stops startup naming it', async () => {
    const child = run(['--web.listen=127.0.0.1:0', '--web.internal.listen=127.0.0.1:0', '--rbac.config=/nonexistent/dir/rbac.yaml']);
    assert.equal((await child.exited).code, 1);
    assert.ok(child.stderr().includes('/nonexistent/dir/rbac.yaml'), child.stderr());
  });

  it('an --opa.rule the policy lacks stops startup naming the entrypoint', async () => {
    const file = writeTempFile('rbac.yaml', EXAMPLE_RBAC);
    const child = run(['--web.listen=127.0.0.1:0', '--web.internal.listen=127.0.0.1:0', `--rbac.config=${file}`, '--opa.rule=deny']);
    const { code } = await child.exited;
    assert.equal(code, 1, child.stderr());
    assert.ok(child.stderr().includes('lokistack/deny'), child.stderr());
    assert.ok(child.stderr().includes('lokistack/allow'), `the existing entrypoints are listed: ${child.stderr()}`);
  });

  it('SIGTERM while a slow request is in flight: the request still gets its 200, then the process exits 0', async () => {
    const child = await serve();
    const body = JSON.stringify({ input: ALLOWED_INPUT });
    const half = Math.floor(body.length / 2);
    const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port: child.publicPort,
          method: 'POST',
          path: '/v1/data/lokistack/allow',
          // Expect: 100-continue makes the server say when it has taken the request in hand.
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), expect: '100-continue' },
          agent: false,
        },
        (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString('utf8')));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        },
      );
      req.on('error', reject);
      req.once('continue', () => {
        req.write(body.slice(0, half), () => {
          child.proc.kill('SIGTERM');
          // Finish the body only once the process is draining.
          child.waitFor(/draining in-flight requests/).then(
            () => req.end(body.slice(half)),
            (err: unknown) => reject(err),
          );
        });
      });
      req.flushHeaders();
    });
    const res = await answer;
    assert.equal(res.status, 200);
    assert.equal(res.body, '{"result":true}\n');
    const { code, signal } = await child.exited;
    assert.equal(signal, null, 'exited by itself, not killed');
    assert.equal(code, 0, child.stderr());
    assert.match(child.stderr(), /"msg":"stopped"/);
  });

  it('SIGTERM with nothing in flight exits 0 promptly', async () => {
    const child = await serve();
    child.proc.kill('SIGTERM');
    const { code, signal } = await child.exited;
    assert.equal(signal, null);
    assert.equal(code, 0, child.stderr());
  });

  it('tokens from Authorization, X-Forwarded-Access-Token, the body and ?input never reach stderr, even at debug level', async () => {
    const child = await serve(['--log.level=debug']);
    const token = 'sha256~TOPSECRET-4f1c2b9e-token-value';
    const base = `http://127.0.0.1:${child.publicPort}`;
    const internal = `http://127.0.0.1:${child.internalPort}`;
    const send = async (path: string, init: RequestInit) => {
      const res = await fetch(base + path, init);
      await res.text();
      return res.status;
    };
    const withToken = { ...ALLOWED_INPUT, token };
    assert.equal(
      await send('/v1/data/lokistack/allow', { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: JSON.stringify({ input: ALLOWED_INPUT }) }),
      200,
    );
    assert.equal(
      await send('/v1/data/lokistack/allow', { method: 'POST', headers: { 'x-forwarded-access-token': token }, body: JSON.stringify({ input: withToken }) }),
      200,
    );
    assert.equal(
      await send('/v1/data/lokistack/allow', {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'x-forwarded-access-token': token },
        body: `{"input":{"token":"${token}",}`,
      }),
      400,
    );
    assert.equal(await send('/v1/data/lokistack/allow', { method: 'POST', headers: { authorization: token }, body: `{"input":"${token}" "${token}"}` }), 400);
    assert.equal(
      await send('/v1/data/lokistack/allow', {
        method: 'POST',
        headers: { 'content-type': 'application/yaml', 'x-forwarded-access-token': token },
        body: `input: {token: "${token}"\n`,
      }),
      400,
    );
    assert.equal(
      await send(`/v1/data/lokistack/allow?input=${encodeURIComponent(JSON.stringify(withToken))}`, {
        method: 'GET',
        headers: { 'x-forwarded-access-token': token },
      }),
      200,
    );
    assert.equal(await send(`/v1/data/lokistack/allow?input=${encodeURIComponent(`{"token":"${token}"`)}`, { method: 'GET' }), 400);
    assert.equal(await send('/nope', { method: 'GET', headers: { authorization: `Bearer ${token}` } }), 404);
    assert.equal((await fetch(`${internal}/ready`, { headers: { authorization: `Bearer ${token}` } })).status, 200);

    child.proc.kill('SIGTERM');
    const { code } = await child.exited;
    assert.equal(code, 0);
    const err = child.stderr();
    // Debug logging was on: decisions were logged.
    assert.match(err, /"level":"debug"/);
    assert.match(err, /"msg":"decision"/);
    assert.ok(
      !err.includes('TOPSECRET'),
      `a token reached stderr:\n${err
        .split('\n')
        .filter((l) => l.includes('TOPSECRET'))
        .join('\n')}`,
    );
  });
});
