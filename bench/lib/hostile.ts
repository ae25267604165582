/**
 * The "hostile inputs" scenario's pieces: bodies at the service's default input bounds and one step
 * past them, a /live probe loop, raw HTTP posts (gzip, slow uploads) over node:net so nothing in
 * the loader buffers or rewrites the bytes. The boundary sizes are found with the service's own
 * decoder (parsePostBody with the flags' defaults), then confirmed against the running service.
 */
import { connect } from 'node:net';
import { parsePostBody, type InputOptions } from '../../server/http/input.js';
import { DEFAULT_INPUT_LIMITS } from '../../server/http/input-limits.js';
import { percentiles, type LatencyStats } from './load.js';
import { sleep } from './procs.js';

/** The defaults of --web.max-* (docs/operations.md "Input bounds"). */
export const BOUNDS = {
  maxBodyBytes: 1 << 20,
  maxBufferedBytes: 64 << 20,
  maxDepth: 64,
  ...DEFAULT_INPUT_LIMITS,
  maxNamespaces: 1000,
} as const;
const OPTIONS: InputOptions = { ...DEFAULT_INPUT_LIMITS, maxDepth: BOUNDS.maxDepth };

/** Whether the service's decoder (at the default bounds) accepts the body. */
export function accepted(body: Buffer, contentType = 'application/json'): boolean {
  if (body.length > BOUNDS.maxBodyBytes) return false;
  try {
    parsePostBody(body, contentType, OPTIONS);
    return true;
  } catch {
    return false;
  }
}

