/**
 * A recording Loki stand-in for the gateway suite: a loopback HTTP server that answers every
 * request with an empty but well-formed Loki answer and records what reached it (method, path, the
 * LogQL `query` / `match` parameters and X-Scope-OrgID). What the gateway forwarded is what Loki
 * would have executed, so the suite asserts on this record, never on the gateway's logs.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LokiHit {
  method: string;
  /** Path as Loki saw it, e.g. /loki/api/v1/query_range. */
  path: string;
  /** Every query parameter (last value wins; bodies are not parsed, so a form body shows here as absent). */
  params: Record<string, string>;
  /** X-Scope-OrgID as received; undefined when absent. */
  orgId: string | undefined;
}

export interface LokiStandIn {
  readonly url: string;
  readonly hits: LokiHit[];
  close(): Promise<void>;
}

const MAX_BODY = 1 << 20;

export async function startLokiStandIn(): Promise<LokiStandIn> {
  const hits: LokiHit[] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://loki');
    const orgId = req.headers['x-scope-orgid'];
    hits.push({
      method: req.method ?? 'GET',
      path: url.pathname,
      params: Object.fromEntries(url.searchParams),
      orgId: Array.isArray(orgId) ? orgId.join(',') : orgId,
    });
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) req.destroy();
    });
    req.on('end', () => {
      if (url.pathname.endsWith('/push')) {
        res.writeHead(204).end();
        return;
      }
      const data = /\/(labels?|series)$|\/values$/.test(url.pathname) ? [] : { resultType: 'streams', result: [] };
      const body = JSON.stringify({ status: 'success', data });
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) }).end(body);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
