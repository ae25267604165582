/**
 * The request decoder against Go's own: test/support/go-decode (built here with the machine's `go`)
 * decodes the same bytes as OPA does (envelope struct, input as interface{}; YAML through
 * sigs.k8s.io/yaml) and prints the input; the service's decoder must give the same value. The
 * generators aim at where Go and JavaScript differ: duplicate and case-variant keys at every level
 * (`input`/`INPUT`, ſ and the Kelvin sign that Go folds onto s and k), `__proto__`, lone surrogate
 * escapes, invalid UTF-8, large arrays.
 *
 * Without `go` the suite skips, loudly; under CI it fails.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { ENTRIES, parseGoJson } from '../server/http/go-json.js';
import { parseInputParam, parsePostBody, type InputOptions } from '../server/http/input.js';
import { goJson } from '../server/http/json.js';
import { makeTempDir } from './support/service.js';

const SOURCE = fileURLToPath(new URL('./support/go-decode/', import.meta.url));
const RUNS = Number(process.env.FUZZ_RUNS ?? 100);
// Wide enough that no generated case meets a bound: this suite is about values, not limits.
const WIDE: InputOptions = { maxDepth: 64, maxNodes: 1e7, maxArrayLength: 1e7, maxStringBytes: 1e8, maxDecodedBytes: 1e9, maxYamlNodes: 1e7 };

type GoMode = 'opa-json' | 'opa-yaml' | 'opa-get' | 'openshift';
type GoResult = { ok: true; input: unknown; present: boolean } | { ok: false; error: string };

function buildOracle(ctx: Mocha.Context): string {
  const go = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (go.error || go.status !== 0) {
    if (process.env.CI) throw new Error('go is required in CI to build the decoding oracle (test/support/go-decode)');
    console.warn('\n  SKIPPED: go-decode oracle: no `go` on this machine; Go decoding parity is NOT checked\n');
    ctx.skip();
  }
  const out = join(makeTempDir('go-decode-'), 'go-decode');
  execFileSync('go', ['build', '-o', out, '.'], { cwd: SOURCE, env: { ...process.env, GOFLAGS: '-mod=mod' }, stdio: 'pipe' });
  return out;
}

function goDecode(bin: string, mode: GoMode, bytes: Buffer): GoResult {
  const out = execFileSync(bin, [mode], { input: bytes, encoding: 'utf8' });
  return JSON.parse(out) as GoResult;
}

/** Ours, in the oracle's shape. */
function oursPost(bytes: Buffer, contentType: string): GoResult {
  try {
    const parsed = parsePostBody(bytes, contentType, WIDE);
    return { ok: true, input: parsed.missing ? null : parsed.input, present: !parsed.missing };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

function oursGet(bytes: Buffer): GoResult {
  try {
    const parsed = parseInputParam(bytes, WIDE);
    return { ok: true, input: parsed.input === undefined ? null : parsed.input, present: true };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

/** Both sides written by the same Go-style encoder: equal text is equal values, keys and strings exactly. */
function assertSame(bytes: Buffer, ours: GoResult, theirs: GoResult): void {
  const show = `body ${JSON.stringify(bytes.toString('latin1'))}\nours ${JSON.stringify(ours)}\ngo   ${JSON.stringify(theirs)}`;
  assert.equal(ours.ok, theirs.ok, show);
  if (!ours.ok || !theirs.ok) return;
  if (ours.present || theirs.input !== null) assert.equal(goJson(ours.input), goJson(theirs.input), show);
}

// --- adversarial generators -------------------------------------------------------------------

/** A piece of JSON text, as bytes: invalid UTF-8 can only be written as bytes. */
type Piece = Buffer;
const INVALID_UTF8 = [[0xff], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xc0, 0xaf], [0xf4, 0x90, 0x80, 0x80], [0x80], [0xf0, 0x9f, 0x98]];

/** Keys Go folds together, or JavaScript treats specially. */
const key = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('input', 'INPUT', 'Input', 'inpUt', 'groups', 'Groups', 'GROUPS', 'group\u017f', 'subject', '\u017fubject', 'tenant', 'k', 'K', '\u212a', 'a', 'A', '__proto__', 'constructor', '0', '1', 'é', 'É') },
  { weight: 1, arbitrary: fc.string({ maxLength: 4 }) },
);

const stringPiece: fc.Arbitrary<Piece> = fc.oneof(
  { weight: 4, arbitrary: key.map((s) => Buffer.from(JSON.stringify(s))) },
  // every character escaped, surrogates included
  { weight: 2, arbitrary: key.map((s) => Buffer.from(`"${[...s].map((c) => [...c].map((u) => '\\u' + u.charCodeAt(0).toString(16).padStart(4, '0')).join('') || c).join('')}"`)) },
  // lone and mismatched surrogates as escapes
  {
    weight: 2,
    arbitrary: fc
      .array(fc.constantFrom('\\ud800', '\\udbff', '\\udc00', '\\udfff', '\\ud83d\\ude00', '\\ud800\\ud800\\udc00', 'x', '\\u0041', '\\\\ud800'), { minLength: 1, maxLength: 3 })
      .map((parts) => Buffer.from(`"${parts.join('')}"`)),
  },
  // invalid UTF-8 bytes inside the string
  {
    weight: 2,
    arbitrary: fc
      .array(fc.oneof(fc.constantFrom(...INVALID_UTF8).map((b) => Buffer.from(b)), key.map((s) => Buffer.from(JSON.stringify(s).slice(1, -1)))), { minLength: 1, maxLength: 3 })
      .map((parts) => Buffer.concat([Buffer.from('"'), ...parts, Buffer.from('"')])),
  },
);

const scalarPiece: fc.Arbitrary<Piece> = fc.oneof(
  stringPiece,
  fc.integer({ min: -1e6, max: 1e6 }).map((n) => Buffer.from(String(n))),
  fc.constantFrom('true', 'false', 'null').map((s) => Buffer.from(s)),
);

const valuePiece: fc.Arbitrary<Piece> = fc.letrec<{ value: Piece; object: Piece; array: Piece }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, { weight: 3, arbitrary: scalarPiece }, { weight: 1, arbitrary: tie('object') }, { weight: 1, arbitrary: tie('array') }),
  // Pairs as written: duplicates and case variants come from the small key pool.
  object: fc.array(fc.tuple(stringPiece, tie('value')), { maxLength: 6 }).map((pairs) => Buffer.concat([Buffer.from('{'), ...commas(pairs.map(([k, v]) => Buffer.concat([k, Buffer.from(':'), v]))), Buffer.from('}')])),
  array: fc.oneof(
    fc.array(tie('value'), { maxLength: 5 }),
    // a large array of one repeated small value
    fc.tuple(scalarPiece, fc.integer({ min: 100, max: 3000 })).map(([v, n]) => Array<Piece>(n).fill(v)),
  ).map((items) => Buffer.concat([Buffer.from('['), ...commas(items), Buffer.from(']')])),
})).value;

