import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { open } from 'node:fs/promises';
import { CodedError, reasonOf } from './errors.js';

/** A file an operator named that the service will not read. The message names the flag or the file and the fault. */
export class FileReadError extends CodedError<'not_regular' | 'too_large' | 'unreadable'> {}

const FLAGS = constants.O_RDONLY | constants.O_NONBLOCK;

/**
 * Reads a file an operator names (a flag, or a path inside a config file), only when it is a regular
 * file (a symlink to one is fine: ConfigMaps and Secrets are symlinks). A FIFO or a character device
 * would block the read forever, or stream without end: it is opened without blocking, checked with
 * fstat on the very descriptor that is read (no race with a rename between a stat and the open), and
 * refused naming the file's type. More than `maxBytes` is refused, never read into memory whole.
 * `what` names it in errors: a flag (`--rbac.config`) or undefined for the path alone.
 */
export async function readRegularFile(what: string | undefined, file: string, maxBytes: number): Promise<Uint8Array<ArrayBuffer>> {
  const name = label(what, file);
  let handle;
  try {
    handle = await open(file, FLAGS);
  } catch (err) {
    throw unreadable(name, err);
  }
  try {
    const into = new BoundedBuffer(name, maxBytes, checkStat(name, await handle.stat(), maxBytes));
    while (into.took((await handle.read(into.buf, into.length, into.room, null)).bytesRead));
    return into.bytes();
  } catch (err) {
    if (err instanceof FileReadError) throw err;
    throw unreadable(name, err);
  } finally {
    await handle.close();
  }
}

/** readRegularFile for the few places that read while parsing a config file (tenants' issuerCAPath). */
export function readRegularFileSync(what: string | undefined, file: string, maxBytes: number): Uint8Array<ArrayBuffer> {
  const name = label(what, file);
  let fd: number;
  try {
    fd = openSync(file, FLAGS);
  } catch (err) {
    throw unreadable(name, err);
  }
  try {
    const into = new BoundedBuffer(name, maxBytes, checkStat(name, fstatSync(fd), maxBytes));
    while (into.took(readSync(fd, into.buf, into.length, into.room, null)));
    return into.bytes();
  } catch (err) {
    if (err instanceof FileReadError) throw err;
    throw unreadable(name, err);
  } finally {
    closeSync(fd);
  }
}

function label(what: string | undefined, file: string): string {
  return what === undefined ? file : `${what}=${file}`;
}

/** Refuses what is not a regular file or is over the bound; returns the size to expect. */
function checkStat(name: string, st: Stats, maxBytes: number): number {
  if (!st.isFile()) throw new FileReadError('not_regular', `${name}: ${fileType(st)}, not a regular file`);
  if (st.size > maxBytes) throw new FileReadError('too_large', `${name}: ${st.size} bytes, more than the ${maxBytes} allowed`);
  return st.size;
}

/**
 * Bytes read until EOF, never more than one past the bound: a file still growing after its fstat
 * is refused, not read without end.
 */
class BoundedBuffer {
  buf: Uint8Array<ArrayBuffer>;
  length = 0;

  constructor(
    private readonly name: string,
    private readonly maxBytes: number,
    expected: number,
  ) {
    this.buf = new Uint8Array(new ArrayBuffer(Math.min(maxBytes, expected) + 1));
  }

  get room(): number {
    return this.buf.length - this.length;
  }

  /** Counts a read; false at EOF. */
  took(bytesRead: number): boolean {
    if (bytesRead === 0) return false;
    this.length += bytesRead;
    if (this.length > this.maxBytes) throw new FileReadError('too_large', `${this.name}: more than the ${this.maxBytes} bytes allowed`);
    if (this.length === this.buf.length) {
      const bigger = new Uint8Array(new ArrayBuffer(Math.min(this.maxBytes + 1, this.buf.length * 2)));
      bigger.set(this.buf);
      this.buf = bigger;
    }
    return true;
  }

  bytes(): Uint8Array<ArrayBuffer> {
    const out = new Uint8Array(new ArrayBuffer(this.length));
    out.set(this.buf.subarray(0, this.length));
    return out;
  }
}

function unreadable(name: string, err: unknown): FileReadError {
  const code = (err as NodeJS.ErrnoException).code;
  return new FileReadError('unreadable', `${name}: cannot read: ${code === 'ENOENT' ? 'no such file' : reasonOf(err)}`);
}

function fileType(st: Stats): string {
  if (st.isFIFO()) return 'is a FIFO';
  if (st.isCharacterDevice()) return 'is a character device';
  if (st.isBlockDevice()) return 'is a block device';
  if (st.isDirectory()) return 'is a directory';
  if (st.isSocket()) return 'is a socket';
  return 'is not a regular file';
}
