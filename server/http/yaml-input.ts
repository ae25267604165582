import type { Document, Node, Tags } from 'yaml';
import { invalidParameter, reasonOf } from '../errors.js';
import { lazyPackage } from '../lazy-package.js';
import { overLimit, type InputLimits } from './input-limits.js';

// The yaml package is loaded by the first YAML body: some 1.2 MiB of idle memory, for a content
// type few callers send.
const yaml = lazyPackage<typeof import('yaml')>('yaml');

/**
 * YAML bodies, bounded before anything is materialized. The yaml package costs ~20µs of CPU a node
 * on the event loop and aliases multiply what it builds (one anchored 500k-element list aliased 99
 * times is 1 MB of text and 50M values), so three gates come first: a count of YAML's structure
 * characters before parsing (`maxYamlNodes`), then the expanded size of the parsed document,
 * counted once per anchored node, against the input limits; only then toJS.
 *
 * The value is what OPA decodes: sigs.k8s.io/yaml reads YAML 1.1 with go-yaml v2 (duplicate keys: the
 * last wins; timestamps stay strings), converts it to JSON with keys sorted, and decodes that. Objects
 * are rebuilt with their keys in that sorted order, so that a struct decoded from them (the last of
 * the case-insensitively equal keys wins) sees the order Go sees.
 */
export function parseYamlBounded(text: string, limits: InputLimits & { maxYamlNodes: number }): unknown {
  if (structureCount(text) > limits.maxYamlNodes) {
    throw overLimit('body', `YAML with more than ${limits.maxYamlNodes} nodes`, 'web.max-yaml-nodes');
  }
  let doc: Document.Parsed;
  try {
    doc = yaml().parseDocument(text, { version: '1.1', uniqueKeys: false, logLevel: 'silent', customTags: goYamlV2Tags, prettyErrors: false });
  } catch (err) {
    throw malformed(err);
  }
  if (doc.errors.length > 0) throw malformed(doc.errors[0]);
  if (doc.contents) expandedSize(doc, doc.contents as Node, limits);
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: -1 });
  } catch (err) {
    throw malformed(err);
  }
  return sortKeys(value, 0, limits.maxDepth);
}

/** go-yaml v2 resolves no timestamps and no sexagesimal numbers: YAML 1.1's yaml package does. */
function goYamlV2Tags(tags: Tags): Tags {
  return tags.filter((t) =>
    typeof t === 'string' ? t !== 'timestamp' && t !== 'intTime' && t !== 'floatTime' : t.tag !== 'tag:yaml.org,2002:timestamp' && t.format !== 'TIME',
  );
}

function malformed(err: unknown): Error {
  const msg = reasonOf(err);
  const line = /line (\d+)/.exec(msg);
  return invalidParameter(`body contains malformed input document: ${line ? `invalid YAML at line ${line[1]}` : 'invalid YAML'}`, { cause: err });
}

/**
 * An upper bound, within a factor of two, of the nodes the YAML parser will build: every node but
 * the root is introduced by one of `- ? : , [ {` or a line break (an implicit null value adds one
 * more). Counted on the text, so no parse cost comes before it.
 */
function structureCount(text: string): number {
  let n = 1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // - ? : , [ { \n
    if (c === 0x2d || c === 0x3f || c === 0x3a || c === 0x2c || c === 0x5b || c === 0x7b || c === 0x0a) n++;
  }
  return n;
}

interface Size {
  nodes: number;
  bytes: number;
}

/**
 * The size the document will have once aliases are expanded, refusing it past the limits. An
 * anchored node is measured once and each alias adds its measure, so the count costs one pass
 * over the parsed nodes however many times they are aliased.
 */
function expandedSize(doc: Document.Parsed, root: Node, limits: InputLimits): Size {
  const { isAlias, isMap, isPair, isScalar, isSeq } = yaml();
  const memo = new Map<Node, Size | 'open'>();
  const total: Size = { nodes: 0, bytes: 0 };
  const add = (s: Size) => {
    total.nodes += s.nodes;
    total.bytes += s.bytes;
  };
  const check = (s: Size) => {
    if (s.nodes > limits.maxNodes) throw overLimit('body', `more than ${limits.maxNodes} values`, 'web.max-input-nodes');
    if (s.bytes > limits.maxDecodedBytes) throw overLimit('body', `larger than ${limits.maxDecodedBytes} bytes decoded`, 'web.max-input-bytes');
  };
  const strBytes = (s: string) => {
    const n = Buffer.byteLength(s);
    if (n > limits.maxStringBytes) throw overLimit('body', `a string longer than ${limits.maxStringBytes} bytes`, 'web.max-input-string-bytes');
    return n;
  };
  const measure = (node: unknown, depth: number): Size => {
    if (isAlias(node)) {
      const source = node.resolve(doc);
      if (!source) throw invalidParameter('body contains malformed input document: unresolved YAML alias');
      return measure(source, depth);
    }
    const known = memo.get(node as Node);
    if (known === 'open') throw invalidParameter('body contains malformed input document: recursive YAML alias');
    if (known) return known;
    if ((isSeq(node) || isMap(node)) && depth > limits.maxDepth) {
      throw invalidParameter(`body contains malformed input document: nested deeper than ${limits.maxDepth} levels`);
    }
    const size: Size = { nodes: 1, bytes: 1 };
    const into = (s: Size) => {
      size.nodes += s.nodes;
      size.bytes += s.bytes;
      check(size);
    };
    memo.set(node as Node, 'open');
    if (isScalar(node)) {
      size.bytes += typeof node.value === 'string' ? strBytes(node.value) : 8;
    } else if (isSeq(node)) {
      if (node.items.length > limits.maxArrayLength)
        throw overLimit('body', `an array longer than ${limits.maxArrayLength} elements`, 'web.max-input-array-length');
      for (const item of node.items) into(measure(item, depth + 1));
    } else if (isMap(node)) {
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        // A key becomes a string of its expanded text; its measure bounds that text.
        into(pair.key == null ? { nodes: 0, bytes: 4 } : measure(pair.key, depth + 1));
        into(pair.value == null ? { nodes: 1, bytes: 1 } : measure(pair.value, depth + 1));
      }
    }
    memo.set(node as Node, size);
    return size;
  };
  // The document is the request envelope: its `input` is at depth 1, as in checkInput.
  add(measure(root, 0));
  check(total);
  return total;
}

/** Rebuilds objects with keys in Go's order (UTF-8 bytes); depth is already bounded. */
function sortKeys(value: unknown, depth: number, maxDepth: number): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth > maxDepth) throw invalidParameter(`body contains malformed input document: nested deeper than ${maxDepth} levels`);
  if (Array.isArray(value)) return value.map((v) => sortKeys(v, depth + 1, maxDepth));
  if (value instanceof Map || value instanceof Set || value instanceof Date || ArrayBuffer.isView(value)) {
    throw invalidParameter('body contains malformed input document: a YAML value with no JSON form');
  }
  const keys = Object.keys(value).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    const v = sortKeys((value as Record<string, unknown>)[k], depth + 1, maxDepth);
    if (k === '__proto__') Object.defineProperty(out, k, { value: v, writable: true, enumerable: true, configurable: true });
    else out[k] = v;
  }
  return out;
}
