import { setMaxListeners } from 'node:events';
import { SIGNAL_MAX_LISTENERS } from '../deadline.js';
import { quoteMeta } from '../decision/matchers.js';
import type { AccessReview, KubeAuthz } from '../kube/types.js';

/**
 * The namespaces among `namespaces` where the review allows, `concurrency` reviews at once, each in
 * the caller's turn of the client's limiter. The first failure stops the rest and is thrown: a
 * partial answer could only be narrower, but an upstream failing is no decision.
 */
export async function reviewEachNamespace(
  kube: KubeAuthz,
  base: Omit<AccessReview, 'namespace'>,
  namespaces: readonly string[],
  concurrency: number,
  outer: AbortSignal,
): Promise<string[]> {
  const stop = new AbortController();
  const signal = AbortSignal.any([outer, stop.signal]);
  setMaxListeners(SIGNAL_MAX_LISTENERS, signal);
  const allowed = new Array<boolean>(namespaces.length).fill(false);
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async () => {
    while (next < namespaces.length && !failure && !signal.aborted) {
      const i = next++;
      try {
        allowed[i] = await kube.review({ ...base, namespace: namespaces[i]! }, signal);
      } catch (err) {
        failure ??= { err };
        stop.abort();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, namespaces.length) }, worker));
  if (failure) throw failure.err;
  if (outer.aborted) throw outer.reason;
  return namespaces.filter((_, i) => allowed[i]);
}

/**
 * The stream selectors that grant exactly `namespaces` on the labels `keys`: one selector per key
 * (ORed: a stream carries one of the labels, e.g. ViaQ's or OTel's), or, with op `and`, one
 * selector with every key. Names are regex-escaped (Loki anchors regex matchers, so `a.b` would
 * also match `axb`), then escaped for a LogQL double-quoted string. Sorted, so equal grants are
 * equal strings (cache keys, logs).
 */
export function namespaceSelectors(keys: readonly string[], op: '' | 'and' | 'or', namespaces: readonly string[]): string[] {
  const value = logqlString([...new Set(namespaces)].sort().map(quoteMeta).join('|'));
  const matchers = keys.map((k) => `${k}=~${value}`);
  if (op === 'and') return [`{${matchers.join(', ')}}`];
  return matchers.map((m) => `{${m}}`).sort();
}

/** A LogQL (Go) double-quoted string: backslash and quote escaped, control characters as \u escapes. */
function logqlString(s: string): string {
  return `"${s.replace(/[\\"]/g, '\\$&').replace(/[\u0000-\u001f\u007f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}"`;
}
