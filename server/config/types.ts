import type { LogFormat, LogLevel } from '../observability/logger.js';
import type { DecisionLogConfig } from './decision-log-config.js';
import type { DynamicConfig } from './dynamic-config.js';
import type { ForwardAuthModesConfig } from './forward-auth-modes.js';
import type { ForwardAuthConfig } from './forward-auth.js';
import type { Mode } from './mode.js';
import type { OpenShiftConfig } from './openshift-config.js';
import type { PolicyConfig, RbacConfig } from './policy-config.js';
import type { TlsConfig } from './tls-config.js';
import type { WatchConfig } from './watch-config.js';
import type { WebConfig } from './web-config.js';

export type { DecisionLogConfig } from './decision-log-config.js';
export type { DynamicConfig } from './dynamic-config.js';
export type { ListenAddress } from './listen.js';
export type { Mode } from './mode.js';
export type { OpenShiftConfig, OpenShiftDecisionOptions } from './openshift-config.js';
export type { PolicyConfig, RbacConfig } from './policy-config.js';
export type { TlsConfig } from './tls-config.js';
export type { WebConfig } from './web-config.js';

/** The whole validated configuration: each section is typed and parsed in its own module. */
export interface Config extends WatchConfig {
  mode: Mode;
  web: WebConfig;
  tls: TlsConfig;
  log: { level: LogLevel; format: LogFormat; name: string };
  /** The decision path the gateway asks, e.g. ["lokistack", "allow"]; it must be an entrypoint. */
  decisionPath: string[];
  policy: PolicyConfig;
  /** Static and dynamic modes' roles and bindings; absent when the data comes from --policy.data or a bundle. */
  rbac?: RbacConfig;
  openshift?: OpenShiftConfig;
  dynamic?: DynamicConfig;
  /** OPA-style decision logs; absent when off. */
  decisionLog?: DecisionLogConfig;
  /** /forward-auth for proxies in front of Loki; absent when off. */
  forwardAuth?: ForwardAuthConfig;
  /** How forward-auth finds callers and tenants in the dynamic and openshift modes; present when it is on in one of them. */
  forwardAuthModes?: ForwardAuthModesConfig;
}
