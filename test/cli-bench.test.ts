/**
 * `npm run bench -- --help` (node --import tsx bench/run.ts): a full bench takes many minutes and
 * overwrites the committed report, so --help must print the options and stop, and an option the
 * bench does not know must stop it before anything runs.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTempDir } from './support/service.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS = join(ROOT, 'bench/results');

/** Every entry under bench/results (the committed report and the git-ignored tmp/) with its mtime. */
function snapshot(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of readdirSync(RESULTS)) out[name] = statSync(join(RESULTS, name)).mtimeMs;
  return out;
}

function bench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  // The tests also pass --out to a scratch directory: should --help ever be ignored again, a run
  // started by this test writes there, not over the committed report.
  const proc = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  // Bounded: a bench that started running instead is stopped (and the test fails on its status).
  const timer = setTimeout(() => proc.kill('SIGKILL'), 60_000);
  return new Promise((resolve) =>
    proc.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}

describe('npm run bench: its command line', function () {
  this.timeout(90_000);

  for (const help of ['--help']) {
    it(`${help} prints the options and exits 0; nothing is run or written`, async () => {
      const before = snapshot();
      const scratch = makeTempDir();
      const { code, stdout, stderr } = await bench([help, '--out', scratch]);
      assert.equal(code, 0, stderr);
      assert.match(stdout, /^Usage: npm run bench -- \[options\]/);
      for (const option of ['--quick', '--only', '--duration', '--connections', '--no-profile', '--report-only', '--out'])
        assert.ok(stdout.includes(option), `${option} is listed`);
      assert.doesNotMatch(stderr, /\[bench /, 'no run was started');
      assert.deepEqual(readdirSync(scratch), []);
      assert.deepEqual(snapshot(), before, 'bench/results is untouched');
    });
  }

  for (const [args, named] of [
    [['--quik'], /unknown option "--quik"/],
    [['--only', 'statik'], /--only: unknown scenario "statik"/],
    [['--quick', '--duration', '--no-profile'], /--duration needs a value/],
  ] as const) {
    it(`${args.join(' ')}: exits 2 naming the option; nothing is run or written`, async () => {
      const before = snapshot();
      const scratch = makeTempDir();
      // --out first so that even a parser that stopped at the bad option could not write to bench/results.
      const { code, stdout, stderr } = await bench(['--out', scratch, ...args]);
      assert.equal(code, 2, stderr);
      assert.match(stderr, named);
      assert.match(stderr, /--help/);
      assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
      assert.equal(stdout, '');
      assert.deepEqual(readdirSync(scratch), []);
      assert.deepEqual(snapshot(), before, 'bench/results is untouched');
    });
  }
});
