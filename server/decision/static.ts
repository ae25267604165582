import { BusyError, DecisionError, internalError } from '../errors.js';
import { PolicyPathError, type PolicyDocument } from '../policy/document.js';
import { rememberedInputJson } from './input-json.js';
import type { PolicyStore } from '../policy/store.js';
import { describe } from '../policy/wasm-policy.js';
import { PoolEvaluationError, type EvaluationPool } from '../policy/worker-pool.js';
import { NO_POLICY_REASONS, policyReason, REASONS_PACKAGE, WHY_ENTRYPOINT, WHY_OF, WHY_PATH } from './reasons.js';
import { defined, UNDEFINED, type Authorizer, type Decision, type DecisionRequest } from './types.js';

export interface StaticAuthorizerDeps {
  store: PolicyStore;
  /** Evaluation workers for large inputs; without them every evaluation runs inline. */
  pool?: EvaluationPool;
  /** Serialized inputs up to this many bytes are evaluated inline, larger ones on the pool. */
  inlineMaxInputBytes?: number;
  /** The inline instance is replaced after an evaluation that grew it past this (and 4x its fresh size). */
  memoryResetBytes?: number;
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

  /** The document serving, when its policy calls no nondeterministic built-in: it holds the policy and data together. */
  memoGeneration(): object | undefined {
    const doc = this.deps.store.current();
    return doc?.policy.deterministic ? doc : undefined;
  }

  /** Linear memory of every instance serving: the inline one plus each worker's. */
  memoryBytes(): number {
    return (this.deps.store.current()?.memoryBytes() ?? 0) + (this.deps.pool?.memoryBytes() ?? 0);
  }

  async decide(req: DecisionRequest): Promise<Decision> {
    // One document for the whole decision: a reload meanwhile serves the next one.
    const doc = this.deps.store.current();
    if (!doc) throw internalError('no policy is loaded');
    const hidesReasons = doc.policy.entrypoints.has(WHY_ENTRYPOINT);
    // The reasons package names roles and bindings: never a document any caller can read.
    if (hidesReasons && req.path[0] === REASONS_PACKAGE) return UNDEFINED;
    const inputJson = req.input === undefined ? undefined : policyInputJson(req.input);
    let decision = await this.evaluate(doc, req.path, req, inputJson);
    if (hidesReasons && req.path.length === 0) decision = withoutReasons(decision);
    // Once per request: the label gateway asks lokistack/label_policy after allow with the same audit.
    // The reasons explain lokistack's rules; a document elsewhere (another package, base data) has none.
    if (req.wantReason && req.audit && req.audit.reason === undefined && (req.path.length === 0 || req.path[0] === WHY_OF)) {
      req.audit.reason = hidesReasons ? await this.reason(doc, req, inputJson) : NO_POLICY_REASONS;
    }
    return decision;
  }

  /** The decision is made: a reason that fails to evaluate says so and changes nothing else. */
  private async reason(doc: PolicyDocument, req: DecisionRequest, inputJson: string | undefined) {
    try {
      return policyReason(await this.evaluate(doc, WHY_PATH, req, inputJson), req.input !== undefined);
    } catch (err) {
      return {
        code: 'reason_unavailable',
        message: `evaluating ${WHY_PATH.join('/')} failed: ${err instanceof DecisionError ? err.message : 'internal error'}`,
      };
    }
  }

  private async evaluate(doc: PolicyDocument, path: readonly string[], req: DecisionRequest, inputJson: string | undefined): Promise<Decision> {
    const pool = this.deps.pool;
    if (pool && inputJson !== undefined && !fitsInline(inputJson, this.deps.inlineMaxInputBytes ?? Infinity)) {
      return this.onPool(pool, doc, path, req, inputJson);
    }
    try {
      return doc.resolve(path, inputJson);
    } catch (err) {
      if (err instanceof PolicyPathError) throw internalError(err.message);
      // A trap can leave the instance's heap inconsistent: serve the next request from a fresh one.
      if (err instanceof WebAssembly.RuntimeError || err instanceof RangeError) {
        this.deps.onRenew?.(err);
        await doc.renew().catch((renewErr: unknown) => this.deps.onRenew?.(renewErr));
      }
      throw evaluationError(err);
    } finally {
      // Memory grown by this evaluation stays with the instance for good; give it back (the
      // renewal runs beside later evaluations, which keep the old instance until it is ready).
      if (this.deps.memoryResetBytes !== undefined && doc.overgrown(this.deps.memoryResetBytes)) {
        doc.renew().catch((renewErr: unknown) => this.deps.onRenew?.(renewErr));
      }
    }
  }

  private async onPool(pool: EvaluationPool, doc: PolicyDocument, path: readonly string[], req: DecisionRequest, inputJson: string): Promise<Decision> {
    try {
      return await pool.evaluate(doc, path, inputJson, req.signal);
    } catch (err) {
      if (!(err instanceof PoolEvaluationError)) throw evaluationError(err);
      switch (err.kind) {
        case 'path':
          throw internalError(err.message);
        case 'trap':
          this.deps.onRenew?.(err);
          throw evaluationError(err);
        case 'timeout':
          throw cancelError('context deadline exceeded', err);
        case 'cancelled':
          throw cancelError('context canceled', err);
        case 'saturated':
          // Fail fast: waiting longer would only hold more bodies in memory behind slow evaluations.
          throw new BusyError('too many large evaluations waiting; try again later', { cause: err });
        default:
          throw evaluationError(err);
      }
    }
  }
}

/** The whole data document without the reasons package (evaluated with it, as every entrypoint is). */
function withoutReasons(decision: Decision): Decision {
  if (!decision.defined || decision.value === null || typeof decision.value !== 'object' || Array.isArray(decision.value)) return decision;
  const { [REASONS_PACKAGE]: _hidden, ...rest } = decision.value as Record<string, unknown>;
  return defined(rest);
}

/**
 * Whether the serialized input is at most `max` UTF-8 bytes, without encoding it when the answer
 * is plain from its length (each UTF-16 unit is 1 to 3 bytes).
 */
function fitsInline(json: string, max: number): boolean {
  if (json.length > max) return false;
  if (json.length * 3 <= max) return true;
  return Buffer.byteLength(json, 'utf8') <= max;
}

/**
 * OPA's answer to an evaluation cut by its context (topdown's eval_cancel_error, with the
 * context's error as message): 500 internal_error, as for any evaluation failure.
 */
export function cancelError(message: string, cause: unknown) {
  return internalError('error(s) occurred while evaluating query', [{ code: 'eval_cancel_error', message }], { cause });
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
  const kept = rememberedInputJson(input);
  if (kept !== undefined) return kept;
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
