import type { IncomingHttpHeaders } from 'node:http';
import type { ErrorCode } from '../error-codes.js';

/**
 * What a proxy asks for: db-auth-gateway's `requiredScope` names, which forward-auth/scopes.ts
 * derives from a Loki path for the proxies that send only the original method and URI.
 */
export type Scope = 'logs:read' | 'logs:write' | 'logs:delete' | 'rules:read' | 'rules:write' | 'alerts:read' | 'alerts:write';

/** One forward-auth question, whichever proxy contract carried it. */
export interface ForwardAuthRequest {
  scope: Scope;
  /** The original request's method and path, as the proxy gave them (for the log; the scope decides). */
  method: string;
  path: string;
  /** Tenant IDs the client asked for in X-Scope-OrgID (split at `|`, trimmed); empty when it asked for none. */
  requestedTenants: readonly string[];
  /** The original request's headers as the proxy forwarded them: the credentials are read from here. */
  headers: IncomingHttpHeaders;
  /**
   * Every copy of each header (Node keeps only the first Authorization in `headers` and joins other
   * repeats): a credential or identity header sent twice is ambiguous and must be refused.
   */
  headersDistinct?: NodeJS.Dict<string[]>;
  /** The TCP peer (the proxy): trusted identity headers are accepted only from configured sources. */
  remoteAddress: string;
  signal: AbortSignal;
}

/** Access to one tenant: every stream, or only the streams one of `selectors` matches (ORed). */
export interface TenantGrant {
  /** The tenant ID: what Loki stores under and X-Scope-OrgID carries. */
  id: string;
  /** LogQL stream selectors, each one `{...}`; absent: the whole tenant. Never an empty list. */
  selectors?: readonly string[];
}

export type ForwardAuthResult =
  /**
   * Who the caller is, and every tenant the scope grants them (only among `requestedTenants` when
   * those are given: a mode may skip computing the rest). The core picks the tenants to answer with.
   */
  | { kind: 'granted'; subject: string; grants: readonly TenantGrant[] }
  /** No credential, or one that proves nobody: 401. */
  | { kind: 'unauthenticated'; code: ErrorCode; reason: string }
  /** A known caller the scope is refused to outright: 403. */
  | { kind: 'forbidden'; code: ErrorCode; reason: string; subject?: string };

/** A mode's answer to "who is this, and which tenants may they use with this scope". */
export interface ForwardAuthorizer {
  readonly mode: string;
  /** The WWW-Authenticate value sent with a 401 (`Basic realm="loki"`, `Bearer`); none when absent. */
  readonly challenge?: string;
  ready(): boolean;
  /**
   * A digest of everything in the request that decides who the caller is (the credential, trusted
   * identity headers with the peer they came from), never the credential itself; undefined when
   * the request carries no credential. The decision cache keys on it.
   */
  credentialKey(req: ForwardAuthRequest): string | undefined;
  authorize(req: ForwardAuthRequest): Promise<ForwardAuthResult>;
}
