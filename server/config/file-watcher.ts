import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface FileWatcherOptions {
  file: string;
  /** Also re-read this often (ms), since file events can be missed; 0 for events alone. */
  intervalMs: number;
  /** Applies new content; a rejection means the content was refused and the old one still serves. */
  apply: (text: string) => Promise<void>;
  onApplied: () => void;
  onRejected: (err: unknown) => void;
}

/**
 * Watches a configuration file for new content. It watches the file's directory, because a
 * Kubernetes ConfigMap update swaps a symlink there rather than writing the file, and compares
 * content hashes, so that touch-only events and repeated events apply nothing.
 */
export class FileWatcher {
  private lastHash: string | undefined;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();

  constructor(private readonly options: FileWatcherOptions) {}

  /** Starts watching; `initial` is the content serving now. */
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
    this.watcher?.close();
    clearInterval(this.timer);
    clearTimeout(this.debounce);
  }

  /** Checks the file now; resolves once any new content has been applied or rejected. */
  check(): Promise<void> {
    this.running = this.running.then(() => this.checkOnce());
    return this.running;
  }

  private schedule(): void {
    clearTimeout(this.debounce);
    // A symlink swap fires several events in a burst; read once after it settles.
    this.debounce = setTimeout(() => void this.check(), 50);
    this.debounce.unref();
  }

  private async checkOnce(): Promise<void> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.options.file);
    } catch (err) {
      // Gone or unreadable: keep serving what was loaded, and say so once per distinct fault.
      const h = `error:${(err as NodeJS.ErrnoException).code ?? String(err)}`;
      if (h !== this.lastHash) {
        this.lastHash = h;
        this.options.onRejected(err);
      }
      return;
    }
    const h = hash(bytes);
    if (h === this.lastHash) return;
    this.lastHash = h;
    try {
      await this.options.apply(bytes.toString('utf8'));
      this.options.onApplied();
    } catch (err) {
      this.options.onRejected(err);
    }
  }
}

function hash(content: string | Uint8Array): string {
  return createHash('sha256').update(content).digest('hex');
}
