/**
 * The openshift-mode decision fixtures of fixtures/openshift/<set>/ (cases.yaml, optional
 * cluster.yaml), typed, and the comparison their runner makes. The format is described at the top
 * of fixtures/openshift/opa-openshift-authorize/cases.yaml. The loader is strict: a misspelt key
 * would otherwise silently drop an expectation.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import type { FakeKubeFault, Identity } from './fake-kube/server.js';
import { loadSetsUnder } from './fixtures.js';
import { KUBECONFIG_PLACEHOLDER, type Answer } from './openshift.js';

export const OPENSHIFT_FIXTURES = fileURLToPath(new URL('../../fixtures/openshift/', import.meta.url));

export interface OpenShiftCase {
  set: string;
  note: string;
  from?: string;
  path: string;
  input?: unknown;
  rawBody?: string;
  headers: Record<string, string>;
  /** Appended to the set's flags for this case (the later flag wins). */
  flags: string[];
  faults: FakeKubeFault[];
  wantStatus: number;
  /** 200 only. */
  wantResult?: unknown;
  wantErrorCode?: string;
  wantMessage?: string;
  wantMessagePrefix?: string;
  replayWithUpstreamDown: boolean;
  differs?: string;
}

export interface OpenShiftSet {
  name: string;
  flags: string[];
  tokens: Record<string, Identity>;
  openshift: boolean;
  /** cluster.yaml beside cases.yaml, if any: objects added to the shared cluster fixture. */
  extraCluster?: string;
  cases: OpenShiftCase[];
}

const SET_KEYS = new Set(['flags', 'tokens', 'openshift', 'cases']);
const CASE_KEYS = new Set([
  'from',
  'path',
  'input',
  'raw_body',
  'headers',
  'flags',
  'faults',
  'want_status',
  'want_result',
  'want_error_code',
  'want_message',
  'want_message_prefix',
  'replay_with_upstream_down',
  'differs_from_opa_openshift',
]);
const FAULT_KEYS = new Set(['endpoint', 'latencyMs', 'status', 'message', 'reset', 'hang', 'times']);

export function loadOpenShiftSets(root: string = OPENSHIFT_FIXTURES): OpenShiftSet[] {
  return loadSetsUnder(root, loadOpenShiftSet);
}

export function loadOpenShiftSet(dir: string, name: string): OpenShiftSet {
  const file = join(dir, 'cases.yaml');
  const fail = (msg: string): never => {
    throw new Error(`${file}: ${msg}`);
  };
  const doc = parseYaml(readFileSync(file, 'utf8')) as unknown;
  if (!isRecord(doc)) return fail('must be a mapping');
  for (const key of Object.keys(doc)) if (!SET_KEYS.has(key)) fail(`unknown key "${key}"`);
  const flags = stringList(doc.flags, 'flags', fail);
  if (!flags.some((f) => f === `--openshift.kubeconfig=${KUBECONFIG_PLACEHOLDER}`)) {
    fail(`flags must point the service at the fake API: --openshift.kubeconfig=${KUBECONFIG_PLACEHOLDER}`);
  }
  if (doc.openshift !== undefined && typeof doc.openshift !== 'boolean') fail('openshift must be true or false');
  if (!isRecord(doc.cases) || Object.keys(doc.cases).length === 0) fail('needs a non-empty "cases" mapping keyed by note');
  const clusterFile = join(dir, 'cluster.yaml');
  return {
    name,
    flags,
    tokens: tokenTable(doc.tokens, fail),
    openshift: doc.openshift !== false,
    ...(existsSync(clusterFile) ? { extraCluster: readFileSync(clusterFile, 'utf8') } : {}),
    cases: Object.entries(doc.cases as Record<string, unknown>).map(([note, raw]) => parseCase(name, note, raw, (msg) => fail(`case "${note}": ${msg}`))),
  };
}

