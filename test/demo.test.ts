// `npm run demo -- <mode>` as a user runs it: the demo is started as its own process, the curl lines
// it prints are pasted into a real shell (bash, curl) with the variables it prints, and each answer
// must be the one printed under it. The docs' "Try it" sections must be the demo's output, so a doc
// example that stops working fails here. Ctrl-C must stop the service and every upstream the demo
// started. The demos' fixture-set form (--fixtures) is run with `lokistack-authz test --url`.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runTestCommand } from '../server/cli/test-command.js';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEMO_MODES } from '../scripts/demo/modes.js';
import { renderExample } from '../scripts/demo/render.js';
import type { RunningDemo } from '../scripts/demo/types.js';

const run = promisify(execFile);
const LOOPBACK = ['--listen=127.0.0.1:0', '--internal-listen=127.0.0.1:0'];
/** What the docs show for the service's address (the demo's default listener). */
const DOCS_URL = 'http://127.0.0.1:8080';

interface Demo {
  child: ChildProcess;
  stdout: string;
  stderr(): string;
  /** SIGINT, as Ctrl-C; resolves with the exit code. */
  interrupt(): Promise<number | null>;
}

async function startDemo(args: string[]): Promise<Demo> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/demo.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = await new Promise<boolean>((resolve) => {
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString('utf8');
      if (/^Ready\./m.test(out)) resolve(true);
    });
    void exited.then(() => resolve(false));
  });
  if (!ready) throw new Error(`the demo exited before it was ready:\n${out}\n${err}`);
  return {
    child,
    stdout: out,
    stderr: () => err,
    interrupt: async () => {
      child.kill('SIGINT');
      return exited;
    },
  };
}

interface Printed {
  url: string;
  upstreamUrls: string[];
  /** The ```sh block as printed. */
  block: string;
  variables: string[];
  examples: Array<{ title: string; command: string; answer: string }>;
}

/** Reads the demo's output as a user does: the service URL, the upstreams, the paste block. */
function parsePrinted(stdout: string): Printed {
  const url = /^ {2}service +(http:\/\/\S+)$/m.exec(stdout)?.[1];
  assert.ok(url, `the demo names the service's URL:\n${stdout}`);
  const upstreamUrls = [...stdout.matchAll(/^ {2}(?!service)\S+(?: \S+)? +(http:\/\/127\.0\.0\.1:\d+)/gm)].map((m) => m[1]!);
  const block = /^```sh\n([\s\S]*?)\n```$/m.exec(stdout)?.[1] ?? '';
  const lines = block.split('\n');
  const variables = lines.filter((l) => /^[A-Z_]+=/.test(l));
  const examples: Printed['examples'] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]!.startsWith('# ') || !lines[i + 1]?.startsWith('curl ')) continue;
    const title = lines[i]!.slice(2);
    const command: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      command.push(lines[j]!);
      if (!lines[j]!.endsWith('\\')) break;
    }
    // The answer runs to the next blank or comment line (OPA's error envelope spans several).
    const answer: string[] = [];
    for (j++; j < lines.length && lines[j] !== '' && !lines[j]!.startsWith('#'); j++) answer.push(lines[j]!);
    examples.push({ title, command: command.join('\n'), answer: answer.join('\n') });
    i = j - 1;
  }
  return { url, upstreamUrls, block, variables, examples };
}

/** The block as the docs show it: the default URL, and tokens (minted anew on every start) elided. */
function asDocumented(block: string, url: string): string {
  return block.replaceAll(url, DOCS_URL).replace(/^([A-Z_]+)=.*$/gm, '$1=…');
}

/** The `nth` ```sh block of curl lines under the "## Try it" heading of a docs page (forward-auth.md has one per mode). */
function docsTryIt(page: string, nth = 0): string {
  const text = readFileSync(join('docs', page), 'utf8');
  const section = /^## Try it\n([\s\S]*?)(?=^## )/m.exec(text)?.[1];
  assert.ok(section, `docs/${page} has a "## Try it" section`);
  const block = [...section.matchAll(/^```sh\n([\s\S]*?)\n```$/gm)].map((m) => m[1]!).filter((b) => /^curl /m.test(b))[nth];
  assert.ok(block, `docs/${page}: its "Try it" section shows the demo's block`);
  return block;
}

async function refuses(url: string): Promise<boolean> {
  try {
    await fetch(url, { signal: AbortSignal.timeout(5000) });
    return false;
  } catch (err) {
    return ((err as Error & { cause?: { code?: string } }).cause?.code ?? '') === 'ECONNREFUSED';
  }
}

