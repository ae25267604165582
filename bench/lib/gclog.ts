/**
 * V8's `--trace-gc` lines from a process's log file, read incrementally: the heap after each full
 * collection (Mark-Compact) is the live heap, the floor a leak would raise. Heap used sampled at
 * an arbitrary moment is somewhere on the sawtooth between collections.
 *
 *   [pid:0x…]   141 ms: Mark-Compact 24.5 (54.5) -> 5.6 (39.7) MB, 4.88 / 0.00 ms  (…) reason
 *   [pid:0x…]    17 ms: Scavenge 3.8 (4.0) -> 3.4 (5.0) MB, 0.79 / 0.00 ms  (…) allocation failure;
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';

export interface GcEvent {
  /** Scavenge, Mark-Compact, Mark-Compact (reduce), Minor Mark-Sweep, … */
  kind: string;
  full: boolean;
  /** Heap used before and after, bytes. */
  beforeBytes: number;
  afterBytes: number;
  /** Heap committed after, bytes. */
  committedAfterBytes: number;
  pauseMs: number;
}

const LINE = /ms: ([A-Za-z][A-Za-z -]*?(?: \([a-z]+\))?) ([\d.]+) \(([\d.]+)\) -> ([\d.]+) \(([\d.]+)\) MB, ([\d.]+)/;
const MB = 1024 * 1024; // V8 prints MB as 2^20 bytes

export class GcLog {
  private offset = 0;
  private rest = '';

  constructor(private readonly file: string) {
    try {
      this.offset = statSync(file).size; // only what comes after
    } catch {
      this.offset = 0;
    }
  }

  /** The collections logged since the previous call. */
  read(): GcEvent[] {
    let size: number;
    try {
      size = statSync(this.file).size;
    } catch {
      return [];
    }
    if (size <= this.offset) return [];
    const buf = Buffer.alloc(size - this.offset);
    const fd = openSync(this.file, 'r');
    try {
      readSync(fd, buf, 0, buf.length, this.offset);
    } finally {
      closeSync(fd);
    }
    this.offset = size;
    const lines = (this.rest + buf.toString('utf8')).split('\n');
    this.rest = lines.pop() ?? '';
    const out: GcEvent[] = [];
    for (const line of lines) {
      const m = LINE.exec(line);
      if (!m) continue;
      const kind = m[1]!;
      out.push({
        kind,
        full: kind.startsWith('Mark-Compact'),
        beforeBytes: Number(m[2]) * MB,
        afterBytes: Number(m[4]) * MB,
        committedAfterBytes: Number(m[5]) * MB,
        pauseMs: Number(m[6]),
      });
    }
    return out;
  }
}