function parseCase(set: string, note: string, raw: unknown, fail: (msg: string) => never): OpenShiftCase {
  if (!isRecord(raw)) return fail('must be a mapping');
  for (const key of Object.keys(raw)) if (!CASE_KEYS.has(key)) fail(`unknown key "${key}"`);
  if (typeof raw.path !== 'string') fail('path must be a string');
  if (raw.raw_body !== undefined && typeof raw.raw_body !== 'string') fail('raw_body must be a string');
  if (raw.raw_body !== undefined && 'input' in raw) fail('raw_body and input exclude each other');
  if (raw.raw_body === undefined && !('input' in raw)) fail('needs input or raw_body');

  const wantStatus = raw.want_status ?? 200;
  if (typeof wantStatus !== 'number') return fail('want_status must be a number');
  const hasResult = 'want_result' in raw;
  if (wantStatus === 200) {
    if (!hasResult) fail('a 200 case needs want_result');
    for (const k of ['want_error_code', 'want_message', 'want_message_prefix']) if (k in raw) fail(`a 200 case has no ${k}`);
    checkResultShape(raw.want_result, fail);
  } else {
    if (hasResult) fail('an error case has no want_result');
    if (typeof raw.want_error_code !== 'string') fail('an error case needs want_error_code');
    const exact = typeof raw.want_message === 'string';
    const prefix = typeof raw.want_message_prefix === 'string';
    if (exact === prefix) fail('an error case needs exactly one of want_message and want_message_prefix');
  }
  if (raw.replay_with_upstream_down !== undefined && typeof raw.replay_with_upstream_down !== 'boolean') fail('replay_with_upstream_down must be a boolean');
  if (raw.differs_from_opa_openshift !== undefined && (typeof raw.differs_from_opa_openshift !== 'string' || raw.differs_from_opa_openshift === '')) {
    fail('differs_from_opa_openshift must give the reason');
  }
  if (raw.from !== undefined && typeof raw.from !== 'string') fail('from must be a string');

  return {
    set,
    note,
    ...(typeof raw.from === 'string' ? { from: raw.from } : {}),
    path: raw.path as string,
    ...('input' in raw ? { input: raw.input } : {}),
    ...(typeof raw.raw_body === 'string' ? { rawBody: raw.raw_body } : {}),
    headers: stringRecord(raw.headers, fail),
    flags: stringList(raw.flags ?? [], 'flags', fail),
    faults: faultList(raw.faults, fail),
    wantStatus,
    ...(hasResult ? { wantResult: raw.want_result } : {}),
    ...(typeof raw.want_error_code === 'string' ? { wantErrorCode: raw.want_error_code } : {}),
    ...(typeof raw.want_message === 'string' ? { wantMessage: raw.want_message } : {}),
    ...(typeof raw.want_message_prefix === 'string' ? { wantMessagePrefix: raw.want_message_prefix } : {}),
    replayWithUpstreamDown: raw.replay_with_upstream_down === true,
    ...(typeof raw.differs_from_opa_openshift === 'string' ? { differs: raw.differs_from_opa_openshift } : {}),
  };
}

/** A result is a boolean, or {allowed: "true"|"false", data: string | mapping}. */
function checkResultShape(want: unknown, fail: (msg: string) => never): void {
  if (typeof want === 'boolean') return;
  if (!isRecord(want)) {
    fail('want_result must be a boolean or {allowed, data}');
  }
  const keys = Object.keys(want).sort().join(',');
  if (keys !== 'allowed,data') fail(`want_result needs exactly allowed and data, got ${keys}`);
  if (want.allowed !== 'true' && want.allowed !== 'false') fail('want_result.allowed must be the string "true" or "false"');
  if (typeof want.data !== 'string' && !isRecord(want.data)) fail('want_result.data must be a string (exact) or a mapping (parsed)');
}

/**
 * Compares an answer with the case: status, then for 200 the body {"result": ...} and nothing
 * else; for errors OPA's envelope {"code","message"} and nothing else.
 */
