/**
 * OPA's document model, as every layer speaks it: a path's value is either defined (any JSON value,
 * `false` included) or undefined (the Data API's `{}`). It sits at the base because the policy
 * layer produces these values and the decision layer answers with them: neither owns the other.
 */
export type Decision = { defined: true; value: unknown } | { defined: false };

export const UNDEFINED: Decision = Object.freeze({ defined: false });
export const defined = (value: unknown): Decision => ({ defined: true, value });

/**
 * Why a decision came out as it did. `code` is stable (docs/troubleshooting.md lists them); the
 * rest names what decided: the bindings and roles (static, dynamic), the access reviews (openshift).
 */
export interface DecisionReason {
  code: string;
  /** One line for a person. */
  message: string;
  /** static, dynamic: what granted (lokistack_reasons.why's grants: binding, role, claim rule). */
  grants?: unknown[];
  /** static, dynamic: what named the caller, granting or not (on a deny: look at the roles). */
  matched?: unknown[];
  /** dynamic: the identity check's code when it failed. */
  identity_check?: string;
  /** openshift: the access reviews asked for this decision, in order. */
  reviews?: AccessReviewReason[];
  /** openshift: no namespace matcher for this caller (an admin group, a skipped tenant). */
  matcher?: string;
  /** openshift: the decision came from the decision cache (or another request computing it): no review was asked. */
  cached?: boolean;
  /** Items left out to keep the reason bounded, per list. */
  truncated?: Record<string, number>;
}

/** One SubjectAccessReview as asked (for the input's user and groups): never the token it was asked with. */
export interface AccessReviewReason {
  scope: 'cluster' | 'namespace';
  verb: string;
  /** API group, resource (the tenant) and resource name (logs, …), as sent to the API. */
  apiGroup: string;
  resource: string;
  name: string;
  namespace?: string;
  allowed: boolean;
}
