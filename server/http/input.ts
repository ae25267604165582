import { parse as parseYaml } from 'yaml';
import { invalidParameter } from '../errors.js';

/** The parsed Data API request: the input document, and whether the request left it out. */
export interface ParsedInput {
  input: unknown;
  /** POST only: OPA warns when `input` is missing, empty or null. */
  missing: boolean;
}

/**
 * Parses a POST /v1/data body as OPA does: JSON (YAML when the Content-Type says so), an object
 * whose `input` key holds the input; other keys are ignored. Nesting deeper than `maxDepth` is
 * refused before evaluation, so no input can exhaust a parser's stack.
 */
export function parsePostBody(body: Buffer, contentType: string | undefined, maxDepth: number): ParsedInput {
  if (body.length === 0) return { input: undefined, missing: true };
  let doc: unknown;
  const text = body.toString('utf8');
  try {
    doc = contentType?.includes('yaml') ? parseYaml(text, { maxAliasCount: 100, logLevel: 'error' }) : JSON.parse(text);
  } catch (err) {
    throw invalidParameter(`body contains malformed input document: ${reason(err, text.length)}`, { cause: err });
  }
  if (doc === null || doc === undefined) return { input: undefined, missing: true };
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw invalidParameter(`body contains malformed input document: the request must be a JSON object, got ${Array.isArray(doc) ? 'array' : typeof doc}`);
  }
  const input = inputField(doc as Record<string, unknown>);
  if (input === undefined || input === null) return { input: undefined, missing: true };
  checkDepth(input, maxDepth, 'body');
  return { input, missing: false };
}

/** The request's `input`: Go's decoder, in OPA and opa-openshift alike, also takes "Input", "INPUT", ... */
function inputField(doc: Record<string, unknown>): unknown {
  if (Object.hasOwn(doc, 'input')) return doc.input;
  const key = Object.keys(doc).find((k) => k.toLowerCase() === 'input');
  return key === undefined ? undefined : doc[key];
}

/** Parses GET /v1/data's `?input=` parameter (the last one wins, as in OPA). */
export function parseInputParam(raw: string | undefined, maxDepth: number): ParsedInput {
  if (raw === undefined) return { input: undefined, missing: false };
  let input: unknown;
  try {
    input = JSON.parse(raw);
  } catch (err) {
    throw invalidParameter(`parameter contains malformed input document: ${reason(err, raw.length)}`, { cause: err });
  }
  checkDepth(input, maxDepth, 'parameter');
  return { input: input === null ? undefined : input, missing: false };
}

/** Refuses documents nested deeper than `max` arrays and objects, without recursing. */
export function checkDepth(value: unknown, max: number, where: 'body' | 'parameter'): void {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth > max) {
      throw invalidParameter(`${where} contains malformed input document: nested deeper than ${max} levels`);
    }
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
    }
  }
}

/** Why a document did not parse, without quoting it: the body may carry a credential. */
function reason(err: unknown, length: number): string {
  const msg = err instanceof Error ? err.message : String(err);
  if (/end of (JSON )?input|unexpected end/i.test(msg)) return 'unexpected EOF';
  const position = /position (\d+)/.exec(msg);
  if (position) return Number(position[1]) >= length ? 'unexpected EOF' : `invalid syntax at position ${position[1]}`;
  const line = /line (\d+)/.exec(msg);
  return line ? `invalid syntax at line ${line[1]}` : 'invalid syntax';
}
