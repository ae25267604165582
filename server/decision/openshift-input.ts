import { DecisionError } from '../errors.js';

/** The gateway's input as opa-openshift reads it (its Go struct); other fields are ignored. */
export interface GatewayInput {
  groups: string[];
  permission: string;
  resource: string;
  subject: string;
  tenant: string;
  extras: {
    /** A Map, so that any label name, "__proto__" included, is a label like the others. */
    selectors: Map<string, string[]>;
    wildcardSelectors: boolean;
    metadataOnly: boolean;
  };
}

/**
 * The request decoder's record of an object's members when it had duplicate keys: every key/value
 * pair in document order (server/http's contract). Without it, Object.keys order is document order
 * for the non-integer keys a struct field can have.
 */
export const ENTRIES = Symbol.for('lokistack-authz.entries');

/**
 * Reads the input as Go's encoding/json decodes it into opa-openshift's struct, member by member in
 * document order, so a duplicated or case-folded key decides what it decides in opa-openshift:
 * - a struct field takes every key equal to its name under Go's folding (ASCII case, and ſ for s,
 *   K (Kelvin) for k); the last one wins, but `null` leaves a string, bool or the extras struct as it
 *   was, while it empties a list or the selectors map;
 * - repeated `extras` objects decode into the same struct (fields merge), repeated `selectors` maps
 *   into the same map (labels merge; a repeated label's last list wins);
 * - a value of the wrong type anywhere, even one a later key would replace, fails the whole request
 *   with opa-openshift's 500 `failed to unmarshal JSON`, so a malformed input never reaches a review.
 * Observed with the real opa-openshift binary; the cases are in test/openshift-mode.test.ts.
 */
export function parseGatewayInput(input: unknown): GatewayInput {
  return parseGatewayInputs([input]);
}

/**
 * The input of a request whose envelope repeats `input` (in any case): Go decodes every occurrence
 * into the same struct, in document order, so their fields merge; a `null` occurrence leaves the
 * struct as it was, and one of another type than an object fails the request like any wrong type.
 */
export function parseGatewayInputs(occurrences: readonly unknown[]): GatewayInput {
  const out: GatewayInput = {
    groups: [],
    permission: '',
    resource: '',
    subject: '',
    tenant: '',
    extras: { selectors: new Map(), wildcardSelectors: false, metadataOnly: false },
  };
  for (const [key, value] of occurrences.filter((o) => o !== undefined && o !== null).flatMap(members)) {
    switch (goFold(key)) {
      case 'groups':
        out.groups = stringList(value);
        break;
      case 'permission':
        out.permission = str(value, out.permission);
        break;
      case 'resource':
        out.resource = str(value, out.resource);
        break;
      case 'subject':
        out.subject = str(value, out.subject);
        break;
      case 'tenant':
        out.tenant = str(value, out.tenant);
        break;
      case 'extras':
        if (value !== null) decodeExtras(value, out.extras);
        break;
    }
  }
  return out;
}

function decodeExtras(value: unknown, extras: GatewayInput['extras']): void {
  for (const [key, v] of members(value)) {
    switch (goFold(key)) {
      case 'selectors':
        if (v === null) {
          extras.selectors = new Map();
          break;
        }
        // A map's keys match exactly; a repeated label's last list replaces the earlier one.
        for (const [label, values] of members(v)) extras.selectors.set(label, stringList(values));
        break;
      case 'wildcardselectors':
        extras.wildcardSelectors = bool(v, extras.wildcardSelectors);
        break;
      case 'metadataonly':
        extras.metadataOnly = bool(v, extras.metadataOnly);
        break;
    }
  }
}

/**
 * The input with its subject and groups replaced (every key Go would read as either), for the
 * decision log: what was evaluated once a token review replaced the asserted identity.
 */
export function withIdentity(input: unknown, subject: string, groups: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (typeof input === 'object' && input !== null && !Array.isArray(input)) {
    for (const [key, value] of Object.entries(input)) {
      const f = goFold(key);
      // defineProperty: a key such as "__proto__" stays a key, not the object's prototype.
      if (f !== 'subject' && f !== 'groups') Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
    }
  }
  out.subject = subject;
  out.groups = [...groups];
  return out;
}

const fail = (): never => {
  throw new DecisionError('internal_error', 500, 'failed to unmarshal JSON');
};

/** An object's members in document order, duplicates included; anything but an object fails. */
function members(v: unknown): ReadonlyArray<readonly [string, unknown]> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail();
  const recorded = (v as { [ENTRIES]?: unknown })[ENTRIES];
  if (Array.isArray(recorded)) return recorded as Array<[string, unknown]>;
  return Object.entries(v);
}

/**
 * A key as Go's encoding/json compares it with a field name (foldName: upper of lower, rune by
 * rune). The field names are ASCII, and only two other runes fold onto ASCII letters: ſ (U+017F)
 * onto s and the Kelvin sign (U+212A) onto k. Lower case here, to compare with lower-case names.
 */
function goFold(key: string): string {
  // Fast path: the gateway's keys are plain ASCII.
  if (/^[\x00-\x7f]*$/.test(key)) return key.toLowerCase();
  let folded = '';
  for (const c of key) {
    if (c === '\u017f') folded += 's';
    else if (c === '\u212a') folded += 'k';
    else folded += c.length === 1 && c.charCodeAt(0) < 0x80 ? c.toLowerCase() : c;
  }
  return folded;
}

/** []string: null empties it, each null element is "", a new array replaces the old one. */
function stringList(v: unknown): string[] {
  if (v === null) return [];
  if (!Array.isArray(v)) return fail();
  return (v as unknown[]).map((s) => (s === null ? '' : typeof s === 'string' ? s : fail()));
}

/** string: null keeps the value decoded so far, as Go's decoder leaves the field untouched. */
function str(v: unknown, current: string): string {
  if (v === null) return current;
  return typeof v === 'string' ? v : fail();
}

function bool(v: unknown, current: boolean): boolean {
  if (v === null) return current;
  return typeof v === 'boolean' ? v : fail();
}
