import { parse as parseYaml, Schema, type Tags } from 'yaml';
import { assertParseFits } from './parse-heap.js';
import { firstLine } from '../file-format.js';

/**
 * Data files as OPA parses them (JSON with encoding/json, YAML with go-yaml v3 through
 * sigs.k8s.io/yaml): the YAML 1.1 numbers go-yaml still reads (`010` is 8, `1_000` is 1000) but
 * only true/false as booleans (`yes`, `on` stay strings) and dates as strings. A data file must
 * decide the same here as under OPA, so a value OPA reads as a string is never a boolean here.
 */
const coreBool = new Schema({ schema: 'core' }).tags.filter((t) => t.tag === 'tag:yaml.org,2002:bool');
const DROPPED = new Set([
  'tag:yaml.org,2002:bool',
  'tag:yaml.org,2002:binary',
  'tag:yaml.org,2002:omap',
  'tag:yaml.org,2002:pairs',
  'tag:yaml.org,2002:set',
  'tag:yaml.org,2002:timestamp',
]);
const goYamlTags = (tags: Tags): Tags => [...tags.filter((t) => typeof t !== 'string' && !DROPPED.has(t.tag) && t.format !== 'TIME'), ...coreBool];

/** Aliases a YAML data file may use at most: a few anchors are fine, a billion laughs is not. */
const MAX_ALIASES = 100;

export function isYamlPath(path: string): boolean {
  return /\.ya?ml$/i.test(path);
}

/** The value a data file holds; throws with the parser's reason (first line) when it is not one. */
export function parseDataText(path: string, text: string): unknown {
  // Before the parser builds anything: a parse that would outgrow the loading thread's heap can
  // abort the process instead of ending the thread (parse-heap.ts).
  assertParseFits(path, text, isYamlPath(path));
  let value: unknown;
  if (isYamlPath(path)) {
    try {
      value = parseYaml(text, { schema: 'yaml-1.1', customTags: goYamlTags, merge: true, maxAliasCount: MAX_ALIASES, logLevel: 'error', uniqueKeys: true });
    } catch (err) {
      throw new Error(`not valid YAML: ${firstLine(err)}`);
    }
    // OPA converts YAML to JSON: an empty document is null, and .inf/.nan cannot be encoded.
    assertJsonNumbers(value);
    return value ?? null;
  }
  if (text.trim() === '') throw new Error('not valid JSON: EOF');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`not valid JSON: ${firstLine(err)}`);
  }
}

function assertJsonNumbers(value: unknown): void {
  const stack = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'number' && !Number.isFinite(v)) throw new Error(`json: unsupported value: ${v}`);
    if (v !== null && typeof v === 'object') stack.push(...Object.values(v));
  }
}