function commas(parts: Piece[]): Piece[] {
  return parts.flatMap((p, i) => (i === 0 ? [p] : [Buffer.from(','), p]));
}

/** A request envelope: `input` and its case variants, perhaps repeated, among other keys. */
const envelope: fc.Arbitrary<Buffer> = fc
  .array(fc.tuple(fc.oneof(fc.constantFrom('input', 'INPUT', 'Input', 'iNpUt', 'other', 'inputs').map((s) => Buffer.from(JSON.stringify(s))), stringPiece), valuePiece), { minLength: 1, maxLength: 4 })
  .map((pairs) => Buffer.concat([Buffer.from('{'), ...commas(pairs.map(([k, v]) => Buffer.concat([k, Buffer.from(' : '), v]))), Buffer.from('}')]));

/** The same kind of envelope as YAML (block style, double-quoted keys), which is not JSON. */
const yamlKey = fc.constantFrom('input', 'INPUT', 'Input', 'groups', 'Groups', 'group\u017f', 'a', 'A', 'K', '\u212a', '__proto__', 'é');
const yamlScalar = fc.oneof(fc.constantFrom('x', 'yes', 'on', 'null', '~', '0777', '12', 'true', '"quoted"', "'single'", '2001-12-14', '190:20:30'), fc.integer().map(String));
const yamlValue: fc.Arbitrary<string[]> = fc.letrec<{ v: string[] }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small' },
    yamlScalar.map((s) => [s]),
    fc.array(yamlScalar, { maxLength: 4 }).map((xs) => [`[${xs.join(', ')}]`]),
    fc.array(fc.tuple(yamlKey, tie('v')), { minLength: 1, maxLength: 4 }).map((pairs) => ['', ...pairs.flatMap(([k, v]) => blockPair(k, v).map((l) => '  ' + l))]),
  ),
})).v;
function blockPair(k: string, v: string[]): string[] {
  const [first, ...rest] = v;
  return first === '' ? [`${JSON.stringify(k)}:`, ...rest] : [`${JSON.stringify(k)}: ${first}`];
}
const yamlEnvelope: fc.Arbitrary<Buffer> = fc
  .array(fc.tuple(fc.constantFrom('input', 'INPUT', 'Input', 'other'), yamlValue), { minLength: 1, maxLength: 4 })
  .map((pairs) => Buffer.from(pairs.flatMap(([k, v]) => blockPair(k, v)).join('\n') + '\n'));

