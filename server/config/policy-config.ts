import { bundledWasm } from './bundled-policy.js';
import { FlagError } from './flags.js';
import type { FlagReader } from './flag-reader.js';
import type { Mode } from './mode.js';

/** The compiled policy: a bare module (the bundled one by default) or an opa build bundle. */
export interface PolicyConfig {
  wasmFile: string;
  bundleFile?: string;
  dataFile?: string;
  maxMemoryBytes: number;
  /** Evaluation workers; 0 for none. */
  workers: number;
  inlineMaxInputBytes: number;
  /** Static mode's decision memo (decision/memo.ts); 0 for none. */
  memoBytes: number;
  maxQueuedEvaluations: number;
  memoryResetBytes: number;
  /** Decompressed bundle bound (and bound on a policy file as read). */
  maxBundleBytes: number;
  /** Data document bound: a bundle's data files together, the data file, the rbac file. */
  maxDataBytes: number;
  /** Deadline for one policy load on its loading thread. */
  loadTimeoutMs: number;
}

/** Static and dynamic modes' roles and bindings. */
export interface RbacConfig {
  file: string;
}

/** The policy and where its data comes from; `rbac` only when --rbac.config names the data. */
export function policyConfig(r: FlagReader, mode: Mode): { policy: PolicyConfig; rbac?: RbacConfig } {
  const { string: str, positive, notNegative } = r;
  if (str('policy.wasm') && str('policy.bundle')) throw new FlagError('--policy.wasm and --policy.bundle both name a policy: give one');
  if (str('rbac.config') && str('policy.data')) throw new FlagError('--rbac.config and --policy.data both name the data: give one');
  const rbacFile = str('rbac.config');
  if ((mode === 'static' || mode === 'dynamic') && rbacFile === '' && !str('policy.data') && !str('policy.bundle')) {
    throw new FlagError(
      `${mode} mode needs --rbac.config: the file of roles and roleBindings to decide with (or --policy.data, or a --policy.bundle carrying data)`,
    );
  }
  return {
    policy: {
      wasmFile: str('policy.wasm') || bundledWasm(),
      ...(str('policy.bundle') ? { bundleFile: str('policy.bundle') } : {}),
      ...(str('policy.data') ? { dataFile: str('policy.data') } : {}),
      maxMemoryBytes: positive('policy.max-memory-bytes'),
      workers: notNegative('policy.workers'),
      inlineMaxInputBytes: notNegative('policy.inline-max-input-bytes'),
      memoBytes: notNegative('policy.memo-bytes'),
      maxQueuedEvaluations: notNegative('policy.max-queued-evaluations'),
      memoryResetBytes: positive('policy.memory-reset-bytes'),
      maxBundleBytes: positive('policy.max-bundle-bytes'),
      maxDataBytes: positive('policy.max-data-bytes'),
      loadTimeoutMs: positive('policy.load-timeout'),
    },
    // The openshift modes read no rbac file, whatever the flag says (it is warned about as ignored).
    ...((mode === 'static' || mode === 'dynamic') && rbacFile !== '' ? { rbac: { file: rbacFile } } : {}),
  };
}
