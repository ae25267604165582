/**
 * Property-based fuzzing (fast-check) of the Data API in every mode, over real HTTP to one service
 * per mode, started once:
 *
 *   static             the example rbac (deploy/examples/rbac.yaml)
 *   openshift-logging  the Loki Operator's container arguments against the fake Kubernetes API
 *   dynamic            fixtures/dynamic/two-issuers against two real OIDC providers (oidc-provider)
 *
 * Each mode runs FUZZ_RUNS cases in total (default 10,000), split over four properties:
 *
 *   well-formed decisions  the gateway's request as the mode can decide it; the answer must be exactly
 *                          what a reference model written here says (never a 5xx, never an allow the
 *                          reference denies);
 *   malformed bodies       POSTs to the decision path with arbitrary bytes, truncated or deep JSON, huge
 *                          strings, wrong types, duplicate keys, gzip (valid, invalid, bombs), YAML; a
 *                          model of the Data API's parsing says which status comes back;
 *   random requests        random methods, paths (percent-encodings, dots, double slashes, quotes),
 *                          query parameters and headers; only the statuses and 5xx the protocol
 *                          defines may come back;
 *   raw sockets            arbitrary bytes for the request line and headers.
 *
 * After every property the internal /live must still answer 200 (an uncaught exception in the
 * in-process service fails the run through mocha anyway).
 *
 * The reference models are independent of the service's code: static is the Loki Operator's rule
 * over the rbac file as plain TypeScript; openshift is opa-openshift's algorithm over a grant table
 * read off the fake cluster's fixture (test/support/fake-kube/fixtures/lokistack-cluster.yaml);
 * dynamic is "the roles of the identity the tenant's own issuer vouches for", from identities.yaml.
 *
 * FUZZ_RUNS=<n> raises (or lowers) the number of cases per mode; FUZZ_SEED=<n> replays a seed.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { parse as parseYaml } from 'yaml';
import { LOKISTACK_IDENTITIES, LOKISTACK_TOKENS, lokistackFakeKubeOptions } from './support/fake-kube/fixtures.js';
import { startFakeKube, type FakeKube } from './support/fake-kube/server.js';
import { startOidcProvider, type OidcProvider } from './support/oidc.js';
import { KUBECONFIG_PLACEHOLDER, OPERATOR_LOGGING_ARGS, fakeKubeconfigFile, startAuthz, type RunningAuthz } from './support/openshift.js';
import { startTestService, writeTempFile, type TestService } from './support/service.js';

const RUNS = Math.max(40, Number(process.env.FUZZ_RUNS ?? 10_000));
const SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : undefined;
/**
 * FUZZ_EXCLUDE=lone-surrogates,case-variant-keys leaves out inputs of known, reported failures, to
 * look past them.
 */
const EXCLUDE = new Set((process.env.FUZZ_EXCLUDE ?? '').split(',').filter((x) => x !== ''));
const SHARE = { wellFormed: 0.45, body: 0.3, request: 0.2, raw: 0.05 };
const runsOf = (part: keyof typeof SHARE): number => Math.ceil(RUNS * SHARE[part]);
const params = (part: keyof typeof SHARE): fc.Parameters<unknown> => ({
  numRuns: runsOf(part),
  ...(SEED !== undefined ? { seed: SEED } : {}),
  // Shrinking a failing HTTP exchange is worth it, but not without bound.
  interruptAfterTimeLimit: 240_000,
  markInterruptAsFailure: false,
});

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MAX_BODY = 1 << 20;
const MAX_DEPTH = 64;
const DECISION_PATH = '/v1/data/lokistack/allow';

type Mode = 'static' | 'openshift-logging' | 'dynamic';

// ---------------------------------------------------------------------------------------------
// HTTP: a keep-alive client, and raw sockets
// ---------------------------------------------------------------------------------------------

interface Wire {
  method: string;
  /** Request target as sent: path and query. */
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** Send the body with chunked transfer encoding instead of a Content-Length. */
  chunked?: boolean;
}

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

class Client {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 4 });
  constructor(private readonly port: number) {}

  /** The last requests sent, for the message when a connection fails. */
  private readonly history: string[] = [];

  send(w: Wire, timeoutMs = 30_000, retried = false): Promise<Reply> {
    if (!retried) this.history.push(show(w).slice(0, 400));
    if (this.history.length > 3) this.history.shift();
    return new Promise<Reply>((resolve, reject) => {
      let answered = false;
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(w.headers)) if (v !== undefined) headers[k] = v;
      // Node frames a body of GET, HEAD, DELETE, OPTIONS and TRACE only when told how.
      if (w.body !== undefined) {
        if (w.chunked) headers['transfer-encoding'] = 'chunked';
        else headers['content-length'] = String(w.body.length);
      }
      const req = httpRequest({ host: '127.0.0.1', port: this.port, method: w.method, path: w.path, headers, agent: this.agent }, (res) => {
        answered = true;
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString('utf8') });
        });
        res.on('error', (err) => {
          clearTimeout(timer);
          reject(new Error(`the answer was cut: ${err.message}`));
        });
      });
      const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs}ms`)), timeoutMs);
      req.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        if (answered) return;
        // A kept-alive socket the service closed as idle just as this request went out (the race
        // Node documents for req.reusedSocket): the request never reached the service; send it anew.
        if (req.reusedSocket && err.code === 'ECONNRESET' && !retried) {
          this.send(w, timeoutMs, true).then(resolve, reject);
          return;
        }
        reject(new Error(`${err.message}; the last requests on this client:\n${this.history.join('\n')}`));
      });
      if (w.body === undefined) {
        req.end();
      } else if (w.chunked) {
        const cut = Math.floor(w.body.length / 2);
        if (cut > 0) req.write(w.body.subarray(0, cut));
        req.end(w.body.subarray(cut));
      } else {
        req.end(w.body);
      }
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Writes `bytes` on a fresh connection, half-closes it, and returns what came back before the close. */
function rawExchange(port: number, bytes: Buffer, timeoutMs = 15_000): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const parts: Buffer[] = [];
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ text: Buffer.concat(parts).toString('latin1'), closed });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on('data', (c: Buffer) => parts.push(c));
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('connect', () => socket.end(bytes));
  });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return x !== null && typeof x === 'object' && !Array.isArray(x);
}

/** Nesting of arrays and objects: a scalar is 0, {} is 1. */
function depthOf(v: unknown): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[v, 0]];
  while (stack.length > 0) {
    const [x, d] = stack.pop()!;
    if (x === null || typeof x !== 'object') continue;
    max = Math.max(max, d + 1);
    for (const c of Array.isArray(x) ? x : Object.values(x)) stack.push([c, d + 1]);
  }
  return max;
}

/** One line describing an exchange, for assertion messages (bodies cut short). */
function show(w: Wire, r?: Reply): string {
  const body =
    w.body === undefined
      ? ''
      : w.body.length > 300
        ? `${JSON.stringify(w.body.subarray(0, 300).toString('latin1'))}… (${w.body.length} bytes)`
        : JSON.stringify(w.body.toString('latin1'));
  const req = `${w.method} ${w.path} ${JSON.stringify(w.headers)}${w.chunked ? ' (chunked)' : ''} ${body}`;
  return r ? `${req}\n  -> ${r.status} ${r.body.length > 600 ? `${r.body.slice(0, 600)}…` : r.body}` : req;
}

// ---------------------------------------------------------------------------------------------
// Arbitraries shared by every mode
// ---------------------------------------------------------------------------------------------

/** Any UTF-16 unit mix: ASCII, controls, Latin-1, BMP, astral, and lone surrogates. */
const anyChar: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0x1f }).map((c) => String.fromCharCode(c)) },
  { weight: 1, arbitrary: fc.integer({ min: 0x7f, max: 0xff }).map((c) => String.fromCharCode(c)) },
  { weight: 1, arbitrary: fc.integer({ min: 0x100, max: 0xd7ff }).map((c) => String.fromCharCode(c)) },
  { weight: 1, arbitrary: fc.integer({ min: 0x10000, max: 0x10ffff }).map((c) => String.fromCodePoint(c)) },
  { weight: EXCLUDE.has('lone-surrogates') ? 0 : 1, arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)) },
  { weight: 1, arbitrary: fc.constantFrom('\u2028', '\u2029', '\ufeff', '\ufffd', '<', '>', '&', '"', '\\', '/') },
);
const anyString = (maxLength = 24): fc.Arbitrary<string> => fc.string({ unit: anyChar, maxLength });

/** A JSON value (what JSON.parse can give), strings of any units. */
const anyJson: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    anyString(),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(anyString(8), tie('value'), { maxKeys: 4 }),
  ),
})).value;

/** A value of any JSON type but `kind`, for "wrong type" fields. */
const wrongType = (kind: 'string' | 'array' | 'object' | 'boolean'): fc.Arbitrary<unknown> =>
  anyJson.filter((v) => {
    if (kind === 'string') return typeof v !== 'string' && v !== null;
    if (kind === 'array') return !Array.isArray(v) && v !== null;
    if (kind === 'boolean') return typeof v !== 'boolean' && v !== null;
    return !isRecord(v) && v !== null;
  });

/** Header-safe text: what an HTTP/1.1 client can put in a header value (no CR, LF, NUL). */
const headerChar = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)) },
  { weight: 1, arbitrary: fc.constantFrom(' ', '\t') },
  { weight: 1, arbitrary: fc.integer({ min: 0x80, max: 0xff }).map((c) => String.fromCharCode(c)) },
);
const headerValue = (maxLength = 64): fc.Arbitrary<string> => fc.string({ unit: headerChar, maxLength });
const tokenChars = fc.string({
  unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~+/='.split('')),
  minLength: 1,
  maxLength: 80,
});

/** How a JSON document is written: whitespace, escapes, decoy duplicate keys (JSON.parse keeps the last). */
interface Style {
  space: string;
  escape: 'none' | 'non-ascii' | 'all';
  decoys: boolean;
  decoy: unknown;
}
const style: fc.Arbitrary<Style> = fc.record({
  space: fc.constantFrom('', '', '', ' ', '\n', '\t', ' \r\n  '),
  escape: fc.constantFrom('none', 'none', 'non-ascii', 'all'),
  decoys: fc.boolean(),
  decoy: fc.constantFrom<unknown>(null, true, 'admin', ['developers', 'sre', 'system:cluster-admins'], { subject: 'alice@example.com' }, 0),
});

function writeString(s: string, escaping: Style['escape']): string {
  if (escaping === 'none') return JSON.stringify(s);
  let out = '"';
  for (const ch of s) {
    for (let i = 0; i < ch.length; i++) {
      const code = ch.charCodeAt(i);
      if (escaping === 'all' || code > 0x7e || code < 0x20 || ch === '"' || ch === '\\') out += `\\u${code.toString(16).padStart(4, '0')}`;
      else out += ch[i];
    }
  }
  return `${out}"`;
}

