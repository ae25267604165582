/**
 * The decision fixtures of fixtures/static/<set>/ (rbac.yaml + cases.yaml), typed, and the
 * comparison the runners share (reference: /work/shared/reference/opa-api-and-wasm.md §4.4).
 * One file drives `opa test`, the Wasm policy, the HTTP service and real OPA, so the loader is
 * strict: a misspelt key would otherwise silently drop an expectation.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import type { Decision } from '../../server/decision/types.js';

export const STATIC_FIXTURES = fileURLToPath(new URL('../../fixtures/static/', import.meta.url));

export interface FixtureCase {
  set: string;
  note: string;
  /** Data API path without /v1/data/, e.g. "lokistack/allow"; "" for the whole data document. */
  path: string;
  segments: string[];
  /** Absent (or null, which OPA's server treats alike): the request carries no input. */
  input?: unknown;
  hasInput: boolean;
  /** The document wanted when the answer is a 200. */
  want: Decision;
  wantStatus: number;
  wantErrorCode?: string;
  headers: Record<string, string>;
  rawBody?: string;
  unorderedPaths: string[];
  jsonStringFields: string[];
  /** Why this service deliberately answers otherwise than OPA; the real-OPA comparison skips it. */
  peerDiffers?: string;
  /** Needs the HTTP layer (raw body, headers or an explicit status): no `opa test`, no Wasm run. */
  httpOnly: boolean;
}

export interface FixtureSet {
  name: string;
  rbacFile: string;
  casesFile: string;
  cases: FixtureCase[];
}

const KEYS = new Set([
  'path',
  'input',
  'want_result',
  'want_undefined',
  'want_status',
  'want_error_code',
  'headers',
  'raw_body',
  'unordered_paths',
  'json_string_fields',
  'peer_differs',
]);

export function loadFixtureSets(root: string = STATIC_FIXTURES): FixtureSet[] {
  const sets = readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => loadFixtureSet(join(root, d.name), d.name))
    .sort((a, b) => a.name.localeCompare(b.name));
  if (sets.length === 0) throw new Error(`${root}: no fixture sets`);
  return sets;
}

export function loadFixtureSet(dir: string, name: string): FixtureSet {
  const casesFile = join(dir, 'cases.yaml');
  const doc = parseYaml(readFileSync(casesFile, 'utf8')) as unknown;
  const cases = isRecord(doc) ? doc.cases : undefined;
  if (!isRecord(cases) || Object.keys(cases).length === 0) throw new Error(`${casesFile}: needs a non-empty "cases" mapping keyed by note`);
  return {
    name,
    rbacFile: join(dir, 'rbac.yaml'),
    casesFile,
    cases: Object.entries(cases).map(([note, raw]) => parseCase(name, note, raw, casesFile)),
  };
}

