/**
 * JSON as Go's encoding/json writes it, which is what OPA and opa-openshift answer with: object keys
 * sorted by their UTF-8 bytes, and <, >, &, U+2028 and U+2029 escaped. Compact, or indented with
 * two spaces. Written by hand because JSON.stringify always puts integer-like keys first.
 */
export function goJson(value: unknown, pretty = false): string {
  return encode(value, pretty ? '\n' : '');
}

/** Encodes top-level fields in the order given (Go struct order), skipping undefined ones. */
export function goStruct(fields: ReadonlyArray<readonly [string, unknown]>, pretty = false): string {
  const nl = pretty ? '\n' : '';
  const inner = nl ? `${nl}  ` : '';
  const parts = fields.filter(([, v]) => v !== undefined).map(([k, v]) => `${inner}${str(k)}:${nl ? ' ' : ''}${nl ? encode(v, inner) : compact(v)}`);
  return parts.length === 0 ? '{}' : `{${parts.join(',')}${nl}}`;
}

// Frozen values (cached decisions, shared by every hit) are encoded once.
const encoded = new WeakMap<object, string>();

function compact(value: unknown): string {
  if (value === null || typeof value !== 'object' || !Object.isFrozen(value)) return encode(value, '');
  let text = encoded.get(value);
  if (text === undefined) {
    text = encode(value, '');
    encoded.set(value, text);
  }
  return text;
}

/** `nl` is '' when compact, else a newline followed by the current indentation. */
function encode(value: unknown, nl: string): string {
  switch (typeof value) {
    case 'string':
      return str(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      break;
    default:
      return 'null';
  }
  if (value === null) return 'null';
  const inner = nl ? `${nl}  ` : '';
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return `[${value.map((v) => inner + encode(v === undefined ? null : v, inner)).join(',')}${nl}]`;
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort(compareUtf8);
  if (keys.length === 0) return '{}';
  return `{${keys.map((k) => `${inner}${str(k)}:${nl ? ' ' : ''}${encode(obj[k], inner)}`).join(',')}${nl}}`;
}

function compareUtf8(a: string, b: string): number {
  if (a === b) return 0;
  // UTF-16 order equals UTF-8 byte order except against surrogate pairs; compare bytes only then.
  if (!/[\ud800-\udfff]/.test(a + b)) return a < b ? -1 : 1;
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

const htmlUnsafe = /[<>&\u2028\u2029]/;
const htmlUnsafeAll = /[<>&\u2028\u2029]/g;
const escapes: Record<string, string> = { '<': '\\u003c', '>': '\\u003e', '&': '\\u0026', '\u2028': '\\u2028', '\u2029': '\\u2029' };

function str(s: string): string {
  const json = JSON.stringify(s);
  return htmlUnsafe.test(json) ? json.replace(htmlUnsafeAll, (c) => escapes[c]!) : json;
}
