import type { SyntaxNode } from '@lezer/common';
import type { Decision } from '../document.js';
import { CodedError, reasonOf } from '../errors.js';
import { lazyPackage } from '../lazy-package.js';

/**
 * A user's label policy on one tenant, as the Rego rule `lokistack/label_policy` computes it: the
 * whole tenant, or only the streams one of `selectors` matches (LogQL stream selectors, ORed; the
 * matchers inside one ANDed). Sorted, unique, never empty when restricted.
 */
export type LabelPolicy = { restricted: false } | { restricted: true; selectors: readonly string[] };

/** A label policy the service refuses to use, or a selector it refuses to parse; `code` is stable. */
export class LabelPolicyError extends CodedError<'malformed_label_policy' | 'invalid_selector' | 'invalid_tenant_id'> {}

/** Bounds on selectors, shared by the rbac loader and every reader of the rule's value. */
export const MAX_SELECTORS_PER_ROLE = 64;
export const MAX_SELECTOR_LENGTH = 1024;
/** A policy is the union over a user's roles: the bound on one role times a generous number of roles. */
export const MAX_POLICY_SELECTORS = 1024;

/**
 * The rule's value, read strictly: a value of any other shape is a policy that does not say what
 * its author meant, so it throws (the caller denies). Undefined stays undefined (not allowed).
 */
export function labelPolicyFrom(decision: Decision): LabelPolicy | undefined {
  if (!decision.defined) return undefined;
  const v = decision.value;
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw malformed(`not an object: ${kindOf(v)}`);
  const o = v as Record<string, unknown>;
  if (o.restricted === false) {
    if (Object.keys(o).length !== 1) throw malformed('an unrestricted policy has only "restricted"');
    return { restricted: false };
  }
  if (o.restricted !== true) throw malformed(`"restricted" must be true or false, got ${kindOf(o.restricted)}`);
  if (Object.keys(o).length !== 2) throw malformed('a restricted policy has only "restricted" and "selectors"');
  const selectors = o.selectors;
  if (!Array.isArray(selectors) || selectors.length === 0) throw malformed('a restricted policy needs a non-empty list of selectors');
  if (selectors.length > MAX_POLICY_SELECTORS) throw malformed(`more than ${MAX_POLICY_SELECTORS} selectors`);
  for (const s of selectors) {
    if (typeof s !== 'string' || s.length === 0 || s.length > MAX_SELECTOR_LENGTH)
      throw malformed(`a selector must be a string of 1 to ${MAX_SELECTOR_LENGTH} characters`);
  }
  return { restricted: true, selectors: Object.freeze([...(selectors as string[])]) };
}

function malformed(fault: string): LabelPolicyError {
  return new LabelPolicyError('malformed_label_policy', `lokistack/label_policy: ${fault}`);
}

/**
 * Tenant IDs a label-policy entry may name: Loki's own tenant ID alphabet (letters, digits and
 * `!-_.*'()`, at most 150 characters, not "." or ".."). Everything a reader splits on (`:` before
 * the selector, `,` between entries, `|` in X-Scope-OrgID) is outside it, so an entry can never be
 * read as another tenant's.
 */
