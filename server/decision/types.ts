import type { Decision } from '../document.js';

/** One decision request, already parsed and bounded by the HTTP layer. */
export interface DecisionRequest {
  /** Data API path segments, e.g. ["lokistack", "allow"]; [] for the whole data document. */
  path: readonly string[];
  /** The `input` document; `undefined` when the request carried none. */
  input: unknown;
  /**
   * Every value the body gave `input` under any case, in document order, when it gave more than one.
   * OPA keeps the last (`input`); opa-openshift decodes them all into one struct, merging fields.
   */
  inputOccurrences?: readonly unknown[];
  /** X-Forwarded-Access-Token, else the Authorization bearer token. Never logged. */
  token?: string;
  /** Request deadline and client disconnects. */
  signal: AbortSignal;
  /** Filled by the authorizer for the decision log: what it evaluated, when not the input as sent. */
  audit?: DecisionAudit;
  /**
   * Whether `audit.reason` is wanted (the decision log is on, or the caller asked ?reasons=true):
   * computing it can cost another evaluation, which the hot path does not pay otherwise.
   */
  wantReason?: boolean;
}

/**
 * What an authorizer tells the decision log about a decision. The event's `input` must be what was
 * evaluated (a verified identity, not the asserted one); what the caller asserted goes beside it.
 */
export interface DecisionAudit {
  /** The input the policy evaluated, when it differs from the request's. */
  input?: unknown;
  /** The identity check: its result code, and the asserted identity when it differs from the verified one. */
  identity?: { check: string; asserted?: { subject?: unknown; groups?: unknown } };
  /** Why the decision came out as it did, with names (reasons.ts); only when `wantReason`. Never tokens. */
  reason?: DecisionReason;
}

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

// What the Data API turns into `{"result": value}` or `{}`: the base's document model, re-exported
// because an authorizer's callers need it beside the Authorizer contract.
export { defined, UNDEFINED, type Decision } from '../document.js';

export interface Authorizer {
  /** The mode's name, used as the `mode` label of decision metrics. */
  readonly mode: string;
  /** Whether the authorizer can decide (policy and data loaded); /ready reports it. */
  ready(): boolean;
  decide(req: DecisionRequest): Promise<Decision>;
}

/** How a decision counts in `decisions_total{result}`. */
export type DecisionOutcome = 'allow' | 'deny' | 'undefined' | 'other';

export function outcomeOf(decision: Decision): DecisionOutcome {
  if (!decision.defined) return 'undefined';
  const v = decision.value;
  if (v === true) return 'allow';
  if (v === false) return 'deny';
  if (v !== null && typeof v === 'object' && 'allowed' in v) {
    const allowed = (v as { allowed: unknown }).allowed;
    if (allowed === 'true' || allowed === true) return 'allow';
    if (allowed === 'false' || allowed === false) return 'deny';
  }
  return 'other';
}
