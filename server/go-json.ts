import { isUtf8 } from 'node:buffer';
import { ENTRIES, foldsTo, type Entries } from './go-keys.js';

/**
 * JSON decoded as Go's encoding/json decodes it, which is what OPA and opa-openshift see. Three
 * differences from JSON.parse are attacker-controlled, and each is closed here:
 *
 * - invalid UTF-8: Go replaces each invalid byte with U+FFFD; Node's decoder replaces each maximal
 *   invalid subsequence (fewer U+FFFD), so two keys can differ in one and be equal in the other;
 * - lone surrogate escapes (`"\ud800"`): Go decodes them to U+FFFD, JSON.parse keeps them, so
 *   `"\ud800"` and `"\udbff"` are two keys in JS and one (the last wins) in Go;
 * - duplicate keys: both keep the last value, but Go's struct decoding (case-insensitive, last
 *   occurrence in document order wins) needs the document order, which JSON.parse loses
 *   (`{"a":1,"A":2,"a":3}` keeps `a` first). Objects with exact duplicates therefore carry every
 *   pair in document order under ENTRIES, for whoever decodes a struct from them.
 */

/** Text of a JSON body as Go reads its bytes: each invalid UTF-8 byte becomes one U+FFFD. */
export function goUtf8(bytes: Uint8Array): string {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (isUtf8(buf)) return buf.toString('utf8');
  let out = '';
  let start = 0;
  let i = 0;
  while (i < buf.length) {
    const n = validSequenceLength(buf, i);
    if (n > 0) {
      i += n;
      continue;
    }
    out += `${buf.toString('utf8', start, i)}\ufffd`;
    i += 1;
    start = i;
  }
  return out + buf.toString('utf8', start, i);
}

