import { randomUUID } from 'node:crypto';
import { close as fsClose, fstat, ftruncate, openSync, write as fsWrite } from 'node:fs';
import type { Writable } from 'node:stream';
import type { DecisionReason } from '../document.js';
import type { Logger } from './logger.js';
import { RateLimit } from './rate-limit.js';
import { ConfigError, reasonOf } from '../errors.js';

/** One decision, in OPA's decision-log event format. */
export interface DecisionEvent {
  decision_id: string;
  path: string;
  input?: unknown;
  /** lokistack-authz: the identity check's result code, and the asserted identity when it differs. */
  identity?: { check: string; asserted?: { subject?: unknown; groups?: unknown } };
  /**
   * lokistack-authz: why the decision came out as it did, with names (server/decision/reasons.ts,
   * docs/troubleshooting.md); bounded in size by its writer, and never holding a token.
   */
  reason?: DecisionReason;
  result?: unknown;
  error?: { code: string; message: string };
  requested_by: string;
  timestamp: string;
  metrics: Record<string, number>;
}

export interface DecisionLogOptions {
  /** JSON pointers erased from each event before it is written, e.g. /input/token. */
  mask: readonly string[];
  labels: Record<string, string>;
  /** Events waiting for a slow destination before new ones are dropped (and counted). */
  maxPending: number;
  onDropped?: () => void;
  /** Bytes of `input` (as JSON) an event keeps; past them it is truncated and marked. Default 64 KiB. */
  maxInputBytes?: number;
  /** Where dropping is reported (warn, rate-limited) and recovery (info). */
  logger?: Logger;
  /** The limit on those warn lines; one per reason every 10s by default. */
  warnLimit?: RateLimit;
  /** Names the destination in log lines. */
  name?: string;
}

export const DEFAULT_MAX_LOGGED_INPUT_BYTES = 64 * 1024;
const MARK = '…[truncated]';
/** Lines written in one system call at most: a failed write drops no more than these. */
const MAX_BATCH_LINES = 256;
const MAX_BATCH_BYTES = 1 << 20;

/**
 * Where decision log lines go. `append` keeps its lines whole or not at all: when it rejects,
 * none of them is in the destination, not even in part.
 */
export interface LogSink {
  append(lines: string): Promise<void>;
  close(): Promise<void>;
}

/** The file system calls a FileSink makes, as node:fs has them; tests fail them on demand. */
export interface FileOps {
  write(fd: number, buf: Buffer, offset: number, length: number): Promise<number>;
  size(fd: number): Promise<number>;
  truncate(fd: number, length: number): Promise<void>;
  close(fd: number): Promise<void>;
}

const cb =
  <T>(resolve: (v: T) => void, reject: (e: Error) => void) =>
  (err: Error | null, v: T) =>
    err ? reject(err) : resolve(v);

export const NODE_FILE_OPS: FileOps = {
  write: (fd, buf, offset, length) => new Promise((res, rej) => fsWrite(fd, buf, offset, length, null, cb(res, rej))),
  size: (fd) => new Promise((res, rej) => fstat(fd, (err, st) => (err ? rej(err) : res(st.size)))),
  truncate: (fd, length) => new Promise((res, rej) => ftruncate(fd, length, (err) => (err ? rej(err) : res()))),
  close: (fd) => new Promise((res, rej) => fsClose(fd, (err) => (err ? rej(err) : res()))),
};

/**
 * Appends to a file opened O_APPEND. A write the disk cuts short (ENOSPC after part of a batch)
 * would leave half a JSON line that every later line is glued to; the part written is cut off
 * again, and until that succeeds nothing more is appended.
 */
export class FileSink implements LogSink {
  /** Bytes of a failed batch still at the end of the file. */
  private partial = 0;

  constructor(
    private readonly fd: number,
    private readonly ops: FileOps = NODE_FILE_OPS,
  ) {}

  async append(lines: string): Promise<void> {
    if (this.partial > 0) await this.rollback();
    const buf = Buffer.from(lines, 'utf8');
    let off = 0;
    try {
      while (off < buf.length) {
        const n = await this.ops.write(this.fd, buf, off, buf.length - off);
        if (n <= 0) throw Object.assign(new Error('write wrote nothing'), { code: 'EIO' });
        off += n;
      }
    } catch (err) {
      this.partial = off;
      if (off > 0) await this.rollback().catch(() => {});
      throw err;
    }
  }

  private async rollback(): Promise<void> {
    // Only this process appends; a file now shorter than the part (rotated by truncation) has
    // lost it already.
    const size = await this.ops.size(this.fd);
    if (size >= this.partial) await this.ops.truncate(this.fd, size - this.partial);
    this.partial = 0;
  }