describe('request decoding: the same input as Go decodes (oracle: test/support/go-decode)', function () {
  this.timeout(180_000);
  let bin: string;

  before(function () {
    bin = buildOracle(this);
  });

  describe('known cases', () => {
    const cases: Array<[string, string]> = [
      ['the last case variant of input wins, in document order', '{"input":{"tenant":"audit"},"INPUT":{"tenant":"application"}}'],
      ['an exact duplicate after a case variant wins', '{"input":1,"INPUT":2,"input":3}'],
      ['a case variant after an exact duplicate wins', '{"input":1,"input":2,"Input":3}'],
      ['input: null after a value leaves no input', '{"input":{"a":1},"Input":null}'],
      ['lone surrogate keys are one key, U+FFFD, the last value', '{"input":{"\\ud800":1,"\\udbff":2}}'],
      ['a surrogate pair split by a lone one', '{"input":["\\ud800\\ud800\\udc00","\\udc00\\ud800"]}'],
      ['__proto__ is an own key, never the prototype', '{"input":{"__proto__":{"admin":true},"a":1}}'],
      ['Kelvin sign and long s are not ASCII inside the input map', '{"input":{"k":1,"\u212a":2,"s":3,"\u017f":4}}'],
    ];
    for (const [label, body] of cases) {
      it(label, () => {
        const bytes = Buffer.from(body);
        assertSame(bytes, oursPost(bytes, 'application/json'), goDecode(bin, 'opa-json', bytes));
        if (body.startsWith('{"input":{') && !body.includes('INPUT') && !body.includes('Input')) {
          const inner = Buffer.from(JSON.stringify(JSON.parse(body).input));
          assertSame(inner, oursGet(inner), goDecode(bin, 'opa-get', inner));
        }
      });
    }

    it('invalid UTF-8: one U+FFFD per invalid byte, as Go (Node would fold a truncated sequence into one)', () => {
      const bytes = Buffer.concat([Buffer.from('{"input":{"a'), Buffer.from([0xe2, 0x82]), Buffer.from('":1,"a'), Buffer.from([0xe2]), Buffer.from('":2}}')]);
      const theirs = goDecode(bin, 'opa-json', bytes);
      assertSame(bytes, oursPost(bytes, 'application/json'), theirs);
      assert.deepEqual(Object.keys((theirs as { input: object }).input).sort(), ['a\ufffd', 'a\ufffd\ufffd']);
    });

    it('YAML: case variants of input resolve as OPA resolves them (sorted keys, the last wins)', () => {
      const bytes = Buffer.from('input: {tenant: audit}\nINPUT: {tenant: application}\n');
      assertSame(bytes, oursPost(bytes, 'application/yaml'), goDecode(bin, 'opa-yaml', bytes));
    });

    it('YAML: duplicate keys keep the last, YAML 1.1 scalars, no timestamps', () => {
      const bytes = Buffer.from('input:\n  a: 1\n  a: 2\n  y: yes\n  o: 0777\n  t: 2001-12-14\n  s: 190:20:30\n');
      assertSame(bytes, oursPost(bytes, 'application/yaml'), goDecode(bin, 'opa-yaml', bytes));
    });
  });

  it(`fuzz: JSON bodies decode to Go's input (${RUNS} runs)`, () => {
    fc.assert(
      fc.property(envelope, (bytes) => {
        assertSame(bytes, oursPost(bytes, 'application/json'), goDecode(bin, 'opa-json', bytes));
      }),
      { numRuns: RUNS },
    );
  });

  it(`fuzz: GET ?input= bytes decode to Go's value (${RUNS} runs)`, () => {
    fc.assert(
      fc.property(valuePiece, (bytes) => {
        assertSame(bytes, oursGet(bytes), goDecode(bin, 'opa-get', bytes));
      }),
      { numRuns: RUNS },
    );
  });

  it(`fuzz: YAML bodies decode to OPA's input (${RUNS} runs)`, () => {
    fc.assert(
      fc.property(yamlEnvelope, (bytes) => {
        assertSame(bytes, oursPost(bytes, 'application/yaml'), goDecode(bin, 'opa-yaml', bytes));
      }),
      { numRuns: RUNS },
    );
  });
});

