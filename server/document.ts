/**
 * OPA's document model, as every layer speaks it: a path's value is either defined (any JSON value,
 * `false` included) or undefined (the Data API's `{}`). It sits at the base because the policy
 * layer produces these values and the decision layer answers with them: neither owns the other.
 */
export type Decision = { defined: true; value: unknown } | { defined: false };

export const UNDEFINED: Decision = Object.freeze({ defined: false });
export const defined = (value: unknown): Decision => ({ defined: true, value });