/** JSON text for `v` in `st`; JSON.parse(writeJson(v, st)) deep-equals v. */
function writeJson(v: unknown, st: Style): string {
  const s = st.space;
  if (v === null || typeof v !== 'object') {
    if (typeof v === 'string') return writeString(v, st.escape);
    return JSON.stringify(v) ?? 'null';
  }
  if (Array.isArray(v)) return `[${s}${v.map((x) => writeJson(x, st)).join(`${s},${s}`)}${s}]`;
  const parts: string[] = [];
  for (const [k, x] of Object.entries(v)) {
    if (st.decoys) parts.push(`${writeString(k, st.escape)}${s}:${s}${writeJson(st.decoy, { ...st, decoys: false })}`);
    parts.push(`${writeString(k, st.escape)}${s}:${s}${writeJson(x, st)}`);
  }
  return `{${s}${parts.join(`${s},${s}`)}${s}}`;
}

/** Content types that the service reads as JSON (none of them says yaml). */
const jsonContentType: fc.Arbitrary<string | undefined> = fc.oneof(
  fc.constantFrom(undefined, 'application/json', 'application/json; charset=utf-8', 'text/plain', 'application/octet-stream', 'APPLICATION/JSON'),
  headerValue(40).filter((v) => !v.toLowerCase().includes('yaml') && v.trim() !== ''),
);

/** The body of a decision request as it goes on the wire: plain or gzip, with or without a length. */
interface Encoded {
  body: Buffer;
  headers: Record<string, string>;
  chunked: boolean;
}
const encoding = fc.record({
  gzip: fc.boolean(),
  chunked: fc.boolean(),
  contentType: jsonContentType,
  gzipName: fc.constantFrom('gzip', 'GZIP', ' gzip ', 'gzip'),
});
function encode(text: string, e: { gzip: boolean; chunked: boolean; contentType: string | undefined; gzipName: string }): Encoded {
  const raw = Buffer.from(text, 'utf8');
  const headers: Record<string, string> = {};
  if (e.contentType !== undefined) headers['content-type'] = e.contentType;
  if (e.gzip) headers['content-encoding'] = e.gzipName;
  return { body: e.gzip ? gzipSync(raw) : raw, headers, chunked: e.chunked };
}

/**
 * What the Data API makes of a POST body, modelled from README "The Data API": the status and
 * message class when it refuses, else the input (undefined when missing) to decide on.
 */
type Parsed = { refused: 400; why: string } | { refused: false; input: unknown; missing: boolean; text: string } | { refused: 'unknown' };
function modelPost(body: Buffer, headers: Record<string, string>): Parsed {
  if (body.length > MAX_BODY) return { refused: 400, why: 'request body too large' };
  const enc = (headers['content-encoding'] ?? '').trim().toLowerCase();
  let decoded = body;
  if (enc === 'gzip') {
    try {
      decoded = gunzipSync(body, { maxOutputLength: MAX_BODY + 1 });
    } catch (err) {
      const code = (err as { code?: string }).code;
      return { refused: 400, why: code === 'ERR_BUFFER_TOO_LARGE' ? 'compressed request body too large' : 'could not decompress' };
    }
    if (decoded.length > MAX_BODY) return { refused: 400, why: 'compressed request body too large' };
  } else if (enc !== '' && enc !== 'identity') {
    return { refused: 400, why: 'unsupported Content-Encoding' };
  }
  if ((headers['content-type'] ?? '').includes('yaml')) return { refused: 'unknown' };
  if (decoded.length === 0) return { refused: false, input: undefined, missing: true, text: '' };
  let doc: unknown;
  try {
    doc = JSON.parse(decoded.toString('utf8'));
  } catch {
    return { refused: 400, why: 'malformed input document' };
  }
  if (doc === null) return { refused: false, input: undefined, missing: true, text: '' };
  if (!isRecord(doc)) return { refused: 400, why: 'the request must be a JSON object' };
  // OPA decodes the envelope into a Go struct: `input` matches case-insensitively and the last
  // occurrence in the body wins. JSON.parse keeps no order across case variants, so with more than
  // one variant present this model cannot tell (test/go-decode.test.ts checks those against Go).
  const variants = Object.keys(doc).filter((k) => /^input$/i.test(k.replace(/\u017f/g, 's').replace(/\u212a/g, 'k')));
  if (variants.length > 1) return { refused: 'unknown' };
  const input = variants.length === 1 ? doc[variants[0]!] : undefined;
  const text = decoded.toString('utf8');
  if (input === undefined || input === null) return { refused: false, input: undefined, missing: true, text };
  if (depthOf(input) > MAX_DEPTH) return { refused: 400, why: 'nested deeper than' };
  // The decoded-input bounds at their defaults (README, docs/operations.md "Input bounds").
  if (longestString(input) > 65_536) return { refused: 400, why: 'web.max-input-string-bytes' };
  return { refused: false, input, missing: false, text };
}

/**
 * Whether some object in the (valid) JSON text repeats a key exactly. JSON.parse keeps only the last
 * occurrence, while Go type-checks every one into opa-openshift's struct, so this model cannot judge
 * such a body in the openshift modes (test/go-decode.test.ts and the peer tests do). A scan of the
 * text's tokens: each string followed by a colon is a key of the innermost open object.
 */
function hasExactDuplicateKeys(text: string): boolean {
  const open: Array<Set<string> | null> = [];
  const token = /"(?:[^"\\]|\\.)*"|[{}[\]:]/g;
  let prev: string | undefined;
  for (let m = token.exec(text); m; m = token.exec(text)) {
    const t = m[0];
    if (t === '{') open.push(new Set());
    else if (t === '[') open.push(null);
    else if (t === '}' || t === ']') open.pop();
    else if (t === ':' && prev !== undefined && prev.startsWith('"')) {
      const keys = open[open.length - 1];
      const key = JSON.parse(prev) as string;
      if (keys?.has(key)) return true;
      keys?.add(key);
    }
    prev = t;
  }
  return false;
}

function longestString(v: unknown): number {
  if (typeof v === 'string') return Buffer.byteLength(v);
  if (v === null || typeof v !== 'object') return 0;
  const items = Array.isArray(v) ? v : Object.entries(v).flat();
  return items.reduce((m: number, x) => Math.max(m, longestString(x)), 0);
}

/** Bodies no gateway sends. */
function malformedBody(validText: fc.Arbitrary<string>): fc.Arbitrary<{ body: Buffer; headers: Record<string, string>; chunked: boolean }> {
  const plain = (b: fc.Arbitrary<Buffer>) =>
    fc.record({
      body: b,
      headers: fc.record({ 'content-type': jsonContentType }, { requiredKeys: [] }) as fc.Arbitrary<Record<string, string>>,
      chunked: fc.boolean(),
    });
  const text = (t: fc.Arbitrary<string>) => plain(t.map((s) => Buffer.from(s, 'utf8')));
  const deep = fc
    .record({ n: fc.integer({ min: MAX_DEPTH - 3, max: 100_000 }), open: fc.constantFrom('[', '{"a":'), wrap: fc.boolean() })
    .map(({ n, open, wrap }) => {
      const close = open === '[' ? ']' : '}';
      const nest = `${open.repeat(n)}1${close.repeat(n)}`;
      return wrap ? `{"input":${nest}}` : nest;
    });
  const huge = fc
    .record({
      n: fc.integer({ min: 1, max: MAX_BODY + 64 }),
      field: fc.constantFrom('subject', 'tenant', 'resource', 'x'),
      ch: fc.constantFrom('a', 'é', '\\u00e9', '😀'),
    })
    .map(
      ({ n, field, ch }) =>
        `{"input":{"${field}":"${ch.repeat(Math.max(1, Math.floor(n / Buffer.byteLength(ch))))}","permission":"read","tenant":"application"}}`,
    );
  const truncated = fc.tuple(validText, fc.double({ min: 0, max: 1, noNaN: true })).map(([t, f]) => t.slice(0, Math.floor(t.length * f)));
  const trailing = fc.tuple(validText, fc.constantFrom('x', '{}', ',', '\u0000', ' ]', '{"input":{"groups":["sre"]}}')).map(([t, extra]) => t + extra);
  const topLevel = anyJson.filter((v) => !isRecord(v)).map((v) => JSON.stringify(v));
  const wrongInput = fc.tuple(anyJson, style).map(([v, st]) => writeJson({ input: v }, st));
  const gz = fc.oneof(
    // gzip of something, perhaps truncated or bit-flipped
    fc
      .record({ t: fc.oneof(validText, anyString(200)), cut: fc.option(fc.integer({ min: 0, max: 60 })), flip: fc.option(fc.nat()) })
      .map(({ t, cut, flip }) => {
        let b = gzipSync(Buffer.from(t, 'utf8'));
        if (cut !== null) b = b.subarray(0, Math.min(b.length, cut));
        if (flip !== null && b.length > 0) {
          b = Buffer.from(b);
          const i = flip % b.length;
          b[i] = (b[i] ?? 0) ^ 0x5a;
        }
        return b;
      }),
    // not gzip at all
    fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
    // a bomb: small on the wire, over the limit once inflated
    fc.integer({ min: MAX_BODY - 16, max: 4 * MAX_BODY }).map((n) => gzipSync(Buffer.from(`{"input":{"subject":"${'a'.repeat(n)}"}}`))),
  );
  return fc.oneof(
    { weight: 3, arbitrary: plain(fc.uint8Array({ maxLength: 400 }).map((a) => Buffer.from(a))) },
    { weight: 3, arbitrary: text(anyString(200)) },
    { weight: 3, arbitrary: text(truncated) },
    { weight: 2, arbitrary: text(trailing) },
    { weight: 2, arbitrary: text(deep) },
    { weight: 1, arbitrary: text(huge) },
    { weight: 2, arbitrary: text(topLevel) },
    { weight: 3, arbitrary: text(wrongInput) },
    {
      weight: 3,
      arbitrary: fc.record({
        body: gz,
        headers: fc.record({ 'content-encoding': fc.constantFrom('gzip', 'GZIP') }),
        chunked: fc.boolean(),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        body: validText.map((t) => Buffer.from(t)),
        headers: fc.record({
          'content-encoding': fc.oneof(
            fc.constantFrom('deflate', 'br', 'x-gzip', 'gzip, gzip', 'compress', '*'),
            headerValue(16).filter((v) => !['', 'gzip', 'identity'].includes(v.trim().toLowerCase())),
          ),
        }),
        chunked: fc.boolean(),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        body: fc
          .oneof(
            validText,
            anyString(100),
            fc.constant('a: &a [x]\nb: *a\ninput: {subject: alice@example.com, groups: [developers], permission: read, resource: logs, tenant: application}'),
          )
          .map((t) => Buffer.from(t)),
        headers: fc.record({ 'content-type': fc.constantFrom('application/yaml', 'application/x-yaml', 'text/yaml; charset=utf-8') }),
        chunked: fc.boolean(),
      }),
    },
  );
}