export function assertOpenShiftAnswer(answer: Answer, c: OpenShiftCase, where = ''): void {
  const ctx = `${c.set}: ${c.note}${where ? ` (${where})` : ''}: ${answer.status} ${answer.text}`;
  assert.equal(answer.status, c.wantStatus, `status: ${ctx}`);
  assert.ok(isRecord(answer.body), `a JSON object body: ${ctx}`);
  const body = answer.body as Record<string, unknown>;
  if (c.wantStatus === 200) {
    assert.deepEqual(Object.keys(body), ['result'], `only "result": ${ctx}`);
    assertResult(body.result, c.wantResult, ctx);
    return;
  }
  assert.deepEqual(Object.keys(body).sort(), ['code', 'message'], `OPA's error envelope: ${ctx}`);
  assert.equal(body.code, c.wantErrorCode, `error code: ${ctx}`);
  if (c.wantMessage !== undefined) assert.equal(body.message, c.wantMessage, `message: ${ctx}`);
  if (c.wantMessagePrefix !== undefined) {
    assert.ok(
      typeof body.message === 'string' && body.message.startsWith(c.wantMessagePrefix),
      `message starts with ${JSON.stringify(c.wantMessagePrefix)}: ${ctx}`,
    );
  }
}

/** true/false exactly; a matcher answer by its allowed string and its data (exact, or parsed). */
export function assertResult(actual: unknown, want: unknown, ctx: string): void {
  if (typeof want === 'boolean') {
    assert.equal(actual, want, `result: ${ctx}`);
    return;
  }
  const w = want as { allowed: string; data: unknown };
  assert.ok(isRecord(actual), `result is an object: ${ctx}`);
  const a = actual as Record<string, unknown>;
  // The gateway type-asserts both as strings (reference §2.2): anything else panics it.
  assert.deepEqual(Object.keys(a).sort(), ['allowed', 'data'], `result keys: ${ctx}`);
  assert.equal(a.allowed, w.allowed, `allowed (a string): ${ctx}`);
  assert.equal(typeof a.data, 'string', `data is a JSON string: ${ctx}`);
  if (typeof w.data === 'string') assert.equal(a.data, w.data, `data, byte for byte: ${ctx}`);
  else assert.deepEqual(JSON.parse(a.data as string), w.data, `data, parsed: ${ctx}`);
}

function tokenTable(x: unknown, fail: (msg: string) => never): Record<string, Identity> {
  if (x === undefined) return {};
  if (!isRecord(x)) return fail('tokens must map tokens to identities');
  const out: Record<string, Identity> = {};
  for (const [token, id] of Object.entries(x)) {
    if (!isRecord(id) || typeof id.username !== 'string') return fail(`tokens.${token} needs a username`);
    out[token] = { username: id.username, groups: stringList(id.groups ?? [], `tokens.${token}.groups`, fail) };
  }
  return out;
}

function faultList(x: unknown, fail: (msg: string) => never): FakeKubeFault[] {
  if (x === undefined) return [];
  if (!Array.isArray(x)) return fail('faults must be a list');
  return x.map((f, i) => {
    if (!isRecord(f)) return fail(`faults[${i}] must be a mapping`);
    for (const key of Object.keys(f)) if (!FAULT_KEYS.has(key)) fail(`faults[${i}]: unknown key "${key}"`);
    return f as FakeKubeFault;
  });
}

function stringList(x: unknown, key: string, fail: (msg: string) => never): string[] {
  if (!Array.isArray(x) || !x.every((s) => typeof s === 'string')) return fail(`${key} must be a list of strings`);
  return x as string[];
}

function stringRecord(x: unknown, fail: (msg: string) => never): Record<string, string> {
  if (x === undefined) return {};
  if (!isRecord(x) || !Object.values(x).every((v) => typeof v === 'string')) return fail('headers must map names to strings');
  return x as Record<string, string>;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return x !== null && typeof x === 'object' && !Array.isArray(x);
}
