import { FlagError } from './flags.js';
import type { FlagReader } from './flag-reader.js';
import { parseListen, type ListenAddress } from './listen.js';

/** The listeners and the bounds on what a request may cost. */
export interface WebConfig {
  listen: ListenAddress;
  internalListen: ListenAddress;
  maxBodyBytes: number;
  maxDepth: number;
  /** Bounds on the decoded input (http/input-limits.ts). */
  maxNodes: number;
  maxArrayLength: number;
  maxStringBytes: number;
  maxInputBytes: number;
  /** Nodes a YAML body may hold before it is parsed at all. */
  maxYamlNodes: number;
  /** Body bytes held across all requests at once. */
  maxBufferedBytes: number;
  decisionTimeoutMs: number;
  /** --web.reasons: the Data API answers ?reasons=true. */
  reasons: boolean;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  shutdownTimeoutMs: number;
  /** GET'ed by the liveness check, which expects 404 (opa-openshift's); null: no check;
   *  undefined: the service's own public listener. */
  healthcheckUrl?: string | null;
}

function healthcheckUrl(r: FlagReader, set: ReadonlySet<string>): Pick<WebConfig, 'healthcheckUrl'> {
  const healthUrl = r.string('web.healthchecks.url');
  if (healthUrl !== '' && !/^https?:\/\/[^\s]+$/.test(healthUrl))
    throw new FlagError(`--web.healthchecks.url ${JSON.stringify(healthUrl)} is not an http(s) URL`);
  return set.has('web.healthchecks.url') ? { healthcheckUrl: healthUrl === '' ? null : healthUrl } : {};
}

export function webConfig(r: FlagReader, set: ReadonlySet<string>): WebConfig {
  const { string: str, positive } = r;
  const health = healthcheckUrl(r, set);
  return {
    listen: parseListen('web.listen', str('web.listen')),
    internalListen: parseListen('web.internal.listen', str('web.internal.listen')),
    maxBodyBytes: positive('web.max-body-bytes'),
    maxDepth: positive('web.max-input-depth'),
    maxNodes: positive('web.max-input-nodes'),
    maxArrayLength: positive('web.max-input-array-length'),
    maxStringBytes: positive('web.max-input-string-bytes'),
    maxInputBytes: positive('web.max-input-bytes'),
    maxYamlNodes: positive('web.max-yaml-nodes'),
    maxBufferedBytes: positive('web.max-buffered-bytes'),
    decisionTimeoutMs: positive('web.decision-timeout'),
    reasons: r.bool('web.reasons'),
    headersTimeoutMs: positive('web.headers-timeout'),
    requestTimeoutMs: positive('web.request-timeout'),
    shutdownTimeoutMs: positive('web.shutdown-timeout'),
    ...health,
  };
}
