import { invalidParameter } from '../errors.js';

/**
 * Bounds on a decoded input, checked before anything evaluates it: what one request may make the
 * policy, the authorizers and the decision log walk. Defaults (server/config) admit the gateway's
 * largest real inputs, e.g. 10,000 groups of 256 bytes plus 1000 namespaces.
 */
export interface InputLimits {
  /** Deepest nesting of arrays and objects. */
  maxDepth: number;
  /** Values (objects, arrays, scalars), shared ones (YAML aliases) counted each time they appear. */
  maxNodes: number;
  maxArrayLength: number;
  /** Longest string or object key, in UTF-8 bytes. */
  maxStringBytes: number;
  /** UTF-8 bytes of all strings and keys, plus one per value. */
  maxDecodedBytes: number;
}

/** The flags' defaults (server/config), for callers that build the Data API without a Config. */
export const DEFAULT_INPUT_LIMITS = Object.freeze({
  maxNodes: 200_000,
  maxArrayLength: 100_000,
  maxStringBytes: 65_536,
  maxDecodedBytes: 4 << 20,
  maxYamlNodes: 20_000,
});

export type InputSource = 'body' | 'parameter';

/** The 400 for an input over one of the bounds; it names the flag that sets it. */
export function overLimit(where: InputSource, what: string, flag: string): Error {
  return invalidParameter(`${where} contains malformed input document: ${what} (--${flag})`);
}

/**
 * What a decoded value costs the heap beyond its strings' bytes, roughly, in V8 (a pointer slot,
 * a header, a property or element entry): used to charge decoded inputs to the request byte budget.
 */
export const VALUE_OVERHEAD_BYTES = 32;

/**
 * Refuses `value` when it is over any bound, without recursing (no input can exhaust the stack).
 * Returns its estimated heap footprint: the strings' UTF-8 bytes plus VALUE_OVERHEAD_BYTES per value.
 */
export function checkInput(value: unknown, limits: InputLimits, where: InputSource): number {
  let nodes = 0;
  let bytes = 0;
  const stack: Array<[unknown, number]> = [[value, 1]];
  const countString = (s: string) => {
    // UTF-8 needs at most 3 bytes per UTF-16 unit: measure only strings that could be over.
    const n = s.length * 3 <= limits.maxStringBytes ? s.length : Buffer.byteLength(s);
    if (n > limits.maxStringBytes) throw overLimit(where, `a string longer than ${limits.maxStringBytes} bytes`, 'web.max-input-string-bytes');
    bytes += n;
  };
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (++nodes > limits.maxNodes) throw overLimit(where, `more than ${limits.maxNodes} values`, 'web.max-input-nodes');
    bytes += 1;
    if (typeof v === 'string') countString(v);
    else if (v !== null && typeof v === 'object') {
      if (depth > limits.maxDepth) throw invalidParameter(`${where} contains malformed input document: nested deeper than ${limits.maxDepth} levels`);
      if (Array.isArray(v)) {
        if (v.length > limits.maxArrayLength) throw overLimit(where, `an array longer than ${limits.maxArrayLength} elements`, 'web.max-input-array-length');
        for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], depth + 1]);
      } else {
        const keys = Object.keys(v);
        for (let i = keys.length - 1; i >= 0; i--) {
          countString(keys[i]!);
          stack.push([(v as Record<string, unknown>)[keys[i]!], depth + 1]);
        }
      }
    }
    if (bytes > limits.maxDecodedBytes) throw overLimit(where, `larger than ${limits.maxDecodedBytes} bytes decoded`, 'web.max-input-bytes');
  }
  return bytes + nodes * VALUE_OVERHEAD_BYTES;
}
