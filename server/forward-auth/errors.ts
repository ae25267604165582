import type { ErrorCode } from '../error-codes.js';

/**
 * A forward-auth answer other than 200, with a stable code. The proxies read the status alone
 * (db-auth-gateway: 401 and 403 reach the client, anything else is its 502; nginx: 401 and 403
 * reach the client, anything else is its 500); the code and reason are for people and logs.
 * 400 is the proxy's own fault (a request no documented proxy configuration sends).
 */
export class ForwardAuthRefusal extends Error {
  constructor(
    readonly status: 400 | 401 | 403,
    readonly code: ErrorCode,
    readonly reason: string,
  ) {
    super(reason);
    this.name = 'ForwardAuthRefusal';
  }
}

export const badRequest = (code: ErrorCode, reason: string) => new ForwardAuthRefusal(400, code, reason);
export const unauthenticated = (code: ErrorCode, reason: string) => new ForwardAuthRefusal(401, code, reason);
export const forbidden = (code: ErrorCode, reason: string) => new ForwardAuthRefusal(403, code, reason);
