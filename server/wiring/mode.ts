import type { Authorizer } from '../decision/types.js';
import type { ForwardAuthorizer } from '../forward-auth/types.js';
import type { Check } from '../http/health.js';

/** A mode wired from configuration: its authorizer, what /ready checks, and how it stops. */
export interface WiredMode {
  authorizer: Authorizer;
  /** Who a proxy's caller is, for /forward-auth; absent when the mode does not serve it (or it is off). */
  forwardAuth?: ForwardAuthorizer;
  readyChecks: Record<string, Check>;
  /** Re-reads watched configuration now (tests; watchers do it on their own). */
  reload(): Promise<void>;
  close(): Promise<void>;
}
