import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Config } from '../config/config.js';
import { FileWatcher } from '../config/file-watcher.js';
import { StaticAuthorizer } from '../decision/static.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { parseRbac } from '../policy/rbac.js';
import { PolicyStore } from '../policy/store.js';
import { CompiledPolicy } from '../policy/wasm-policy.js';
import type { WiredMode } from './mode.js';

/**
 * Static mode: the compiled policy with the rbac file as its data. Startup fails with the file and
 * fault named; later changes to the file are applied or rejected without interrupting service.
 */
export async function wireStaticMode(config: Config, logger: Logger, metrics: Metrics): Promise<WiredMode> {
  // Dynamic mode evaluates the same policy; its data may also bind on verified claims.
  const claims = config.mode === 'dynamic';
  const rbacConfig = config.rbac!;
  const entrypoint = config.decisionPath.join('/');
  const policy = await CompiledPolicy.load(config.policy.wasmFile, readFileSync(config.policy.wasmFile), [entrypoint], {
    maxBytes: config.policy.maxMemoryBytes,
  });
  const store = new PolicyStore(policy);

  const file = rbacConfig.file;
  const apply = async (text: string) => {
    const { rbac, warnings } = parseRbac(file, text, { claims });
    for (const w of warnings) logger.warn(w);
    await store.setData(rbac);
    metrics.policyMemory.set(store.current()!.memoryBytes());
  };
  const initial = await readConfigFile(file);
  await apply(initial);
  markReload(metrics, 'rbac', true);
  logger.info({ file, entrypoint }, 'loaded roles and bindings');

  const watcher = new FileWatcher({
    file,
    intervalMs: rbacConfig.reloadIntervalMs,
    apply,
    onApplied: () => {
      markReload(metrics, 'rbac', true);
      logger.info({ file }, 'reloaded roles and bindings');
    },
    onRejected: (err) => {
      markReload(metrics, 'rbac', false);
      logger.error({ file, reason: err instanceof Error ? err.message : String(err) }, 'rejected new roles and bindings; the previous ones keep serving');
    },
  });
  watcher.start(initial);

  const authorizer = new StaticAuthorizer({
    store,
    onRenew: (err) => logger.warn({ reason: err instanceof Error ? err.message : String(err) }, 'policy instance trapped; replacing it'),
  });
  return {
    authorizer,
    readyChecks: {
      policy: async () => {
        if (!authorizer.ready()) throw new Error('no policy loaded');
      },
    },
    reload: () => watcher.check(),
    close: async () => watcher.stop(),
  };
}

function markReload(metrics: Metrics, config: string, ok: boolean): void {
  metrics.configReloads.inc({ config, result: ok ? 'success' : 'failure' });
  metrics.configLastReloadSuccessful.set({ config }, ok ? 1 : 0);
  if (ok) metrics.configLastReloadSuccessTime.set({ config }, Date.now() / 1000);
}

async function readConfigFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`${file}: cannot read: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
}
