import { constants } from 'node:fs';
import { open } from 'node:fs/promises';

/**
 * A policy, bundle or data file that cannot serve: not a regular file, too large, or a bundle OPA
 * would refuse. The code is stable; the message names the flag or the bundle and the fault.
 */
export class PolicyFileError extends Error {
  constructor(
    readonly code: 'not_regular' | 'too_large' | 'unreadable' | 'bundle' | 'load_timeout' | 'load_failed',
    message: string,
  ) {
    super(message);
    this.name = 'PolicyFileError';
  }
}

/**
 * Reads a file a flag names, only when it is a regular file (a symlink to one is fine: ConfigMaps
 * are symlinks). A FIFO or a character device would block the read forever, or stream without end:
 * it is opened without blocking, checked with fstat on the very descriptor that is read (no race
 * with a rename between a stat and the open), and refused naming the flag and the file's type.
 * More than `maxBytes` is refused before it is read into memory.
 */
export async function readRegularFile(flag: string, file: string, maxBytes: number): Promise<Uint8Array<ArrayBuffer>> {
  let handle;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new PolicyFileError('unreadable', `${flag}=${file}: cannot read: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new PolicyFileError('not_regular', `${flag}=${file}: ${fileType(st)}, not a regular file`);
    if (st.size > maxBytes) throw new PolicyFileError('too_large', `${flag}=${file}: ${st.size} bytes, more than the ${maxBytes} allowed`);
    // Read until EOF, never more than one byte past the bound: a file still growing is refused.
    let buf = new Uint8Array(new ArrayBuffer(Math.min(maxBytes, st.size) + 1));
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buf, length, buf.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > maxBytes) throw new PolicyFileError('too_large', `${flag}=${file}: more than the ${maxBytes} bytes allowed`);
      if (length === buf.length) {
        const bigger = new Uint8Array(new ArrayBuffer(Math.min(maxBytes + 1, buf.length * 2)));
        bigger.set(buf);
        buf = bigger;
      }
    }
    const out = new Uint8Array(new ArrayBuffer(length));
    out.set(buf.subarray(0, length));
    return out;
  } catch (err) {
    if (err instanceof PolicyFileError) throw err;
    throw new PolicyFileError('unreadable', `${flag}=${file}: cannot read: ${(err as Error).message}`);
  } finally {
    await handle.close();
  }
}

function fileType(st: import('node:fs').Stats): string {
  if (st.isFIFO()) return 'is a FIFO';
  if (st.isCharacterDevice()) return 'is a character device';
  if (st.isBlockDevice()) return 'is a block device';
  if (st.isDirectory()) return 'is a directory';
  if (st.isSocket()) return 'is a socket';
  return 'is not a regular file';
}