/** Random request targets: the Data API's paths and others, percent-encoded or not. */
const segment: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom('lokistack', 'allow', 'roles', 'roleBindings', '0', '1', 'name', 'matched_role_binding', 'claim_values', 'role_grants', 'x'),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '',
      '.',
      '..',
      '%2e',
      '%2E%2e',
      '%2F',
      '%2f..',
      '%22',
      '"',
      "'",
      '%27',
      '%',
      '%zz',
      '%4',
      '%00',
      '%ff',
      '%C3%A9',
      '~',
      ';',
      ';x=1',
      '*',
      '{x}',
      '[0]',
      '%20',
      '+',
    ),
  },
  { weight: 2, arbitrary: anyString(12).map((s) => encodeURIComponent(s.replace(/[\ud800-\udfff]/g, 'x'))) },
  {
    weight: 1,
    arbitrary: fc.string({ unit: fc.integer({ min: 0x21, max: 0xff }).map((c) => String.fromCharCode(c)), maxLength: 10 }).map((s) => s.replace(/[?#]/g, '')),
  },
);
const query: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constant('') },
  {
    weight: 3,
    arbitrary: fc
      .array(
        fc.oneof(
          fc.constantFrom(
            'pretty',
            'pretty=true',
            'pretty=TRUE',
            'pretty=1',
            'metrics',
            'metrics=true',
            'instrument',
            'provenance=true',
            'explain=off',
            'explain=full',
            'explain=notes',
            'input=%7B%7D',
            'input=%7B',
            'input=null',
            'input=1',
            EXCLUDE.has('lone-surrogates') ? 'input=2' : 'input=%7B%22a%22%3A%22%5Cud800%22%7D',
            'strict-builtin-errors',
            'partial',
            'watch',
          ),
          fc
            .tuple(fc.constantFrom('input', 'pretty', 'explain', 'x', 'metrics'), anyString(12))
            .map(([k, v]) => `${k}=${encodeURIComponent(v.replace(/[\ud800-\udfff]/g, 'x'))}`),
        ),
        { maxLength: 4 },
      )
      .map((qs) => `?${qs.join('&')}`),
  },
  { weight: 1, arbitrary: fc.constantFrom('?', '??', '?&&', '?input', '#frag', '?input=%') },
);
const target: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc
      .tuple(
        fc.constantFrom('/v1/data', '/v1/data/', '/v1/data//', '//v1/data', '/v1/data/./', '/v1/./data', '/v1/data/../data', '/V1/data', '/v1/DATA'),
        fc.array(segment, { maxLength: 5 }),
        query,
      )
      .map(([p, segs, q]) => p + (segs.length > 0 && !p.endsWith('/') ? '/' : '') + segs.join('/') + q),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.constantFrom(
          '/',
          '/health',
          '/health?bundles',
          '/live',
          '/metrics',
          '/v0/data',
          '/v1',
          '/v1/query',
          '/v1/policies',
          '/debug/pprof/',
          '*',
          '/%2e%2e/v1/data',
          '/v1%2Fdata/lokistack/allow',
        ),
        query,
      )
      .map(([p, q]) => p + q),
  },
  { weight: 1, arbitrary: fc.array(segment, { maxLength: 6 }).map((segs) => `/${segs.join('/')}`) },
);
const method = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('POST', 'GET') },
  { weight: 2, arbitrary: fc.constantFrom('HEAD', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE') },
  { weight: 1, arbitrary: fc.constantFrom('PROPFIND', 'SEARCH', 'QUERY', 'BREW', 'post', 'Get', 'M-SEARCH', 'PURGE', 'LINK') },
);
/** Extra headers: none of those that frame the request (length, encoding, connection, expect, host). */
const FRAMING = new Set(['content-length', 'transfer-encoding', 'connection', 'expect', 'host', 'upgrade', 'keep-alive', 'te', 'trailer']);
const extraHeaders = fc.dictionary(
  fc
    .oneof(
      fc.constantFrom(
        'x-forwarded-for',
        'accept',
        'accept-encoding',
        'cookie',
        'x-request-id',
        'x-http-method-override',
        'range',
        'if-none-match',
        'origin',
        'x-forwarded-proto',
      ),
      fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,24}$/),
    )
    .filter((n) => !FRAMING.has(n.toLowerCase())),
  headerValue(80),
  { maxKeys: 4 },
);

// ---------------------------------------------------------------------------------------------
// Checks shared by every mode
// ---------------------------------------------------------------------------------------------

/** The statuses the service answers with at all; anything else (502, 503, 504, 418...) is a fault. */
const KNOWN_STATUSES = new Set([200, 301, 307, 400, 401, 404, 405, 408, 413, 414, 431, 500, 501, 505]);

/** OPA's error envelope. */
function envelope(r: Reply): { code: string; message: string } | undefined {
  const v = parseJson(r.body);
  return isRecord(v) && typeof v.code === 'string' && typeof v.message === 'string' ? (v as { code: string; message: string }) : undefined;
}

/**
 * 5xx the protocol defines: in static and dynamic mode OPA's rego_type_error for a path below a
 * rule's scalar value (README "sets inside results"); in the openshift modes opa-openshift's
 * `unknown tenant` and `failed to unmarshal JSON`. Node's own 501 (unknown method) and 505.
 */
function legitimate5xx(mode: Mode, r: Reply): boolean {
  if (r.status === 501 || r.status === 505) return true;
  if (r.status !== 500) return false;
  const e = envelope(r);
  if (e?.code !== 'internal_error') return false;
  if (mode === 'openshift-logging') return e.message === 'unknown tenant' || e.message === 'failed to unmarshal JSON';
  return /rego_type_error/.test(e.message);
}

function checkGeneral(mode: Mode, w: Wire, r: Reply): void {
  assert.ok(KNOWN_STATUSES.has(r.status), `an unexpected status\n${show(w, r)}`);
  // (A HEAD answer carries no body; its caller judges the same request as a GET.)
  if (r.status >= 500 && w.method !== 'HEAD') assert.ok(legitimate5xx(mode, r), `a 5xx the protocol does not define\n${show(w, r)}`);
  const onData = /^\/v1\/data(\/|$|\?)/.test(w.path) && w.method !== 'HEAD';
  if (onData && (r.status === 400 || r.status === 401 || r.status === 500) && r.body !== '') {
    // Our handler answers in OPA's envelope; Node's parser (bad request line) answers with no body.
    assert.ok(envelope(r), `an error outside OPA's envelope\n${show(w, r)}`);
  }
  if (onData && r.status === 200) {
    const v = parseJson(r.body);
    assert.ok(isRecord(v), `a 200 that is not a JSON object\n${show(w, r)}`);
    for (const k of Object.keys(v)) assert.ok(['result', 'warning', 'metrics', 'provenance', 'decision_id'].includes(k), `unknown key ${k}\n${show(w, r)}`);
  }
}

async function assertLive(internalUrl: string): Promise<void> {
  const res = await fetch(`${internalUrl}/live`);
  assert.equal(res.status, 200, `/live answers ${res.status}: ${await res.text()}`);
}

/** Raw request bytes: arbitrary, or a request whose line and headers carry arbitrary bytes. */
const rawRequestBytes: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ maxLength: 600 }).map((a) => Buffer.from(a)),
  fc
    .record({
      method: fc.oneof(method, fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: 8 })),
      target: fc.oneof(target, fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: 40 })),
      version: fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/0.9', 'http/1.1', 'HTTP/1.1 ', ''),
      headers: fc.array(
        fc.oneof(
          fc
            .tuple(
              fc.stringMatching(/^[A-Za-z-]{1,16}$/),
              fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: 40 }),
            )
            .map(([k, v]) => `${k}: ${v}`),
          fc.constantFrom(
            'Content-Length: -1',
            'Content-Length: 5, 6',
            'Content-Length: 99999999999999999999',
            'Transfer-Encoding: chunked',
            'Transfer-Encoding: gzip, chunked',
            'Transfer-Encoding: identity',
            ' folded: header',
            'X-Forwarded-Access-Token: a\u0000b',
            'Content-Encoding: gzip',
            'Host:',
            'Host: a\r\nHost: b',
            'Expect: 100-continue',
            'Expect: x',
            'Connection: upgrade',
            'Upgrade: h2c',
            `X-Big: ${'x'.repeat(20_000)}`,
          ),
        ),
        { maxLength: 6 },
      ),
      eol: fc.constantFrom('\r\n', '\n', '\r'),
      body: fc.oneof(fc.constant(''), fc.constant('0\r\n\r\n'), fc.constant('5\r\nhello\r\n0\r\n\r\n'), fc.constant('zz\r\n'), anyString(60)),
    })
    .map(({ method: m, target: t, version, headers, eol, body }) =>
      Buffer.from(`${m} ${t} ${version}${eol}Host: x${eol}${headers.join(eol)}${headers.length ? eol : ''}${eol}${body}`, 'latin1'),
    ),
);

function checkRaw(text: string): void {
  // Either nothing (the connection closed: a request the parser refused) or HTTP answers.
  if (text === '') return;
  const statuses = [...text.matchAll(/HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1]));
  assert.ok(statuses.length > 0 && text.startsWith('HTTP/1.'), `not an HTTP answer: ${JSON.stringify(text.slice(0, 200))}`);
  for (const s of statuses) {
    assert.ok(KNOWN_STATUSES.has(s) || s === 100 || s === 417, `an unexpected status ${s} in ${JSON.stringify(text.slice(0, 300))}`);
    assert.ok(s < 500 || s === 500 || s === 501 || s === 505, `a 5xx: ${JSON.stringify(text.slice(0, 300))}`);
  }
}

