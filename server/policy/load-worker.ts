/**
 * A loading thread: one policy load (loader.ts), then the thread ends. It runs apart from the
 * event loop that answers probes and decisions, under a deadline and a heap bound set by
 * load-runner.ts, so a start function that never ends or a data file that fills the heap ends
 * this thread, not the service.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ConfigError } from '../errors.js';
import { loadPolicyFiles, type LoadSpec } from './loader.js';
import { clipPrint } from './prints.js';
import { describe } from './wasm-policy.js';

if (!parentPort) throw new Error('load-worker.ts runs as a worker thread');
const port = parentPort;
const { spec, files } = workerData as { spec: LoadSpec; files: Array<[string, Uint8Array<ArrayBuffer>]> };

/** What the loading thread answers; errors keep their class name, code and message. */
export type LoadAnswer =
  | { kind: 'print'; line: string }
  | { kind: 'loaded'; module: WebAssembly.Module; entrypoints: Array<[string, number]>; hostBuiltins: string[]; data: unknown; warnings: string[] }
  | { kind: 'failed'; name: string; code?: string; message: string; config?: { source: string; field: string; fault: string } };

const print = (line: string) => port.postMessage({ kind: 'print', line: clipPrint(line) } satisfies LoadAnswer);

loadPolicyFiles(spec, new Map(files), print).then(
  (r) => port.postMessage({ kind: 'loaded', ...r } satisfies LoadAnswer),
  (err: unknown) => {
    const code = (err as { code?: unknown }).code;
    port.postMessage({
      kind: 'failed',
      name: err instanceof Error ? err.name : 'Error',
      ...(typeof code === 'string' ? { code } : {}),
      message: describe(err),
      // A configuration fault is rebuilt whole: its source, field and fault are what the operator reads.
      ...(err instanceof ConfigError ? { config: { source: err.source, field: err.field, fault: err.fault } } : {}),
    } satisfies LoadAnswer);
  },
);