/** Child processes of `pid` (from /proc): the demo runs everything in its own process. */
/**
 * The demo's child processes, as `pid command`. tsx's esbuild transform service is left out: the
 * demo runs from source under tsx, which may start it to compile a worker thread's module; it is
 * the loader's, not something the demo starts (and it goes with the demo).
 */
function childrenOf(pid: number): string[] {
  const out: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const command = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (ppid === pid && command !== 'esbuild') out.push(`${entry} ${command}`);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

const DOCS_PAGE: Record<string, string> = { static: 'static.md', dynamic: 'dynamic.md', openshift: 'openshift.md' };
/** The forward-auth demos' blocks, in this order, in docs/forward-auth.md's "Try it". */
const FORWARD_AUTH_BLOCKS = ['forward-auth-static', 'forward-auth-dynamic', 'forward-auth-openshift'];

describe('npm run demo', function () {
  this.timeout(120_000);

  it('--help lists every mode, and an unknown mode is refused with the list (exit 2)', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'scripts/demo.ts', '--help']);
    for (const m of DEMO_MODES) assert.match(stdout, new RegExp(`^ {2}${m.name} +\\S`, 'm'));
    await assert.rejects(run(process.execPath, ['--import', 'tsx', 'scripts/demo.ts', 'statik']), (err: { code: number; stderr: string }) => {
      assert.equal(err.code, 2);
      assert.match(err.stderr, /unknown mode "statik"; one of static, dynamic, openshift/);
      return true;
    });
    // It trusts an http issuer and hands out throwaway tokens: never on a network address.
    await assert.rejects(
      run(process.execPath, ['--import', 'tsx', 'scripts/demo.ts', 'dynamic', '--listen=0.0.0.0:0']),
      (err: { code: number; stderr: string }) => {
        assert.equal(err.code, 2);
        assert.match(err.stderr, /--listen=0\.0\.0\.0:0: the demo listens on loopback only/);
        return true;
      },
    );
  });

  for (const mode of DEMO_MODES) {
    it(`${mode.name}: every printed curl line, pasted into a shell, answers what the demo says; the docs show the same; Ctrl-C stops everything`, async () => {
      const demo = await startDemo([mode.name, ...LOOPBACK]);
      let code: number | null | undefined;
      try {
        const printed = parsePrinted(demo.stdout);
        assert.ok(printed.examples.length >= 3, `examples printed:\n${demo.stdout}`);
        const forwardAuth = FORWARD_AUTH_BLOCKS.indexOf(mode.name);
        if (forwardAuth < 0) {
          // Both an allowed and a denied decision are shown.
          assert.ok(
            printed.examples.some((e) => e.answer.includes('"result":true') || e.answer.includes('"allowed":"true"')),
            'an allowed example',
          );
          assert.ok(
            printed.examples.some((e) => e.answer === '{"result":false}'),
            'a denied example',
          );
        } else {
          // A grant with its tenant, a 403 and a 401, as a proxy sees them.
          assert.ok(
            printed.examples.some((e) => /^status=200 tenant=\S+/.test(e.answer)),
            'a granted example',
          );
          assert.ok(
            printed.examples.some((e) => e.answer === 'status=403 tenant= policy='),
            'a forbidden example',
          );
          assert.ok(
            printed.examples.some((e) => e.answer === 'status=401 tenant= policy='),
            'an unauthenticated example',
          );
        }
        for (const ex of printed.examples) {
          const script = [...printed.variables, ex.command].join('\n');
          const { stdout } = await run('bash', ['-c', script]);
          assert.equal(stdout.trim(), ex.answer, `${mode.name}: ${ex.title}\n--- service log ---\n${demo.stderr()}`);
        }
        const page = DOCS_PAGE[mode.name];
        if (page) assert.equal(docsTryIt(page), asDocumented(printed.block, printed.url), `docs/${page} "Try it" is the demo's output`);
        if (forwardAuth >= 0)
          assert.equal(
            docsTryIt('forward-auth.md', forwardAuth),
            asDocumented(printed.block, printed.url),
            `docs/forward-auth.md "Try it" (${mode.name}) is the demo's output`,
          );
        assert.deepEqual(childrenOf(demo.child.pid!), [], 'the demo starts no other process');

        code = await demo.interrupt();
        assert.equal(code, 0, demo.stderr());
        for (const url of [printed.url, ...printed.upstreamUrls]) assert.ok(await refuses(url), `${url} is closed after Ctrl-C`);
      } finally {
        if (code === undefined) await demo.interrupt();
      }
    });
  }

  it('dynamic: the tokens are real: the provider minted them and the service verified them (a forged one is denied)', async () => {
    const demo = await startDemo(['dynamic', ...LOOPBACK]);
    try {
      const printed = parsePrinted(demo.stdout);
      const alice = printed.variables
        .find((v) => v.startsWith('ALICE='))!
        .slice('ALICE='.length)
        .replace(/^'|'$/g, '');
      const [header, payload] = alice.split('.');
      const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString('utf8')) as Record<string, unknown>;
      assert.equal(claims.iss, printed.upstreamUrls[0], 'issued by the running provider');
      assert.equal(claims.email, 'alice@example.com');
      // The same claims under an unsigned header: what an attacker would paste.
      const forged = `${Buffer.from(JSON.stringify({ ...(JSON.parse(Buffer.from(header!, 'base64url').toString()) as object), alg: 'none' })).toString('base64url')}.${payload}.`;
      const res = await fetch(`${printed.url}/v1/data/lokistack/allow`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${forged}` },
        body: '{"input":{"permission":"read","resource":"logs","tenant":"application"}}',
      });
      assert.deepEqual(await res.json(), { result: false });
      assert.ok(!demo.stderr().includes(alice), 'the token never reaches the log');
    } finally {
      assert.equal(await demo.interrupt(), 0);
    }
  });
});

describe('demo curl lines', () => {
  it('paste as printed: quotes in bodies, variables in headers, and status-and-header answers (the forward-auth extension)', async () => {
    // Echoes what arrived, as the shell delivered it.
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        res
          .writeHead(200, { 'x-scope-orgid': 'application', 'content-type': 'text/plain' })
          .end(`${req.method} ${req.url} ${req.headers.authorization ?? '-'} ${body}`);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const body = `{"input":{"subject":"o'brien \\"$HOME\\" \`id\`"}}`;
      const echoed = renderExample(base, {
        title: 't',
        method: 'POST',
        path: '/v1/data/x?pretty',
        headers: [['Authorization', 'Bearer $TOKEN']],
        body,
        answer: '',
      });
      const command = echoed.split('\n').slice(1, -2).join('\n');
      const { stdout } = await run('bash', ['-c', `TOKEN='a.b.c'\n${command}`]);
      assert.equal(stdout, `POST /v1/data/x?pretty Bearer a.b.c ${body}`);

      const forwardAuth = renderExample(base, {
        title: 'a forward-auth style answer',
        method: 'GET',
        path: '/forward-auth',
        headers: [],
        curlArgs: ['-o', '/dev/null', '-w', '%{http_code} %header{x-scope-orgid}\\n'],
        answer: '200 application',
      });
      const lines = forwardAuth.split('\n');
      assert.equal((await run('bash', ['-c', lines[1]!])).stdout.trim(), lines[2]);
    } finally {
      server.close();
    }
  });
});

/** Every fixture set in fixtures/<mode>/, by mode. */
function fixtureSets(): Array<{ mode: string; dir: string }> {
  const out: Array<{ mode: string; dir: string }> = [];
  for (const mode of ['static', 'dynamic', 'openshift']) {
    for (const d of readdirSync(join('fixtures', mode), { withFileTypes: true })) if (d.isDirectory()) out.push({ mode, dir: join('fixtures', mode, d.name) });
  }
  return out;
}

describe('lokistack-authz test --url against the demo started on each fixture set', function () {
  this.timeout(120_000);
  for (const { mode, dir } of fixtureSets()) {
    it(`${dir}: no case fails; what cannot run against a running service is skipped, saying why`, async () => {
      // In this process (the demo's modes are modules): one service and its upstreams per set.
      const demoMode = DEMO_MODES.find((m) => m.name === mode)!;
      let log = '';
      const demo: RunningDemo = await demoMode.start({ listen: '127.0.0.1:0', internalListen: '127.0.0.1:0', fixtures: dir, log: (l) => (log += l) });
      try {
        const line = demo.notes.find((n) => n.includes('lokistack-authz test'));
        assert.ok(line, 'the demo prints the command that runs the set');
        const argv = line.slice(line.indexOf('lokistack-authz test ') + 'lokistack-authz test '.length).split(' ');
        let out = '';
        let err = '';
        const code = await runTestCommand(argv, { out: (t) => (out += t), err: (t) => (err += t) });
        assert.equal(code, 0, `${out}${err}\n--- service log ---\n${log}`);
        const summary = /^(\d+) passed, 0 failed(?:, (\d+) skipped)?$/m.exec(out);
        assert.ok(summary, out);
        assert.ok(Number(summary[1]) > 0, 'cases ran');
        for (const skip of out.split('\n').filter((l) => l.startsWith('SKIP '))) {
          assert.match(skip, /needs the project's fake Kubernetes API runner \(test\/openshift-fixtures\.test\.ts\)/);
        }
      } finally {
        await demo.stop();
      }
    });
  }
});
