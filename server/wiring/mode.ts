import type { Authorizer } from '../decision/types.js';
import type { ForwardAuthorizer } from '../forward-auth/types.js';
import type { Check } from '../http/health.js';

/** A mode wired from configuration: its authorizer, what /ready checks, and how it stops. */
export interface WiredMode {
  authorizer: Authorizer;
  /** Who a proxy's caller is, for /forward-auth; absent when the mode does not serve it (or it is off). */
  forwardAuth?: ForwardAuthorizer;
  /**
   * Static and dynamic modes: the compiled policy as written, without the Data API's gateway view
   * (which denies label-restricted reads the gateway cannot enforce). Forward-auth decides with it:
   * it reads allow and label_policy itself and hands the selectors to Loki.
   */
  policy?: Authorizer;
  readyChecks: Record<string, Check>;
  /** Re-reads watched configuration now (tests; watchers do it on their own). */
  reload(): Promise<void>;
  close(): Promise<void>;
}
