import type { IncomingMessage } from 'node:http';
import { createGunzip } from 'node:zlib';
import { invalidParameter } from '../errors.js';
import type { BudgetLease } from './byte-budget.js';
import type { ErrorCode } from '../error-codes.js';

export interface BodyLimits {
  /** Bytes of request body accepted, and of its decompressed form when gzip-encoded. */
  maxBytes: number;
}

/** The client went away before its body was read: its fault, not the service's, and no answer is due. */
export class ClientAbortError extends Error {
  readonly code = 'client_abort' satisfies ErrorCode;

  constructor(options?: { cause?: unknown }) {
    super('client aborted the request body', options);
    this.name = 'ClientAbortError';
  }
}

/**
 * Reads the whole request body within `limits`, decompressing `Content-Encoding: gzip` as OPA does.
 * Over the limit: 400 `request body too large` (or `compressed request body too large`), read no further.
 * Every byte held, on the wire and decompressed, is taken from `lease` as it arrives (503 past the
 * shared budget); the caller releases the lease when the request ends.
 */
export async function readBody(req: IncomingMessage, limits: BodyLimits, lease?: BudgetLease): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limits.maxBytes) {
    req.resume();
    throw invalidParameter('request body too large');
  }
  const encoding = (req.headers['content-encoding'] ?? '').trim().toLowerCase();
  if (encoding === '' || encoding === 'identity') {
    return collect(req, req, limits.maxBytes, 'request body too large', lease);
  }
  if (encoding !== 'gzip') {
    req.resume();
    throw invalidParameter(`unsupported Content-Encoding: ${encoding.slice(0, 32)}`);
  }
  const gunzip = createGunzip();
  // Errors on the raw stream reach the caller through `collect`; the pipe forwards data only.
  req.on('error', (err) => gunzip.destroy(err));
  const raw = collect(req, req, limits.maxBytes, 'request body too large', lease);
  req.pipe(gunzip);
  try {
    const [body] = await Promise.all([collect(gunzip, req, limits.maxBytes, 'compressed request body too large', lease), raw]);
    return body;
  } catch (err) {
    gunzip.destroy();
    req.unpipe(gunzip);
    if (err instanceof Error && 'code' in err && typeof err.code === 'string' && err.code.startsWith('Z_')) {
      throw invalidParameter(`could not decompress the body: ${err.message}`, { cause: err });
    }
    throw err;
  }
}

function collect(stream: NodeJS.ReadableStream, req: IncomingMessage, max: number, tooLarge: string, lease: BudgetLease | undefined): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const fail = (err: Error) => {
      cleanup();
      // Nothing more is read or held: the rest of the body is drained unbuffered.
      chunks.length = 0;
      req.resume();
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) return fail(invalidParameter(tooLarge));
      try {
        lease?.take(chunk.length);
      } catch (err) {
        return fail(err as Error);
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      // One chunk (most bodies): itself, not a copy. Callers only read the body, and decode it at once.
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onError = (err: Error) => {
      cleanup();
      const aborted = !req.complete && ((err as { code?: string }).code === 'ECONNRESET' || err.message === 'aborted');
      reject(aborted ? new ClientAbortError({ cause: err }) : err);
    };
    // A client that goes away mid-body may end the stream with no 'error' at all.
    const onClose = () => {
      if (req.complete) return;
      cleanup();
      reject(new ClientAbortError());
    };
    const cleanup = () => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      req.off('close', onClose);
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
    req.on('close', onClose);
  });
}