/** The four properties every mode runs, given its well-formed generator and decision checker. */
function suiteFor(
  mode: Mode,
  get: () => { client: Client; port: number; internalUrl: string },
  wellFormed: () => fc.Arbitrary<{ wire: Wire; check: (r: Reply) => void }>,
  validText: () => fc.Arbitrary<string>,
  decideCheck: (input: unknown, missing: boolean, w: Wire, r: Reply) => void,
  requestHeaders: () => fc.Arbitrary<Record<string, string>>,
): void {
  const stats = new Map<string, number>();
  const count = (k: string) => stats.set(k, (stats.get(k) ?? 0) + 1);
  after(() => {
    const line = [...stats.entries()]
      .sort()
      .map(([k, v]) => `${k}:${v}`)
      .join(' ');
    console.log(`      [fuzz ${mode}] ${line}`);
  });

  it(`well-formed decisions: exactly the reference answer, never a 5xx (${runsOf('wellFormed')} cases)`, async () => {
    const { client, internalUrl } = get();
    await fc.assert(
      fc.asyncProperty(wellFormed(), async ({ wire, check }) => {
        const r = await client.send(wire);
        count(`wf-${r.status}${r.status === 200 ? (/"result":(true|\{"allowed":"true")/.test(r.body) ? '-allow' : '-deny') : ''}`);
        assert.ok(r.status < 500, `a 5xx for a well-formed request\n${show(wire, r)}`);
        check(r);
      }),
      params('wellFormed'),
    );
    await assertLive(internalUrl);
  });

  it(`malformed bodies: the Data API's parsing model decides the status (${runsOf('body')} cases)`, async () => {
    const { client, internalUrl } = get();
    const arb = fc.record({ b: malformedBody(validText()), extra: requestHeaders() });
    await fc.assert(
      fc.asyncProperty(arb, async ({ b, extra }) => {
        const wire: Wire = { method: 'POST', path: DECISION_PATH, headers: { ...extra, ...b.headers }, body: b.body, chunked: b.chunked };
        const r = await client.send(wire);
        count(`mb-${r.status}`);
        checkGeneral(mode, wire, r);
        const model = modelPost(b.body, wire.headers);
        if (model.refused === 400) {
          assert.equal(r.status, 400, `the model refuses (${model.why})\n${show(wire, r)}`);
          assert.equal(envelope(r)?.code, 'invalid_parameter', show(wire, r));
        } else if (model.refused === false) {
          if (mode.startsWith('openshift') && hasExactDuplicateKeys(model.text)) count('mb-duplicate-keys-unjudged');
          else decideCheck(model.input, model.missing, wire, r);
        }
      }),
      params('body'),
    );
    await assertLive(internalUrl);
  });

  it(`random methods, paths and headers: only the statuses the protocol defines (${runsOf('request')} cases)`, async () => {
    const { client, internalUrl } = get();
    const arb = fc.record({
      method,
      target,
      headers: fc
        .tuple(
          requestHeaders(),
          extraHeaders,
          fc.record(
            { 'content-type': fc.oneof(jsonContentType, fc.constantFrom('application/yaml', 'multipart/form-data; boundary=x')) },
            { requiredKeys: [] },
          ),
        )
        .map(([a, b, c]) => ({ ...b, ...a, ...(c as Record<string, string>) })),
      body: fc.option(fc.oneof(validText(), anyString(80)), { nil: undefined }),
      chunked: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(arb, async (a) => {
        const wire: Wire = {
          method: a.method,
          path: a.target,
          headers: a.headers,
          ...(a.body !== undefined ? { body: Buffer.from(a.body, 'utf8') } : {}),
          chunked: a.chunked,
        };
        const r = await client.send(wire);
        count(`rq-${r.status}`);
        if (wire.method === 'HEAD' && r.status >= 500) {
          // A HEAD answer has no body to judge: the same request as a GET must be a 5xx the protocol defines.
          const asGet: Wire = { ...wire, method: 'GET' };
          const g = await client.send(asGet);
          assert.equal(g.status, r.status, `HEAD and GET answer alike\n${show(wire, r)}\n${show(asGet, g)}`);
          checkGeneral(mode, asGet, g);
        }
        checkGeneral(mode, wire, r);
        if (r.status === 200 && wire.method === 'POST' && wire.path === DECISION_PATH) {
          const model = modelPost(wire.body ?? Buffer.alloc(0), wire.headers);
          if (model.refused === false) decideCheck(model.input, model.missing, wire, r);
        }
      }),
      params('request'),
    );
    await assertLive(internalUrl);
  });

  it(`raw sockets: arbitrary bytes in the request line and headers (${runsOf('raw')} cases)`, async () => {
    const { port, internalUrl } = get();
    await fc.assert(
      fc.asyncProperty(rawRequestBytes, async (bytes) => {
        const { text, closed } = await rawExchange(port, bytes);
        count(`raw-${closed ? 'closed' : 'open'}`);
        assert.ok(closed, `the connection stayed open after the client's FIN: ${JSON.stringify(bytes.toString('latin1').slice(0, 200))}`);
        checkRaw(text);
      }),
      params('raw'),
    );
    await assertLive(internalUrl);
  });
}

// ---------------------------------------------------------------------------------------------
// static: the operator's rule over the example rbac
// ---------------------------------------------------------------------------------------------

interface Rbac {
  roles: Array<{ name: string; resources: string[]; tenants: string[]; permissions: string[] }>;
  roleBindings: Array<{ name: string; roles: string[]; subjects: Array<{ kind: string; name: string }> }>;
}

/**
 * The Loki Operator's static policy over `rbac`, as plain TypeScript: a binding matches the subject
 * as a user or any listed group as a group (only a list of groups is read); a bound role grants when
 * it lists the request's resource, permission and tenant. Values compare as JSON values, so only
 * strings can ever match.
 */
function staticAllows(rbac: Rbac, input: unknown): boolean {
  if (!isRecord(input)) return false;
  const { subject, groups, permission, resource, tenant } = input;
  const groupList = Array.isArray(groups) ? groups : [];
  for (const binding of rbac.roleBindings) {
    const matches = binding.subjects.some(
      (s) =>
        (s.kind === 'user' && typeof subject === 'string' && s.name === subject) ||
        (s.kind === 'group' && groupList.some((g) => typeof g === 'string' && g === s.name)),
    );
    if (!matches) continue;
    for (const roleName of binding.roles) {
      for (const role of rbac.roles) {
        if (role.name !== roleName) continue;
        const has = (list: string[], v: unknown) => typeof v === 'string' && list.includes(v);
        if (has(role.resources, resource) && has(role.permissions, permission) && has(role.tenants, tenant)) return true;
      }
    }
  }
  return false;
}

const EXAMPLE_RBAC_FILE = `${ROOT}deploy/examples/rbac.yaml`;
const exampleRbac = parseYaml(readFileSync(EXAMPLE_RBAC_FILE, 'utf8')) as Rbac;
const staticUsers = [...new Set(exampleRbac.roleBindings.flatMap((b) => b.subjects.filter((s) => s.kind === 'user').map((s) => s.name)))];
const staticGroups = [...new Set(exampleRbac.roleBindings.flatMap((b) => b.subjects.filter((s) => s.kind === 'group').map((s) => s.name)))];

/** Near misses of a known name: case, whitespace, escapes that do not decode to it, regex look-alikes. */
const nearMiss = (names: readonly string[]): fc.Arbitrary<string> =>
  fc.tuple(fc.constantFrom(...names), fc.constantFrom('upper', 'space', 'nul', 'star', 'dot', 'prefix', 'zwsp', 'fullwidth')).map(([n, how]) => {
    switch (how) {
      case 'upper':
        return n.toUpperCase();
      case 'space':
        return ` ${n}`;
      case 'nul':
        return `${n}\u0000`;
      case 'star':
        return `${n.slice(0, -1)}*`;
      case 'dot':
        return `${n.slice(0, -1)}.`;
      case 'prefix':
        return n.slice(0, -1);
      case 'zwsp':
        return `${n}\u200b`;
      default:
        return n.replace(/[a-z]/, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0));
    }
  });

/** A field value: mostly the known ones, else near misses, random strings or any other JSON type. */
const fieldOf = (known: readonly string[]): fc.Arbitrary<unknown> =>
  fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(...known) },
    { weight: 2, arbitrary: nearMiss(known) },
    { weight: 2, arbitrary: anyString() },
    { weight: 1, arbitrary: wrongType('string') },
  );

/** A static-mode input: every field optional, of the right type most of the time. */
const staticRandomInput: fc.Arbitrary<Record<string, unknown>> = fc
  .record(
    {
      subject: fieldOf([...staticUsers, 'bob@example.com', '']),
      groups: fc.oneof(
        {
          weight: 8,
          arbitrary: fc.array(
            fc.oneof(
              { weight: 5, arbitrary: fc.constantFrom(...staticGroups, 'staff', 'system:authenticated') },
              { weight: 1, arbitrary: nearMiss(staticGroups) },
              { weight: 1, arbitrary: anyJson },
            ),
            { maxLength: 5 },
          ),
        },
        // the operator's `input.groups[_]` would also iterate these; the policy must not
        {
          weight: 2,
          arbitrary: fc.oneof(
            fc.constantFrom(...staticGroups),
            fc.dictionary(anyString(6), fc.constantFrom(...staticGroups), { minKeys: 1, maxKeys: 3 }),
            wrongType('array'),
          ),
        },
      ),
      permission: fieldOf(['read', 'write']),
      resource: fieldOf(['logs', 'metrics', 'traces']),
      tenant: fieldOf(['application', 'infrastructure', 'audit', 'network']),
      tenantID: anyJson,
      token: anyString(),
      extras: anyJson,
      claims: anyJson,
    },
    { requiredKeys: [] },
  )
  .chain((base) => fc.dictionary(anyString(10), anyJson, { maxKeys: 2 }).map((more) => ({ ...more, ...base })));

/** Every (subject or group, permission, resource, tenant) the rbac grants: the allows to start from. */
function grantsOf(rbac: Rbac): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const b of rbac.roleBindings) {
    for (const s of b.subjects) {
      for (const role of rbac.roles.filter((r) => b.roles.includes(r.name))) {
        for (const permission of role.permissions) {
          for (const resource of role.resources) {
            for (const tenant of role.tenants) {
              out.push({
                ...(s.kind === 'user' ? { subject: s.name, groups: ['staff'] } : { subject: 'someone@example.com', groups: ['staff', s.name] }),
                permission,
                resource,
                tenant,
              });
            }
          }
        }
      }
    }
  }
  return out;
}

/**
 * An input near an allow: a granted request with none, one or a few fields replaced by the random
 * generator's (so wrong types, near misses and other grants' values land next to real allows).
 */
