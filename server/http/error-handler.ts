import type { IncomingMessage, ServerResponse } from 'node:http';
import { BusyError, DecisionError, internalError, invalidParameter, reasonOf } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { ClientAbortError } from './body.js';
import { sendJson } from './send.js';

/**
 * The one place errors become responses: OPA's envelope `{"code","message","errors"?}`, indented
 * as OPA writes it. Anything that is not a DecisionError is a 500 whose details stay in the log.
 */
export function writeError(logger: Logger, req: IncomingMessage, res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const path = (req.url ?? '').split('?', 1)[0];
  if (err instanceof ClientAbortError) {
    // The client is gone: nothing to answer, and not the service's fault (counted as code 499).
    logger.debug({ path }, err.message);
    res.destroy();
    return;
  }
  const e = err instanceof DecisionError ? err : fromUnknown(err);
  if (e instanceof BusyError) {
    res.setHeader('Retry-After', String(e.retryAfterSeconds));
    logger.debug({ code: e.code, path }, e.message);
  } else if (e.status >= 500) {
    logger.error({ err: err instanceof Error ? { message: reasonOf(err), name: err.name, cause: causeOf(err) } : reasonOf(err), path }, e.message);
  } else {
    logger.debug({ code: e.code, path }, e.message);
  }
  // A body left unread (over the limit) must not be parsed as the next request on this connection.
  if (!req.complete) res.setHeader('Connection', 'close');
  const envelope: Record<string, unknown> = { code: e.code, message: e.message };
  if (e.details && e.details.length > 0) envelope.errors = e.details;
  sendJson(res, e.status, `${JSON.stringify(envelope, null, 2)}\n`);
}

function fromUnknown(err: unknown): DecisionError {
  // Errors that carry an HTTP status (body-parser style) keep client faults as 400s.
  const status = typeof err === 'object' && err !== null && 'status' in err ? Number((err as { status: unknown }).status) : 500;
  if (status >= 400 && status < 500) {
    return invalidParameter(err instanceof Error ? reasonOf(err) : 'bad request');
  }
  return internalError('internal error', undefined, { cause: err });
}

function causeOf(err: Error): string | undefined {
  const c = err.cause;
  if (c === undefined) return undefined;
  if (c instanceof Error || typeof c === 'string') return reasonOf(c);
  // A cause can be any value a library attached, a cyclic or BigInt-holding one included: its
  // description must not throw while an error is being answered.
  try {
    return JSON.stringify(c);
  } catch {
    return reasonOf(c);
  }
}

const NOT_FOUND = '404 page not found\n';

/** Go's `404 page not found`, for every path no route serves. */
export function notFound(_req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(404, { 'X-Content-Type-Options': 'nosniff', 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': NOT_FOUND.length });
  res.end(NOT_FOUND);
}
