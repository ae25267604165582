import { FileWatcher } from './file-watcher.js';
import { readRegularFile } from '../files.js';
import { MAX_KEY_FILE_BYTES, parseKeyring, type Keyring } from '../cache/hmac-keys.js';

export interface KeyringFileOptions {
  /** Re-read this often besides file events (a Secret update swaps a symlink); 0 for events alone. */
  intervalMs: number;
  settleMs: number;
  onApplied: () => void;
  /** A changed file was refused (unreadable, malformed, too short a key); the old keys keep serving. */
  onRejected: (err: unknown) => void;
}

/**
 * The memcached entry keys, from a file (a mounted Secret) that is watched: a rotation is an edit
 * of the file (add the new key second, then move it first, then drop the old one) with no restart.
 * Neither the file's content nor any secret ever appears in an error.
 */
export class KeyringFile {
  private constructor(
    private keyring: Keyring,
    private readonly watcher: FileWatcher,
  ) {}

  static async open(file: string, options: KeyringFileOptions): Promise<KeyringFile> {
    const read = async (f: string) => Buffer.from(await readRegularFile('--memcached.hmac-key-file', f, MAX_KEY_FILE_BYTES));
    const bytes = await read(file);
    const holder: { current?: KeyringFile } = {};
    const watcher = new FileWatcher({
      file,
      intervalMs: options.intervalMs,
      settleMs: options.settleMs,
      readFile: read,
      apply: async (content) => {
        holder.current!.keyring = parseKeyring(file, content.toString('utf8'));
      },
      onApplied: options.onApplied,
      onRejected: options.onRejected,
    });
    const keys = new KeyringFile(parseKeyring(file, bytes.toString('utf8')), watcher);
    holder.current = keys;
    watcher.start(bytes);
    return keys;
  }

  current(): Keyring {
    return this.keyring;
  }

  /** Checks the file now (tests, SIGHUP). */
  check(): Promise<void> {
    return this.watcher.check();
  }

  stop(): void {
    this.watcher.stop();
  }
}
