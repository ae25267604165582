import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { FLAGS, loadConfig } from '../config/config.js';
import { FlagError } from '../config/flags.js';
import { FixtureError, type FixtureCase } from '../cases/cases.js';
import { answerMismatch, readBounded, sendCase } from '../cases/compare.js';
import { createLogger } from '../observability/logger.js';
import { Metrics } from '../observability/metrics.js';
import { startService } from '../service.js';
import { findCasesFiles, groupByDir } from './case-files.js';
import { loadSet, type FixtureSet, type SetKind } from './case-sets.js';
import type { ErrorCode } from '../error-codes.js';
import { reasonOf } from '../errors.js';

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
  /** A failed case's `reason` from the service (?reasons=true): why it decided as it did. */
  decisionReason?: unknown;
}

/** A request (or a token mint) that gets no answer in this long stops the run: the service is not answering. */
const REQUEST_TIMEOUT_MS = 30_000;
/** A token endpoint's answer is one token. */
const MAX_TOKEN_BYTES = 64 << 10;

export const TEST_USAGE = `Usage: lokistack-authz test [--url URL [--token-url URL]] [--format text|json] [service flags] FILE|DIR...

Runs decision fixtures (files with a "cases" mapping keyed by note) and prints one line per failing
case with its input, the expected and the actual answer, and the service's reason for its answer
(the service this command starts gives one; a running one when started with --web.reasons), then a summary. Exit status 1 when a case
fails, 2 when the fixtures or options are wrong, the service cannot be reached, or no case could run.

  --url URL        ask a running service (or any OPA) instead of starting one
  --token-url URL  with --url: where a dynamic case's token is minted (POST {"issuer","account","kind"}
                   answers the token); \`npm run demo -- dynamic --fixtures=DIR\` serves one
  --format FORMAT  text (default) or json
  service flags    for the service this command starts (not with --url), e.g. --rbac.config=rbac.yaml,
                   --policy.bundle=bundle.tar.gz; without data flags, each directory's rbac.yaml is
                   used for the cases beside it

What runs where:
  static fixtures (roles in rbac.yaml)   here, or against --url
  dynamic fixtures (tenants.yaml, identities.yaml, cases with a token)
                                         only against a running service with --url and --token-url:
                                         they need tokens from the set's OIDC providers. From a
                                         checkout: npm run demo -- dynamic --fixtures=DIR
  openshift fixtures (a Kubernetes API)  only against a running service with --url: they need a
                                         cluster. From a checkout: npm run demo -- openshift --fixtures=DIR
  Cases with faults, per-case flags or replay_with_upstream_down need the project's fake Kubernetes
  API runner (test/openshift-fixtures.test.ts) and are skipped here.
`;

/** Why a set of this kind cannot run against a service this command starts. */
const NOT_LOCAL: Record<Exclude<SetKind, 'static'>, (dir: string) => string> = {
  dynamic: (dir) =>
    `dynamic fixtures need tokens from the set's OIDC providers, so they run only against a running service: ` +
    `npm run demo -- dynamic --fixtures=${dir} starts one and prints the lokistack-authz test --url=… --token-url=… line`,
  openshift: (dir) =>
    `openshift fixtures need a Kubernetes API (a cluster), so they run only against a running service: ` +
    `npm run demo -- openshift --fixtures=${dir} starts one against a fake API and prints the lokistack-authz test --url=… line`,
};

const OWN_OPTIONS = ['--url', '--token-url', '--format', '--help'] as const;

/** The run stops with exit 2: the service or token endpoint does not answer (one line, no stack). */
class Unreachable extends Error {
  readonly code = 'service_unreachable' satisfies ErrorCode;
}

interface Options {
  url?: string;
  tokenUrl?: string;
  format: string;
  serviceFlags: string[];
  paths: string[];
}

