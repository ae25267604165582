// The fixture loader and comparison the fixture runners rely on: if these were lax, every runner
// would pass for the wrong reason.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { comparable, loadFixtureSet, loadFixtureSets, normalise, type Answer } from './support/fixtures.js';

const none = { unorderedPaths: [], jsonStringFields: [] };

describe('fixture support: normalise', () => {
  it('compares unordered arrays as multisets, not as sets', () => {
    const how = { ...none, unorderedPaths: ['/m'] };
    assert.deepStrictEqual(normalise({ m: [2, 0, 1] }, how), normalise({ m: [0, 1, 2] }, how));
    assert.notDeepStrictEqual(normalise({ m: [1, 1, 2] }, how), normalise({ m: [1, 2, 2] }, how));
  });

  it('treats "" as the whole value and leaves arrays elsewhere in order', () => {
    assert.deepStrictEqual(normalise([{ b: 1, a: 2 }, 'x'], { ...none, unorderedPaths: [''] }), ['x', { b: 1, a: 2 }]);
    assert.deepStrictEqual(normalise({ m: [2, 1], n: [2, 1] }, { ...none, unorderedPaths: ['/m'] }), { m: [1, 2], n: [2, 1] });
  });

  it('parses JSON string fields, named as keys or as pointers, before sorting inside them', () => {
    const how = { unorderedPaths: ['/data/matchers'], jsonStringFields: ['data'] };
    const got = normalise({ allowed: 'true', data: '{"matcherOp":"or","matchers":[{"Value":"b"},{"Value":"a"}]}' }, how);
    const want = normalise({ allowed: 'true', data: '{"matchers":[{"Value":"a"},{"Value":"b"}],"matcherOp":"or"}' }, { ...how, jsonStringFields: ['/data'] });
    assert.deepStrictEqual(got, want);
  });

  it('leaves the value alone where a pointer leads nowhere, without changing its input', () => {
    const value = { m: [2, 1] };
    assert.deepStrictEqual(normalise(value, { unorderedPaths: ['/x/y', '/m/0'], jsonStringFields: ['/m'] }), { m: [2, 1] });
    normalise(value, { ...none, unorderedPaths: ['/m'] });
    assert.deepStrictEqual(value, { m: [2, 1] });
  });
});

describe('fixture support: loading', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fixtures-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const load = (cases: string) => {
    writeFileSync(join(dir, 'cases.yaml'), cases);
    return loadFixtureSet(dir, 'tmp');
  };

  it('refuses unknown keys, so that a misspelt expectation cannot be skipped', () => {
    assert.throws(() => load('cases: {a: {path: x, want_results: true}}'), /case "a": unknown key "want_results"/);
  });

  it('refuses a 200 case without exactly one expectation', () => {
    assert.throws(() => load('cases: {a: {path: x}}'), /exactly one of want_result and want_undefined/);
    assert.throws(() => load('cases: {a: {path: x, want_result: 1, want_undefined: true}}'), /exactly one/);
  });

  it('refuses a pointer inside another of the same list, which fixtures_test.rego would undo', () => {
    assert.throws(() => load('cases: {a: {path: x, want_result: [], unordered_paths: ["", /0/m]}}'), /"\/0\/m" lies inside ""/);
    assert.throws(() => load('cases: {a: {path: x, want_result: {}, json_string_fields: [data, /data/inner]}}'), /lies inside "\/data"/);
  });

  it('marks HTTP-only cases and reads a missing or null input as none', () => {
    const [a, b, c] = load(
      'cases: {a: {path: x, want_result: null}, b: {path: x, input: null, want_undefined: true}, c: {path: "", raw_body: "", want_status: 200, want_result: 1}}',
    ).cases;
    assert.deepStrictEqual([a!.hasInput, a!.want, a!.httpOnly], [false, { defined: true, value: null }, false]);
    assert.deepStrictEqual([b!.hasInput, b!.want, b!.segments], [false, { defined: false }, ['x']]);
    assert.deepStrictEqual([c!.httpOnly, c!.segments, c!.rawBody], [true, [], '']);
  });

  it('finds the committed sets, each with cases', () => {
    const sets = loadFixtureSets();
    assert.ok(sets.length >= 3, `only ${sets.map((s) => s.name).join(', ')}`);
    for (const s of sets) assert.ok(s.cases.length > 0, s.name);
  });
});

describe('fixture support: comparable answers', () => {
  const c = loadFixtureSets()[0]!.cases[0]!;
  const answer = (status: number, body: unknown): Answer => ({ status, body, text: JSON.stringify(body) });

  it('keeps status and error code of an error, not its message', () => {
    assert.deepStrictEqual(
      comparable(answer(400, { code: 'invalid_parameter', message: 'unexpected EOF' }), c),
      comparable(answer(400, { code: 'invalid_parameter', message: 'invalid syntax' }), c),
    );
    assert.notDeepStrictEqual(comparable(answer(400, { code: 'invalid_parameter' }), c), comparable(answer(500, { code: 'invalid_parameter' }), c));
  });

  it('ignores decision_id and warning but not a missing result', () => {
    assert.deepStrictEqual(comparable(answer(200, { result: false, decision_id: 'x', warning: {} }), c), comparable(answer(200, { result: false }), c));
    assert.notDeepStrictEqual(comparable(answer(200, {}), c), comparable(answer(200, { result: false }), c));
    assert.throws(() => comparable(answer(200, { result: false, extra: 1 }), c), /unexpected keys/);
  });
});
