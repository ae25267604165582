/**
 * N identical requests at once: N sockets are connected first, then every request is written in
 * the same tick, so they all reach the server while the first decision is still being computed.
 */
import { connect, type Socket } from 'node:net';

export interface HerdResult {
  /** From the first write to the last answer. */
  ms: number;
  statuses: Record<string, number>;
  /** Distinct answer bodies (identical requests should get one). */
  distinctBodies: string[];
  failures: string[];
}

export async function herd(base: string, n: number, path: string, body: string, headers: Record<string, string>): Promise<HerdResult> {
  const { hostname, port } = new URL(base);
  const sockets: Socket[] = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<Socket>((resolve, reject) => {
          const s = connect({ host: hostname, port: Number(port), noDelay: true }, () => resolve(s));
          s.once('error', reject);
        }),
    ),
  );
  const head = [
    `POST ${path} HTTP/1.1`,
    `Host: ${hostname}:${port}`,
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    '',
    '',
  ].join('\r\n');
  const wire = Buffer.from(head + body);
  const started = process.hrtime.bigint();
  const answers = sockets.map(
    (s) =>
      new Promise<{ status: string; body: string } | { error: string }>((resolve) => {
        const parts: Buffer[] = [];
        s.on('data', (c: Buffer) => parts.push(c));
        s.once('error', (err) => resolve({ error: err.message }));
        s.once('close', () => {
          const text = Buffer.concat(parts).toString('utf8');
          const split = text.indexOf('\r\n\r\n');
          if (split < 0) return resolve({ error: `no complete answer (${text.length} bytes)` });
          const status = /^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? '???';
          const headersText = text.slice(0, split);
          let payload = text.slice(split + 4);
          if (/^transfer-encoding:\s*chunked/im.test(headersText)) payload = dechunk(payload);
          resolve({ status, body: payload });
        });
      }),
  );
  for (const s of sockets) s.write(wire);
  const results = await Promise.all(answers);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const statuses: Record<string, number> = {};
  const bodies = new Set<string>();
  const failures: string[] = [];
  for (const r of results) {
    if ('error' in r) {
      failures.push(r.error);
      continue;
    }
    statuses[r.status] = (statuses[r.status] ?? 0) + 1;
    bodies.add(r.body);
  }
  return { ms, statuses, distinctBodies: [...bodies], failures };
}

function dechunk(s: string): string {
  let out = '';
  let i = 0;
  for (;;) {
    const eol = s.indexOf('\r\n', i);
    if (eol < 0) return out;
    const size = parseInt(s.slice(i, eol), 16);
    if (!size) return out;
    out += s.slice(eol + 2, eol + 2 + size);
    i = eol + 2 + size + 2;
  }
}