  async close(): Promise<void> {
    if (this.partial > 0) await this.rollback().catch(() => {});
    await this.ops.close(this.fd);
  }
}

/** A stream (stdout). A stream that failed once is destroyed: its lines count as dropped from then on. */
export class StreamSink implements LogSink {
  constructor(private readonly out: Writable) {
    // A failing destination must not crash the service: the write's callback reports the error.
    out.on('error', () => {});
  }

  append(lines: string): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.out.destroyed) return reject(Object.assign(new Error('destination closed after an error'), { code: 'ERR_STREAM_DESTROYED' }));
      this.out.write(lines, (err) => (err ? reject(err) : resolve()));
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.out === process.stdout || this.out === process.stderr || this.out.destroyed) return resolve();
      this.out.end(() => resolve());
    });
  }
}

const isSink = (x: Writable | LogSink): x is LogSink => typeof (x as LogSink).append === 'function';

/**
 * Writes OPA-style decision log events, one JSON line each, with the configured fields erased.
 * It never blocks a decision: when the destination cannot keep up or fails, events past the bound
 * are dropped, counted and reported (rate-limited), and writing resumes as soon as the
 * destination takes lines again.
 */
export class DecisionLog {
  private readonly queue: string[] = [];
  private inFlight = 0;
  private flushing: Promise<void> | undefined;
  private readonly sink: LogSink;
  private readonly warnLimit: RateLimit;
  /** Events dropped since the destination last took a write; reported when it does again. */
  private droppedSinceFailure = 0;
  private failing = false;
  private closed = false;

  constructor(
    out: Writable | LogSink,
    private readonly options: DecisionLogOptions,
  ) {
    this.sink = isSink(out) ? out : new StreamSink(out);
    this.warnLimit = options.warnLimit ?? new RateLimit(10_000);
  }

  /**
   * Opens `path` for appending now (created 0600: events carry users and groups), so that a bad
   * path stops startup instead of losing events later.
   */
  static toFile(path: string, options: DecisionLogOptions, ops: FileOps = NODE_FILE_OPS): DecisionLog {
    let fd: number;
    try {
      fd = openSync(path, 'a', 0o600);
    } catch (err) {
      throw new ConfigError(`--decision-log.output ${path}`, '', `cannot open for appending: ${(err as NodeJS.ErrnoException).code ?? reasonOf(err)}`);
    }
    return new DecisionLog(new FileSink(fd, ops), { name: path, ...options });
  }

  /**
   * Whether the mask keeps who asked out of the log (the input's subject, groups or claims): then a
   * reason keeps the binding and role names but not the subject or claim value that matched, which
   * would name the caller again.
   */
  private get hidesIdentity(): boolean {
    return (this.hidesIdentityMemo ??= this.options.mask.some((p) => /^\/input(\/(subject|groups|claims)(\/.*)?)?$/.test(p)));
  }
  private hidesIdentityMemo: boolean | undefined;

  newDecisionId(): string {
    return randomUUID();
  }

  write(event: DecisionEvent): void {
    if (this.closed) {
      // Decisions answered during shutdown, after the log closed: counted, nothing to warn about.
      this.options.onDropped?.();
      return;
    }
    if (this.queue.length + this.inFlight >= this.options.maxPending) {
      this.drop(1, 'backlog', `${this.options.maxPending} events waiting`);
      return;
    }
    const { doc, erased } = erase({ ...event }, this.options.mask);
    if (doc.reason !== undefined && this.hidesIdentity) doc.reason = withoutIdentity(doc.reason as DecisionReason);
    // An input can be megabytes (the input bounds allow it); one event must not be.
    const max = this.options.maxInputBytes ?? DEFAULT_MAX_LOGGED_INPUT_BYTES;
    let truncated = false;
    if (doc.input !== undefined && JSON.stringify(doc.input).length > max) {
      doc.input = truncate(doc.input, { left: max });
      truncated = true;
    }
    const line = `${JSON.stringify({ labels: this.options.labels, ...doc, ...(erased.length > 0 ? { erased } : {}), ...(truncated ? { truncated: ['/input'] } : {}) })}\n`;
    this.queue.push(line);
    if (!this.flushing) this.flushing = this.flush();
  }

