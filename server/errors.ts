/**
 * Typed errors with stable codes. Each carries the HTTP status the protocol asks for; one error
 * handler (http/error-handler.ts) turns them into responses, and nothing else writes error bodies.
 * The codes, and what each means, are in error-codes.ts.
 */
import type { ErrorCode, OpaErrorCode } from './error-codes.js';

export { type ErrorCode, type OpaErrorCode, reasonOf } from './error-codes.js';

/**
 * The one shape of a coded error: a catalogued code and a message (and a cause). Classes that add
 * nothing else are one line, `class X extends CodedError<'a' | 'b'> {}`; their name is the class's.
 */
export class CodedError<C extends ErrorCode> extends Error {
  constructor(
    readonly code: C,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** An error a caller caused or must see, answered in OPA's envelope `{"code","message","errors"?}`. */
export class DecisionError extends Error {
  constructor(
    readonly code: DecisionErrorCode,
    readonly status: number,
    message: string,
    readonly details?: readonly EvalErrorDetail[],
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DecisionError';
  }
}

/**
 * 503 with Retry-After: the service is at one of its bounds (bytes buffered across requests, large
 * evaluations waiting) and sheds this request rather than queue more memory behind the others.
 */
export class BusyError extends DecisionError {
  readonly retryAfterSeconds = 1;

  constructor(message: string, options?: { cause?: unknown }) {
    super('internal_error', 503, message, undefined, options);
    this.name = 'BusyError';
  }
}

/** OPA's error codes (v1/server/types), the ones this service answers with. */
export type DecisionErrorCode = OpaErrorCode;

/** One entry of OPA's `errors` array, in its key order. */
export interface EvalErrorDetail {
  code: Extract<ErrorCode, 'eval_cancel_error' | 'eval_internal_error'>;
  message: string;
}

export const invalidParameter = (message: string, options?: { cause?: unknown }): DecisionError =>
  new DecisionError('invalid_parameter', 400, message, undefined, options);

export const internalError = (message: string, details?: readonly EvalErrorDetail[], options?: { cause?: unknown }): DecisionError =>
  new DecisionError('internal_error', 500, message, details, options);

/** 401, as opa-openshift answers a token the cluster does not authenticate or a review it could not make. */
export const unauthorized = (message: string, options?: { cause?: unknown }): DecisionError =>
  new DecisionError('unauthorized', 401, message, undefined, options);

/** 503: an upstream (identity provider, Kubernetes API) could not answer, so nothing was decided. */
export const upstreamUnavailable = (message: string, options?: { cause?: unknown }): DecisionError =>
  new DecisionError('internal_error', 503, message, undefined, options);

/** A configuration fault found at startup or on reload: names the source, the field and the fault. */
export class ConfigError extends Error {
  readonly code = 'invalid_config' satisfies ErrorCode;

  constructor(
    readonly source: string,
    readonly field: string,
    readonly fault: string,
  ) {
    super(field ? `${source}: ${field}: ${fault}` : `${source}: ${fault}`);
    this.name = 'ConfigError';
  }
}

/** A compiled policy that cannot serve: wrong ABI, missing entrypoint, not WebAssembly. */
export class PolicyLoadError extends CodedError<'not_wasm' | 'abi_version' | 'missing_export' | 'missing_builtin' | 'missing_entrypoint' | 'instantiate'> {}

/** A listener could not take its address at startup; the message names the flag that set it. */
export class ListenError extends CodedError<'listen_failed'> {}
