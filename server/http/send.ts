import type { Response } from 'express';

/** Writes a JSON body with exactly `application/json` (express would add a charset) and its length. */
export function sendJson(res: Response, status: number, text: string): void {
  res.status(status);
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}