function nearAllow(grants: Array<Record<string, unknown>>, random: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<Record<string, unknown>> {
  const fields = ['subject', 'groups', 'permission', 'resource', 'tenant'];
  return fc
    .record({
      grant: fc.constantFrom(...grants),
      other: random,
      mutate: fc.oneof(
        { weight: 4, arbitrary: fc.constant<string[]>([]) },
        { weight: 4, arbitrary: fc.subarray(fields, { minLength: 1, maxLength: 1 }) },
        { weight: 2, arbitrary: fc.subarray(fields) },
      ),
      drop: fc.oneof({ weight: 9, arbitrary: fc.constant<string[]>([]) }, { weight: 1, arbitrary: fc.subarray(fields, { maxLength: 1 }) }),
    })
    .map(({ grant, other, mutate, drop }) => {
      const out: Record<string, unknown> = { ...other, ...grant };
      for (const f of mutate) {
        if (Object.hasOwn(other, f)) out[f] = other[f];
        else delete out[f];
      }
      for (const f of drop) delete out[f];
      return out;
    });
}

const staticInput: fc.Arbitrary<Record<string, unknown>> = fc.oneof(staticRandomInput, nearAllow(grantsOf(exampleRbac), staticRandomInput));

function staticCheckDecision(input: unknown, missing: boolean, w: Wire, r: Reply): void {
  assert.equal(r.status, 200, `a decision the service can make\n${show(w, r)}`);
  const want: Record<string, unknown> = { result: staticAllows(exampleRbac, input) };
  if (missing) want.warning = { code: 'api_usage_warning', message: "'input' key missing from the request" };
  const got = parseJson(r.body);
  if (isRecord(got) && got.result === true && want.result === false) assert.fail(`an allow the reference denies\n${show(w, r)}`);
  assert.deepEqual(got, want, `the reference answer\n${show(w, r)}`);
}

/** A gateway-style POST (or GET ?input=) that static mode decides. */
function staticWellFormed(): fc.Arbitrary<{ wire: Wire; check: (r: Reply) => void }> {
  const top = fc.dictionary(
    anyString(8).filter((k) => k !== 'input'),
    anyJson,
    { maxKeys: 2 },
  );
  return fc
    .record({ input: staticInput, top, st: style, enc: encoding, get: fc.integer({ min: 0, max: 9 }), headers: staticHeaders() })
    .map(({ input, top, st, enc, get, headers }) => {
      const text = writeJson({ ...top, input }, st);
      const parsed = JSON.parse(text) as { input: unknown };
      const query = `?input=${encodeURIComponent(JSON.stringify(parsed.input))}`;
      if (get === 0 && query.length < 6000) {
        const wire: Wire = { method: 'GET', path: DECISION_PATH + query, headers };
        return { wire, check: (r: Reply) => staticCheckDecision(parsed.input, false, wire, r) };
      }
      const e = encode(text, enc);
      const wire: Wire = { method: 'POST', path: DECISION_PATH, headers: { ...headers, ...e.headers }, body: e.body, chunked: e.chunked };
      return { wire, check: (r: Reply) => staticCheckDecision(parsed.input, false, wire, r) };
    });
}

/** Headers static mode ignores: tokens, random extras. */
function staticHeaders(): fc.Arbitrary<Record<string, string>> {
  return fc
    .tuple(
      fc.option(headerValue(80), { nil: undefined }),
      fc.option(
        fc.tuple(fc.constantFrom('Bearer ', 'bearer ', 'Basic ', ''), tokenChars).map(([a, b]) => a + b),
        { nil: undefined },
      ),
      extraHeaders,
    )
    .map(([xfat, auth, extra]) => ({
      ...extra,
      ...(xfat !== undefined ? { 'x-forwarded-access-token': xfat } : {}),
      ...(auth !== undefined ? { authorization: auth } : {}),
    }));
}

const staticValidText = (): fc.Arbitrary<string> => fc.tuple(staticInput, style).map(([input, st]) => writeJson({ input }, st));

describe('fuzz: static mode (example rbac)', function () {
  this.timeout(600_000);
  let authz: TestService;
  let client: Client;

  before(async () => {
    authz = await startTestService({ rbacFile: EXAMPLE_RBAC_FILE, flags: ['--log.level=error'] });
    client = new Client(authz.service.publicAddress.port);
  });
  after(async () => {
    client?.close();
    await authz?.stop();
  });

  it('the reference model agrees with the fixture cases it is built from', () => {
    assert.equal(staticAllows(exampleRbac, { subject: 'alice@example.com', groups: [], permission: 'read', resource: 'logs', tenant: 'application' }), true);
    assert.equal(staticAllows(exampleRbac, { subject: 'alice@example.com', groups: [], permission: 'read', resource: 'logs', tenant: 'audit' }), false);
    assert.equal(staticAllows(exampleRbac, { subject: 'x', groups: ['sre'], permission: 'read', resource: 'logs', tenant: 'audit' }), true);
    assert.equal(staticAllows(exampleRbac, { subject: 'x', groups: { a: 'sre' }, permission: 'read', resource: 'logs', tenant: 'audit' }), false);
    assert.equal(
      staticAllows(exampleRbac, { subject: 'system:serviceaccount:openshift-logging:logcollector', permission: 'write', resource: 'logs', tenant: 'audit' }),
      true,
    );
  });

  it('pinned (found by this fuzzing): a lone UTF-16 surrogate escape in an input string is decided, not a 500', async () => {
    // Valid JSON (RFC 8259 allows any \uXXXX escape); OPA's Go decoder reads a lone surrogate as
    // U+FFFD and decides. Here the policy's Wasm JSON parser gets JSON.stringify's "\ud800" escape
    // back and fails: 500 eval_internal_error "illegal string escape character".
    for (const where of ['"subject":"\\ud800"', '"tenantID":"a\\udc00"', '"\\ud83d":1']) {
      const body = `{"input":{${where},"groups":["developers"],"permission":"read","resource":"logs","tenant":"application"}}`;
      const wire: Wire = { method: 'POST', path: DECISION_PATH, headers: { 'content-type': 'application/json' }, body: Buffer.from(body) };
      const r = await client.send(wire);
      assert.deepEqual([r.status, parseJson(r.body)], [200, { result: true }], show(wire, r));
    }
  });

  suiteFor(
    'static',
    () => ({ client, port: authz.service.publicAddress.port, internalUrl: authz.internalUrl }),
    staticWellFormed,
    staticValidText,
    (input, missing, w, r) => {
      // A path below the decision (or ?pretty etc.) is not this check's business: POST lokistack/allow only.
      staticCheckDecision(input, missing, w, r);
    },
    staticHeaders,
  );
});

// ---------------------------------------------------------------------------------------------
// openshift-logging: opa-openshift's algorithm over the fake cluster's grants
// ---------------------------------------------------------------------------------------------

const CLUSTER_NAMESPACES = ['log-test-0', 'log-test-1', 'log-test-2', 'openshift-logging', 'kube-system'];
const OS_TENANTS = ['application', 'infrastructure', 'audit'];
const SKIP_TENANTS = new Set(['audit', 'infrastructure']);
const ADMIN_GROUPS = new Set(['system:cluster-admins', 'cluster-admin', 'dedicated-admin']);
const COLLECTOR = 'system:serviceaccount:openshift-logging:logcollector';

/**
 * What the fake cluster's RBAC grants (the header of lokistack-cluster.yaml, written out): does
 * `user` with `groups` get `verb` on loki.grafana.com/<tenant> named `name`, in `namespace` ('' for
 * cluster-wide)?
 */
function clusterGrants(user: string, groups: readonly string[], verb: 'get' | 'create', tenant: string, name: string, namespace: string): boolean {
  if (groups.includes('system:masters') || groups.includes('system:cluster-admins')) return true;
  if (name !== 'logs') return false;
  if (verb === 'create') return user === COLLECTOR && OS_TENANTS.includes(tenant);
  if (user === 'alice' && OS_TENANTS.includes(tenant)) return true;
  if (groups.includes('log-readers') && tenant === 'application') return true;
  if (user === 'bob' && tenant === 'application' && (namespace === 'log-test-0' || namespace === 'log-test-1')) return true;
  return false;
}

/** The projects a token's identity sees; undefined for a token the cluster does not know (401). */
function projectsOf(token: string): string[] | undefined {
  const who = (Object.keys(LOKISTACK_TOKENS) as Array<keyof typeof LOKISTACK_TOKENS>).find((k) => LOKISTACK_TOKENS[k] === token);
  if (!who) return undefined;
  switch (who) {
    case 'alice':
    case 'admin':
    case 'master':
      return CLUSTER_NAMESPACES;
    case 'bob':
      return ['log-test-0', 'log-test-1'];
    case 'carol':
      return ['log-test-2'];
    default:
      return [];
  }
}

interface GwInput {
  groups: string[];
  permission: string;
  resource: string;
  subject: string;
  tenant: string;
  extras: { selectors: Record<string, string[]>; wildcardSelectors: boolean; metadataOnly: boolean };
}

type OsExpected =
  | { status: 400 | 401; message: RegExp }
  | { status: 200; result: true | false | { allowed: 'true' | 'false'; keys: string[]; namespaces: string[] } };

/** opa-openshift's answer (reference §1.3) for a canonical gateway input, with the Operator's flags. */
function openshiftExpected(input: GwInput, token: string | undefined): OsExpected {
  const bad = (m: string): OsExpected => ({ status: 400, message: new RegExp(`^${m.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) });
  if (input.resource === '') return bad('unknown resource');
  const verb = input.permission === 'read' ? 'get' : input.permission === 'write' ? 'create' : undefined;
  if (!verb) return bad('unknown permission');
  if (!token) return bad('missing forwarded access token');
  const matcherEmpty = SKIP_TENANTS.has(input.tenant) || input.groups.some((g) => ADMIN_GROUPS.has(g));
  const sel = input.extras.selectors;
  const viaq = Object.hasOwn(sel, 'kubernetes_namespace_name') ? sel.kubernetes_namespace_name! : [];
  const otel = Object.hasOwn(sel, 'k8s_namespace_name') ? sel.k8s_namespace_name! : [];
  // opa-openshift's order: the wildcard check when a matcher applies, then ViaQ/OTel for everyone.
  if (!matcherEmpty && input.extras.wildcardSelectors) return bad('wildcard in query namespaces not allowed');
  if (viaq.length > 0 && otel.length > 0) return bad("queries with both 'kubernetes_namespace_name' and 'k8s_namespace_name' selectors are not allowed");
  const keys = matcherEmpty ? [] : [otel.length > 0 ? 'k8s_namespace_name' : 'kubernetes_namespace_name'];
  const namespaces = [...new Set(Object.values(sel).flat())];
  if (input.subject === '' && input.groups.length === 0) return { status: 401, message: /^cluster-wide SAR failed: / };
  const cluster = clusterGrants(input.subject, input.groups, verb, input.tenant, input.resource, '');
  if (verb === 'create') return { status: 200, result: cluster };
  const matcher = (ns: string[]): OsExpected => ({ status: 200, result: { allowed: ns.length > 0 ? 'true' : 'false', keys, namespaces: ns } });
  if (cluster) {
    if (matcherEmpty) return { status: 200, result: true };
    const listed = projectsOf(token);
    if (!listed) return { status: 401, message: /^failed to access api server: / };
    return matcher(namespaces.length === 0 ? listed : namespaces.filter((n) => listed.includes(n)));
  }
  let candidates = namespaces;
  if (input.extras.metadataOnly && candidates.length === 0) {
    const listed = projectsOf(token);
    if (!listed) return { status: 401, message: /^failed to access api server: / };
    if (listed.length === 0) return { status: 200, result: false };
    candidates = listed;
  }
  // An empty name is the cluster-wide review again.
  const allowed = candidates.filter((ns) => clusterGrants(input.subject, input.groups, 'get', input.tenant, input.resource, ns));
  if (allowed.length === 0) return { status: 200, result: false };
  if (matcherEmpty) return { status: 200, result: true };
  return matcher(allowed);
}

/** Go's regexp.QuoteMeta undone: the literal alternatives of a matcher value. */
function alternatives(value: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === '\\' && i + 1 < value.length) cur += value[++i];
    else if (c === '|') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return value === '' ? [] : out;
}

function openshiftCheck(input: GwInput, token: string | undefined, w: Wire, r: Reply): void {
  const want = openshiftExpected(input, token);
  const got = parseJson(r.body);
  // Safety first, in its own words: an allow the cluster's RBAC does not grant.
  if (r.status === 200 && isRecord(got)) {
    const verb = input.permission === 'write' ? 'create' : 'get';
    const granted = (ns: string) =>
      clusterGrants(input.subject, input.groups, verb, input.tenant, input.resource, ns) ||
      clusterGrants(input.subject, input.groups, verb, input.tenant, input.resource, '');
    if (got.result === true) {
      const some =
        clusterGrants(input.subject, input.groups, verb, input.tenant, input.resource, '') ||
        [...Object.values(input.extras.selectors).flat(), ...CLUSTER_NAMESPACES].some(granted);
      assert.ok(some, `an allow the fake's RBAC does not grant\n${show(w, r)}`);
    } else if (isRecord(got.result) && got.result.allowed === 'true' && typeof got.result.data === 'string') {
      const data = JSON.parse(got.result.data) as { matchers: Array<{ Value: string }> };
      for (const m of data.matchers) {
        const re = new RegExp(`^(?:${m.Value})$`);
        for (const ns of [...CLUSTER_NAMESPACES, ...Object.values(input.extras.selectors).flat(), ...alternatives(m.Value)]) {
          if (re.test(ns))
            assert.ok(
              granted(ns),
              `the matcher ${m.Value} lets the query read namespace ${JSON.stringify(ns)}, which the fake's RBAC does not grant\n${show(w, r)}`,
            );
        }
      }
    }
  }
  assert.equal(
    r.status,
    want.status,
    `the reference status\n${show(w, r)}\n  want ${JSON.stringify(want, (_k, v: unknown) => (v instanceof RegExp ? String(v) : v))}`,
  );
  if (want.status !== 200) {
    const e = envelope(r);
    assert.ok(e && want.message.test(e.message), `the protocol's message ${want.message}\n${show(w, r)}`);
    return;
  }
  assert.ok(isRecord(got), show(w, r));
  assert.deepEqual(Object.keys(got), ['result'], show(w, r));
  if (typeof want.result === 'boolean') {
    assert.equal(got.result, want.result, `the reference decision\n${show(w, r)}`);
    return;
  }
  const res = got.result as { allowed?: unknown; data?: unknown };
  assert.ok(isRecord(res) && typeof res.data === 'string', `a matcher answer\n${show(w, r)}`);
  assert.equal(res.allowed, want.result.allowed, `allowed\n${show(w, r)}`);
  const data = JSON.parse(res.data) as { matchers: Array<{ Type: number; Name: string; Value: string }>; matcherOp?: string };
  assert.deepEqual(
    data.matchers.map((m) => m.Name),
    want.result.keys,
    `matcher keys\n${show(w, r)}`,
  );
  for (const m of data.matchers) {
    assert.equal(m.Type, 2, show(w, r));
    assert.deepEqual(new Set(alternatives(m.Value)), new Set(want.result.namespaces), `the namespaces\n${show(w, r)}`);
  }
}

const WHO = Object.keys(LOKISTACK_TOKENS) as Array<keyof typeof LOKISTACK_TOKENS>;
const osNamespace = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...CLUSTER_NAMESPACES) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      'log-test-.*',
      'log-test-[0-9]',
      '.*',
      '.+',
      'log-test-0|kube-system',
      '(log-test-0)',
      'log-test-0\\',
      '^log-test-1$',
      '',
      'does-not-exist',
      'LOG-TEST-0',
    ),
  },
  { weight: 1, arbitrary: anyString(16) },
);
const osSelectors = fc.dictionary(
  fc.oneof(
    { weight: 5, arbitrary: fc.constantFrom('kubernetes_namespace_name', 'k8s_namespace_name') },
    { weight: 1, arbitrary: fc.constantFrom('namespace', 'SrcK8S_Namespace', 'app') },
    { weight: 1, arbitrary: anyString(8) },
  ),
  fc.array(osNamespace, { maxLength: 4 }),
  { maxKeys: 2 },
);

