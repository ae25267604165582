import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { loadConfig } from '../config/config.js';
import { FlagError } from '../config/flags.js';
import { findCasesFiles, FixtureError, parseCasesFile, type FixtureCase } from '../fixtures/cases.js';
import { answerMismatch, sendCase } from '../fixtures/compare.js';
import { createLogger } from '../observability/logger.js';
import { Metrics } from '../observability/metrics.js';
import { startService } from '../service.js';

/** Keys the project's own suites read (tokens to mint, flags to start with): such cases need those runners. */
const RUNNER_KEYS = ['token', 'flags', 'faults', 'differs_from_opa_openshift'];

export interface TestCommandIO {
  out: (text: string) => void;
  err: (text: string) => void;
}

interface CaseResult {
  set: string;
  note: string;
  file: string;
  status: 'passed' | 'failed' | 'skipped';
  reason?: string;
  input?: unknown;
  expected?: unknown;
  actual?: unknown;
}

export const TEST_USAGE = `Usage: lokistack-authz test [--url URL] [--format text|json] [service flags] FILE|DIR...

Runs decision fixtures (files with a "cases" mapping keyed by note) and prints one line per failing
case with its input, the expected and the actual answer, then a summary. Exit status 1 when a case
fails, 2 when the fixtures or flags are wrong.

  --url URL        ask a running service (or any OPA) instead of starting one
  --format FORMAT  text (default) or json
  service flags    as for the service (e.g. --rbac.config=rbac.yaml, --policy.bundle=bundle.tar.gz);
                   without data flags, each directory's rbac.yaml is used for the cases beside it
`;

/** `lokistack-authz test`: the policy author's loop, and CI's. Returns the exit status. */
export async function runTestCommand(argv: readonly string[], io: TestCommandIO): Promise<number> {
  let url: string | undefined;
  let format = 'text';
  const serviceFlags: string[] = [];
  const paths: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [name, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = () => inline ?? argv[++i];
    if (arg === '--help' || arg === '-h') {
      io.out(TEST_USAGE);
      return 0;
    } else if (name === '--url') url = value();
    else if (name === '--format') format = value() ?? '';
    else if (arg.startsWith('--')) serviceFlags.push(arg);
    else paths.push(arg);
  }
  if (format !== 'text' && format !== 'json') return usageError(io, `--format must be text or json, got ${JSON.stringify(format)}`);
  if (url !== undefined && !/^https?:\/\//.test(url)) return usageError(io, `--url must be an http(s) URL, got ${JSON.stringify(url)}`);
  if (paths.length === 0) return usageError(io, 'name at least one fixture file or directory');

  let groups: Map<string, FixtureCase[]>;
  try {
    groups = new Map();
    for (const file of findCasesFiles(paths)) {
      const dir = dirname(file);
      const cases = parseCasesFile(file, readFileSync(file, 'utf8'), basename(dir), RUNNER_KEYS);
      groups.set(dir, [...(groups.get(dir) ?? []), ...cases]);
    }
  } catch (err) {
    if (err instanceof FixtureError || (err as NodeJS.ErrnoException).code === 'ENOENT') return usageError(io, (err as Error).message);
    throw err;
  }
  if (groups.size === 0) return usageError(io, `no fixture files (with a "cases" mapping) under ${paths.join(', ')}`);

  const results: CaseResult[] = [];
  const hasData = serviceFlags.some((f) => /^--(rbac\.config|policy\.data|policy\.bundle)(=|$)/.test(f));
  for (const [dir, cases] of groups) {
    const rbac = join(dir, 'rbac.yaml');
    const flags = hasData || url || !existsSync(rbac) ? serviceFlags : [...serviceFlags, `--rbac.config=${rbac}`];
    let target: { base: string; stop(): Promise<void> };
    try {
      target = url ? { base: url, stop: async () => {} } : await startLocal(flags);
    } catch (err) {
      return usageError(io, `cannot start the service for ${dir}: ${(err as Error).message}`);
    }
    try {
      for (const c of cases) results.push(await runCase(target.base, c));
    } finally {
      await target.stop();
    }
  }

  const count = (s: CaseResult['status']) => results.filter((r) => r.status === s).length;
  const summary = { passed: count('passed'), failed: count('failed'), skipped: count('skipped') };
  if (format === 'json') {
    io.out(JSON.stringify({ results, ...summary }, null, 2) + '\n');
  } else {
    for (const r of results.filter((x) => x.status === 'failed')) {
      io.out(
        `FAIL ${r.set}: ${r.note} (${r.file})\n` +
          `  input:    ${JSON.stringify(r.input)}\n` +
          `  expected: ${JSON.stringify(r.expected)}\n` +
          `  actual:   ${JSON.stringify(r.actual)}\n` +
          `  ${r.reason}\n`,
      );
    }
    for (const r of results.filter((x) => x.status === 'skipped')) io.out(`SKIP ${r.set}: ${r.note}: ${r.reason}\n`);
    io.out(`${summary.passed} passed, ${summary.failed} failed${summary.skipped ? `, ${summary.skipped} skipped` : ''}\n`);
  }
  return summary.failed > 0 ? 1 : 0;
}

async function runCase(base: string, c: FixtureCase): Promise<CaseResult> {
  const head = { set: c.set, note: c.note, file: c.file };
  const needs = Object.keys(c.extra);
  if (needs.length > 0) return { ...head, status: 'skipped', reason: `needs the project's ${needs.join(', ')} runner` };
  const answer = await sendCase(base, c);
  const why = answerMismatch(answer, c);
  if (why === undefined) return { ...head, status: 'passed' };
  const expected = c.wantStatus !== 200 ? { status: c.wantStatus, code: c.wantErrorCode, message: c.wantMessage } : c.want.defined ? { result: c.want.value } : {};
  return { ...head, status: 'failed', reason: why, input: c.rawBody ?? c.input, expected, actual: answer.body ?? answer.text };
}

async function startLocal(flags: string[]): Promise<{ base: string; stop(): Promise<void> }> {
  const loaded = loadConfig(['--web.listen=127.0.0.1:0', '--web.internal.listen=127.0.0.1:0', '--rbac.reload-interval=0', ...flags]);
  if (loaded.help) throw new FlagError('--help is not a service flag here');
  const logger = createLogger({ level: 'error', format: 'logfmt' });
  const service = await startService(loaded.config, { logger, metrics: new Metrics({ processMetrics: false }) });
  return { base: `http://127.0.0.1:${service.publicAddress.port}`, stop: () => service.shutdown() };
}

function usageError(io: TestCommandIO, message: string): number {
  io.err(`lokistack-authz test: ${message}\n`);
  return 2;
}
