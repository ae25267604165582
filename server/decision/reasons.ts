import type { Decision, DecisionReason } from './types.js';

/**
 * The compiled policy's reasons rule (policies/reasons.rego): its own package, so the lokistack
 * package document stays what OPA serves for policies/lokistack.rego, and hidden from the Data API
 * (the static authorizer answers it as undefined): role and binding names are policy structure,
 * disclosed only where --web.reasons or the decision log say so.
 */
export const REASONS_PACKAGE = 'lokistack_reasons';
export const WHY_PATH: readonly string[] = [REASONS_PACKAGE, 'why'];
export const WHY_ENTRYPOINT = WHY_PATH.join('/');
/** The package whose decisions the reasons explain. */
export const WHY_OF = 'lokistack';

/** Items one list of a reason keeps, and characters one string keeps: a reason is read by people. */
export const MAX_REASON_ITEMS = 32;
export const MAX_REASON_STRING = 256;
/** Nesting kept inside one item (a grant's subject is two levels deep). */
const MAX_ITEM_DEPTH = 4;

/** The reason for a decision of the compiled policy, from lokistack_reasons.why's value. */
export function policyReason(why: Decision, hasInput: boolean): DecisionReason {
  if (!hasInput) return { code: 'no_input', message: 'the request carried no input: nothing names a caller' };
  if (!why.defined || why.value === null || typeof why.value !== 'object') {
    return { code: 'reason_unavailable', message: 'lokistack_reasons.why is undefined for this input' };
  }
  const w = why.value as { allow?: unknown; grants?: unknown; matched?: unknown };
  const grants = Array.isArray(w.grants) ? w.grants : [];
  const matched = Array.isArray(w.matched) ? w.matched : [];
  if (w.allow === true) {
    return {
      code: 'granted',
      message:
        grants.length > 0
          ? `allowed by ${grants.slice(0, 3).map(describeGrant).join('; ')}${grants.length > 3 ? `; and ${grants.length - 3} more` : ''}`
          : 'allowed by a rule the reasons do not name',
      grants,
    };
  }
  if (matched.length === 0) {
    return { code: 'no_binding_matched', message: 'no role binding, claim role binding or tenantClaims rule names the caller', grants: [], matched: [] };
  }
  return {
    code: 'no_role_grants',
    message: `${matched.slice(0, 3).map(describeGrant).join('; ')}${matched.length > 3 ? `; and ${matched.length - 3} more` : ''} ${matched.length === 1 ? 'names' : 'name'} the caller, but no role bound there grants this permission on this resource of this tenant`,
    grants: [],
    matched,
  };
}

/** The reason when a custom policy has no reasons rule. */
export const NO_POLICY_REASONS: DecisionReason = Object.freeze({
  code: 'policy_gives_no_reasons',
  message: `the policy has no ${WHY_ENTRYPOINT} entrypoint (a policy other than the bundled one)`,
});

function describeGrant(g: unknown): string {
  if (g === null || typeof g !== 'object') return 'an unnamed rule';
  const o = g as Record<string, unknown>;
  const name = (v: unknown) => (typeof v === 'string' ? JSON.stringify(clip(v)) : `#${String(o.index)}`);
  switch (o.kind) {
    case 'role_binding':
      return `role binding ${name(o.binding)}${typeof o.role === 'string' ? ` (role ${JSON.stringify(clip(o.role))})` : ''}`;
    case 'claim_role_binding':
      return `claim role binding ${name(o.binding)} (claim ${JSON.stringify(clip(String(o.claim)))}${typeof o.role === 'string' ? `, role ${JSON.stringify(clip(o.role))}` : ''})`;
    case 'tenant_claim':
      return `tenantClaims rule #${String(o.index)} (claim ${JSON.stringify(clip(String(o.claim)))})`;
    default:
      return 'an unnamed rule';
  }
}

/**
 * The reason cut to a size a log line and an answer can carry whatever the data holds (thousands
 * of bindings naming one group, a listing of every project): each list to MAX_REASON_ITEMS, each
 * string to MAX_REASON_STRING, each item's nesting to a few levels. What was cut is counted.
 */
export function boundReason(reason: DecisionReason): DecisionReason {
  const out: DecisionReason = { code: clip(reason.code), message: clip(reason.message, 4 * MAX_REASON_STRING) };
  const truncated: Record<string, number> = { ...reason.truncated };
  for (const [key, value] of Object.entries(reason) as Array<[keyof DecisionReason, unknown]>) {
    if (key === 'code' || key === 'message' || key === 'truncated' || value === undefined) continue;
    if (Array.isArray(value)) {
      if (value.length > MAX_REASON_ITEMS) truncated[key] = (truncated[key] ?? 0) + value.length - MAX_REASON_ITEMS;
      (out as unknown as Record<string, unknown>)[key] = value.slice(0, MAX_REASON_ITEMS).map((v) => boundValue(v, MAX_ITEM_DEPTH));
    } else {
      (out as unknown as Record<string, unknown>)[key] = boundValue(value, MAX_ITEM_DEPTH);
    }
  }
  if (Object.keys(truncated).length > 0) out.truncated = truncated;
  return out;
}

function boundValue(v: unknown, depth: number): unknown {
  if (typeof v === 'string') return clip(v);
  if (v === null || typeof v !== 'object') return v;
  if (depth <= 0) return '…';
  if (Array.isArray(v)) {
    const items = v.slice(0, MAX_REASON_ITEMS).map((x) => boundValue(x, depth - 1));
    return v.length > MAX_REASON_ITEMS ? [...items, `…${v.length - MAX_REASON_ITEMS} more`] : items;
  }
  const entries = Object.entries(v);
  const out: Record<string, unknown> = {};
  for (const [k, x] of entries.slice(0, MAX_REASON_ITEMS)) out[clip(k)] = boundValue(x, depth - 1);
  return out;
}

function clip(s: string, max = MAX_REASON_STRING): string {
  return s.length <= max ? s : `${s.slice(0, max)}…`;
}
