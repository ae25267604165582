/**
 * The namespace matchers the gateway rewrites queries with, in opa-openshift's exact shape:
 * `{"allowed":"true"|"false","data":"<JSON string>"}`, data holding Prometheus label matchers
 * (`Type` 2 is `=~`) with Go's field names and order, `matcherOp` left out when empty.
 */
export interface MatcherConfig {
  keys: readonly string[];
  op: '' | 'and' | 'or';
}

export interface MatcherResult {
  allowed: 'true' | 'false';
  data: string;
}

const MATCH_REGEXP = 2;

export function matcherResult(namespaces: readonly string[], matcher: MatcherConfig, opts: { escape: boolean }): MatcherResult {
  const value = namespaces.map((ns) => (opts.escape ? quoteMeta(ns) : ns)).join('|');
  const matchers = matcher.keys.map((key) => `{"Type":${MATCH_REGEXP},"Name":${goString(key)},"Value":${goString(value)}}`);
  const fields: string[] = [];
  if (matchers.length > 0) fields.push(`"matchers":[${matchers.join(',')}]`);
  if (matcher.op !== '') fields.push(`"matcherOp":${goString(matcher.op)}`);
  return { allowed: namespaces.length > 0 ? 'true' : 'false', data: `{${fields.join(',')}}` };
}

/** A matcher that matches every value of its label: for cluster-wide readers, instead of listing every project. */
export function matchAllResult(matcher: MatcherConfig): MatcherResult {
  const matchers = matcher.keys.map((key) => `{"Type":${MATCH_REGEXP},"Name":${goString(key)},"Value":".+"}`);
  const fields = [`"matchers":[${matchers.join(',')}]`];
  if (matcher.op !== '') fields.push(`"matcherOp":${goString(matcher.op)}`);
  return { allowed: 'true', data: `{${fields.join(',')}}` };
}

/** Go's regexp.QuoteMeta: a namespace name matches itself only, never as a pattern. */
export function quoteMeta(s: string): string {
  return s.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&');
}

/** A JSON string as Go's encoding/json writes it (<, >, & and U+2028/9 escaped). */
function goString(s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
