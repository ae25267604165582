import type { MatcherResult } from './matchers.js';
import { defined, outcomeOf } from './types.js';

/** What an openshift-mode decision answers: a plain boolean, or namespace matchers. */
export type OpenShiftResult = boolean | MatcherResult;

/**
 * How an openshift result is kept in the decision cache. What comes back from the store is checked
 * before it decides: an entry written by another version, or by anyone who can write to memcached
 * without the entry keys, is refused (a miss), never trusted for its shape.
 */
export const openShiftResultCodec = {
  encode: (v: OpenShiftResult): string => JSON.stringify(v),
  decode: decodeResult,
  /** An allow keeps for the allow TTL: allowed as the Data API's metrics count it. */
  allows: (v: OpenShiftResult): boolean => outcomeOf(defined(v)) === 'allow',
};

function decodeResult(s: string): OpenShiftResult {
  const v: unknown = JSON.parse(s);
  if (typeof v === 'boolean') return v;
  if (
    v !== null &&
    typeof v === 'object' &&
    ((v as { allowed?: unknown }).allowed === 'true' || (v as { allowed?: unknown }).allowed === 'false') &&
    typeof (v as { data?: unknown }).data === 'string'
  ) {
    return v as OpenShiftResult;
  }
  throw new Error('unexpected cached value');
}
