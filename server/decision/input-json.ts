/**
 * The JSON text of a request's input as the body carried it, for the policy. Re-serialising the
 * parsed input (JSON.stringify) was the largest JavaScript cost of a static decision after the
 * evaluation itself (issue 14); when the body's `input` could be cut out of the text and means
 * exactly what the parsed value means (server/http/input.ts decides), that text is handed over.
 *
 * Kept by the input object's identity, and only for inputs frozen whole: nothing can change the
 * value after its text was taken, so the text the policy reads is always the value's. An input
 * built or copied later (dynamic mode's verified identity, forward-auth) has no text here and is
 * serialised as before.
 */
const texts = new WeakMap<object, string>();

export function rememberInputJson(input: object, json: string): void {
  texts.set(input, json);
}

export function rememberedInputJson(input: unknown): string | undefined {
  return input !== null && typeof input === 'object' ? texts.get(input) : undefined;
}
