import type { Config } from '../config/config.js';
import { FileWatcher } from '../config/file-watcher.js';
import { LabelGatewayAuthorizer, dataHasSelectors } from '../decision/label-gateway.js';
import { StaticAuthorizer } from '../decision/static.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { loadHeapMb, runPolicyLoad } from '../policy/load-runner.js';
import { policyPrintLogger } from '../policy/prints.js';
import { loadSpecOf, policyFileOf, policySources, readPolicySource, type PolicyFiles } from '../policy/sources.js';
import { PolicyStore } from '../policy/store.js';
import type { CompiledPolicy } from '../policy/wasm-policy.js';
import { EvaluationPool } from '../policy/worker-pool.js';
import type { WiredMode } from './mode.js';
import type { StaticForwardAuthWiring } from '../forward-auth/static-wiring.js';
import { reasonOf } from '../errors.js';
import { lazy } from './lazy.js';

interface Loaded {
  policy: CompiledPolicy;
  data: unknown;
}

export interface StaticModeOptions {
  /** The watchers' wait between their two reads of a changed file; tests drive it. */
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Static mode: a compiled policy (the bundled one, a module or a bundle) with its data (the rbac
 * file, a data file, or the bundle's). Startup fails with the file and fault named; later changes
 * to any of the files are applied whole or rejected whole, without interrupting service.
 */
export async function wireStaticMode(config: Config, logger: Logger, metrics: Metrics, options: StaticModeOptions = {}): Promise<WiredMode> {
  // Dynamic mode evaluates the same policy; its data may also bind on verified claims.
  const claims = config.mode === 'dynamic';
  const entrypoint = config.decisionPath.join('/');
  const p = config.policy;
  const policyFiles: PolicyFiles = {
    wasmFile: p.wasmFile,
    ...(p.bundleFile ? { bundleFile: p.bundleFile } : {}),
    ...(p.dataFile ? { dataFile: p.dataFile } : {}),
    ...(config.rbac ? { rbacFile: config.rbac.file } : {}),
  };
  const policyFile = policyFileOf(policyFiles);

  // The memory bound is the process's: each instance (main thread, each worker) gets a share.
  const instanceMaxBytes = Math.floor(p.maxMemoryBytes / (p.workers + 1));
  const printed = policyPrintLogger(logger);
  const print = (line: string) => printed(policyFile, line);
  // Every file is read once per change, by its watcher, and what was read is what is loaded: a
  // second read could see a later, half-written version that no watcher checked. The load itself
  // (unpack, parse, compile, start, first evaluation) runs on its own thread with a deadline and a
  // bounded heap, so probes and decisions keep being answered while it runs, whatever the files hold.
  const load = async (files: ReadonlyMap<string, Uint8Array<ArrayBuffer>>, reload: boolean): Promise<Loaded> => {
    const spec = loadSpecOf(policyFiles, {
      entrypoint,
      claims,
      reload,
      maxMemoryBytes: p.maxMemoryBytes,
      instanceMaxBytes,
      maxBundleBytes: p.maxBundleBytes,
      maxDataBytes: p.maxDataBytes,
    });
    logger.debug({ policy: policyFile, reload }, 'loading the policy on a loading thread');
    const loaded = await runPolicyLoad(spec, files, { timeoutMs: p.loadTimeoutMs, maxHeapMb: loadHeapMb(p.maxDataBytes) }, print);
    for (const w of loaded.warnings) logger.warn(w);
    return { policy: loaded.policy, data: loaded.data };
  };

  const watched = policySources(policyFiles, p);

  // The content of each file that serves now: read once here, and the watchers start from it.
  let serving = new Map<string, Uint8Array<ArrayBuffer>>();
  for (const source of watched) serving.set(source.file, await readPolicySource(source));
  const initial = await load(serving, false);
  const store = new PolicyStore(initial.policy, { instanceMaxBytes });
  await store.replace(initial.policy, initial.data);
  logger.info({ policy: policyFile, data: config.rbac?.file ?? p.dataFile ?? p.bundleFile ?? '(none)', entrypoint }, 'loaded the policy and its data');

  // Every watched file reloads everything, so the policy and its data always change together; one
  // reload at a time, so two files changing at once cannot undo each other.
  let applying: Promise<unknown> = Promise.resolve();
  const applyFile = (file: string, bytes: Uint8Array<ArrayBuffer>): Promise<void> => {
    const run = applying.then(async () => {
      const next = new Map(serving);
      next.set(file, bytes);
      const loaded = await load(next, true);
      await store.replace(loaded.policy, loaded.data);
      serving = next;
    });
    applying = run.catch(() => {});
    return run;
  };
  const watchers = watched.map((source) => {
    const { name, file } = source;
    markReload(metrics, name, true);
    const watcher = new FileWatcher<Uint8Array<ArrayBuffer>>({
      file,
      intervalMs: config.fileReloadIntervalMs,
      settleMs: config.fileSettleMs,
      ...(options.sleep ? { sleep: options.sleep } : {}),
      readFile: () => readPolicySource(source),
      apply: (bytes) => applyFile(file, bytes),
      onApplied: () => {
        markReload(metrics, name, true);
        logger.info({ file }, name === 'rbac' ? 'reloaded roles and bindings' : 'reloaded the policy and its data');
      },
      onRejected: (err) => {
        markReload(metrics, name, false);
        logger.error(
          { file, reason: reasonOf(err) },
          name === 'rbac'
            ? 'rejected new roles and bindings; the previous ones keep serving'
            : 'rejected the new file; the previous policy and data keep serving',
        );
      },
    });
    watcher.start(serving.get(file)!);
    return watcher;
  });

  const pool =
    p.workers > 0
      ? new EvaluationPool({
          size: p.workers,
          maxQueue: p.maxQueuedEvaluations,
          resetBytes: p.memoryResetBytes,
          onDispatch: (inputLength) => logger.debug({ inputLength }, 'evaluating on a worker'),
          onWorkerEnd: (reason) => logger.warn({ reason }, 'evaluation worker ended'),
          onPrint: printed,
        })
      : undefined;
  const authorizer = new StaticAuthorizer({
    store,
    ...(pool ? { pool } : {}),
    inlineMaxInputBytes: p.inlineMaxInputBytes,
    memoryResetBytes: p.memoryResetBytes,
    onRenew: (err) => logger.warn({ reason: reasonOf(err) }, 'policy instance trapped; replacing it'),
  });
  metrics.observePolicyMemory(() => authorizer.memoryBytes());
  const wired: WiredMode = {
    // Label-restricted readers get what the gateway can enforce. Dynamic mode decides through this
    // authorizer after its identity check (dynamic-mode.ts), so it sees the verified input.
    authorizer: labelGateway(authorizer, store, logger),
    readyChecks: {
      policy: async () => {
        if (!authorizer.ready()) throw new Error('no policy loaded');
      },
    },
    reload: async () => {
      for (const w of watchers) await w.check();
    },
    close: async () => {
      for (const w of watchers) w.stop();
      await pool?.close();
    },
  };
  let fa: StaticForwardAuthWiring | undefined;
  try {
    // Forward-auth reads allow and label_policy themselves: the policy's authorizer, not the gateway's view of it.
    // Loaded only when served: its password hashing (bcryptjs) is memory every other sidecar pays.
    fa = config.forwardAuth?.static
      ? await (
          await lazy<typeof import('../forward-auth/static-wiring.js')>(
            () => import('../forward-auth/static-wiring.js'),
            () => require('../forward-auth/static-wiring.js'),
          )
        ).wireStaticForwardAuth(config, { store, authorizer, logger, ...(options.sleep ? { sleep: options.sleep } : {}) })
      : undefined;
  } catch (err) {
    // Half wired is not wired: nothing may keep watching after a failed start.
    await wired.close();
    throw err;
  }
  return { ...withStaticForwardAuth(wired, fa), policy: authorizer };
}

/** The mode with /forward-auth's authorizer (when enabled), its files reloaded and closed with the mode's. */
function withStaticForwardAuth(wired: WiredMode, fa: StaticForwardAuthWiring | undefined): WiredMode {
  if (!fa) return wired;
  return {
    ...wired,
    forwardAuth: fa.authorizer,
    reload: async () => {
      await wired.reload();
      await fa.reload();
    },
    close: async () => {
      await fa.close();
      await wired.close();
    },
  };
}

/** The Data API's authorizer over the compiled policy: label policies answered as the gateway can enforce them. */
function labelGateway(policy: StaticAuthorizer, store: PolicyStore, logger: Logger): LabelGatewayAuthorizer {
  return new LabelGatewayAuthorizer({ policy, hasSelectors: () => dataHasSelectors(store.current()?.data), logger });
}

function markReload(metrics: Metrics, config: string, ok: boolean): void {
  metrics.configReloads.inc({ config, result: ok ? 'success' : 'failure' });
  metrics.configLastReloadSuccessful.set({ config }, ok ? 1 : 0);
  if (ok) metrics.configLastReloadSuccessTime.set({ config }, Date.now() / 1000);
}
