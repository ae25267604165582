import { FlagError } from './flags.js';
import type { FlagReader } from './flag-reader.js';

/** How every watched file (rbac, policy, data, bundle, memcached keys, forward-auth's htpasswd and tenants) is re-read. */
export interface WatchConfig {
  /** How often watched files are also polled, besides file events (--rbac.reload-interval); 0: events alone. */
  fileReloadIntervalMs: number;
  /** How long a changed watched file must stay unchanged before it is applied. */
  fileSettleMs: number;
}

export function watchConfig(r: FlagReader): WatchConfig {
  const fileReloadIntervalMs = r.notNegative('rbac.reload-interval');
  const settle = r.number('watch.settle-interval');
  if (settle <= 0 || settle > 60_000) throw new FlagError('--watch.settle-interval must be more than 0s and at most 1m: 0 would apply a file half-written');
  return { fileReloadIntervalMs, fileSettleMs: settle };
}