  /** Writes queued lines in batches, one write at a time, until none is left. */
  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      let n = 0;
      let bytes = 0;
      while (n < this.queue.length && n < MAX_BATCH_LINES && (n === 0 || bytes + this.queue[n]!.length <= MAX_BATCH_BYTES)) bytes += this.queue[n++]!.length;
      const batch = this.queue.splice(0, n);
      this.inFlight = n;
      try {
        await this.sink.append(batch.join(''));
        if (this.failing) {
          this.failing = false;
          this.options.logger?.info({ output: this.options.name, dropped: this.droppedSinceFailure }, 'decision log writes again');
        }
        this.droppedSinceFailure = 0;
      } catch (err) {
        this.failing = true;
        const code = (err as NodeJS.ErrnoException).code ?? 'error';
        this.drop(n, `write:${code}`, reasonOf(err));
      } finally {
        this.inFlight = 0;
      }
    }
    this.flushing = undefined;
  }

  private drop(n: number, key: string, reason: string): void {
    for (let i = 0; i < n; i++) this.options.onDropped?.();
    this.droppedSinceFailure += n;
    const suppressed = this.warnLimit.take(key);
    if (suppressed === undefined) return;
    this.options.logger?.warn(
      { output: this.options.name, reason, dropped: n, ...(suppressed > 0 ? { suppressed } : {}) },
      key === 'backlog' ? 'decision log cannot keep up; dropping events' : 'decision log write failed; dropping events',
    );
  }

  /** Resolves once every line queued so far has been written or dropped. */
  async settled(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  /** Writes what is queued (waiting at most `timeoutMs`), then closes the destination. */
  async close(timeoutMs = 5_000): Promise<void> {
    this.closed = true;
    if (this.flushing) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        this.flushing.then(() => false),
        new Promise<boolean>((r) => {
          timer = setTimeout(() => r(true), timeoutMs);
          timer.unref();
        }),
      ]);
      clearTimeout(timer);
      // A write still in flight owns the descriptor: closing it under the write could hand the
      // number to another file. The process is exiting; leave it.
      if (timedOut) return;
    }
    await this.sink.close();
  }
}

/** Removes each JSON pointer present in `doc` (copying along the way) and lists those removed. */
/** A reason whose grants and matched items name no subject and no claim value. */
function withoutIdentity(reason: DecisionReason): DecisionReason {
  const strip = (items: unknown[] | undefined) =>
    items?.map((item) => {
      if (item === null || typeof item !== 'object') return item;
      const { subject: _s, value: _v, ...rest } = item as Record<string, unknown>;
      return rest;
    });
  const out: DecisionReason = { ...reason };
  if (reason.grants) out.grants = strip(reason.grants)!;
  if (reason.matched) out.matched = strip(reason.matched)!;
  return out;
}

export function erase(doc: Record<string, unknown>, pointers: readonly string[]): { doc: Record<string, unknown>; erased: string[] } {
  let out = doc;
  const erased: string[] = [];
  for (const pointer of pointers) {
    const parts = pointer
      .split('/')
      .slice(1)
      .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
    if (parts.length === 0) continue;
    const next = removeAt(out, parts);
    if (next !== out) {
      out = next as Record<string, unknown>;
      erased.push(pointer);
    }
  }
  return { doc: out, erased };
}

function removeAt(value: unknown, parts: readonly string[]): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const obj = value as Record<string, unknown>;
  const [head, ...rest] = parts as [string, ...string[]];
  if (!Object.hasOwn(obj, head)) return value;
  if (rest.length === 0) {
    const { [head]: _removed, ...kept } = obj;
    return kept;
  }
  const child = removeAt(obj[head], rest);
  return child === obj[head] ? value : { ...obj, [head]: child };
}

/**
 * A copy of `value` within about `budget.left` characters of JSON: the shape kept, strings cut and
 * arrays and objects ended early, each cut marked with "…[truncated]". Depth is bounded by the
 * input bounds already.
 */
export function truncate(value: unknown, budget: { left: number }): unknown {
  if (typeof value === 'string') {
    if (value.length + 2 <= budget.left) {
      budget.left -= value.length + 2;
      return value;
    }
    const keep = Math.max(0, budget.left - MARK.length - 2);
    budget.left = 0;
    return value.slice(0, keep) + MARK;
  }
  if (value === null || typeof value !== 'object') {
    budget.left -= String(value).length;
    return value;
  }
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (let i = 0; i < value.length; i++) {
      if (budget.left <= 0) {
        out.push(`${MARK} ${value.length - i} more`);
        break;
      }
      out.push(truncate(value[i], budget));
      budget.left -= 1;
    }
    return out;
  }
  const out: Record<string, unknown> = {};
  const keys = Object.keys(value);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    if (budget.left <= 0) {
      Object.defineProperty(out, MARK, { value: `${keys.length - i} more keys`, enumerable: true, writable: true, configurable: true });
      break;
    }
    budget.left -= k.length + 3;
    Object.defineProperty(out, k, { value: truncate((value as Record<string, unknown>)[k], budget), enumerable: true, writable: true, configurable: true });
  }
  return out;
}
