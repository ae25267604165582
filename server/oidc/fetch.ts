import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { deadline } from '../deadline.js';

/** The fetch signature openid-client and jose accept as their custom fetch. */
export interface FetchInit {
  method?: string;
  headers?: HeadersInit | Record<string, string>;
  body?: unknown;
  signal?: AbortSignal | null;
  redirect?: string;
}
export type FetchLike = (url: string, init: FetchInit) => Promise<Response>;

export interface ProviderFetchOptions {
  /** PEM of a CA to trust for the provider's certificate (tenants' issuerCA). */
  ca?: string;
  /** Deadline for one call to the provider. */
  timeoutMs: number;
  /** Largest response body accepted from the provider. */
  maxBytes: number;
  /** Called for every finished call, for metrics and warnings; `detail` is the error's code or message. */
  observe?: (url: URL, status: number | 'error', detail?: string) => void;
}

/**
 * A fetch for calls to an identity provider: bounded in time and size, trusting a tenant's own CA
 * when it has one (Node's global fetch cannot take a CA per call).
 */
export function providerFetch(options: ProviderFetchOptions): FetchLike {
  return (input, init) =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(input);
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      const limit = deadline(options.timeoutMs, init.signal ?? undefined);
      const signal = limit.signal;
      const headers: Record<string, string> = {};
      new Headers(init.headers as HeadersInit | undefined).forEach((v, k) => (headers[k] = v));
      const req = send(url, { method: init.method ?? 'GET', headers, signal, ...(options.ca ? { ca: options.ca } : {}) }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > options.maxBytes) {
            res.destroy(new Error(`the provider's answer is over ${options.maxBytes} bytes`));
            return;
          }
          chunks.push(c);
        });
        res.on('error', (err) => {
          limit.release();
          options.observe?.(url, 'error', errorDetail(err, limit.timedOut()));
          reject(err);
        });
        res.on('end', () => {
          limit.release();
          options.observe?.(url, res.statusCode ?? 0);
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) {
            if (typeof v === 'string') h.set(k, v);
            else if (Array.isArray(v)) for (const x of v) h.append(k, x);
          }
          const status = res.statusCode ?? 502;
          const body = status === 204 || status === 304 ? null : Buffer.concat(chunks);
          resolve(new Response(body, { status, statusText: res.statusMessage ?? '', headers: h }));
        });
      });
      req.on('error', (err) => {
        limit.release();
        options.observe?.(url, 'error', errorDetail(err, limit.timedOut()));
        reject(err);
      });
      const body = init.body;
      if (body !== undefined && body !== null) req.end(typeof body === 'string' || body instanceof Uint8Array ? body : String(body));
      else req.end();
    });
}

/** A short, token-free name for a failed call: the socket error's code, a timeout, or the message. */
function errorDetail(err: Error, timedOut: boolean): string {
  if (timedOut) return 'timeout';
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ABORT_ERR') return 'aborted';
  return code ?? err.message;
}
