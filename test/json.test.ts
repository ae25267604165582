/**
 * server/http/json.ts writes JSON as Go's encoding/json does (what OPA answers with). The expected
 * strings below are Go's own json.Marshal / json.MarshalIndent(v, "", "  ") output for the same
 * documents (Go 1.26), copied verbatim.
 */
import { strict as assert } from 'node:assert';
import { goJson, goStruct } from '../server/http/json.js';

const parse = (s: string): unknown => JSON.parse(s);

describe('goJson: Go encoding/json output', () => {
  describe('object key order: UTF-8 bytes, not JavaScript property order', () => {
    const doc = parse('{"9":1,"10":2,"b":3,"a":4,"-x":5,"1":6,"B":7,"_":8}');

    it('integer-like keys sort as strings: "10" before "9", "-x" before "1", upper case before "_" before lower case', () => {
      // JSON.stringify would put 1, 9, 10 first, in numeric order.
      assert.equal(JSON.stringify(doc), '{"1":6,"9":1,"10":2,"b":3,"a":4,"-x":5,"B":7,"_":8}');
      assert.equal(goJson(doc), '{"-x":5,"1":6,"10":2,"9":1,"B":7,"_":8,"a":4,"b":3}');
    });

    it('pretty output is MarshalIndent with 2 spaces, same order', () => {
      assert.equal(goJson(doc, true), '{\n  "-x": 5,\n  "1": 6,\n  "10": 2,\n  "9": 1,\n  "B": 7,\n  "_": 8,\n  "a": 4,\n  "b": 3\n}');
    });

    it('keys outside the BMP (surrogate pairs) sort after U+E000 and U+FFFD, as their UTF-8 bytes do', () => {
      // In UTF-16 "😀" (D83D DE00) sorts before U+E000 and U+FFFD; in UTF-8 (F0 9F 98 80) after them.
      const d = parse('{"\\uFFFD":1,"😀":2,"\\uE000":3,"z":4,"é":5}');
      assert.equal(goJson(d), '{"z":4,"é":5,"\ue000":3,"\ufffd":1,"😀":2}');
      assert.equal(goJson(d, true), '{\n  "z": 4,\n  "é": 5,\n  "\ue000": 3,\n  "\ufffd": 1,\n  "😀": 2\n}');
    });

    it('two keys outside the BMP compare by their code points', () => {
      assert.equal(goJson({ '😀': 1, '😁': 2, '𝄞': 3 }), '{"𝄞":3,"😀":1,"😁":2}');
    });

    it('keys are sorted at every depth, inside arrays too', () => {
      const d = { z: { b: 1, a: [{ y: 1, x: 2 }] }, a: { '2': 0, '10': 0 } };
      assert.equal(goJson(d), '{"a":{"10":0,"2":0},"z":{"a":[{"x":2,"y":1}],"b":1}}');
    });
  });

  describe('strings', () => {
    const d = parse(
      '{"s":"<a href=\\"x\\">&amp;</a>","ls":"\\u2028\\u2029","ctl":"\\u0000\\u0001\\b\\f\\n\\r\\t\\u001f\\u007f","q":"\\"\\\\/","emoji":"😀","latin":"é"}',
    );
    const go =
      '{"ctl":"\\u0000\\u0001\\b\\f\\n\\r\\t\\u001f\x7f","emoji":"😀","latin":"é","ls":"\\u2028\\u2029","q":"\\"\\\\/","s":"\\u003ca href=\\"x\\"\\u003e\\u0026amp;\\u003c/a\\u003e"}';

    it('escapes <, >, & as \\u003c \\u003e \\u0026 and U+2028, U+2029; control characters as Go does; / and non-ASCII as they are', () => {
      assert.equal(goJson(d), go);
    });

    it('pretty output escapes the same way', () => {
      const goPretty =
        '{\n  "ctl": "\\u0000\\u0001\\b\\f\\n\\r\\t\\u001f\x7f",\n  "emoji": "😀",\n  "latin": "é",\n  "ls": "\\u2028\\u2029",\n  "q": "\\"\\\\/",\n  "s": "\\u003ca href=\\"x\\"\\u003e\\u0026amp;\\u003c/a\\u003e"\n}';
      assert.equal(goJson(d, true), goPretty);
    });

    it('keys are escaped like values', () => {
      assert.equal(goJson({ 'a<b': '&' }), '{"a\\u003cb":"\\u0026"}');
    });

    it('the output parses back to the same value', () => {
      assert.deepEqual(JSON.parse(goJson(d)), d);
      assert.deepEqual(JSON.parse(goJson(d, true)), d);
    });
  });

  describe('values and layout', () => {
    const d = parse('{"b":{"y":[],"x":{}},"a":[{"k":1,"j":[true,false,null]},"s",1.5,-2,1e21,1e-7,0.000001,123456789012]}');

    it('compact: numbers, literals, empty containers as Go writes them', () => {
      assert.equal(goJson(d), '{"a":[{"j":[true,false,null],"k":1},"s",1.5,-2,1e+21,1e-7,0.000001,123456789012],"b":{"x":{},"y":[]}}');
    });

    it('pretty: equal to MarshalIndent(v, "", "  "), empty containers inline', () => {
      const go =
        '{\n  "a": [\n    {\n      "j": [\n        true,\n        false,\n        null\n      ],\n      "k": 1\n    },\n    "s",\n    1.5,\n    -2,\n    1e+21,\n    1e-7,\n    0.000001,\n    123456789012\n  ],\n  "b": {\n    "x": {},\n    "y": []\n  }\n}';
      assert.equal(goJson(d, true), go);
    });

    it('top-level scalars and empty containers', () => {
      assert.equal(goJson([]), '[]');
      assert.equal(goJson([], true), '[]');
      assert.equal(goJson({}), '{}');
      assert.equal(goJson({}, true), '{}');
      assert.equal(goJson('x'), '"x"');
      assert.equal(goJson(true), 'true');
      assert.equal(goJson(null), 'null');
      assert.equal(goJson([[], [{}]], true), '[\n  [],\n  [\n    {}\n  ]\n]');
    });

    it('undefined object members are left out, undefined array items are null', () => {
      assert.equal(goJson({ a: undefined, b: 1 }), '{"b":1}');
      assert.equal(goJson({ a: undefined }), '{}');
      assert.equal(goJson([undefined, 1]), '[null,1]');
    });
  });
});