describe('decoded objects carry their pairs in document order when keys repeat (the openshift contract)', () => {
  it('{"a":1,"A":2,"a":3}: the value JSON.parse gives, plus every pair in order under the shared symbol', () => {
    const v = parseGoJson('{"a":1,"A":2,"a":3}') as Record<string | symbol, unknown>;
    const entries = v[ENTRIES];
    assert.deepEqual(v, { a: 3, A: 2 });
    assert.equal(Symbol.for('lokistack-authz.entries'), ENTRIES);
    assert.deepEqual(entries, [
      ['a', 1],
      ['A', 2],
      ['a', 3],
    ]);
    assert.ok(!Object.keys(v).includes(ENTRIES as never) && !JSON.stringify(v).includes('entries'), 'not enumerable');
  });

  it('only objects with exact duplicates carry it, at any depth; case variants alone are distinct keys', () => {
    const v = parseGoJson('{"x":{"g":[1],"G":[2]},"y":[{"g":1,"g":2}]}') as { x: object; y: [object] };
    assert.equal((v as unknown as Record<symbol, unknown>)[ENTRIES], undefined);
    assert.equal((v.x as Record<symbol, unknown>)[ENTRIES], undefined);
    assert.deepEqual(Object.keys(v.x), ['g', 'G']);
    assert.deepEqual((v.y[0] as Record<symbol, unknown>)[ENTRIES], [
      ['g', 1],
      ['g', 2],
    ]);
  });

  it('__proto__ stays an own key on the order-keeping path too, and pollutes nothing', () => {
    const v = parseGoJson('{"__proto__":{"polluted":true},"__proto__":{"polluted":1},"a":1,"a":2}') as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(v), Object.prototype);
    assert.deepEqual(Object.getOwnPropertyDescriptor(v, '__proto__')?.value, { polluted: 1 });
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});
