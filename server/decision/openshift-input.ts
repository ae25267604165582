import { internalError } from '../errors.js';
import { entriesOf, fieldOf } from '../go-keys.js';

const FIELDS = ['groups', 'permission', 'resource', 'subject', 'tenant', 'extras'] as const;
const EXTRAS_FIELDS = ['selectors', 'wildcardselectors', 'metadataonly'] as const;

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
  // Every occurrence is checked to be an object before any field is read, as Go's decoder fails a
  // request whose input has a wrong type anywhere.
  const objects: Array<ReadonlyArray<readonly [string, unknown]>> = [];
  for (const o of occurrences) if (o !== undefined && o !== null) objects.push(members(o));
  for (const entries of objects)
    for (const [key, value] of entries) {
      switch (field(key, FIELDS)) {
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
    switch (field(key, EXTRAS_FIELDS)) {
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
      const f = fieldOf(key, FIELDS);
      // defineProperty: a key such as "__proto__" stays a key, not the object's prototype.
      if (f !== 'subject' && f !== 'groups') Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
    }
  }
  out.subject = subject;
  out.groups = [...groups];
  return out;
}

// The gateway sends its fields in lower case: those are found at once, other spellings by Go's folding.
const EXACT: ReadonlyMap<string, string> = new Map([...FIELDS, ...EXTRAS_FIELDS].map((f) => [f, f]));

function field<N extends string>(key: string, names: readonly N[]): N | undefined {
  const exact = EXACT.get(key) as N | undefined;
  return exact !== undefined && names.includes(exact) ? exact : fieldOf(key, names);
}

const fail = (): never => {
  throw internalError('failed to unmarshal JSON');
};

/** An object's members in document order, duplicates included; anything but an object fails. */
function members(v: unknown): ReadonlyArray<readonly [string, unknown]> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail();
  return entriesOf(v);
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
