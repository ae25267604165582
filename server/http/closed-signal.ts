import type { IncomingMessage, ServerResponse } from 'node:http';

/** Aborts when the client (or the proxy asking) goes away before the answer is written. */
export function closedSignal(req: IncomingMessage, res: ServerResponse): AbortSignal {
  const ac = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) ac.abort(new Error('client closed the connection'));
  });
  req.once('aborted', () => ac.abort(new Error('client aborted the request')));
  return ac.signal;
}