describe('goStruct: top-level fields in struct order', () => {
  it('keeps the given order (not sorted) and leaves out undefined fields', () => {
    const out = goStruct([
      ['provenance', undefined],
      ['metrics', { b: 2, a: 1 }],
      ['result', { y: true, x: '<' }],
      ['warning', undefined],
    ]);
    assert.equal(out, '{"metrics":{"a":1,"b":2},"result":{"x":"\\u003c","y":true}}');
  });

  it('result before warning, as OPA writes DataResponseV1', () => {
    const out = goStruct([
      ['result', false],
      ['warning', { message: "'input' key missing from the request", code: 'api_usage_warning' }],
    ]);
    assert.equal(out, `{"result":false,"warning":{"code":"api_usage_warning","message":"'input' key missing from the request"}}`);
  });

  it('no defined field: {}', () => {
    assert.equal(goStruct([['result', undefined]]), '{}');
    assert.equal(goStruct([['result', undefined]], true), '{}');
    assert.equal(goStruct([]), '{}');
  });

  it('a frozen (cached, shared) value encodes exactly as a fresh copy of it, pretty or not', () => {
    const value = Object.freeze({ data: 'a<b', allowed: 'true', '10': 1, '9': 2 });
    const fresh = { ...value };
    for (const pretty of [false, true, false]) {
      assert.equal(goStruct([['result', value]], pretty), goStruct([['result', fresh]], pretty));
    }
    assert.equal(goStruct([['result', value]]), '{"result":{"10":1,"9":2,"allowed":"true","data":"a\\u003cb"}}');
  });

  it('a defined null field is written', () => {
    assert.equal(goStruct([['result', null]]), '{"result":null}');
  });

  it('pretty: 2-space indentation, nested values indented one level further', () => {
    const out = goStruct(
      [
        ['result', { b: [1], a: {} }],
        ['warning', { code: 'c', message: 'm' }],
      ],
      true,
    );
    assert.equal(out, '{\n  "result": {\n    "a": {},\n    "b": [\n      1\n    ]\n  },\n  "warning": {\n    "code": "c",\n    "message": "m"\n  }\n}');
  });
});