function parseArgs(argv: readonly string[]): Options | 'help' | { error: string } {
  const o: Options = { format: 'text', serviceFlags: [], paths: [] };
  const flagTypes = new Map<string, string>(FLAGS.map((f) => [`--${f.name}`, f.type]));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') return 'help';
    if (!arg.startsWith('-') || arg === '-') {
      o.paths.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    // A value that is the next option means the value was left out: never swallow the option.
    const value = (): string | { error: string } => {
      const v = eq > 0 ? arg.slice(eq + 1) : argv[++i];
      return v === undefined || (eq < 0 && v.startsWith('--')) ? { error: `${name} needs a value` } : v;
    };
    const type = flagTypes.get(name);
    if (name === '--url' || name === '--token-url' || name === '--format') {
      const v = value();
      if (typeof v !== 'string') return v;
      if (name === '--url') o.url = v;
      else if (name === '--token-url') o.tokenUrl = v;
      else o.format = v;
    } else if (type !== undefined) {
      if (type === 'bool' || eq > 0) o.serviceFlags.push(arg);
      else {
        const v = value();
        if (typeof v !== 'string') return v;
        o.serviceFlags.push(`${name}=${v}`);
      }
    } else {
      return { error: `unknown option ${name}${didYouMean(name, [...OWN_OPTIONS, ...flagTypes.keys()])}` };
    }
  }
  return o;
}

/** `lokistack-authz test`: the policy author's loop, and CI's. Returns the exit status. */
export async function runTestCommand(argv: readonly string[], io: TestCommandIO): Promise<number> {
  const parsed = parseArgs(argv);
  if (parsed === 'help') {
    io.out(TEST_USAGE);
    return 0;
  }
  if ('error' in parsed) return usageError(io, parsed.error);
  const { url, tokenUrl, format, serviceFlags, paths } = parsed;
  if (format !== 'text' && format !== 'json') return usageError(io, `--format must be text or json, got ${JSON.stringify(format)}`);
  for (const [flag, v] of [
    ['--url', url],
    ['--token-url', tokenUrl],
  ] as const) {
    if (v !== undefined && !/^https?:\/\/[^/]/.test(v)) return usageError(io, `${flag} must be an http(s) URL, got ${JSON.stringify(v)}`);
  }
  if (tokenUrl !== undefined && url === undefined) return usageError(io, '--token-url mints tokens for a running service: give --url too');
  if (url !== undefined && serviceFlags.length > 0) {
    return usageError(
      io,
      `${serviceFlags[0]!.split('=')[0]} configures a service this command starts; with --url the running service's own configuration decides: drop it`,
    );
  }
  if (paths.length === 0) return usageError(io, 'name at least one fixture file or directory');

  let sets: FixtureSet[];
  try {
    sets = [...groupByDir(findCasesFiles(paths))].map(([dir, files]) => loadSet(dir, files));
  } catch (err) {
    if (err instanceof FixtureError || (err as NodeJS.ErrnoException).code === 'ENOENT') return usageError(io, reasonOf(err));
    throw err;
  }
  if (sets.length === 0) return usageError(io, `no fixture files (with a "cases" mapping) under ${paths.join(', ')}`);

  const results: CaseResult[] = [];
  const setSkips: Array<{ set: FixtureSet; reason: string }> = [];
  const hasData = serviceFlags.some((f) => /^--(rbac\.config|policy\.data|policy\.bundle)(=|$)/.test(f));
  try {
    for (const set of sets) {
      if (url === undefined && set.kind !== 'static') {
        setSkips.push({ set, reason: NOT_LOCAL[set.kind](set.dir) });
        continue;
      }
      const rbac = join(set.dir, 'rbac.yaml');
      const flags = hasData || url || !existsSync(rbac) ? serviceFlags : [...serviceFlags, `--rbac.config=${rbac}`];
      let target: { base: string; stop(): Promise<void> };
      try {
        target = url ? { base: url, stop: async () => {} } : await startLocal(flags);
      } catch (err) {
        return usageError(io, `cannot start the service for ${set.dir}: ${reasonOf(err)}`);
      }
      try {
        for (const c of set.cases) results.push(await runCase(target.base, c, tokenUrl));
      } finally {
        await target.stop();
      }
    }
  } catch (err) {
    if (err instanceof Unreachable) return usageError(io, err.message);
    throw err;
  }

  const count = (s: CaseResult['status']) => results.filter((r) => r.status === s).length;
  const setSkipped = setSkips.reduce((n, s) => n + s.set.cases.length, 0);
  const summary = { passed: count('passed'), failed: count('failed'), skipped: count('skipped') + setSkipped };
  if (format === 'json') {
    const skippedSets = setSkips.map((s) => ({ set: s.set.name, dir: s.set.dir, kind: s.set.kind, cases: s.set.cases.length, reason: s.reason }));
    io.out(`${JSON.stringify({ results, skippedSets, ...summary }, null, 2)}\n`);
  } else {
    for (const r of results.filter((x) => x.status === 'failed')) {
      io.out(
        `FAIL ${r.set}: ${r.note} (${r.file})\n` +
          `  input:    ${JSON.stringify(r.input)}\n` +
          `  expected: ${JSON.stringify(r.expected)}\n` +
          `  actual:   ${JSON.stringify(r.actual)}\n` +
          `  ${r.reason}\n` +
          reasonLines(r.decisionReason, url !== undefined),
      );
    }
    for (const s of setSkips) io.out(`SKIP set ${s.set.dir} (${s.set.cases.length} cases): ${s.reason}\n`);
    for (const r of results.filter((x) => x.status === 'skipped')) io.out(`SKIP ${r.set}: ${r.note}: ${r.reason}\n`);
    io.out(`${summary.passed} passed, ${summary.failed} failed${summary.skipped ? `, ${summary.skipped} skipped` : ''}\n`);
  }
  if (summary.failed > 0) return 1;
  // Nothing checked is not a pass: CI must not go green on fixtures that never ran.
  if (summary.passed === 0) return usageError(io, `no case could run here${setSkips.length > 0 ? `: ${setSkips[0]!.reason}` : ''}`);
  return 0;
}