/** Length of the valid UTF-8 sequence at `i` (Go's utf8.DecodeRune rules), or 0 when invalid. */
function validSequenceLength(b: Buffer, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf) => i + k < b.length && b[i + k]! >= lo && b[i + k]! <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if (c === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0; // no surrogates
  if (c >= 0xe1 && c <= 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (c === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xf1 && c <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

// Every string token in order, and whether it is a key; the text is valid JSON when this runs, so
// scanning from the start never falls out of step with the string boundaries.
const STRING_TOKEN = /"[^"\\]*(?:\\.[^"\\]*)*"(\s*:)?/g;
// An escaped UTF-16 surrogate, which Go turns into U+FFFD unless it is half of a valid pair.
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;

/**
 * Parses JSON text (throwing JSON.parse's SyntaxError when malformed) into what Go's decoder gives
 * for an `interface{}`, plus ENTRIES on objects with duplicate keys. JSON.parse does the work; the
 * slower order-keeping parser runs only when the text has more keys than the result has
 * properties, or escaped surrogates.
 */
export function parseGoJson(text: string): unknown {
  return parseGoJsonExact(text).value;
}

/**
 * parseGoJson, and whether the text needed none of the three corrections: then `value` is
 * JSON.parse's, every key in the text is a property of it, and the text is exactly the JSON of
 * `value` as Go reads it (which is what lets the caller hand the text itself to the policy).
 */
export function parseGoJsonExact(text: string): { value: unknown; exact: boolean } {
  const value: unknown = JSON.parse(text);
  if (value === null || typeof value !== 'object') {
    return typeof value === 'string' && SURROGATE_ESCAPE.test(text) ? { value: value.toWellFormed(), exact: false } : { value, exact: true };
  }
  if (SURROGATE_ESCAPE.test(text) || keyTokens(text) !== propertyCount(value)) return { value: parseOrdered(text), exact: false };
  return { value, exact: true };
}

function keyTokens(text: string): number {
  let n = 0;
  STRING_TOKEN.lastIndex = 0;
  for (let m = STRING_TOKEN.exec(text); m !== null; m = STRING_TOKEN.exec(text)) if (m[1] !== undefined) n++;
  return n;
}

function propertyCount(root: object): number {
  let n = 0;
  const stack: object[] = [root];
  while (stack.length > 0) {
    const v = stack.pop()!;
    const children = Array.isArray(v) ? v : Object.values(v);
    if (!Array.isArray(v)) n += children.length;
    for (const c of children) if (c !== null && typeof c === 'object') stack.push(c as object);
  }
  return n;
}

type Frame = { entries: Entries; key: string | undefined } | { items: unknown[] };

/**
 * An iterative parser for text JSON.parse has already accepted: it keeps every object's pairs in
 * document order and decodes strings as Go does. Not on the hot path.
 */
function parseOrdered(text: string): unknown {
  const stack: Frame[] = [];
  let i = 0;
  let result: unknown;
  const ws = () => {
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
      i++;
    }
  };
  // Hands a finished value to the enclosing frame; true when it was the whole document.
  const emit = (v: unknown): boolean => {
    const top = stack[stack.length - 1];
    if (!top) {
      result = v;
      return true;
    }
    if ('items' in top) top.items.push(v);
    else {
      top.entries.push([top.key!, v]);
      top.key = undefined;
    }
    return false;
  };
  const STRING = /"[^"\\]*(?:\\.[^"\\]*)*"/y;
  const SCALAR = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/y;
  for (;;) {
    ws();
    const c = text[i];
    let value: unknown;
    let produced = false;
    if (c === '{') {
      stack.push({ entries: [], key: undefined });
      i++;
    } else if (c === '[') {
      stack.push({ items: [] });
      i++;
    } else if (c === '}' || c === ']') {
      const frame = stack.pop()!;
      value = 'items' in frame ? frame.items : buildObject(frame.entries);
      produced = true;
      i++;
    } else if (c === ',') {
      i++;
    } else if (c === '"') {
      STRING.lastIndex = i;
      const token = STRING.exec(text)![0];
      i += token.length;
      const s = goString(token);
      const top = stack[stack.length - 1];
      ws();
      if (top && !('items' in top) && text[i] === ':') {
        top.key = s;
        i++;
      } else {
        value = s;
        produced = true;
      }
    } else {
      SCALAR.lastIndex = i;
      const token = SCALAR.exec(text)![0];
      i += token.length;
      value = JSON.parse(token);
      produced = true;
    }
    if (produced && emit(value)) return result;
  }
}

function goString(token: string): string {
  const s = JSON.parse(token) as string;
  return token.includes('\\u') ? s.toWellFormed() : s;
}

/** JSON.parse's object (first occurrence's position, last value, `__proto__` an own key), plus ENTRIES. */
function buildObject(entries: Entries): Record<string, unknown> {
  const obj: Record<string, unknown> = {};
  let duplicated = false;
  for (const [k, v] of entries) {
    if (!duplicated && Object.hasOwn(obj, k)) duplicated = true;
    if (k === '__proto__') Object.defineProperty(obj, k, { value: v, writable: true, enumerable: true, configurable: true });
    else obj[k] = v;
  }
  if (duplicated) Object.defineProperty(obj, ENTRIES, { value: entries, enumerable: false });
  return obj;
}

/**
 * The value Go's decoder puts in a struct field whose JSON name is `name` (lower-case ASCII): keys
 * match case-insensitively, as Go folds them, and the last occurrence in document order wins.
 */
export function goField(obj: Record<string, unknown>, name: string): { found: boolean; value: unknown } {
  const entries = (obj as { [ENTRIES]?: Entries })[ENTRIES];
  if (entries) {
    for (let i = entries.length - 1; i >= 0; i--) if (foldsTo(entries[i]![0], name)) return { found: true, value: entries[i]![1] };
    return { found: false, value: undefined };
  }
  // Without duplicates, keys alone: no pair array is built on the hot path.
  const keys = Object.keys(obj);
  for (let i = keys.length - 1; i >= 0; i--) if (foldsTo(keys[i]!, name)) return { found: true, value: obj[keys[i]!] };
  return { found: false, value: undefined };
}
