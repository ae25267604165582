import { createRequire } from 'node:module';
import { extname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';
import type { Decision } from '../document.js';
import type { PolicyDocument } from './document.js';
import type { ErrorCode } from '../error-codes.js';

/** Main thread to worker. */
export type ToWorker =
  | {
      kind: 'load';
      generation: number;
      source: string;
      module: WebAssembly.Module;
      entrypoints: Array<[string, number]>;
      maxBytes: number;
      resetBytes: number;
      data: unknown;
    }
  | { kind: 'eval'; job: number; generation: number; path: readonly string[]; inputJson: string | undefined };

/** What an evaluation on a worker came to. */
export type WorkerOutcome = { ok: true; decision: Decision } | { ok: false; error: { kind: 'path' | 'trap' | 'eval'; message: string } };

/** Worker to main thread: one answer per `eval`, with the instance's memory after it; or a policy's print() line. */
export type FromWorker = ({ kind?: 'answer'; job: number; memoryBytes: number } & WorkerOutcome) | { kind: 'print'; source: string; line: string };

/**
 * Why an evaluation on the pool failed. `path`, `trap` and `eval` are the policy's failures, as
 * inline evaluation throws them; the others are the pool's: the deadline passed (`timeout`), the
 * caller went away (`cancelled`), too many evaluations were waiting (`saturated`), the worker died
 * (`crashed`), the pool is closed (`closed`).
 */
export class PoolEvaluationError extends Error {
  readonly code: ErrorCode;

  constructor(
    readonly kind: PoolFailure,
    message: string,
  ) {
    super(message);
    this.name = 'PoolEvaluationError';
    this.code = POOL_FAILURE_CODES[kind];
  }
}

type PoolFailure = 'path' | 'trap' | 'eval' | 'timeout' | 'cancelled' | 'saturated' | 'crashed' | 'closed';

/** The catalogue's code for each kind: the kinds stay short for the worker protocol, the codes say whose failure. */
const POOL_FAILURE_CODES: Readonly<Record<PoolFailure, ErrorCode>> = {
  path: 'policy_path',
  trap: 'policy_trap',
  eval: 'eval_failed',
  timeout: 'eval_timeout',
  cancelled: 'eval_cancelled',
  saturated: 'eval_saturated',
  crashed: 'eval_worker_crashed',
  closed: 'eval_pool_closed',
};

export interface EvaluationPoolOptions {
  /** Worker threads at most; each holds one instance of the serving policy. */
  size: number;
  /** Evaluations waiting for a worker at most; beyond, `saturated` at once. */
  maxQueue: number;
  /** A worker instance that grew past this (and past 4x its fresh size) is replaced after use. */
  resetBytes: number;
  /** Told when an evaluation is handed to a worker, for the log. */
  onDispatch?: (inputBytes: number) => void;
  /** Told when a worker is ended or ends on its own, for the log. */
  onWorkerEnd?: (reason: string) => void;
  /** A policy's print() line from a worker, for the log (never stdout). */
  onPrint?: (source: string, line: string) => void;
}

// Run from sources (tsx) the worker is a .ts file; built, a .js file beside this one.
const WORKER_SCRIPT = new URL(`./eval-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

interface Job {
  id: number;
  doc: PolicyDocument;
  path: readonly string[];
  inputJson: string | undefined;
  signal: AbortSignal;
  resolve: (d: Decision) => void;
  reject: (e: Error) => void;
  onAbort: () => void;
}

interface Slot {
  worker: Worker;
  /** The document generation the worker holds; 0 for none. */
  generation: number;
  job?: Job;
  memoryBytes: number;
}

/**
 * Evaluation worker threads, started on first use. A decision runs on an idle worker, or waits in
 * a bounded queue. The worker is sent the decision's own document (policy and data, once per
 * generation) before the evaluation, so a reload never mixes policies within a decision. When the
 * decision's signal aborts mid-evaluation the worker is terminated (a synchronous Wasm loop cannot
 * be interrupted any other way) and a fresh one started.
 */
export class EvaluationPool {
  private readonly slots = new Set<Slot>();
  private readonly queue: Job[] = [];
  private nextJob = 1;
  private closed = false;

  constructor(private readonly options: EvaluationPoolOptions) {
    if (options.size < 1) throw new Error('an evaluation pool needs at least one worker');
  }

  /** Evaluates `path` over `inputJson` with `doc`'s policy and data on a worker. */
  evaluate(doc: PolicyDocument, path: readonly string[], inputJson: string | undefined, signal: AbortSignal): Promise<Decision> {
    if (this.closed) return Promise.reject(new PoolEvaluationError('closed', 'the evaluation workers are shut down'));
    if (signal.aborted) return Promise.reject(abortError(signal));
    return new Promise<Decision>((resolve, reject) => {
      const job: Job = { id: this.nextJob++, doc, path, inputJson, signal, resolve, reject, onAbort: () => this.abort(job) };
      const slot = this.idleSlot();
      if (!slot && this.queue.length >= this.options.maxQueue) {
        reject(new PoolEvaluationError('saturated', `${this.queue.length} evaluations are already waiting for a worker`));
        return;
      }
      signal.addEventListener('abort', job.onAbort, { once: true });
      if (slot) this.dispatch(slot, job);
      else this.queue.push(job);
    });
  }

  /** Linear memory the workers' instances hold, as each last reported it. */
  memoryBytes(): number {
    let sum = 0;
    for (const s of this.slots) sum += s.memoryBytes;
    return sum;
  }

  /** Workers alive (started and not ended). */
  get workers(): number {
    return this.slots.size;
  }

  /** Fails waiting and running evaluations and ends every worker. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) this.settle(job, new PoolEvaluationError('closed', 'the evaluation workers are shut down'));
    const ending = [...this.slots].map((s) => {
      this.slots.delete(s);
      if (s.job) this.settle(s.job, new PoolEvaluationError('closed', 'the evaluation workers are shut down'));
      return s.worker.terminate();
    });
    await Promise.all(ending);
  }

  private idleSlot(): Slot | undefined {
    for (const s of this.slots) if (!s.job) return s;
    return this.slots.size < this.options.size ? this.spawn() : undefined;
  }

  private spawn(): Slot {
    const worker = startWorker();
    // An idle pool must not keep the process alive; the listeners do while anything is served.
    worker.unref();
    const slot: Slot = { worker, generation: 0, memoryBytes: 0 };
    this.slots.add(slot);
    worker.on('message', (msg: FromWorker) => {
      if (msg.kind === 'print') this.options.onPrint?.(msg.source, msg.line);
      else this.answered(slot, msg);
    });
    worker.on('error', (err) => this.ended(slot, `evaluation worker failed: ${err.message}`));
    worker.on('exit', (code) => this.ended(slot, `evaluation worker exited with code ${code}`));
    return slot;
  }

  private dispatch(slot: Slot, job: Job): void {
    slot.job = job;
    const doc = job.doc;
    if (slot.generation !== doc.generation) {
      const load: ToWorker = {
        kind: 'load',
        generation: doc.generation,
        source: doc.policy.source,
        module: doc.policy.module,
        entrypoints: [...doc.policy.entrypoints],
        maxBytes: doc.maxBytes,
        resetBytes: this.options.resetBytes,
        data: doc.data,
      };
      slot.worker.postMessage(load);
      slot.generation = doc.generation;
    }
    const run: ToWorker = { kind: 'eval', job: job.id, generation: doc.generation, path: job.path, inputJson: job.inputJson };
    slot.worker.postMessage(run);
    this.options.onDispatch?.(job.inputJson?.length ?? 0);
  }

  private answered(slot: Slot, msg: Exclude<FromWorker, { kind: 'print' }>): void {
    slot.memoryBytes = msg.memoryBytes;
    const job = slot.job;
    if (!job || job.id !== msg.job) return;
    slot.job = undefined;
    if (msg.ok) this.settle(job, undefined, msg.decision);
    else this.settle(job, new PoolEvaluationError(msg.error.kind, msg.error.message));
    this.pump();
  }

  /** The deadline passed or the caller left: drop the job, ending its worker if it is running. */
  private abort(job: Job): void {
    const queued = this.queue.indexOf(job);
    if (queued >= 0) {
      this.queue.splice(queued, 1);
      this.settle(job, abortError(job.signal));
      return;
    }
    for (const slot of this.slots) {
      if (slot.job !== job) continue;
      this.slots.delete(slot);
      slot.job = undefined;
      void slot.worker.terminate();
      this.options.onWorkerEnd?.('evaluation past its deadline: worker ended and replaced');
      this.settle(job, abortError(job.signal));
      // Replace it now, so the next long evaluation does not also pay for a thread start.
      if (!this.closed) this.spawn();
      this.pump();
      return;
    }
  }

  private ended(slot: Slot, reason: string): void {
    if (!this.slots.delete(slot)) return;
    this.options.onWorkerEnd?.(reason);
    if (slot.job) this.settle(slot.job, new PoolEvaluationError('crashed', reason));
    slot.job = undefined;
    // No eager restart: a worker that cannot start would loop. The next evaluation starts one.
    this.pump();
  }

  private pump(): void {
    while (this.queue.length > 0) {
      const slot = this.idleSlot();
      if (!slot) return;
      this.dispatch(slot, this.queue.shift()!);
    }
  }

  private settle(job: Job, err: Error | undefined, decision?: Decision): void {
    job.signal.removeEventListener('abort', job.onAbort);
    if (err) job.reject(err);
    else job.resolve(decision!);
  }
}

/** A worker running `script` (a .ts file from sources, a .js file built), with `options`. */
export function startWorker(script: URL = WORKER_SCRIPT, options: WorkerOptions = {}): Worker {
  if (script.pathname.endsWith('.ts')) {
    // Run from sources (tests, bench probes): tsx's hooks do not reach worker threads by themselves.
    // (Its ESM api, found beside the CommonJS one that require.resolve can name from any loader.)
    const api = pathToFileURL(
      createRequire(import.meta.url)
        .resolve('tsx/esm/api')
        .replace(/\.cjs$/, '.mjs'),
    ).href;
    const boot = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(script.href)}); });`;
    return new Worker(boot, { ...options, eval: true });
  }
  return new Worker(script, options);
}

/** The deadline's TimeoutError is `timeout`; anything else aborting (a client gone) is `cancelled`. */
function abortError(signal: AbortSignal): PoolEvaluationError {
  const reason = signal.reason as { name?: unknown } | undefined;
  return reason?.name === 'TimeoutError'
    ? new PoolEvaluationError('timeout', 'the evaluation did not finish within the decision deadline')
    : new PoolEvaluationError('cancelled', 'the caller cancelled the evaluation');
}