async function runCase(base: string, c: FixtureCase, tokenUrl: string | undefined): Promise<CaseResult> {
  const head = { set: c.set, note: c.note, file: c.file };
  const runnerOnly = ['flags', 'faults', 'replay_with_upstream_down'].filter((k) => k in c.extra);
  if (runnerOnly.length > 0) {
    return { ...head, status: 'skipped', reason: `${runnerOnly.join(', ')}: needs the project's fake Kubernetes API runner (test/openshift-fixtures.test.ts)` };
  }
  let tokenHeaders: Record<string, string> = {};
  if ('token' in c.extra) {
    if (tokenUrl === undefined) {
      return {
        ...head,
        status: 'skipped',
        reason: "needs a token minted by the set's OIDC providers: give --token-url (npm run demo -- dynamic --fixtures=DIR serves one)",
      };
    }
    tokenHeaders = await caseToken(tokenUrl, c.extra.token);
  }
  let answer;
  try {
    answer = await sendCase(base, c, tokenHeaders, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  } catch (err) {
    throw new Unreachable(`cannot reach ${base}: ${networkReason(err)}`);
  }
  const why = answerMismatch(answer, c);
  if (why === undefined) return { ...head, status: 'passed' };
  const expected =
    c.wantStatus !== 200
      ? { status: c.wantStatus, code: c.wantErrorCode, message: c.wantMessage ?? c.wantMessagePrefix }
      : c.want.defined
        ? { result: c.want.value }
        : {};
  const decisionReason = await askReason(base, c, tokenHeaders);
  return {
    ...head,
    status: 'failed',
    reason: why,
    input: c.rawBody ?? c.input,
    expected,
    actual: answer.body ?? answer.text,
    ...(decisionReason !== undefined ? { decisionReason } : {}),
  };
}

/** A reason is read by a person: this much of one is printed at most. */
const MAX_REASON_BYTES = 64 << 10;

/**
 * Asks the failed case again with ?reasons=true for the service's reason. Best effort: any
 * failure, a redirect (never followed: the token stays with the service asked) or an answer
 * without a reason is undefined, and the run goes on.
 */
async function askReason(base: string, c: FixtureCase, tokenHeaders: Record<string, string>): Promise<unknown> {
  try {
    const path = c.segments.map(encodeURIComponent).join('/');
    const res = await fetch(`${base.replace(/\/+$/, '')}/v1/data${path ? `/${path}` : ''}?reasons=true`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...c.headers, ...tokenHeaders },
      body: c.rawBody ?? JSON.stringify(c.hasInput ? { input: c.input } : {}),
      redirect: 'manual',
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    if (res.status !== 200) {
      await res.body?.cancel();
      return undefined;
    }
    const text = await readBounded(res, MAX_REASON_BYTES);
    const reason = text === undefined ? undefined : (JSON.parse(text) as { reason?: unknown }).reason;
    return reason !== null && typeof reason === 'object' ? reason : undefined;
  } catch {
    return undefined;
  }
}

/** The failure's reason lines: its code and message, then what it names (grants, reviews, ...). */
function reasonLines(reason: unknown, remote: boolean): string {
  if (reason === undefined) {
    return remote ? '  reason:   none given (a lokistack-authz service gives one when started with --web.reasons)\n' : '';
  }
  const { code, message, ...rest } = reason as Record<string, unknown>;
  const detail = Object.keys(rest).length > 0 ? `  because:  ${JSON.stringify(rest)}\n` : '';
  return `  reason:   ${String(code)}: ${String(message)}\n${detail}`;
}

/**
 * The header a dynamic case's `token` spec asks for ({issuer, account, kind, header?}): kind none
 * sends nothing, garbage a random string no provider issued, the rest what the token endpoint mints.
 */
async function caseToken(tokenUrl: string, spec: unknown): Promise<Record<string, string>> {
  const s = (spec !== null && typeof spec === 'object' ? spec : {}) as Record<string, unknown>;
  if (s.kind === 'none') return {};
  let token: string;
  if (s.kind === 'garbage') token = `garbage-${randomBytes(24).toString('base64url')}`;
  else {
    let res: Response;
    try {
      res = await fetch(tokenUrl, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ issuer: s.issuer, account: s.account, kind: s.kind }),
        redirect: 'error',
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      throw new Unreachable(`cannot reach the token endpoint ${tokenUrl}: ${networkReason(err)}`);
    }
    const text = (await readBounded(res, MAX_TOKEN_BYTES)) ?? '';
    // Only a plain token goes into a header: anything else (an error page, CR LF) stops here.
    if (res.status !== 200 || !/^[\x21-\x7e]+$/.test(text.trim())) {
      throw new Unreachable(
        `the token endpoint ${tokenUrl} gave no token for ${JSON.stringify({ issuer: s.issuer, account: s.account, kind: s.kind })}: ${res.status} ${text.split('\n')[0]!.slice(0, 200)}`,
      );
    }
    token = text.trim();
  }
  return s.header === 'authorization' ? { Authorization: `Bearer ${token}` } : { 'X-Forwarded-Access-Token': token };
}

