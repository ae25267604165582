import type { ServerResponse } from 'node:http';

/** Writes a JSON body with exactly `application/json` (express would add a charset) and its length. */
export function sendJson(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}