function parseCase(set: string, note: string, raw: unknown, file: string): FixtureCase {
  const fail = (msg: string): never => {
    throw new Error(`${file}: case "${note}": ${msg}`);
  };
  if (!isRecord(raw)) return fail('must be a mapping');
  for (const key of Object.keys(raw)) if (!KEYS.has(key)) fail(`unknown key "${key}"`);
  if (typeof raw.path !== 'string') return fail('path must be a string');

  const wantStatus = raw.want_status === undefined ? 200 : raw.want_status;
  if (typeof wantStatus !== 'number') return fail('want_status must be a number');
  const hasResult = 'want_result' in raw;
  const wantUndefined = raw.want_undefined === true;
  if (raw.want_undefined !== undefined && raw.want_undefined !== true) fail('want_undefined can only be true');
  if (wantStatus === 200 && hasResult === wantUndefined) fail('a 200 case needs exactly one of want_result and want_undefined');
  if (wantStatus !== 200 && (hasResult || wantUndefined)) fail('an error case has no result');
  if (raw.want_error_code !== undefined && (typeof raw.want_error_code !== 'string' || wantStatus === 200)) {
    fail('want_error_code must be a string, on a case whose want_status is not 200');
  }
  if (raw.raw_body !== undefined && typeof raw.raw_body !== 'string') fail('raw_body must be a string');
  if (raw.raw_body !== undefined && 'input' in raw) fail('raw_body and input exclude each other');
  if (raw.peer_differs !== undefined && (typeof raw.peer_differs !== 'string' || raw.peer_differs === '')) fail('peer_differs must give the reason');

  const unorderedPaths = stringList(raw.unordered_paths, 'unordered_paths', fail);
  const jsonStringFields = stringList(raw.json_string_fields, 'json_string_fields', fail);
  // fixtures_test.rego rewrites every pointer of a list from the same value, so one inside another is lost.
  for (const [key, list] of [['unordered_paths', unorderedPaths], ['json_string_fields', jsonStringFields.map(asPointer)]] as const) {
    for (const a of list) for (const b of list) if (a !== b && b.startsWith(`${a}/`)) fail(`${key}: "${b}" lies inside "${a}"`);
  }

  const hasInput = raw.input !== undefined && raw.input !== null;
  return {
    set,
    note,
    path: raw.path,
    segments: raw.path === '' ? [] : raw.path.split('/'),
    ...(hasInput ? { input: raw.input } : {}),
    hasInput,
    want: hasResult ? { defined: true, value: raw.want_result } : { defined: false },
    wantStatus,
    ...(typeof raw.want_error_code === 'string' ? { wantErrorCode: raw.want_error_code } : {}),
    headers: stringRecord(raw.headers, fail),
    ...(typeof raw.raw_body === 'string' ? { rawBody: raw.raw_body } : {}),
    unorderedPaths,
    jsonStringFields,
    ...(typeof raw.peer_differs === 'string' ? { peerDiffers: raw.peer_differs } : {}),
    httpOnly: raw.raw_body !== undefined || raw.headers !== undefined || raw.want_status !== undefined,
  };
}

/** A json_string_fields entry: a JSON pointer, or a top-level key as in the reference's examples. */
function asPointer(field: string): string {
  return field.startsWith('/') ? field : `/${field}`;
}

function stringList(x: unknown, key: string, fail: (msg: string) => never): string[] {
  if (x === undefined) return [];
  if (!Array.isArray(x) || !x.every((s) => typeof s === 'string')) return fail(`${key} must be a list of strings`);
  return x;
}

function stringRecord(x: unknown, fail: (msg: string) => never): Record<string, string> {
  if (x === undefined) return {};
  if (!isRecord(x) || !Object.values(x).every((v) => typeof v === 'string')) return fail('headers must map names to strings');
  return x as Record<string, string>;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return x !== null && typeof x === 'object' && !Array.isArray(x);
}

// ---- comparison ----------------------------------------------------------------------------------

export interface Normalisation {
  /** JSON pointers of arrays built from sets: their order carries no meaning (compared as multisets). */
  unorderedPaths: readonly string[];
  /** JSON pointers (or top-level keys) of strings holding JSON: key order inside differs between encoders. */
  jsonStringFields: readonly string[];
}

/** A copy of `value` in which the case's order-free and JSON-string parts compare by meaning. */
export function normalise(value: unknown, how: Normalisation): unknown {
  // Wrapping makes "" (the whole value) one more pointer, and replacement in place simple.
  const box = { v: structuredClone(value) as unknown };
  for (const field of how.jsonStringFields) {
    update(box, asPointer(field), (s) => (typeof s === 'string' ? (JSON.parse(s) as unknown) : s));
  }
  for (const ptr of how.unorderedPaths) {
    update(box, ptr, (a) => (Array.isArray(a) ? [...a].sort((x, y) => compareCanonical(x, y)) : a));
  }
  return box.v;
}

/** Applies `f` at pointer `ptr` below the box's `v`; a pointer to nothing leaves the value as it is. */
function update(box: { v: unknown }, ptr: string, f: (x: unknown) => unknown): void {
  const keys = ['v', ...(ptr === '' ? [] : ptr.slice(1).split('/').map((k) => k.replaceAll('~1', '/').replaceAll('~0', '~')))];
  let parent: unknown = box;
  for (const key of keys.slice(0, -1)) {
    parent = isContainer(parent) ? (parent as Record<string, unknown>)[key] : undefined;
  }
  const last = keys[keys.length - 1]!;
  if (isContainer(parent) && Object.hasOwn(parent, last)) {
    (parent as Record<string, unknown>)[last] = f((parent as Record<string, unknown>)[last]);
  }
}

