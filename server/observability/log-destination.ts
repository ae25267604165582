import { write as fsWrite, writeSync } from 'node:fs';

/** Where log lines go: each call one whole line, newline included. */
export interface LogDestination {
  write(line: string): void;
  /** Writes what is buffered before returning (at exit). */
  flush?(): void;
}

/** The calls an FdDestination makes, as node:fs has them; tests hold or fail them. */
export interface FdOps {
  write(fd: number, buf: Buffer, offset: number, length: number, done: (err: NodeJS.ErrnoException | null, written: number) => void): void;
  writeSync(fd: number, buf: Buffer, offset: number, length: number): number;
  /** Waits about `ms` without returning to the event loop (flush only). */
  sleepSync(ms: number): void;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
export const NODE_FD_OPS: FdOps = {
  write: (fd, buf, offset, length, done) => fsWrite(fd, buf, offset, length, null, done),
  writeSync: (fd, buf, offset, length) => writeSync(fd, buf, offset, length),
  sleepSync: (ms) => void Atomics.wait(sleeper, 0, 0, ms),
};

export interface FdDestinationOptions {
  fd: number;
  /** Characters of lines waiting (written or not yet) past which new lines are dropped and counted. */
  maxBuffered: number;
  /** Called once the destination has caught up after dropping lines, with how many were dropped. */
  onRecovered(dropped: number): void;
  ops?: FdOps;
  /** How long a full non-blocking pipe (EAGAIN) rests before the write is tried again; 10 ms by default. */
  retryMs?: number;
}

/** Characters written in one system call at most. */
const MAX_BATCH = 64 * 1024;
/** flush() waits for a full pipe this long at most before it gives the lines up. */
const FLUSH_PATIENCE_MS = 2_000;

/**
 * Appends lines to a file descriptor (stderr) without blocking the event loop: lines wait in
 * memory and go out in batches, one write at a time, on libuv's thread pool. A reader slower
 * than the lines (or none: a full pipe) must not grow the process without bound, so past
 * `maxBuffered` characters new lines are dropped and counted, and one line says how many once the
 * destination has caught up. A write that fails (EPIPE: the reader is gone) drops its batch.
 */
export class FdDestination implements LogDestination {
  private queue: string[] = [];
  /** Characters queued or in the batch being written. */
  private buffered = 0;
  /** The batch being written: its bytes, how far, how many lines, and whether the kernel has it. */
  private batch: { buf: Buffer; off: number; lines: number; chars: number; inKernel: boolean } | undefined;
  private scheduled = false;
  private retry: NodeJS.Timeout | undefined;
  private dropped = 0;
  private syncing = false;
  private readonly ops: FdOps;

  constructor(private readonly options: FdDestinationOptions) {
    this.ops = options.ops ?? NODE_FD_OPS;
  }

  write(line: string): void {
    if (this.buffered + line.length > this.options.maxBuffered) {
      this.dropped++;
      return;
    }
    this.queue.push(line);
    this.buffered += line.length;
    // Lines logged in one tick go out in one write; and flush() at exit finds them all still
    // here, not in a write on another thread that it could not wait for.
    if (!this.scheduled && !this.batch && !this.syncing) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        if (!this.batch) this.next();
      });
    }
  }

  private next(): void {
    if (this.queue.length === 0) return;
    let n = 0;
    let chars = 0;
    while (n < this.queue.length && (n === 0 || chars + this.queue[n]!.length <= MAX_BATCH)) chars += this.queue[n++]!.length;
    const lines = n === this.queue.length ? this.queue : this.queue.splice(0, n);
    if (lines === this.queue) this.queue = [];
    this.batch = { buf: Buffer.from(lines.join(''), 'utf8'), off: 0, lines: n, chars, inKernel: false };
    this.writeBatch();
  }

  private writeBatch(): void {
    const b = this.batch!;
    b.inKernel = true;
    this.ops.write(this.options.fd, b.buf, b.off, b.buf.length - b.off, (err, written) => {
      b.inKernel = false;
      if (this.batch !== b) return;
      if (err?.code === 'EAGAIN') {
        this.retry = setTimeout(() => {
          this.retry = undefined;
          if (this.batch === b) this.writeBatch();
        }, this.options.retryMs ?? 10);
        // Waiting on a pipe nobody reads must not keep the process from exiting; main's flush()
        // writes what is left.
        this.retry.unref();
        return;
      }
      // A write that takes nothing without an error would be asked again forever: a failure too.
      const failed = err !== null || written <= 0;
      if (failed) this.dropped += b.lines;
      else if ((b.off += written) < b.buf.length) return this.writeBatch();
      this.batch = undefined;
      this.buffered -= b.chars;
      // Caught up after dropping: say so. Only after a write that worked: a destination that
      // fails every write (EPIPE) gets no line about it, or each would fail and call for another.
      if (!failed && this.queue.length === 0 && this.dropped > 0) this.report();
      this.next();
    });
  }

  /** One line, through the logger, saying how many lines were dropped. */
  private report(): void {
    const dropped = this.dropped;
    this.dropped = 0;
    this.options.onRecovered(dropped);
  }

  /**
   * Writes every line still here synchronously, blocking (main calls it at exit and after a fatal
   * error, so that the last lines are not lost). A batch already handed to the kernel on another
   * thread completes on its own.
   */
  flush(): void {
    this.syncing = true;
    try {
      this.drainSync();
      // After the lines, so that the count is not itself dropped for want of room.
      if (this.dropped > 0) {
        this.report();
        this.drainSync();
      }
    } finally {
      this.syncing = false;
    }
  }

  private drainSync(): void {
    const b = this.batch;
    if (b && !b.inKernel) {
      clearTimeout(this.retry);
      this.batch = undefined;
      this.buffered -= b.chars;
      this.writeAllSync(b.buf.subarray(b.off));
    }
    if (this.queue.length === 0) return;
    const text = this.queue.join('');
    this.queue = [];
    this.buffered -= text.length;
    this.writeAllSync(Buffer.from(text, 'utf8'));
  }

  private writeAllSync(buf: Buffer): void {
    let off = 0;
    let waited = 0;
    while (off < buf.length) {
      try {
        off += this.ops.writeSync(this.options.fd, buf, off, buf.length - off);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || waited >= FLUSH_PATIENCE_MS) return;
        this.ops.sleepSync(1);
        waited++;
      }
    }
  }
}