/** A gateway input as observatorium/api sends it, for a token of the fake (or one it does not know). */
const openshiftCase = fc
  .record({
    who: fc.option(fc.constantFrom(...WHO), { nil: undefined, freq: 8 }),
    randomToken: tokenChars.map((t) => `unknown-${t}`),
    consistent: fc.integer({ min: 0, max: 9 }),
    subject: fc.oneof(fc.constantFrom(...WHO.map((w) => LOKISTACK_IDENTITIES[w].username), 'carol', 'mallory'), anyString(12)),
    groups: fc.array(
      fc.oneof(
        fc.constantFrom(
          'log-readers',
          'system:authenticated',
          'system:authenticated:oauth',
          'system:cluster-admins',
          'cluster-admin',
          'dedicated-admin',
          'system:masters',
        ),
        anyString(10),
      ),
      { maxLength: 4 },
    ),
    permission: fc.oneof(
      { weight: 9, arbitrary: fc.constantFrom('read', 'write') },
      { weight: 1, arbitrary: fc.constantFrom('READ', 'get', 'create', '', 'delete') },
    ),
    resource: fc.oneof(
      { weight: 9, arbitrary: fc.constant('logs') },
      { weight: 1, arbitrary: fc.oneof(fc.constantFrom('', 'metrics', 'log', 'logs '), anyString(8)) },
    ),
    tenant: fc.constantFrom(...OS_TENANTS),
    selectors: osSelectors,
    wildcardSelectors: fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    metadataOnly: fc.boolean(),
    // how fields are left out, null or present
    omitExtras: fc.integer({ min: 0, max: 9 }),
    tokenField: fc.oneof(fc.constant(''), anyString(10)),
    tenantID: anyString(10),
    noToken: fc.integer({ min: 0, max: 49 }),
    // A second key for a field, differing only in case, before or after the real one.
    caseVariant: fc.oneof(
      { weight: 9, arbitrary: fc.constant(undefined) },
      {
        weight: EXCLUDE.has('case-variant-keys') ? 0 : 1,
        arbitrary: fc.record({
          field: fc.constantFrom('tenant', 'permission', 'subject', 'resource'),
          spelling: fc.constantFrom('upper', 'title'),
          after: fc.boolean(),
          tenant: fc.constantFrom(...OS_TENANTS),
          permission: fc.constantFrom('read', 'write'),
          subject: fc.constantFrom('alice', 'bob', 'dave', COLLECTOR),
          resource: fc.constantFrom('logs', 'metrics'),
        }),
      },
    ),
  })
  .map((c) => {
    const token = c.noToken === 0 ? undefined : c.who ? LOKISTACK_TOKENS[c.who] : c.randomToken;
    const identity = c.who ? LOKISTACK_IDENTITIES[c.who] : undefined;
    // Mostly what the gateway sends: the token's identity (its TokenReview's user and groups).
    const gw = identity && c.consistent > 1;
    const input: GwInput = {
      groups: gw ? [...(identity.groups ?? []), 'system:authenticated'] : c.groups,
      permission: c.permission,
      resource: c.resource,
      subject: gw ? identity.username : c.subject,
      tenant: c.tenant,
      extras: { selectors: c.selectors, wildcardSelectors: c.wildcardSelectors, metadataOnly: c.metadataOnly },
    };
    let wireInput: Record<string, unknown> = { ...input, tenantID: c.tenantID, token: c.tokenField };
    const v = c.caseVariant;
    if (v && !(c.who && v.field === 'subject')) {
      // Go's encoding/json assigns every key that matches a field exactly or case-insensitively, in
      // document order: the last one decides (opa-openshift reads the input that way).
      const key = v.spelling === 'upper' ? v.field.toUpperCase() : v.field[0]!.toUpperCase() + v.field.slice(1);
      const value = v[v.field as 'tenant' | 'permission' | 'subject' | 'resource'];
      const { [v.field]: real, ...rest } = wireInput;
      wireInput = v.after ? { ...rest, [v.field]: real, [key]: value } : { ...rest, [key]: value, [v.field]: real };
      if (v.after) (input as unknown as Record<string, unknown>)[v.field] = value;
    }
    if (c.omitExtras === 0) {
      delete wireInput.extras;
      input.extras = { selectors: {}, wildcardSelectors: false, metadataOnly: false };
    } else if (c.omitExtras === 1) {
      wireInput.extras = { selectors: null, wildcardSelectors: null, metadataOnly: null };
      input.extras = { selectors: {}, wildcardSelectors: false, metadataOnly: false };
    }
    return { input, wireInput, token };
  });

function openshiftWellFormed(): fc.Arbitrary<{ wire: Wire; check: (r: Reply) => void }> {
  return fc
    .record({ c: openshiftCase, st: style, enc: encoding, extra: extraHeaders, viaAuth: fc.integer({ min: 0, max: 9 }) })
    .map(({ c, st, enc, extra, viaAuth }) => {
      // Decoys are null here: Go decodes every occurrence of a key into opa-openshift's struct, so a decoy
      // of another type is a 500 (judged with the malformed bodies), and null leaves the field for the
      // real value that follows.
      const text = writeJson({ input: c.wireInput }, { ...st, decoy: null });
      const e = encode(text, enc);
      const headers: Record<string, string> = { ...extra, ...e.headers };
      if (c.token !== undefined) {
        if (viaAuth === 0) headers.authorization = `Bearer ${c.token}`;
        else headers['x-forwarded-access-token'] = c.token;
      }
      const wire: Wire = { method: 'POST', path: DECISION_PATH, headers, body: e.body, chunked: e.chunked };
      return { wire, check: (r: Reply) => openshiftCheck(c.input, c.token, wire, r) };
    });
}

/** The canonical gateway input in a parsed body, if it is one (exact keys, right types). */
/**
 * The input as opa-openshift's Go struct decodes it, independently written: every key matching a
 * field case-insensitively is decoded into it in document order (the last wins; several `extras`
 * merge); undefined when a matching member has the wrong type (goTypeFault covers those).
 */
function canonicalGateway(input: unknown): GwInput | undefined {
  if (!isRecord(input)) return undefined;
  const matches = (obj: Record<string, unknown>, name: string) =>
    Object.keys(obj)
      .filter((k) => k.toLowerCase() === name.toLowerCase())
      .map((k) => obj[k]);
  const last = (obj: Record<string, unknown>, name: string) => matches(obj, name).reduce<unknown>((_, v) => v, undefined);
  // Go decodes a null member of a []string as "".
  const strs = (v: unknown) => v === undefined || v === null || (Array.isArray(v) && v.every((s) => typeof s === 'string' || s === null));
  const list = (v: unknown): string[] => ((v as Array<string | null> | null | undefined) ?? []).map((x) => x ?? '');
  const str = (v: unknown) => v === undefined || v === null || typeof v === 'string';
  for (const [name, ok] of [
    ['groups', strs],
    ['permission', str],
    ['resource', str],
    ['subject', str],
    ['tenant', str],
  ] as const) {
    if (!matches(input, name).every(ok)) return undefined;
  }
  const extrasList = matches(input, 'extras');
  if (!extrasList.every((e) => e === null || isRecord(e))) return undefined;
  const extras = Object.assign({}, ...extrasList.filter(isRecord)) as Record<string, unknown>;
  const selList = matches(extras, 'selectors');
  if (!selList.every((x) => x === null || (isRecord(x) && Object.values(x).every(strs)))) return undefined;
  const bools = (v: unknown) => [undefined, null, true, false].includes(v as boolean);
  if (!matches(extras, 'wildcardSelectors').every(bools) || !matches(extras, 'metadataOnly').every(bools)) return undefined;
  // No prototype: a "__proto__" label is a label like the others.
  const selectors = Object.create(null) as Record<string, string[]>;
  for (const sel of selList.filter(isRecord)) for (const [k, v] of Object.entries(sel)) selectors[k] = list(v);
  const s = (v: unknown) => (typeof v === 'string' ? v : '');
  return {
    groups: list(last(input, 'groups')),
    permission: s(last(input, 'permission')),
    resource: s(last(input, 'resource')),
    subject: s(last(input, 'subject')),
    tenant: s(last(input, 'tenant')),
    extras: { selectors, wildcardSelectors: last(extras, 'wildcardSelectors') === true, metadataOnly: last(extras, 'metadataOnly') === true },
  };
}