function isContainer(x: unknown): x is object {
  return x !== null && typeof x === 'object';
}

function compareCanonical(a: unknown, b: unknown): number {
  const x = canonical(a);
  const y = canonical(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** JSON with object keys sorted, so equal values sort next to each other whatever their key order. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (isContainer(value)) {
    const obj = value as Record<string, unknown>;
    return `{${Object.keys(obj)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(obj[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Asserts that `actual` is the case's wanted document, after the case's normalisation. */
export function assertDecision(actual: Decision, c: FixtureCase, who = 'answer'): void {
  if (!c.want.defined) {
    assert.equal(actual.defined, false, `${who}: want undefined, got ${actual.defined ? JSON.stringify(actual.value) : ''}`);
    return;
  }
  assert.ok(actual.defined, `${who}: want ${JSON.stringify(c.want.value)}, got an undefined document`);
  assert.deepStrictEqual(normalise(actual.value, c), normalise(c.want.value, c), `${who}: wrong document`);
}

// ---- HTTP ----------------------------------------------------------------------------------------

/** Keys of a Data API answer that vary between runs or servers and carry no decision. */
const IGNORED_KEYS = new Set(['decision_id', 'metrics', 'warning', 'provenance']);

export interface Answer {
  status: number;
  body: unknown;
  text: string;
}

/** Sends the case as the gateway (or any OPA client) would: POST /v1/data/<path>. */
export async function send(base: string, c: FixtureCase): Promise<Answer> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  for (const [name, value] of Object.entries(c.headers)) {
    for (const k of Object.keys(headers)) if (k.toLowerCase() === name.toLowerCase()) delete headers[k];
    headers[name] = value;
  }
  const path = c.segments.map(encodeURIComponent).join('/');
  const res = await fetch(`${base}/v1/data${path ? `/${path}` : ''}`, {
    method: 'POST',
    headers,
    body: c.rawBody ?? JSON.stringify(c.hasInput ? { input: c.input } : {}),
  });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text) as unknown;
  } catch {
    body = undefined;
  }
  return { status: res.status, body, text };
}

/** The document a 200 answer carries, refusing bodies with anything but `result` and ignored keys. */
export function decisionOf(answer: Answer): Decision {
  assert.ok(isRecord(answer.body), `not a JSON object: ${answer.text}`);
  const extra = Object.keys(answer.body).filter((k) => k !== 'result' && !IGNORED_KEYS.has(k));
  assert.deepEqual(extra, [], `unexpected keys in ${answer.text}`);
  return 'result' in answer.body ? { defined: true, value: answer.body.result } : { defined: false };
}

/** Checks an answer against the case: status, error code, and for a 200 the document. */
export function assertAnswer(answer: Answer, c: FixtureCase, who = 'answer'): void {
  assert.equal(answer.status, c.wantStatus, `${who}: status ${answer.status}, body ${answer.text}`);
  if (c.wantStatus !== 200) {
    if (c.wantErrorCode !== undefined) {
      assert.equal(isRecord(answer.body) ? answer.body.code : undefined, c.wantErrorCode, `${who}: error envelope ${answer.text}`);
    }
    return;
  }
  assertDecision(decisionOf(answer), c, who);
}

/**
 * What two servers must agree on: the status, then the normalised document of a 200 or the error
 * code of an error (messages differ: they quote each runtime's own parser).
 */
export function comparable(answer: Answer, c: FixtureCase): unknown {
  if (answer.status !== 200) return { status: answer.status, code: isRecord(answer.body) ? answer.body.code : answer.text };
  const d = decisionOf(answer);
  return { status: 200, ...(d.defined ? { result: normalise(d.value, c) } : {}) };
}
