import type { ErrorCode } from '../error-codes.js';

/** Who a verified token says the caller is. */
export interface Identity {
  username: string;
  groups: string[];
  /** Every verified claim, for policies that bind on claims. */
  claims: Record<string, unknown>;
  /** When the token stops being valid (ms since the epoch), where the provider says. */
  expiresAt?: number;
}

export type IdentityErrorCode = Extract<
  ErrorCode,
  | 'no_token'
  | 'unknown_tenant'
  | 'malformed_token'
  | 'bad_signature'
  | 'wrong_issuer'
  | 'wrong_audience'
  | 'wrong_client'
  | 'unbound_token'
  | 'expired'
  | 'inactive'
  | 'missing_claim'
  | 'provider_unreachable'
  | 'provider_busy'
  | 'provider_error'
>;

/**
 * Results that say the token itself is no good: the same token will fail again, so the answer
 * may be remembered. Any other failure (the provider down, slow or misconfigured, the request
 * cancelled) says nothing about the token and is never remembered per token.
 */
export const DEFINITE_FAILURES: ReadonlySet<IdentityErrorCode> = new Set<IdentityErrorCode>([
  'malformed_token',
  'bad_signature',
  'wrong_issuer',
  'wrong_audience',
  'wrong_client',
  'unbound_token',
  'expired',
  'inactive',
  'missing_claim',
]);

/** Why no identity could be established. The message never contains the token. */
export class IdentityError extends Error {
  /** A definite code that the same token may still pass later (a key not yet fetched): not remembered. */
  readonly retryable: boolean;

  constructor(
    readonly code: IdentityErrorCode,
    message: string,
    options?: { cause?: unknown; retryable?: boolean },
  ) {
    super(message, options);
    this.name = 'IdentityError';
    this.retryable = options?.retryable ?? false;
  }
}

export interface IdentityVerifier {
  /** The identity `token` proves for `tenant`; throws IdentityError otherwise. */
  verify(tenant: string, token: string, signal: AbortSignal): Promise<Identity>;
}

/** Reads the username and groups from verified claims, as observatorium/api does. */
export function identityFromClaims(
  claims: Record<string, unknown>,
  usernameClaim: string | undefined,
  groupClaim: string | undefined,
  expiresAt?: number,
): Identity {
  const userKey = usernameClaim ?? 'sub';
  const username = claims[userKey];
  if (typeof username !== 'string' || username === '') {
    throw new IdentityError('missing_claim', `the token has no string "${userKey}" claim to name the user`);
  }
  let groups: string[] = [];
  if (groupClaim) {
    const g = claims[groupClaim];
    if (typeof g === 'string') groups = [g];
    else if (Array.isArray(g)) groups = g.filter((x): x is string => typeof x === 'string');
  }
  return { username, groups, claims, ...(expiresAt !== undefined ? { expiresAt } : {}) };
}
