import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, PolicyLoadError } from '../errors.js';
import { PolicyFileError } from './file-error.js';
import type { LoadSpec } from './loader.js';
import type { LoadAnswer } from './load-worker.js';
import { CompiledPolicy, type PolicyPrinter } from './wasm-policy.js';
import { startWorker } from './worker-pool.js';

const LOAD_SCRIPT = new URL(`./load-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

export interface LoadBounds {
  /** The load's deadline (--policy.load-timeout). */
  timeoutMs: number;
  /** The loading thread's V8 heap bound, in MiB: parsing data past it ends the thread, not the process. */
  maxHeapMb: number;
}

export interface PolicyLoad {
  policy: CompiledPolicy;
  data: unknown;
  warnings: string[];
}

/**
 * The loading thread's heap bound for a data bound: parsed JSON takes several times its text, and
 * the thread also holds the unpacked bundle and the instance's copy. Never below 128 MiB, which a
 * small policy needs to start at all.
 */
export function loadHeapMb(maxDataBytes: number): number {
  return Math.max(128, Math.ceil((12 * maxDataBytes) / (1 << 20)));
}

/**
 * Runs one load (loader.ts) on its own thread, with a deadline and a bounded heap: the event loop
 * keeps answering probes and decisions throughout, and a load that loops or grows past its bounds
 * is ended and fails like any bad file. The result is the compiled module (shared, not recompiled)
 * and the data, ready for the serving instance. Prints from the policy go to `print`.
 */
export function runPolicyLoad(
  spec: LoadSpec,
  files: ReadonlyMap<string, Uint8Array<ArrayBuffer>>,
  bounds: LoadBounds,
  print?: PolicyPrinter,
): Promise<PolicyLoad> {
  return new Promise<PolicyLoad>((resolve, reject) => {
    const worker = startWorker(LOAD_SCRIPT, {
      workerData: { spec, files: [...files] },
      resourceLimits: { maxOldGenerationSizeMb: bounds.maxHeapMb, maxYoungGenerationSizeMb: Math.min(64, Math.max(16, bounds.maxHeapMb >> 3)) },
    });
    let settled = false;
    const finish = (outcome: { ok: PolicyLoad } | { err: Error }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void worker.terminate();
      if ('ok' in outcome) resolve(outcome.ok);
      else reject(outcome.err);
    };
    // A Wasm loop cannot be interrupted: ending the thread is the only way to stop it.
    const timer = setTimeout(
      () =>
        finish({
          err: new PolicyFileError(
            'load_timeout',
            `${spec.policyFile}: loading the policy did not finish within ${bounds.timeoutMs} ms (--policy.load-timeout); a start function, builtins export or entrypoint that never ends?`,
          ),
        }),
      bounds.timeoutMs,
    );
    worker.on('message', (msg: LoadAnswer) => {
      if (msg.kind === 'print') print?.(msg.line);
      else if (msg.kind === 'loaded') {
        const policy = CompiledPolicy.adopt(spec.policyFile, msg.module, new Map(msg.entrypoints), { maxBytes: spec.maxMemoryBytes }, print, msg.hostBuiltins);
        finish({ ok: { policy, data: msg.data, warnings: msg.warnings } });
      } else finish({ err: rebuild(msg) });
    });
    worker.on('error', (err: Error & { code?: string }) => {
      const why =
        err.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? `it needs more than the ${bounds.maxHeapMb} MiB heap a load may use (raise --policy.max-data-bytes only with the memory to hold it)`
          : err.message;
      finish({ err: new PolicyFileError('load_failed', `${spec.policyFile}: loading the policy failed: ${why}`) });
    });
    worker.on('exit', (code) =>
      finish({ err: new PolicyFileError('load_failed', `${spec.policyFile}: the loading thread exited (code ${code}) before answering`) }),
    );
  });
}

/** The load's error as the main thread throws it: its class where it has a stable code, its message always. */
function rebuild(msg: Extract<LoadAnswer, { kind: 'failed' }>): Error {
  if (msg.name === 'PolicyLoadError' && msg.code) return new PolicyLoadError(msg.code as PolicyLoadError['code'], msg.message);
  if (msg.name === 'PolicyFileError' && msg.code) return new PolicyFileError(msg.code as PolicyFileError['code'], msg.message);
  if (msg.config) return new ConfigError(msg.config.source, msg.config.field, msg.config.fault);
  const err = new Error(msg.message);
  err.name = msg.name;
  return err;
}
