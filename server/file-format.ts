import { parseDocument, type Document } from 'yaml';
import { ConfigError, reasonOf } from './errors.js';

/**
 * The toolkit for reading a file an operator writes (rbac.yaml, tenants.yaml, a fixture's cases):
 * every fault names the file, the field path and what is wrong, and unknown fields are faults,
 * since a misspelt key would otherwise silently grant nothing or drop an expectation.
 */

export function isRecord(x: unknown): x is Record<string, unknown> {
  return x !== null && typeof x === 'object' && !Array.isArray(x);
}

/** A parser's error, first line only: YAML's pretty messages go on to quote the file, which may hold a secret. */
export function firstLine(err: unknown): string {
  return reasonOf(err).split('\n')[0]!;
}

/**
 * Parses an operator's YAML file into a document. Any error or warning (an unknown tag, say) means
 * the file does not say what its author meant: a fault, named by line and column, never quoting it.
 * `uniqueKeys: false` leaves repeated keys to a walk of the caller's that can name the field.
 */
export function parseOperatorYaml(source: string, text: string, options: { uniqueKeys: boolean }): Document {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: options.uniqueKeys, logLevel: 'error' });
  const yamlError = doc.errors[0] ?? doc.warnings[0];
  // The pretty message's first line names the line and column, ending in a colon before the quote.
  if (yamlError) throw new ConfigError(source, '', `invalid YAML: ${firstLine(yamlError).replace(/:\s*$/, '')}`);
  return doc;
}

export interface ValidatorOptions {
  /**
   * Whether a fault quotes the scalar it found (`got string "logs"`) or names only its kind
   * (`got a string`). A file that holds secrets (client secrets, CA material) must not have them
   * copied into an error that is logged.
   */
  quoteValues: boolean;
}

/** Checks the shape of one file's parsed value, throwing a ConfigError that names the field. */
export class Validator {
  constructor(
    private readonly source: string,
    private readonly options: ValidatorOptions,
  ) {}

  fail(field: string, fault: string): never {
    throw new ConfigError(this.source, field, fault);
  }

  /** A mapping with only the `allowed` keys. */
  object(x: unknown, path: string, allowed: readonly string[]): Record<string, unknown> {
    if (!isRecord(x)) this.fail(path || '(top level)', `must be a mapping, got ${this.kindOf(x)}`);
    for (const key of Object.keys(x)) {
      if (!allowed.includes(key)) this.fail(path ? `${path}.${key}` : key, `unknown field (expected one of ${allowed.join(', ')})`);
    }
    return x;
  }

  /** A list (absent or null: empty), each item read by `item`. */
  list<T>(x: unknown, path: string, item: (value: unknown, path: string) => T): T[] {
    if (x === undefined || x === null) return [];
    if (!Array.isArray(x)) this.fail(path, `must be a list, got ${this.kindOf(x)}`);
    return x.map((value, i) => item(value, `${path}[${i}]`));
  }

  /** A non-empty string. */
  name(x: unknown, path: string): string {
    if (typeof x !== 'string') this.fail(path, x === undefined ? 'missing' : `must be a string, got ${this.kindOf(x)}`);
    if (x.length === 0) this.fail(path, 'must not be empty');
    return x;
  }

  /** A list of non-empty strings, required. */
  strings(x: unknown, path: string): string[] {
    if (x === undefined || x === null) this.fail(path, 'missing: must be a list of strings');
    return this.list(x, path, (value, p) => this.name(value, p));
  }

  private kindOf(x: unknown): string {
    if (x === null) return 'null';
    if (Array.isArray(x)) return 'a list';
    if (typeof x === 'object') return 'a mapping';
    return this.options.quoteValues ? `${typeof x} ${JSON.stringify(x)}` : `a ${typeof x}`;
  }
}

/** One entry of a line file: where it stands (`line N`, as faults name it) and its two sides. */
export interface LineEntry {
  at: string;
  key: string;
  value: string;
}

/**
 * The entries of a line file, one `key<separator>value` a line (htpasswd's `user:hash`, a key
 * file's `keyid=secret`): each line trimmed, blank lines and `#` comments skipped, CRLF read as LF.
 * A line with nothing before the separator is a fault naming its line: `not <shape>`. The sides
 * are split at the first separator and not trimmed further: what they may hold is the caller's.
 * A generator, so that the caller's own checks of an early line fault before the shape of a later
 * one: the first fault in the file is the one reported, whichever check finds it.
 */
export function* lineEntries(source: string, text: string, separator: string, shape: string): Generator<LineEntry> {
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const at = `line ${i + 1}`;
    const split = line.indexOf(separator);
    if (split <= 0) throw new ConfigError(source, at, `not ${shape}`);
    yield { at, key: line.slice(0, split), value: line.slice(split + separator.length) };
  }
}
