import { strict as assert } from 'node:assert';
import { rememberedInputJson } from '../server/decision/input-json.js';
import { parsePostBody, type InputOptions } from '../server/http/input.js';
import { DEFAULT_INPUT_LIMITS } from '../server/http/input-limits.js';

const KEEP: InputOptions = { ...DEFAULT_INPUT_LIMITS, maxDepth: 64, keepInputText: true };

/**
 * The input's own text rides on the input object (server/decision/input-json.ts). What a caller of
 * the Data API relies on: the text is handed to the policy only for the very object it was cut for,
 * and nothing that reads or writes the input (the decision log's JSON, a copy, an equality check)
 * sees anything but the body's input.
 */
describe('the input text kept for the policy (static mode)', () => {
  const body = '{"input":{"subject":"alice","groups":["staff"],"extras":{"n":12345678901234567890}}}';

  it('is kept for the parsed input, and invisible to JSON, keys and equality', () => {
    const parsed = parsePostBody(Buffer.from(body), 'application/json', KEEP);
    assert.equal(rememberedInputJson(parsed.input), '{"subject":"alice","groups":["staff"],"extras":{"n":12345678901234567890}}');
    const plain = JSON.parse(body).input as Record<string, unknown>;
    assert.deepEqual(Object.keys(parsed.input as object), Object.keys(plain));
    assert.equal(JSON.stringify(parsed.input), JSON.stringify(plain));
    assert.deepStrictEqual(parsed.input, plain);
  });

  it('a copy, a JSON round trip or a part of the input carries no text (it is serialised from its value)', () => {
    const input = parsePostBody(Buffer.from(body), 'application/json', KEEP).input as Record<string, unknown>;
    assert.equal(rememberedInputJson({ ...input }), undefined);
    assert.equal(rememberedInputJson(Object.freeze({ ...input })), undefined);
    assert.equal(rememberedInputJson(JSON.parse(JSON.stringify(input))), undefined);
    assert.equal(rememberedInputJson(input.extras), undefined);
  });

  it('the input it is kept for cannot change: frozen whole', () => {
    const input = parsePostBody(Buffer.from(body), 'application/json', KEEP).input as { groups: string[]; extras: Record<string, unknown> };
    assert.throws(() => input.groups.push('admins'), TypeError);
    assert.throws(() => {
      input.extras.n = 1;
    }, TypeError);
  });
});
