import { randomUUID } from 'node:crypto';
import { createWriteStream, openSync } from 'node:fs';
import type { Writable } from 'node:stream';

/** One decision, in OPA's decision-log event format. */
export interface DecisionEvent {
  decision_id: string;
  path: string;
  input?: unknown;
  /** lokistack-authz: the identity check's result code, and the asserted identity when it differs. */
  identity?: { check: string; asserted?: { subject?: unknown; groups?: unknown } };
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
}

export const DEFAULT_MAX_LOGGED_INPUT_BYTES = 64 * 1024;
const MARK = '…[truncated]';

/**
 * Writes OPA-style decision log events, one JSON line each, with the configured fields erased.
 * It never blocks a decision: when the destination cannot keep up, events past the bound are
 * dropped and counted rather than held in memory without limit.
 */
export class DecisionLog {
  private pending = 0;

  constructor(
    private readonly out: Writable,
    private readonly options: DecisionLogOptions,
  ) {
    // A failing destination (disk full) must not crash the service: its events count as dropped.
    out.on('error', () => {
      this.broken = true;
    });
  }

  private broken = false;

  /** Opens `path` for appending now, so that a bad path stops startup instead of losing events later. */
  static toFile(path: string, options: DecisionLogOptions): DecisionLog {
    let fd: number;
    try {
      fd = openSync(path, 'a');
    } catch (err) {
      throw new Error(`--decision-log.output ${path}: cannot open for appending: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    return new DecisionLog(createWriteStream('', { fd }), options);
  }

  newDecisionId(): string {
    return randomUUID();
  }

  write(event: DecisionEvent): void {
    if (this.broken || this.pending >= this.options.maxPending) {
      this.options.onDropped?.();
      return;
    }
    const { doc, erased } = erase({ ...event }, this.options.mask);
    // An input can be megabytes (the input bounds allow it); one event must not be.
    const max = this.options.maxInputBytes ?? DEFAULT_MAX_LOGGED_INPUT_BYTES;
    let truncated = false;
    if (doc.input !== undefined && JSON.stringify(doc.input).length > max) {
      doc.input = truncate(doc.input, { left: max });
      truncated = true;
    }
    const line =
      JSON.stringify({ labels: this.options.labels, ...doc, ...(erased.length > 0 ? { erased } : {}), ...(truncated ? { truncated: ['/input'] } : {}) }) + '\n';
    this.pending++;
    this.out.write(line, () => {
      this.pending--;
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.out === process.stdout || this.out === process.stderr) return resolve();
      this.out.end(() => resolve());
    });
  }
}

/** Removes each JSON pointer present in `doc` (copying along the way) and lists those removed. */
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
