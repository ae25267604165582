/**
 * A log call's fields as JSON text, with credential paths censored. The output is what pino wrote
 * with the service's configuration (its err serializer and redaction), except where pino's was
 * wrong or unsafe: a circular value is "[Circular]" where it closes, a value a toJSON returns is
 * redacted like any other, and a field that cannot be serialized is marked instead of throwing.
 */

/** A redaction tree: `true` censors the key's value, a node continues below it; `*` matches any key. */
type RedactNode = Map<string, RedactNode | true>;

export const CENSOR = '[REDACTED]';
const CENSORED = JSON.stringify(CENSOR);
const CIRCULAR = '"[Circular]"';
/** A field whose value threw while it was read or serialized (a getter, a Proxy, stack depth). */
export const UNSERIALIZABLE = '"[unserializable]"';

/**
 * Compiles pino-style paths (`token`, `*.token`, `headers["x-forwarded-access-token"]`): each path
 * is exact and case-sensitive, as pino's were, and `*` stands for any one key.
 */
export function redactTree(paths: readonly string[]): RedactNode {
  const root: RedactNode = new Map();
  for (const path of paths) {
    const parts = [...path.matchAll(/\[(?:"([^"]*)"|'([^']*)')\]|[^.[\]]+/g)].map((m) => m[1] ?? m[2] ?? m[0]);
    let node = root;
    parts.forEach((part, i) => {
      if (i === parts.length - 1) return void node.set(part, true);
      let next = node.get(part);
      if (next === true) return;
      if (next === undefined) node.set(part, (next = new Map()));
      node = next;
    });
  }
  return root;
}

/** The rule for `key` below `node`: its own merged with the wildcard's (pino applies both). */
function below(node: RedactNode | undefined, key: string): RedactNode | true | undefined {
  if (node === undefined) return undefined;
  const own = node.get(key);
  const any = node.get('*');
  if (own === true || any === true) return true;
  if (own === undefined || any === undefined) return own ?? any;
  const merged: RedactNode = new Map(own);
  for (const [k, v] of any) if (!merged.has(k)) merged.set(k, v);
  return merged;
}

/**
 * JSON text of one field (undefined when JSON would leave it out: undefined, a function, a
 * symbol). `err` goes through pino's error serializer. Never throws.
 */
export function fieldJSON(key: string, value: unknown, tree: RedactNode): string | undefined {
  const rule = below(tree, key);
  if (rule === true) return CENSORED;
  try {
    return encode(key === 'err' ? serializeError(value) : value, rule, []);
  } catch {
    return UNSERIALIZABLE;
  }
}

/** JSON.stringify's rules, with redaction, "[Circular]" and bigint as its digits (as pino wrote it). */
function encode(value: unknown, rule: RedactNode | undefined, ancestors: object[]): string | undefined {
  if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    value = (value as { toJSON(): unknown }).toJSON();
  }
  if (value instanceof Number || value instanceof String || value instanceof Boolean || value instanceof BigInt) value = value.valueOf();
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
    case 'bigint':
      return String(value);
    case 'object':
      break;
    default:
      return undefined;
  }
  if (value === null) return 'null';
  if (ancestors.includes(value)) return CIRCULAR;
  ancestors.push(value);
  let out: string;
  if (Array.isArray(value)) {
    // Paths name object keys; as with pino, none reaches into an array's items.
    out = `[${value.map((item) => encode(item, undefined, ancestors) ?? 'null').join(',')}]`;
  } else {
    const parts: string[] = [];
    for (const k of Object.keys(value)) {
      const r = below(rule, k);
      const text = r === true ? CENSORED : encode((value as Record<string, unknown>)[k], r, ancestors);
      if (text !== undefined) parts.push(`${JSON.stringify(k)}:${text}`);
    }
    out = `{${parts.join(',')}}`;
  }
  ancestors.pop();
  return out;
}

interface ErrorLike {
  message: string;
  stack?: unknown;
  cause?: unknown;
  errors?: unknown;
  name?: unknown;
}

const isErrorLike = (v: unknown): v is ErrorLike => Boolean(v) && typeof (v as { message?: unknown }).message === 'string';

/** An error's cause when it is error-like (a VError-style cause() is called, as pino did). */
function causeOf(err: ErrorLike): ErrorLike | undefined {
  const c = typeof err.cause === 'function' ? (err.cause as () => unknown)() : err.cause;
  return isErrorLike(c) ? c : undefined;
}

/** "message: cause's message: ...", each error once. */
function messageWithCauses(err: ErrorLike, seen = new Set<ErrorLike>(), skip = false): string {
  const message = skip ? '' : err.message || '';
  if (seen.has(err)) return `${message}: ...`;
  const c = causeOf(err);
  if (!c) return message;
  seen.add(err);
  const vErrorStyle = typeof err.cause === 'function';
  return message + (vErrorStyle ? '' : ': ') + messageWithCauses(c, seen, vErrorStyle);
}

function stackWithCauses(err: ErrorLike, seen = new Set<ErrorLike>()): string {
  const stack = typeof err.stack === 'string' ? err.stack : '';
  if (seen.has(err)) return `${stack}\ncauses have become circular...`;
  const c = causeOf(err);
  if (!c) return stack;
  seen.add(err);
  return `${stack}\ncaused by: ${stackWithCauses(c, seen)}`;
}

/**
 * pino's err serializer: type, message and stack with their causes', AggregateError's errors, then
 * the error's other enumerable properties (error-like ones serialized the same way, causes not
 * again). Anything else is returned as it is.
 */
export function serializeError(err: unknown, open = new Set<unknown>()): unknown {
  if (!isErrorLike(err)) return err;
  open.add(err);
  const ctor = (err as { constructor?: unknown }).constructor;
  const out: Record<string, unknown> = {
    type: typeof ctor === 'function' ? ctor.name : err.name,
    message: messageWithCauses(err),
    stack: stackWithCauses(err),
  };
  if (Array.isArray(err.errors)) out.aggregateErrors = err.errors.map((e) => serializeError(e, open));
  for (const key in err) {
    if (out[key] !== undefined) continue;
    const v = (err as unknown as Record<string, unknown>)[key];
    if (!isErrorLike(v)) out[key] = v;
    else if (key !== 'cause' && !open.has(v)) out[key] = serializeError(v, open);
  }
  open.delete(err);
  return out;
}
