import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import type { ErrorCode } from '../error-codes.js';

/** `B`: the bytes `readFile` gives, handed to `apply` as they are (no copy, no re-read); named, never inferred. */
export interface FileWatcherOptions<B extends Uint8Array = Buffer> {
  file: string;
  /** Also re-read this often (ms), since file events can be missed; 0 for events alone. */
  intervalMs: number;
  /**
   * New content is applied only once two reads this far apart (ms) are identical: a file written
   * in place in parts is never applied half-written, even when the half parses.
   */
  settleMs: number;
  /** Applies the settled content; a rejection means it was refused and the old content still serves. */
  apply: (content: NoInfer<B>) => Promise<void>;
  onApplied: () => void;
  onRejected: (err: unknown) => void;
  /** Waits between the two reads; the tests drive it to order writes against reads. */
  sleep?: (ms: number) => Promise<void>;
  /** Reads the file (bounded, regular files only: server/files.ts). */
  readFile: (file: string) => Promise<NoInfer<B>>;
}

/** A file that changed at every settle read this many times in a row is left for the next check. */
const MAX_SETTLE_ROUNDS = 10;

export class FileUnsettledError extends Error {
  readonly code = 'file_unsettled' satisfies ErrorCode;

  constructor(file: string, rounds: number) {
    super(`${file}: still changing after ${rounds} reads; the previous content keeps serving until it settles`);
    this.name = 'FileUnsettledError';
  }
}

/**
 * Watches a configuration file for new content. It watches the file's directory, because a
 * Kubernetes ConfigMap update swaps a symlink there rather than writing the file, and compares
 * content hashes, so that touch-only events and repeated events apply nothing. What it applies is
 * the bytes it read and saw settle, never a later read, so what was checked is what serves.
 */
export class FileWatcher<B extends Uint8Array = Buffer> {
  private lastHash: string | undefined;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly read: (file: string) => Promise<B>;

  constructor(private readonly options: FileWatcherOptions<B>) {
    this.sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms).unref()));
    this.read = options.readFile;
  }

  /** Starts watching; `initial` is the content serving now (the very bytes it was loaded from). */
  start(initial: string | Uint8Array): void {
    this.lastHash = hash(initial);
    try {
      this.watcher = watch(dirname(this.options.file), { persistent: false }, () => this.schedule());
      this.watcher.on('error', () => this.schedule());
    } catch {
      // No file events here (some volume types): the interval still catches changes.
    }
    if (this.options.intervalMs > 0) {
      this.timer = setInterval(() => this.schedule(), this.options.intervalMs);
      this.timer.unref();
    }
  }

  stop(): void {
    this.stopped = true;
    this.watcher?.close();
    clearInterval(this.timer);
    clearTimeout(this.debounce);
  }

  /** Checks the file now; resolves once any new content has settled and been applied or rejected. */
  check(): Promise<void> {
    this.running = this.running.then(() => this.checkOnce());
    return this.running;
  }

  private schedule(): void {
    if (this.stopped) return;
    clearTimeout(this.debounce);
    // A symlink swap fires several events in a burst; read once after it settles.
    this.debounce = setTimeout(() => void this.check(), 50);
    this.debounce.unref();
  }

  private async checkOnce(): Promise<void> {
    let bytes = await this.readOrReport();
    if (bytes === undefined) return;
    let h = hash(bytes);
    if (h === this.lastHash) return;
    // Changed: wait and read again until two reads agree. A writer that pauses between parts for
    // less than settleMs is caught here; the half it left is never applied.
    for (let round = 1; ; round++) {
      await this.sleep(this.options.settleMs);
      if (this.stopped) return;
      const again = await this.readOrReport();
      if (again === undefined) return;
      const h2 = hash(again);
      if (h2 === h) break;
      if (h2 === this.lastHash) return; // changed back to what serves: nothing to do
      if (round >= MAX_SETTLE_ROUNDS) {
        // lastHash stays as it is, so the next event or interval tries again.
        this.options.onRejected(new FileUnsettledError(this.options.file, round + 1));
        return;
      }
      bytes = again;
      h = h2;
    }
    this.lastHash = h;
    try {
      await this.options.apply(bytes);
      this.options.onApplied();
    } catch (err) {
      this.options.onRejected(err);
    }
  }

  /** The file's bytes, or undefined after reporting (once per distinct fault) that it cannot be read. */
  private async readOrReport(): Promise<B | undefined> {
    try {
      return await this.read(this.options.file);
    } catch (err) {
      // Gone or unreadable: keep serving what was loaded.
      const h = `error:${(err as NodeJS.ErrnoException).code ?? String(err)}`;
      if (h !== this.lastHash) {
        this.lastHash = h;
        this.options.onRejected(err);
      }
      return undefined;
    }
  }
}

function hash(content: string | Uint8Array): string {
  return createHash('sha256').update(content).digest('hex');
}
