import { invalidParameter, reasonOf } from '../errors.js';
import { entriesOf, foldsTo } from '../go-keys.js';
import { rememberInputJson } from '../decision/input-json.js';
import { goField, goUtf8, parseGoJson, parseGoJsonExact } from '../go-json.js';
import { checkInput, type InputLimits } from './input-limits.js';
import { parseYamlBounded } from './yaml-input.js';

/** The parsed Data API request: the input document, and whether the request left it out. */
export interface ParsedInput {
  input: unknown;
  /** POST only: OPA warns when `input` is missing, empty or null. */
  missing: boolean;
  /** Every value the body gave `input` (any case), in document order, when it gave more than one. */
  occurrences?: unknown[];
  /** Estimated heap bytes of the decoded input(s) (input-limits.ts), for the request byte budget. */
  footprint: number;
}

export interface InputOptions extends InputLimits {
  /** YAML nodes parsed at most (yaml-input.ts). */
  maxYamlNodes: number;
  /**
   * Keep the body's own text of `input` for the policy when it can be cut out exactly (static
   * mode, whose policy reads the input as given): the input is then frozen whole.
   */
  keepInputText?: boolean;
}

/**
 * Parses a POST /v1/data body as OPA does: JSON (YAML when the Content-Type says so and the body is
 * not JSON), an object whose `input` key holds the input; other keys are ignored. The input is
 * decoded as Go decodes it (go-json.ts) and refused past its bounds before anything evaluates it.
 */
export function parsePostBody(body: Buffer, contentType: string | undefined, options: InputOptions): ParsedInput {
  if (body.length === 0) return { input: undefined, missing: true, footprint: 0 };
  const text = goUtf8(body);
  let doc: unknown;
  let yaml = false;
  let exact = false;
  try {
    ({ value: doc, exact } = parseGoJsonExact(text));
  } catch (err) {
    // OPA's util.Unmarshal decodes a body that is valid JSON as JSON, whatever the Content-Type.
    if (!contentType?.includes('yaml')) {
      throw invalidParameter(`body contains malformed input document: ${reason(err, text.length)}`, { cause: err });
    }
    yaml = true;
  }
  if (yaml) doc = parseYamlBounded(text, options);
  if (doc === null || doc === undefined) return { input: undefined, missing: true, footprint: 0 };
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw invalidParameter(`body contains malformed input document: the request must be a JSON object, got ${Array.isArray(doc) ? 'array' : typeof doc}`);
  }
  // Go decodes the request into a struct: `input`, `Input`, `INPUT`... the last one in the body wins
  // for OPA's interface{} input; a decoder reading the input into a struct merges them all.
  const envelope = doc as Record<string, unknown>;
  const input = goField(envelope, 'input').value;
  const all = inputOccurrences(envelope);
  let footprint = 0;
  for (const value of all) if (value !== null && value !== undefined) footprint += checkInput(value, options, 'body');
  const occurrences = all.length > 1 ? { occurrences: all } : {};
  if (input === undefined || input === null) return { input: undefined, missing: true, footprint, ...occurrences };
  if (options.keepInputText && exact && !yaml) keepInputText(text, envelope, input);
  return { input, missing: false, footprint, ...occurrences };
}

// The envelope's opening up to the value of its one key, spelled `input`.
const INPUT_PREFIX = /^[ \t\r\n]*\{[ \t\r\n]*"input"[ \t\r\n]*:/;

/**
 * Hands the policy the body's own text of `input` when that text means exactly the parsed value:
 * Go's reading needed no correction (`exact`: valid UTF-8 or replaced as Go replaces it, no
 * duplicate key anywhere, no surrogate escape) and the envelope is `{"input": …}` alone, so the
 * value's text runs from after the key to the envelope's last `}`. Anything else (other keys, a
 * key spelled with escapes or in another case) keeps the parsed value's serialisation. Numbers
 * keep their text, as Go's decoder keeps them for OPA (JSON.stringify would round a large integer).
 */
function keepInputText(text: string, envelope: Record<string, unknown>, input: unknown): void {
  if (typeof input !== 'object' || input === null) return;
  const keys = Object.keys(envelope);
  if (keys.length !== 1 || keys[0] !== 'input') return;
  const prefix = INPUT_PREFIX.exec(text);
  const end = text.lastIndexOf('}');
  if (!prefix || end <= prefix[0].length) return;
  rememberInputJson(input, text.slice(prefix[0].length, end).trim());
  deepFreeze(input);
}

/** Freezes every object and array in `root`: the text kept for it must stay its text. */
function deepFreeze(root: object): void {
  const stack: object[] = [root];
  while (stack.length > 0) {
    const v = Object.freeze(stack.pop()!);
    for (const c of Array.isArray(v) ? v : Object.values(v)) if (c !== null && typeof c === 'object') stack.push(c as object);
  }
}

function inputOccurrences(envelope: Record<string, unknown>): unknown[] {
  return entriesOf(envelope)
    .filter(([key]) => foldsTo(key, 'input'))
    .map(([, value]) => value);
}

/** Parses GET /v1/data's `?input=` parameter, given as raw bytes (the last one wins, as in OPA). */
export function parseInputParam(raw: Buffer | undefined, options: InputLimits): ParsedInput {
  if (raw === undefined) return { input: undefined, missing: false, footprint: 0 };
  const text = goUtf8(raw);
  let input: unknown;
  try {
    input = parseGoJson(text);
  } catch (err) {
    throw invalidParameter(`parameter contains malformed input document: ${reason(err, text.length)}`, { cause: err });
  }
  const footprint = checkInput(input, options, 'parameter');
  return { input: input === null ? undefined : input, missing: false, footprint };
}

/**
 * The last value of `name` in a raw query string, percent-decoded to bytes as Go's url.ParseQuery
 * does (`+` is a space), so that invalid UTF-8 in it is replaced as Go replaces it.
 */
export function lastQueryBytes(query: string, name: string): Buffer | undefined {
  let found: string | undefined;
  for (const pair of query.split('&')) {
    const eq = pair.indexOf('=');
    const key = eq < 0 ? pair : pair.slice(0, eq);
    if (percentDecode(key).toString('latin1') === name) found = eq < 0 ? '' : pair.slice(eq + 1);
  }
  return found === undefined ? undefined : percentDecode(found);
}

/** Query unescaping to bytes: `+` is a space, `%XX` a byte; a malformed `%` stays as it is. */
function percentDecode(s: string): Buffer {
  if (!s.includes('%') && !s.includes('+')) return Buffer.from(s, 'utf8');
  const out: number[] = [];
  const raw = Buffer.from(s, 'utf8');
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === 0x2b) out.push(0x20);
    else if (c === 0x25 && i + 2 < raw.length && isHex(raw[i + 1]!) && isHex(raw[i + 2]!)) {
      out.push(parseInt(String.fromCharCode(raw[i + 1]!, raw[i + 2]!), 16));
      i += 2;
    } else out.push(c);
  }
  return Buffer.from(out);
}

const isHex = (c: number) => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);

/** Why a document did not parse, without quoting it: the body may carry a credential. */
function reason(err: unknown, length: number): string {
  const msg = reasonOf(err);
  if (/end of (JSON )?input|unexpected end/i.test(msg)) return 'unexpected EOF';
  const position = /position (\d+)/.exec(msg);
  if (position) return Number(position[1]) >= length ? 'unexpected EOF' : `invalid syntax at position ${position[1]}`;
  const line = /line (\d+)/.exec(msg);
  return line ? `invalid syntax at line ${line[1]}` : 'invalid syntax';
}