function tokenOf(headers: Record<string, string>): string | undefined {
  // Node trims a header value's surrounding whitespace as it parses it.
  const lower = Object.fromEntries(
    Object.entries(headers)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => [k.toLowerCase(), v.trim()]),
  );
  if (lower['x-forwarded-access-token']) return lower['x-forwarded-access-token'];
  const m = /^Bearer\s+(\S+)\s*$/i.exec(lower.authorization ?? '');
  return m ? m[1] : undefined;
}

/**
 * Whether Go's encoding/json fails to decode `input` into opa-openshift's input struct (a field of
 * the wrong type anywhere, keys matched exactly or case-insensitively): opa-openshift then answers
 * 500 "failed to unmarshal JSON". Only inputs whose keys have one spelling each are judged here.
 */
function goTypeFault(input: unknown): boolean | undefined {
  if (input === undefined || input === null) return false;
  if (!isRecord(input)) return true;
  const fieldOf = (obj: Record<string, unknown>, names: string[]) => {
    const keys = Object.keys(obj);
    if (keys.some((k) => keys.some((o) => o !== k && o.toLowerCase() === k.toLowerCase()))) return undefined;
    const out: Record<string, unknown> = {};
    for (const k of keys) {
      const name = names.find((n) => n.toLowerCase() === k.toLowerCase());
      if (name) out[name] = obj[k];
    }
    return out;
  };
  const f = fieldOf(input, ['groups', 'permission', 'resource', 'subject', 'tenant', 'extras']);
  if (!f) return undefined;
  const nil = (v: unknown) => v === undefined || v === null;
  const strList = (v: unknown) => nil(v) || (Array.isArray(v) && v.every((x) => x === null || typeof x === 'string'));
  if (!strList(f.groups)) return true;
  for (const k of ['permission', 'resource', 'subject', 'tenant']) if (!nil(f[k]) && typeof f[k] !== 'string') return true;
  if (nil(f.extras)) return false;
  if (!isRecord(f.extras)) return true;
  const e = fieldOf(f.extras, ['selectors', 'wildcardSelectors', 'metadataOnly']);
  if (!e) return undefined;
  for (const k of ['wildcardSelectors', 'metadataOnly']) if (!nil(e[k]) && typeof e[k] !== 'boolean') return true;
  if (nil(e.selectors)) return false;
  if (!isRecord(e.selectors)) return true;
  return !Object.values(e.selectors).every(strList);
}

function openshiftDecideCheck(input: unknown, _missing: boolean, w: Wire, r: Reply): void {
  if (goTypeFault(input) === true) {
    assert.equal(r.status, 500, `a field of the wrong type: opa-openshift's 500\n${show(w, r)}`);
    assert.equal(envelope(r)?.message, 'failed to unmarshal JSON', show(w, r));
    return;
  }
  const gw = canonicalGateway(input);
  if (gw && OS_TENANTS.includes(gw.tenant)) {
    openshiftCheck(gw, tokenOf(w.headers), w, r);
    return;
  }
  // Not the gateway's shape: opa-openshift's 400/500s, or a decision; an allow must be one the
  // input's identity is granted, which needs that identity to be readable.
  if (r.status === 200) {
    const got = parseJson(r.body);
    const allows = isRecord(got) && (got.result === true || (isRecord(got.result) && got.result.allowed === 'true'));
    assert.ok(!allows, `an allow for an input that is not the gateway's shape\n${show(w, r)}`);
  }
}

/** The gateway's input with one field, anywhere in it, of a type Go cannot decode into it. */
const openshiftWrongType: fc.Arbitrary<Record<string, unknown>> = fc
  .record({
    c: openshiftCase,
    where: fc.constantFrom(
      'groups',
      'groups[]',
      'permission',
      'resource',
      'subject',
      'tenant',
      'extras',
      'selectors',
      'selectors.label',
      'selectors.label[]',
      'wildcardSelectors',
      'metadataOnly',
    ),
    bad: anyJson,
  })
  .filter(({ where, bad }) => {
    if (bad === null) return false;
    if (['permission', 'resource', 'subject', 'tenant', 'groups[]', 'selectors.label[]'].includes(where)) return typeof bad !== 'string';
    if (['groups', 'selectors.label'].includes(where)) return !Array.isArray(bad) || bad.some((x) => x !== null && typeof x !== 'string');
    if (['extras', 'selectors'].includes(where)) return !isRecord(bad);
    return typeof bad !== 'boolean';
  })
  .map(({ c, where, bad }) => {
    const input = structuredClone(c.wireInput);
    const extras = (isRecord(input.extras) ? input.extras : (input.extras = {})) as Record<string, unknown>;
    const selectors = (isRecord(extras.selectors) ? extras.selectors : (extras.selectors = {})) as Record<string, unknown>;
    switch (where) {
      case 'groups[]':
        input.groups = ['a', bad];
        break;
      case 'selectors':
        extras.selectors = bad;
        break;
      case 'selectors.label':
        selectors.kubernetes_namespace_name = bad;
        break;
      case 'selectors.label[]':
        selectors.kubernetes_namespace_name = ['log-test-0', bad];
        break;
      case 'wildcardSelectors':
      case 'metadataOnly':
        extras[where] = bad;
        break;
      default:
        input[where] = bad;
    }
    return input;
  });

const openshiftValidText = (): fc.Arbitrary<string> =>
  fc
    .tuple(fc.oneof({ weight: 3, arbitrary: openshiftCase.map((c) => c.wireInput) }, { weight: 1, arbitrary: openshiftWrongType }), style)
    .map(([input, st]) => writeJson({ input }, st));
const openshiftHeaders = (): fc.Arbitrary<Record<string, string>> =>
  fc
    .tuple(fc.oneof(fc.constantFrom(...Object.values(LOKISTACK_TOKENS)), headerValue(60)), fc.integer({ min: 0, max: 5 }))
    .map(([t, how]): Record<string, string> => (how === 0 ? {} : how === 1 ? { authorization: `Bearer ${t}` } : { 'x-forwarded-access-token': t }));

describe("fuzz: openshift-logging mode (the Loki Operator's arguments, fake Kubernetes API)", function () {
  this.timeout(600_000);
  let fake: FakeKube;
  let authz: RunningAuthz;
  let client: Client;

  before(async () => {
    fake = await startFakeKube(lokistackFakeKubeOptions());
    // The operator's own health URL (localhost:8082) is another process's; /live checks our listener.
    const args = OPERATOR_LOGGING_ARGS.filter((a) => !a.startsWith('--web.healthchecks.url') && !a.startsWith('--log.level')).concat(
      '--log.level=error',
      `--openshift.kubeconfig=${KUBECONFIG_PLACEHOLDER}`,
    );
    authz = await startAuthz(args, { kubeconfig: fakeKubeconfigFile(fake) });
    client = new Client(authz.service.publicAddress.port);
  });
  after(async () => {
    client?.close();
    await authz?.stop();
    await fake?.close();
  });
  afterEach(() => {
    // The request log grows with every call; only the in-flight tests elsewhere read it.
    fake.requests.length = 0;
  });

  it('the grant table agrees with the fixture header', () => {
    assert.equal(clusterGrants('alice', [], 'get', 'audit', 'logs', ''), true);
    assert.equal(clusterGrants('bob', [], 'get', 'application', 'logs', ''), false);
    assert.equal(clusterGrants('bob', [], 'get', 'application', 'logs', 'log-test-1'), true);
    assert.equal(clusterGrants('carol', ['log-readers'], 'get', 'application', 'logs', ''), true);
    assert.equal(clusterGrants(COLLECTOR, [], 'create', 'audit', 'logs', ''), true);
    assert.equal(clusterGrants('dave', [], 'get', 'application', 'logs', 'log-test-0'), false);
  });

  it('pinned (found by this fuzzing): keys that differ only in case decode as Go does: the last one wins', async () => {
    // opa-openshift decodes the input with encoding/json, which matches each key to a field exactly
    // or case-insensitively and assigns in document order: of "tenant" then "Tenant", the last one
    // decides. Here "audit" is a skipped tenant bob has no grant on: opa-openshift answers false.
    const body =
      '{"input":{"subject":"bob","groups":["system:authenticated"],"permission":"read","resource":"logs","tenant":"application","Tenant":"audit","extras":{"selectors":{"kubernetes_namespace_name":["log-test-0"]}}}}';
    const wire: Wire = {
      method: 'POST',
      path: DECISION_PATH,
      headers: { 'content-type': 'application/json', 'x-forwarded-access-token': LOKISTACK_TOKENS.bob },
      body: Buffer.from(body),
    };
    const r = await client.send(wire);
    assert.deepEqual([r.status, parseJson(r.body)], [200, { result: false }], show(wire, r));
  });

  suiteFor(
    'openshift-logging',
    () => ({ client, port: authz.service.publicAddress.port, internalUrl: authz.internalUrl }),
    openshiftWellFormed,
    openshiftValidText,
    openshiftDecideCheck,
    openshiftHeaders,
  );
});

// ---------------------------------------------------------------------------------------------
// dynamic: the roles of the identity the tenant's own issuer vouches for
// ---------------------------------------------------------------------------------------------

const DYNAMIC_SET = `${ROOT}fixtures/dynamic/two-issuers`;
type Issuer = 'a' | 'b';
interface IdentitiesFile {
  providers: Record<Issuer, { clients: Array<{ client_id: string; client_secret: string }>; accounts: Record<string, Record<string, unknown>> }>;
}
const identities = parseYaml(readFileSync(`${DYNAMIC_SET}/identities.yaml`, 'utf8')) as IdentitiesFile;
const dynamicRbac = parseYaml(readFileSync(`${DYNAMIC_SET}/rbac.yaml`, 'utf8')) as Rbac;
/** tenants.yaml of the set: tenant -> its issuer and the claim naming the user. */
const DYNAMIC_TENANTS: Record<string, { issuer: Issuer; usernameClaim: string }> = {
  application: { issuer: 'a', usernameClaim: 'preferred_username' },
  infrastructure: { issuer: 'b', usernameClaim: 'email' },
};