/** The largest n in [lo, hi] for which ok(n) holds, ok monotone (true then false); lo must hold. */
export function largest(lo: number, hi: number, ok: (n: number) => boolean): number {
  if (!ok(lo)) throw new Error(`largest: ${lo} is not accepted`);
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (ok(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

const FIELDS = '"permission":"read","resource":"logs","subject":"mallory","tenant":"application","tenantID":"application","token":""';

/** A gateway input with n distinct groups (g0 … g{n-1}). */
export function groupsBody(n: number, padTo = 0): Buffer {
  const groups = Array.from({ length: n }, (_, i) => `"g${i}"`).join(',');
  const text = `{"input":{"groups":[${groups}],${FIELDS},"extras":{}}}`;
  return Buffer.from(padTo > text.length ? `${text.slice(0, -1) + ' '.repeat(padTo - text.length)}}` : text);
}

/**
 * The slow-upload attack against --web.max-buffered-bytes: `held` uploads of `body`, each stopped
 * one byte short, then one more upload that must be refused. The budget charges what a request holds:
 * its body bytes as they arrive and, once decoded, its input's estimated heap (`footprint`, from the
 * service's own decoder). Held uploads that filled the budget with body bytes alone would leave no
 * room to decode any of them, and the first to finish would be refused although nothing else came:
 * so each body is cut short enough that every held one can take its last byte and its decoded input
 * at once (all may finish before any answer is written and gives its bytes back), while the bytes
 * held still leave less room than one more body needs.
 */
export function slowUploadPlan(budget: number, maxBodyBytes: number, held = 64): { body: Buffer; held: number; footprint: number } {
  const probe = groupsBody(4, maxBodyBytes);
  const footprint = parsePostBody(probe, 'application/json', OPTIONS).footprint;
  // held × (size − 1) + held × (1 + footprint) ≤ budget, and the room left is below one more body.
  const size = Math.min(maxBodyBytes, Math.floor(budget / held) - footprint);
  const body = groupsBody(4, size);
  if (parsePostBody(body, 'application/json', OPTIONS).footprint !== footprint) throw new Error('slowUploadPlan: padding changed the footprint');
  if (budget - held * (body.length - 1) >= body.length) throw new Error(`slowUploadPlan: ${held} uploads of ${body.length} bytes leave room for one more`);
  return { body, held, footprint };
}

/** YAML: one anchored flow list of `items` scalars, aliased `aliases` times (expanded: items × (aliases + 1)). */
export function yamlAliasBody(items: number, aliases: number): Buffer {
  return Buffer.from(
    `input:\n  subject: mallory\n  tenant: application\n  permission: read\n  resource: logs\n  groups: [g]\n  extras:\n    base: &a [${'x,'.repeat(items - 1)}x]\n    copies: [${Array<string>(aliases).fill('*a').join(', ')}]\n`,
  );
}

/** The alias bomb: 1 MB of YAML, one anchored 500,000-element list aliased 99 times. */
export function yamlBomb(): Buffer {
  return Buffer.from(`input:\n  a: &a [${'x,'.repeat(499_999)}x]\n  b: [${Array<string>(99).fill('*a').join(',')}]\n`);
}

/** `chains` arrays nested `depth` levels deep (counting the input object as level 1), side by side. */
export function deepBody(depth: number, chains: number): Buffer {
  const chain = `${'['.repeat(depth - 2)}1${']'.repeat(depth - 2)}`;
  return Buffer.from(`{"input":{${FIELDS},"groups":[],"extras":{"deep":[${Array<string>(chains).fill(chain).join(',')}]}}}`);
}

/** A gateway input asking for `n` namespaces (names from `name`), for the openshift modes. */
export function namespacesBody(n: number, name: (i: number) => string, subject: string, groups: string[]): Buffer {
  const selectors = { kubernetes_namespace_name: Array.from({ length: n }, (_, i) => name(i)) };
  return Buffer.from(
    JSON.stringify({
      input: { groups, permission: 'read', resource: 'logs', subject, tenant: 'application', tenantID: 'application', token: '', extras: { selectors } },
    }),
  );
}

export interface RawAnswer {
  status: number;
  /** The first bytes of the body (for the report: the message a refusal gives). */
  head: string;
}

function head(url: string): { host: string; port: number; path: string } {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port), path: `${u.pathname}${u.search}` };
}

/**
 * One POST over a fresh connection; `hold` stops after all but the last `holdBytes` body bytes until
 * `release` resolves (a slow upload). Resolves with the status line's code, 0 when none came.
 */
export function rawPost(
  url: string,
  body: Buffer,
  headers: Record<string, string> = {},
  hold?: { bytes: number; release: Promise<void>; sent?: () => void },
): Promise<RawAnswer> {
  const { host, port, path } = head(url);
  return new Promise((resolve) => {
    const sock = connect(port, host);
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = () => {
      if (settled) return;
      settled = true;
      const text = Buffer.concat(chunks).toString('latin1');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0);
      const i = text.indexOf('\r\n\r\n');
      resolve({ status, head: i < 0 ? '' : text.slice(i + 4, i + 4 + 200) });
      sock.destroy();
    };
    sock.on('data', (c: Buffer) => {
      chunks.push(c);
      const text = Buffer.concat(chunks).toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      const len = /\r\ncontent-length: *(\d+)/i.exec(text)?.[1];
      if (end >= 0 && len !== undefined && Buffer.byteLength(text, 'latin1') >= end + 4 + Number(len)) finish();
    });
    sock.on('error', () => {}); // a refusal may close the socket under a body still being written
    sock.on('close', finish);
    const hdr = Object.entries({ host: `${host}:${port}`, 'content-type': 'application/json', ...headers, 'content-length': String(body.length) })
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    sock.write(`POST ${path} HTTP/1.1\r\n${hdr}\r\n`);
    if (!hold) {
      sock.write(body);
      return;
    }
    sock.write(body.subarray(0, body.length - hold.bytes), () => hold.sent?.());
    void hold.release.then(() => sock.write(body.subarray(body.length - hold.bytes)));
  });
}

/** GETs `url` one after the other (10 ms apart) until stopped; the latencies in ms. */
export function probeLoop(url: string): { stop(): Promise<LatencyStats & { count: number; failures: number }> } {
  const times: number[] = [];
  let failures = 0;
  let running = true;
  const done = (async () => {
    while (running) {
      const t0 = performance.now();
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
        await res.arrayBuffer();
        if (res.status !== 200) failures++;
      } catch {
        failures++;
      }
      times.push(performance.now() - t0);
      await sleep(10);
    }
  })();
  return {
    async stop() {
      running = false;
      await done;
      return { ...percentiles(Float64Array.from(times)), count: times.length, failures };
    },
  };
}
