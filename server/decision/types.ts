import type { Decision, DecisionReason } from '../document.js';

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
  /**
   * Set by an authorizer with `memoByToken` when this decision may be remembered: the time
   * (performance.now() milliseconds) until which the same request and token get the same answer.
   * Unset, the decision is not remembered.
   */
  rememberUntil?: number;
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

// The reason model sits at the base with the document model: the decision log writes it too.
export type { AccessReviewReason, DecisionReason } from '../document.js';

// What the Data API turns into `{"result": value}` or `{}`: the base's document model, re-exported
// because an authorizer's callers need it beside the Authorizer contract.
export { defined, UNDEFINED, type Decision } from '../document.js';

export interface Authorizer {
  /** The mode's name, used as the `mode` label of decision metrics. */
  readonly mode: string;
  /** Whether the authorizer can decide (policy and data loaded); /ready reports it. */
  ready(): boolean;
  decide(req: DecisionRequest): Promise<Decision>;
  /**
   * When a decision depends on nothing but the request's path and input (no token, no clock, no
   * upstream, no randomness), or on those and what `memoByToken` says: an object standing for what
   * decides now (policy and data, configuration), a new one whenever it changes. Undefined (or
   * absent) when decisions cannot be remembered now.
   */
  memoGeneration?(): object | undefined;
  /**
   * Present when decisions also depend on the caller's token and on upstream answers that expire
   * (the openshift modes' decision cache): remembered decisions are then keyed by the token's hash
   * too, each kept only until the `rememberUntil` decide() set on its request, and every answer
   * given from memory is reported here (it is a decision cache hit in all but the lookup).
   */
  readonly memoByToken?: { remembered(): void };
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
