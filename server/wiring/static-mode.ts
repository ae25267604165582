import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import type { Config } from '../config/config.js';
import { FileWatcher } from '../config/file-watcher.js';
import { StaticAuthorizer } from '../decision/static.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { readWasmBundle } from '../policy/bundle.js';
import { parseRbac } from '../policy/rbac.js';
import { PolicyStore } from '../policy/store.js';
import { CompiledPolicy } from '../policy/wasm-policy.js';
import { EvaluationPool } from '../policy/worker-pool.js';
import type { WiredMode } from './mode.js';

interface Loaded {
  policy: CompiledPolicy;
  data: unknown;
}

/**
 * Static mode: a compiled policy (the bundled one, a module or a bundle) with its data (the rbac
 * file, a data file, or the bundle's). Startup fails with the file and fault named; later changes
 * to any of the files are applied whole or rejected whole, without interrupting service.
 */
export async function wireStaticMode(config: Config, logger: Logger, metrics: Metrics): Promise<WiredMode> {
  // Dynamic mode evaluates the same policy; its data may also bind on verified claims.
  const claims = config.mode === 'dynamic';
  const entrypoint = config.decisionPath.join('/');
  const p = config.policy;
  const policyFile = p.bundleFile ?? p.wasmFile;

  const load = async (): Promise<Loaded> => {
    let bytes: Uint8Array<ArrayBuffer>;
    let bundleData: Record<string, unknown> = {};
    if (p.bundleFile) {
      const bundle = readWasmBundle(p.bundleFile, await readConfigFile(p.bundleFile));
      bytes = bundle.wasm;
      bundleData = bundle.data;
    } else {
      bytes = await readConfigFile(p.wasmFile);
    }
    const policy = await CompiledPolicy.load(policyFile, bytes, [entrypoint], { maxBytes: p.maxMemoryBytes });
    const bundleHasData = Object.keys(bundleData).length > 0;
    if (config.rbac) {
      if (bundleHasData) throw new ConfigError(config.rbac.file, '', `${p.bundleFile} carries data too: give the data in one place`);
      const { rbac, warnings } = parseRbac(config.rbac.file, text(await readConfigFile(config.rbac.file)), { claims });
      for (const w of warnings) logger.warn(w);
      return { policy, data: rbac };
    }
    if (p.dataFile) {
      if (bundleHasData) throw new ConfigError(p.dataFile, '', `${p.bundleFile} carries data too: give the data in one place`);
      return { policy, data: parseDataDocument(p.dataFile, text(await readConfigFile(p.dataFile))) };
    }
    return { policy, data: bundleData };
  };

  const initial = await load();
  // The memory bound is the process's: each instance (main thread, each worker) gets a share.
  const store = new PolicyStore(initial.policy, { instanceMaxBytes: Math.floor(p.maxMemoryBytes / (p.workers + 1)) });
  await store.replace(initial.policy, initial.data);
  metrics.policyMemory.set(store.current()!.memoryBytes());
  logger.info({ policy: policyFile, data: config.rbac?.file ?? p.dataFile ?? p.bundleFile ?? '(none)', entrypoint }, 'loaded the policy and its data');

  // Every watched file reloads everything, so the policy and its data always change together.
  const watched: Array<{ name: string; file: string }> = [{ name: 'policy', file: policyFile }];
  if (config.rbac) watched.push({ name: 'rbac', file: config.rbac.file });
  if (p.dataFile) watched.push({ name: 'data', file: p.dataFile });
  const watchers = await Promise.all(
    watched.map(async ({ name, file }) => {
      markReload(metrics, name, true);
      const watcher = new FileWatcher({
        file,
        intervalMs: config.rbac?.reloadIntervalMs ?? p.reloadIntervalMs,
        apply: async () => {
          const next = await load();
          await store.replace(next.policy, next.data);
          metrics.policyMemory.set(store.current()!.memoryBytes());
        },
        onApplied: () => {
          markReload(metrics, name, true);
          logger.info({ file }, name === 'rbac' ? 'reloaded roles and bindings' : 'reloaded the policy and its data');
        },
        onRejected: (err) => {
          markReload(metrics, name, false);
          logger.error(
            { file, reason: err instanceof Error ? err.message : String(err) },
            name === 'rbac' ? 'rejected new roles and bindings; the previous ones keep serving' : 'rejected the new file; the previous policy and data keep serving',
          );
        },
      });
      watcher.start(await readConfigFile(file));
      return watcher;
    }),
  );

  const pool =
    p.workers > 0
      ? new EvaluationPool({
          size: p.workers,
          maxQueue: p.maxQueuedEvaluations,
          resetBytes: p.memoryResetBytes,
          onDispatch: (inputLength) => logger.debug({ inputLength }, 'evaluating on a worker'),
          onWorkerEnd: (reason) => logger.warn({ reason }, 'evaluation worker ended'),
        })
      : undefined;
  const authorizer = new StaticAuthorizer({
    store,
    ...(pool ? { pool } : {}),
    inlineMaxInputBytes: p.inlineMaxInputBytes,
    memoryResetBytes: p.memoryResetBytes,
    onRenew: (err) => logger.warn({ reason: err instanceof Error ? err.message : String(err) }, 'policy instance trapped; replacing it'),
  });
  metrics.observePolicyMemory(() => authorizer.memoryBytes());
  return {
    authorizer,
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
}

/** A data document for a user's own policy: a JSON or YAML object. */
function parseDataDocument(file: string, text: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = /\.ya?ml$/i.test(file) ? parseYaml(text, { maxAliasCount: 100, logLevel: 'error' }) : JSON.parse(text);
  } catch (err) {
    throw new ConfigError(file, '', `not valid ${/\.ya?ml$/i.test(file) ? 'YAML' : 'JSON'}: ${(err as Error).message.split('\n')[0]}`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(file, '', 'the data document must be an object');
  return doc as Record<string, unknown>;
}

function markReload(metrics: Metrics, config: string, ok: boolean): void {
  metrics.configReloads.inc({ config, result: ok ? 'success' : 'failure' });
  metrics.configLastReloadSuccessful.set({ config }, ok ? 1 : 0);
  if (ok) metrics.configLastReloadSuccessTime.set({ config }, Date.now() / 1000);
}

const text = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');

async function readConfigFile(file: string): Promise<Uint8Array<ArrayBuffer>> {
  try {
    const buf = await readFile(file);
    const bytes = new Uint8Array(new ArrayBuffer(buf.length));
    bytes.set(buf);
    return bytes;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`${file}: cannot read: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
}
