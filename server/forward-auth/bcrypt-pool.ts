import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import { BusyError } from '../errors.js';
import { startWorker } from '../policy/worker-pool.js';

const SCRIPT = new URL(`./bcrypt-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

export interface PasswordChecker {
  /** Whether `password` matches the bcrypt `hash`; rejects with BusyError when the queue is full. */
  check(password: string, hash: string): Promise<boolean>;
  close(): Promise<void>;
}

interface Job {
  id: number;
  password: string;
  hash: string;
  resolve: (ok: boolean) => void;
  reject: (err: Error) => void;
}

/**
 * bcrypt checks on worker threads: a check costs tens to hundreds of milliseconds of CPU by design,
 * which on the main thread would stall every request. At most `maxQueued` checks wait; beyond that
 * the caller is answered 503 at once, so a flood of wrong passwords costs a bounded queue, not memory
 * and latency for everyone. A worker that dies fails its job (a denial by error, never a match) and
 * is replaced.
 */
export class BcryptPool implements PasswordChecker {
  private readonly idle: Worker[] = [];
  private readonly busy = new Map<Worker, Job>();
  private readonly queue: Job[] = [];
  private nextId = 0;
  private closed = false;

  constructor(
    size: number,
    private readonly maxQueued: number,
    private readonly script: URL = SCRIPT,
  ) {
    for (let i = 0; i < size; i++) this.idle.push(this.spawn());
  }

  check(password: string, hash: string): Promise<boolean> {
    if (this.closed) return Promise.reject(new Error('password checks are closed'));
    return new Promise<boolean>((resolve, reject) => {
      const job: Job = { id: ++this.nextId, password, hash, resolve, reject };
      const w = this.idle.pop();
      if (w) return this.dispatch(w, job);
      if (this.queue.length >= this.maxQueued) return reject(new BusyError('too many password checks waiting; try again later'));
      this.queue.push(job);
    });
  }

  /** Checks waiting for a thread now. */
  queued(): number {
    return this.queue.length;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new Error('password checks are closed'));
    const all = [...this.idle, ...this.busy.keys()];
    this.idle.length = 0;
    await Promise.all(all.map((w) => w.terminate()));
  }

  private spawn(): Worker {
    const w = startWorker(this.script);
    w.unref();
    w.on('message', (m: { id: number; ok: boolean }) => {
      const job = this.busy.get(w);
      if (!job || job.id !== m.id) return;
      this.busy.delete(w);
      job.resolve(m.ok === true);
      this.release(w);
    });
    const fail = (err: Error) => {
      const job = this.busy.get(w);
      this.busy.delete(w);
      const i = this.idle.indexOf(w);
      if (i >= 0) this.idle.splice(i, 1);
      job?.reject(err);
      if (!this.closed) this.release(this.spawn());
    };
    w.on('error', fail);
    w.on('exit', (code) => {
      if (!this.closed && (this.busy.has(w) || this.idle.includes(w))) fail(new Error(`bcrypt thread exited (${code})`));
    });
    return w;
  }

  private dispatch(w: Worker, job: Job): void {
    this.busy.set(w, job);
    w.postMessage({ id: job.id, password: job.password, hash: job.hash });
  }

  private release(w: Worker): void {
    const next = this.queue.shift();
    if (next) this.dispatch(w, next);
    else this.idle.push(w);
  }
}
