import type { Authorizer } from '../decision/types.js';
import type { Check } from '../http/health.js';

/** A mode wired from configuration: its authorizer, what /ready checks, and how it stops. */
export interface WiredMode {
  authorizer: Authorizer;
  readyChecks: Record<string, Check>;
  /** Re-reads watched configuration now (tests; watchers do it on their own). */
  reload(): Promise<void>;
  close(): Promise<void>;
}
