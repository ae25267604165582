import { internalError } from '../errors.js';
import { PolicyPathError } from '../policy/document.js';
import type { PolicyStore } from '../policy/store.js';
import { describe } from '../policy/wasm-policy.js';
import type { Authorizer, Decision, DecisionRequest } from './types.js';

export interface StaticAuthorizerDeps {
  store: PolicyStore;
  /** Called when an instance trapped and is being replaced; for the log. */
  onRenew?: (err: unknown) => void;
}

/** Static mode: the compiled policy decides over its roles and bindings, the input as given. */
export class StaticAuthorizer implements Authorizer {
  readonly mode = 'static';

  constructor(private readonly deps: StaticAuthorizerDeps) {}

  ready(): boolean {
    return this.deps.store.ready();
  }

  async decide(req: DecisionRequest): Promise<Decision> {
    const doc = this.deps.store.current();
    if (!doc) throw internalError('no policy is loaded');
    const inputJson = req.input === undefined ? undefined : policyInputJson(req.input);
    try {
      return doc.resolve(req.path, inputJson);
    } catch (err) {
      if (err instanceof PolicyPathError) throw internalError(err.message);
      // A trap can leave the instance's heap inconsistent: serve the next request from a fresh one.
      if (err instanceof WebAssembly.RuntimeError || err instanceof RangeError) {
        this.deps.onRenew?.(err);
        await doc.renew().catch((renewErr: unknown) => this.deps.onRenew?.(renewErr));
      }
      throw evaluationError(err);
    }
  }
}

/** OPA's answer to an evaluation failure: 500 internal_error with the failure in `errors`. */
export function evaluationError(err: unknown) {
  return internalError('error(s) occurred while evaluating query', [{ code: 'eval_internal_error', message: describe(err) }], { cause: err });
}

/**
 * The input as the policy's JSON parser takes it. JSON.stringify writes a lone UTF-16 surrogate as
 * an escape the Wasm parser refuses; OPA's Go decoder reads it as U+FFFD, and so does this.
 */
export function policyInputJson(input: unknown): string {
  const text = JSON.stringify(input);
  return /\\u[dD][89a-fA-F]/.test(text) ? JSON.stringify(wellFormed(input)) : text;
}

function wellFormed(value: unknown): unknown {
  if (typeof value === 'string') return value.toWellFormed();
  if (Array.isArray(value)) return value.map(wellFormed);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k.toWellFormed()] = wellFormed(v);
  return out;
}