interface PoolToken {
  token: string;
  kind: 'jwt' | 'opaque' | 'expired' | 'id_token' | 'foreign-audience';
  issuer: Issuer;
  account: string;
}

/** The identity a token proves on a tenant, per tenants.yaml and identities.yaml; undefined: none. */
function dynamicIdentity(tenant: unknown, t: PoolToken | undefined): { username: string; groups: string[] } | undefined {
  if (!t || typeof tenant !== 'string' || !Object.hasOwn(DYNAMIC_TENANTS, tenant)) return undefined;
  const cfg = DYNAMIC_TENANTS[tenant]!;
  if (t.issuer !== cfg.issuer || (t.kind !== 'jwt' && t.kind !== 'opaque')) return undefined;
  const claims = identities.providers[t.issuer].accounts[t.account]!;
  const username = claims[cfg.usernameClaim];
  if (typeof username !== 'string' || username === '') return undefined;
  const g = claims.groups;
  const groups = typeof g === 'string' ? [g] : Array.isArray(g) ? g.filter((x): x is string => typeof x === 'string') : [];
  return { username, groups };
}

function dynamicAllows(input: unknown, t: PoolToken | undefined): boolean {
  if (!isRecord(input)) return false;
  const id = dynamicIdentity(input.tenant, t);
  if (!id) return false;
  return staticAllows(dynamicRbac, { ...input, subject: id.username, groups: id.groups });
}

describe('fuzz: dynamic mode (two real OIDC providers)', function () {
  this.timeout(600_000);
  const providers = {} as Record<Issuer, OidcProvider>;
  const pool: PoolToken[] = [];
  let authz: TestService;
  let client: Client;

  before(async function () {
    this.timeout(120_000);
    for (const issuer of ['a', 'b'] as const) {
      const p = identities.providers[issuer];
      providers[issuer] = await startOidcProvider({
        accounts: Object.fromEntries(Object.entries(p.accounts).map(([id, claims]) => [id, { claims }])),
        clients: p.clients,
      });
    }
    const tenants = readFileSync(`${DYNAMIC_SET}/tenants.yaml`, 'utf8')
      .replaceAll('${ISSUER_A}', providers.a.issuer)
      .replaceAll('${ISSUER_B}', providers.b.issuer);
    const tenantsFile = writeTempFile('tenants.yaml', tenants);
    authz = await startTestService({
      rbacFile: `${DYNAMIC_SET}/rbac.yaml`,
      flags: ['--mode=dynamic', `--tenants.config=${tenantsFile}`, '--oidc.allow-insecure-issuers', '--log.level=error'],
    });
    client = new Client(authz.service.publicAddress.port);
    for (const issuer of ['a', 'b'] as const) {
      const p = providers[issuer];
      const clientId = identities.providers[issuer].clients[0]!.client_id;
      for (const account of Object.keys(identities.providers[issuer].accounts)) {
        pool.push({ token: await p.jwtAccessToken(account, { clientId }), kind: 'jwt', issuer, account });
        pool.push({ token: await p.opaqueAccessToken(account, { clientId }), kind: 'opaque', issuer, account });
      }
      const first = Object.keys(identities.providers[issuer].accounts)[0]!;
      pool.push({ token: await p.expiredJwtAccessToken(first, { clientId }), kind: 'expired', issuer, account: first });
      pool.push({ token: await p.idToken(first, { clientId }), kind: 'id_token', issuer, account: first });
      pool.push({ token: await p.jwtAccessToken(first, { clientId, audience: 'someone-else' }), kind: 'foreign-audience', issuer, account: first });
    }
  });
  after(async () => {
    client?.close();
    await authz?.stop();
    for (const p of Object.values(providers)) await p.stop();
  });

  /** A token header: one of the pool's, garbage, or none; in either header. */
  const tokenChoice = () =>
    fc.record({
      pick: fc.oneof(
        { weight: 7, arbitrary: fc.nat().map((n) => ({ pool: n })) },
        { weight: 2, arbitrary: fc.oneof(tokenChars, headerValue(60)).map((g) => ({ garbage: g })) },
        { weight: 1, arbitrary: fc.constant({ none: true }) },
      ),
      header: fc.constantFrom('x-forwarded-access-token', 'x-forwarded-access-token', 'authorization', 'both'),
      other: fc.nat(),
    });
  type Choice = { pick: { pool: number } | { garbage: string } | { none: true }; header: string; other: number };
  const headersFor = (c: Choice): { headers: Record<string, string>; used: PoolToken | undefined } => {
    if ('none' in c.pick) return { headers: {}, used: undefined };
    const t = 'pool' in c.pick ? pool[c.pick.pool % pool.length]! : undefined;
    const value = t ? t.token : (c.pick as { garbage: string }).garbage;
    if (c.header === 'authorization') {
      const ok = /^\S+$/.test(value);
      return { headers: { authorization: `Bearer ${value}` }, used: ok ? t : undefined };
    }
    if (c.header === 'both') {
      // X-Forwarded-Access-Token wins over Authorization.
      const other = pool[c.other % pool.length]!;
      return {
        headers: { 'x-forwarded-access-token': value, authorization: `Bearer ${other.token}` },
        used: value.trim() !== '' ? t : /^\S+$/.test(other.token) ? other : undefined,
      };
    }
    return { headers: { 'x-forwarded-access-token': value }, used: value.trim() !== '' ? t : undefined };
  };

  /** Inputs whose asserted identity (subject, groups, claims) the service must ignore for the token's. */
  const dynamicInput = staticRandomInput.chain((base) =>
    fc
      .record({
        tenant: fc.oneof(
          { weight: 8, arbitrary: fc.constantFrom('application', 'infrastructure') },
          { weight: 2, arbitrary: fieldOf(['audit', 'network', 'Application']) },
        ),
        subject: fc.oneof(fc.constantFrom('admin', 'admin@example.com', 'alice', 'olga@example.com', ''), anyString(8)),
        groups: fc.oneof(fc.array(fc.constantFrom('cluster-admins', 'app-devs', 'ops', 'staff'), { maxLength: 3 }), wrongType('array')),
        claims: fc.oneof(fc.constant({ groups: ['cluster-admins'], preferred_username: 'admin' }), anyJson),
        permission: fc.oneof({ weight: 8, arbitrary: fc.constantFrom('read', 'write') }, { weight: 2, arbitrary: fieldOf(['READ', 'admin']) }),
        resource: fc.oneof({ weight: 8, arbitrary: fc.constantFrom('logs', 'metrics') }, { weight: 2, arbitrary: fieldOf(['traces']) }),
      })
      .map((d) => ({ ...base, ...d })),
  );

  const checkDynamic = (input: unknown, missing: boolean, used: PoolToken | undefined, w: Wire, r: Reply) => {
    assert.equal(r.status, 200, `a decision the service can make\n${show(w, r)}`);
    const want: Record<string, unknown> = { result: dynamicAllows(input, used) };
    if (missing) want.warning = { code: 'api_usage_warning', message: "'input' key missing from the request" };
    const got = parseJson(r.body);
    if (isRecord(got) && got.result === true && want.result === false)
      assert.fail(
        `an allow the verified identity's roles do not grant (token ${used ? `${used.kind} of ${used.account}@${used.issuer}` : 'none/garbage'})\n${show(w, r)}`,
      );
    assert.deepEqual(got, want, `the reference answer (token ${used ? `${used.kind} of ${used.account}@${used.issuer}` : 'none/garbage'})\n${show(w, r)}`);
  };

  const wellFormed = () =>
    fc
      .record({ input: dynamicInput, st: style, enc: encoding, t: tokenChoice(), extra: extraHeaders, align: fc.integer({ min: 0, max: 9 }) })
      .map(({ input, st, enc, t, extra, align }) => {
        const { headers, used } = headersFor(t as Choice);
        // Mostly the tenant whose issuer minted the token, so that verified identities decide.
        if (used && align < 6) input = { ...input, tenant: Object.keys(DYNAMIC_TENANTS).find((k) => DYNAMIC_TENANTS[k]!.issuer === used.issuer) };
        const text = writeJson({ input }, st);
        const parsed = JSON.parse(text) as { input: unknown };
        const e = encode(text, enc);
        const wire: Wire = { method: 'POST', path: DECISION_PATH, headers: { ...extra, ...e.headers, ...headers }, body: e.body, chunked: e.chunked };
        return { wire, check: (r: Reply) => checkDynamic(parsed.input, false, used, wire, r) };
      });

  it('the reference model agrees with the fixture set', () => {
    const find = (issuer: Issuer, account: string, kind: PoolToken['kind']): PoolToken => ({ token: '', issuer, account, kind });
    assert.equal(dynamicAllows({ tenant: 'application', permission: 'read', resource: 'logs' }, find('a', 'alice', 'jwt')), true);
    assert.equal(dynamicAllows({ tenant: 'application', permission: 'read', resource: 'logs' }, find('a', 'mallory', 'jwt')), false);
    assert.equal(dynamicAllows({ tenant: 'infrastructure', permission: 'read', resource: 'logs' }, find('a', 'root', 'jwt')), false);
    assert.equal(dynamicAllows({ tenant: 'infrastructure', permission: 'read', resource: 'logs' }, find('b', 'olga', 'opaque')), true);
    assert.equal(dynamicAllows({ tenant: 'application', permission: 'read', resource: 'logs' }, find('a', 'nameless', 'jwt')), false);
  });

  it('pinned (found by this fuzzing): a lone UTF-16 surrogate escape anywhere in the input is decided, not a 500', async () => {
    const alice = pool.find((t) => t.kind === 'jwt' && t.issuer === 'a' && t.account === 'alice')!;
    // (Not in tenantID: dynamic mode replaces that with the one tenants.yaml names.)
    const body = '{"input":{"extras":{"note":"\\ud800"},"permission":"read","resource":"logs","tenant":"application"}}';
    const wire: Wire = {
      method: 'POST',
      path: DECISION_PATH,
      headers: { 'content-type': 'application/json', 'x-forwarded-access-token': alice.token },
      body: Buffer.from(body),
    };
    const r = await client.send(wire);
    assert.deepEqual([r.status, parseJson(r.body)], [200, { result: true }], show(wire, r));
  });

  suiteFor(
    'dynamic',
    () => ({ client, port: authz.service.publicAddress.port, internalUrl: authz.internalUrl }),
    wellFormed,
    () => fc.tuple(dynamicInput, style).map(([input, st]) => writeJson({ input }, st)),
    (input, missing, w, r) => {
      const { used } = resolveUsed(w.headers);
      checkDynamic(input, missing, used, w, r);
    },
    () => tokenChoice().map((c) => headersFor(c as Choice).headers),
  );

  /** Which pool token (if any) the service will verify for these headers. */
  function resolveUsed(headers: Record<string, string>): { used: PoolToken | undefined } {
    const t = tokenOf(headers);
    return { used: t === undefined ? undefined : pool.find((p) => p.token === t) };
  }
});
