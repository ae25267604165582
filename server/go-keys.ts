/**
 * How Go's encoding/json matches object keys, shared by the request decoder (server/http) and the
 * modes that read an input as a Go struct (server/decision).
 */

/**
 * Non-enumerable property of a decoded object that had exact duplicate keys: `Array<[key, value]>`,
 * every pair in document order, duplicates included. Absent on objects without duplicates, whose
 * Object.keys order already is the document order of their (distinct) keys.
 */
export const ENTRIES: unique symbol = Symbol.for('lokistack-authz.entries') as never;

export type Entries = Array<[string, unknown]>;

/** An object's members in document order, duplicates included. */
export function entriesOf(obj: object): Entries {
  return (obj as { [ENTRIES]?: Entries })[ENTRIES] ?? Object.entries(obj);
}

/**
 * Whether Go's encoding/json folds `key` onto the lower-case ASCII `name`. Go folds each rune to the
 * smallest of its simple case-fold orbit; the only non-ASCII runes whose orbit reaches ASCII letters
 * are U+017F (ſ, with s) and U+212A (Kelvin sign, with k).
 */
export function foldsTo(key: string, name: string): boolean {
  if (key.length !== name.length) return false;
  for (let i = 0; i < key.length; i++) {
    let c = key.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    else if (c === 0x17f) c = 0x73;
    else if (c === 0x212a) c = 0x6b;
    if (c !== name.charCodeAt(i)) return false;
  }
  return true;
}

/** The struct field (lower-case ASCII name) that Go decodes `key` into, if any. */
export function fieldOf<N extends string>(key: string, names: readonly N[]): N | undefined {
  return names.find((n) => foldsTo(key, n));
}