const TENANT_ID = /^[A-Za-z0-9!\-_.*'()]{1,150}$/;

export function assertTenantId(tenantId: string): void {
  if (!TENANT_ID.test(tenantId) || tenantId === '.' || tenantId === '..') {
    throw new LabelPolicyError(
      'invalid_tenant_id',
      `tenant ID ${JSON.stringify(tenantId.slice(0, 160))} is not a Loki tenant ID (letters, digits and !-_.*'(), at most 150)`,
    );
  }
}

/**
 * The X-Prom-Label-Policy entries for one tenant, comma-separated (one header: nginx 1.22 keeps only
 * the first of repeated answer headers): `<tenantID>:<selector>` with the selector percent-encoded
 * per RFC 3986 (everything but the unreserved characters, so `,` and `:` inside it are encoded).
 */
export function policyHeaderEntries(tenantId: string, selectors: readonly string[]): string {
  assertTenantId(tenantId);
  if (selectors.length === 0)
    throw new LabelPolicyError('malformed_label_policy', 'a restricted policy needs at least one selector: an empty list would read as no restriction');
  return selectors.map((s) => `${tenantId}:${percentEncode(s)}`).join(',');
}

/** RFC 3986 percent-encoding of UTF-8: only ALPHA / DIGIT / "-" / "." / "_" / "~" stay as they are. */
export function percentEncode(s: string): string {
  if (!s.isWellFormed()) throw new LabelPolicyError('invalid_selector', 'a selector holds an unpaired surrogate: it has no UTF-8 encoding');
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export type MatchOp = '=' | '!=' | '=~' | '!~';

/** One label matcher of a stream selector, its value unquoted. */
export interface LabelMatcher {
  name: string;
  op: MatchOp;
  value: string;
}

const OPS: Record<string, MatchOp> = { Eq: '=', Neq: '!=', Re: '=~', Nre: '!~' };

// The LogQL grammar is loaded by the first selector read (a role that carries one), not at startup:
// most deployments have none, and every idle sidecar would pay for its parse tables (issue 14).
const logql = lazyPackage<typeof import('@grafana/lezer-logql')>('@grafana/lezer-logql');

/**
 * Parses a LogQL stream selector (`{env="prod", secret!="true"}`) into its matchers, with the
 * LogQL grammar Grafana maintains. Anything else is refused: a pipeline, a metric query, comments,
 * an empty selector, a string LogQL (Go's strconv.Unquote) would not read, a regex RE2 would not
 * compile. Throws LabelPolicyError('invalid_selector') with the fault.
 */
export function parseSelector(text: string): LabelMatcher[] {
  if (text.length > MAX_SELECTOR_LENGTH) throw invalid(`longer than ${MAX_SELECTOR_LENGTH} characters`);
  if (!text.isWellFormed()) throw invalid('holds an unpaired surrogate');
  const tree = logql().parser.parse(text);
  let fault: string | undefined;
  tree.iterate({
    enter(n) {
      if (fault) return false;
      if (n.type.isError) fault = `not a LogQL stream selector (syntax error at offset ${n.from})`;
      else if (n.name === 'LineComment') fault = 'comments are not allowed';
      return undefined;
    },
  });
  if (fault) throw invalid(fault);
  const top = tree.topNode.firstChild; // Expr
  const expr = top?.firstChild;
  if (!top || top.nextSibling || expr?.name !== 'LogExpr' || expr.firstChild?.name !== 'Selector' || expr.firstChild.nextSibling) {
    throw invalid('must be a stream selector only ({label="value", ...}), without a pipeline or a metric query');
  }
  const matchers: LabelMatcher[] = [];
  collectMatchers(expr.firstChild, text, matchers);
  if (matchers.length === 0) throw invalid('has no matchers');
  return matchers;
}

function collectMatchers(node: SyntaxNode, text: string, out: LabelMatcher[]): void {
  for (let c = node.firstChild; c; c = c.nextSibling) {
    if (c.name === 'Matchers') collectMatchers(c, text, out);
    else if (c.name === 'Matcher') out.push(matcherOf(c, text));
  }
}

function matcherOf(node: SyntaxNode, text: string): LabelMatcher {
  const name = node.getChild('Identifier');
  const opNode = name?.nextSibling;
  const str = node.getChild('String');
  const op = opNode ? OPS[opNode.name] : undefined;
  if (!name || !op || !str) throw invalid(`unreadable matcher ${JSON.stringify(text.slice(node.from, node.to))}`);
  const label = text.slice(name.from, name.to);
  const value = unquote(text.slice(str.from, str.to));
  if (op === '=~' || op === '!~') {
    const fault = re2Fault(value);
    if (fault) throw invalid(`matcher ${label}${op}: the regex ${fault}`);
  }
  return { name: label, op, value };
}

function invalid(fault: string): LabelPolicyError {
  return new LabelPolicyError('invalid_selector', fault);
}

/**
 * A LogQL string literal's value, as Go's strconv.Unquote reads it (what Loki's parser calls):
 * a backtick string verbatim, a double-quoted one with Go's escapes. What Go would read into bytes
 * that are not UTF-8 (\x80-\xff, octal above \177) and carriage returns in raw strings (which Go
 * drops) are refused rather than guessed.
 */
export function unquote(literal: string): string {
  if (literal.length >= 2 && literal.startsWith('`') && literal.endsWith('`')) {
    const body = literal.slice(1, -1);
    if (body.includes('`')) throw invalid('a backtick string cannot hold a backtick');
    if (body.includes('\r')) throw invalid('a carriage return in a backtick string (Go drops it): write "\\r" in a double-quoted string');
    return body;
  }
  if (literal.length < 2 || !literal.startsWith('"') || !literal.endsWith('"')) throw invalid(`not a LogQL string: ${literal.slice(0, 40)}`);
  const body = literal.slice(1, -1);
  let out = '';
  for (let i = 0; i < body.length; ) {
    const c = body[i]!;
    if (c === '"') throw invalid('an unescaped double quote inside a string');
    if (c === '\n') throw invalid('a newline inside a double-quoted string');
    if (c !== '\\') {
      out += c;
      i++;
      continue;
    }
    const e = body[i + 1];
    const simple: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', '"': '"' };
    if (e !== undefined && e in simple) {
      out += simple[e];
      i += 2;
    } else if (e === 'x' || e === 'u' || e === 'U') {
      const len = e === 'x' ? 2 : e === 'u' ? 4 : 8;
      const hex = body.slice(i + 2, i + 2 + len);
      if (!new RegExp(`^[0-9a-fA-F]{${len}}$`).test(hex)) throw invalid(`a malformed \\${e} escape`);
      const cp = parseInt(hex, 16);
      if (e === 'x' && cp > 0x7f) throw invalid('a \\x escape above \\x7f writes a byte that is not UTF-8 on its own');
      if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) throw invalid(`\\${e}${hex} is not a Unicode code point`);
      out += String.fromCodePoint(cp);
      i += 2 + len;
    } else if (e !== undefined && e >= '0' && e <= '7') {
      const oct = body.slice(i + 1, i + 4);
      if (!/^[0-7]{3}$/.test(oct)) throw invalid('an octal escape needs three digits');
      const cp = parseInt(oct, 8);
      if (cp > 0x7f) throw invalid('an octal escape above \\177 writes a byte that is not UTF-8 on its own');
      out += String.fromCharCode(cp);
      i += 4;
    } else {
      throw invalid(`an unknown escape \\${e ?? ''} in a string`);
    }
  }
  return out;
}

const POSIX_CLASSES = new Set(['alnum', 'alpha', 'ascii', 'blank', 'cntrl', 'digit', 'graph', 'lower', 'print', 'punct', 'space', 'upper', 'word', 'xdigit']);

/** Go's \p classes: Unicode general categories and scripts (JavaScript knows the same names), and Any. */
function unicodeClass(name: string): boolean {
  if (name === 'Any') return true;
  for (const form of [`\\p{gc=${name}}`, `\\p{sc=${name}}`]) {
    try {
      new RegExp(form, 'u');
      return true;
    } catch {
      // not this kind of name
    }
  }
  return false;
}

/** RE2's letter escapes (Go regexp/syntax); any other escaped letter is an error there. */
const RE2_LETTER_ESCAPES = new Set(['a', 'f', 't', 'n', 'r', 'v', 'd', 'D', 's', 'S', 'w', 'W', 'b', 'B', 'A', 'z', 'p', 'P', 'x', 'Q']);

/**
 * Why Go's regexp (RE2 syntax, which Loki compiles matchers with) would refuse `pattern`, or
 * undefined. Conservative: what RE2 lacks (backreferences, lookaround, \k, unknown letter escapes,
 * repeat counts above 1000) is refused, and so is anything JavaScript's parser refuses after RE2's
 * own spellings (leading flags, (?P<name>) are mapped to JavaScript's. Unbalanced parentheses are
 * refused although Loki's `^(?:` + pattern + `)$` would balance `a)|(.*`: that escapes the anchors.
 */
export function re2Fault(pattern: string): string | undefined {
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\') {
      const e = pattern[i + 1];
      if (e === undefined) return 'ends with a lone backslash';
      if (e === 'Q') {
        // \Q...\E quotes literally: skip to its end.
        // Unterminated, it would also quote the `)$` Loki closes its anchoring group with.
        const end = pattern.indexOf('\\E', i + 2);
        if (end < 0) return 'has \\Q without \\E';
        i = end + 1;
        continue;
      }
      if (e >= '1' && e <= '9') return `has a backreference \\${e} (RE2 has none)`;
      if (/[A-Za-z]/.test(e) && !RE2_LETTER_ESCAPES.has(e)) return `has \\${e}, an escape RE2 does not know`;
      i++;
      continue;
    }
    if (c === '(' && pattern[i + 1] === '?') {
      const rest = pattern.slice(i + 2);
      if (/^(=|!|<=|<!)/.test(rest)) return 'has a lookaround, which RE2 lacks';
    }
  }
  for (const m of pattern.matchAll(/\\[pP](?:\{\^?([A-Za-z_]+)\}|([A-Za-z]))/g)) {
    const name = m[1] ?? m[2]!;
    if (!unicodeClass(name)) return `names \\p{${name}}, a Unicode class RE2 does not know`;
  }
  for (const m of pattern.matchAll(/\[:\^?([a-z]+):\]/g)) {
    if (!POSIX_CLASSES.has(m[1]!)) return `names [:${m[1]}:], a class RE2 does not know`;
  }
  for (const m of pattern.matchAll(/\{(\d+)(?:,(\d*))?\}/g)) {
    if (Number(m[1]) > 1000 || (m[2] !== undefined && m[2] !== '' && Number(m[2]) > 1000)) return "repeats more than 1000 times, above RE2's limit";
  }
  // JavaScript checks the structure (groups, classes, quantifiers) once RE2's spellings are mapped:
  // leading flags become JavaScript flags, (?P<name> becomes (?<name>, \Q..\E, \A, \z, \pX are made literal.
  let flags = '';
  let body = pattern;
  const lead = /^\(\?([imsU]+)\)/.exec(body);
  if (lead) {
    flags = [...new Set(lead[1]!.replace('U', ''))].join('');
    body = body.slice(lead[0].length);
  }
  body = body
    .replace(/\\Q[\s\S]*?\\E/g, 'q')
    // RE2 reads a `]` first in a class as a literal; JavaScript as the end of an empty class.
    .replace(/(^|[^\\])\[(\^?)\]/g, '$1[$2\\]')
    .replace(/\\x\{[0-9A-Fa-f]{1,6}\}/g, 'x')
    .replace(/\(\?P</g, '(?<')
    .replace(/\\[Az]/g, '')
    .replace(/\\[pP](\{[A-Za-z_]+\}|[A-Za-z])/g, 'p')
    .replace(/\[:\^?[a-z]+:\]/g, 'a')
    .replace(/\(\?[imsU]*-?[imsU]*\)/g, '')
    .replace(/\(\?[imsU]*-?[imsU]*:/g, '(?:');
  try {
    new RegExp(body, flags);
  } catch (err) {
    return `does not compile: ${reasonOf(err).replace(/^Invalid regular expression: /, '')}`;
  }
  return undefined;
}

function kindOf(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'a list';
  return typeof x === 'object' ? 'an object' : `${typeof x} ${JSON.stringify(x)}`;
}