function networkReason(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError') return `no answer within ${REQUEST_TIMEOUT_MS / 1000}s`;
  return e.cause?.code ?? e.cause?.message ?? e.message;
}

/** " (did you mean --x?)" for the closest known option within two edits, else "". */
export function didYouMean(name: string, known: Iterable<string>): string {
  let best: string | undefined;
  let bestDistance = 3;
  for (const k of known) {
    const d = editDistance(name.replace(/^-+/, ''), k.replace(/^-+/, ''));
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best === undefined ? ' (lokistack-authz test --help lists the options)' : ` (did you mean ${best}?)`;
}

/** Levenshtein distance with adjacent transpositions (optimal string alignment). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

async function startLocal(flags: string[]): Promise<{ base: string; stop(): Promise<void> }> {
  // --web.reasons: a failing case is printed with why the policy decided as it did.
  const loaded = loadConfig(['--web.listen=127.0.0.1:0', '--web.internal.listen=127.0.0.1:0', '--rbac.reload-interval=0', '--web.reasons', ...flags]);
  if (loaded.help) throw new FlagError('--help is not a service flag here');
  const logger = createLogger({ level: 'error', format: 'logfmt' });
  const service = await startService(loaded.config, { logger, metrics: new Metrics({ processMetrics: false }) });
  return { base: `http://127.0.0.1:${service.publicAddress.port}`, stop: () => service.shutdown() };
}

function usageError(io: TestCommandIO, message: string): number {
  io.err(`lokistack-authz test: ${message}\n`);
  return 2;
}
