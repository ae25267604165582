/**
 * The JSON text of a request's input as the body carried it, for the policy. Re-serialising the
 * parsed input (JSON.stringify) was the largest JavaScript cost of a static decision after the
 * evaluation itself (issue 14); when the body's `input` could be cut out of the text and means
 * exactly what the parsed value means (server/http/input.ts decides), that text is handed over.
 *
 * Kept on the input object itself, under a symbol no JSON can spell, not enumerable: JSON.stringify,
 * Object.keys and spreads never see it, so a copy (dynamic mode's verified identity, forward-auth)
 * has no text and is serialised as before. A WeakMap keyed by the input did the same, but each entry
 * is an ephemeron the collector must trace at every collection: it cost more than it saved. Only an
 * input about to be frozen whole may carry its text (the caller freezes it right after), so nothing
 * can change the value after its text was taken: the text the policy reads is always the value's.
 */
const INPUT_JSON = Symbol('input JSON text');

/** Keeps `json` on `input`, which the caller then freezes whole; a frozen input keeps no text. */
export function rememberInputJson(input: object, json: string): void {
  if (Object.isFrozen(input)) return;
  Object.defineProperty(input, INPUT_JSON, { value: json, enumerable: false, writable: false, configurable: false });
}

export function rememberedInputJson(input: unknown): string | undefined {
  if (input === null || typeof input !== 'object' || !Object.isFrozen(input)) return undefined;
  // The symbol is this module's own: no prototype carries it, and an own property is the one set here.
  const json = Object.hasOwn(input, INPUT_JSON) ? (input as Record<symbol, unknown>)[INPUT_JSON] : undefined;
  return typeof json === 'string' ? json : undefined;
}
