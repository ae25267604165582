import type { IncomingMessage } from 'node:http';
import { createGunzip } from 'node:zlib';
import { invalidParameter } from '../errors.js';

export interface BodyLimits {
  /** Bytes of request body accepted, and of its decompressed form when gzip-encoded. */
  maxBytes: number;
}

/**
 * Reads the whole request body within `limits`, decompressing `Content-Encoding: gzip` as OPA does.
 * Over the limit: 400 `request body too large` (or `compressed request body too large`), read no further.
 */
export async function readBody(req: IncomingMessage, limits: BodyLimits): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limits.maxBytes) {
    req.resume();
    throw invalidParameter('request body too large');
  }
  const encoding = (req.headers['content-encoding'] ?? '').trim().toLowerCase();
  if (encoding === '' || encoding === 'identity') {
    return collect(req, limits.maxBytes, 'request body too large');
  }
  if (encoding !== 'gzip') {
    req.resume();
    throw invalidParameter(`unsupported Content-Encoding: ${encoding.slice(0, 32)}`);
  }
  const gunzip = createGunzip();
  // Errors on the raw stream reach the caller through `collect`; the pipe forwards data only.
  req.on('error', (err) => gunzip.destroy(err));
  const raw = collect(req, limits.maxBytes, 'request body too large');
  req.pipe(gunzip);
  try {
    const [body] = await Promise.all([collect(gunzip, limits.maxBytes, 'compressed request body too large'), raw]);
    return body;
  } catch (err) {
    gunzip.destroy();
    if (err instanceof Error && 'code' in err && typeof err.code === 'string' && err.code.startsWith('Z_')) {
      throw invalidParameter(`could not decompress the body: ${err.message}`, { cause: err });
    }
    throw err;
  }
}

function collect(stream: NodeJS.ReadableStream, max: number, tooLarge: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        cleanup();
        reject(invalidParameter(tooLarge));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const cleanup = () => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
  });
}
