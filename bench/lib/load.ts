/**
 * The loader: autocannon in the benchmark's own process, with latencies taken from its per-response
 * events (fractional milliseconds from process.hrtime) rather than its histogram, which keeps whole
 * milliseconds only: a static decision takes well under one.
 */
import autocannon, { type AutocannonRequest } from 'autocannon';

export interface RequestTemplate {
  method: 'POST' | 'GET';
  path: string;
  body?: string;
  headers?: Record<string, string>;
  /** X-Forwarded-Access-Token: a fixed token, or a generator called once per request (distinct tokens). */
  token?: string | (() => string);
}

export interface LoadOptions {
  url: string;
  connections: number;
  /** Seconds; ignored when `amount` is set. */
  durationSec?: number;
  /** Stop after this many requests. */
  amount?: number;
  requests: RequestTemplate[];
  /** Per-request timeout, seconds (autocannon's default is 10). */
  timeoutSec?: number;
  /** Requests per second over all connections (autocannon's overallRate); absent: as fast as answered. */
  overallRate?: number;
}

export interface LatencyStats {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export interface LoadResult {
  connections: number;
  durationSec: number;
  /** Responses received (any status). */
  completed: number;
  /** 2xx responses per second. */
  rps: number;
  /** Milliseconds, over every response received. */
  latencyMs: LatencyStats;
  errors: { total: number; socket: number; timeouts: number; non2xx: number; statusCodes: Record<string, number> };
  /** Response bytes received (headers included), per response on average. */
  bytesPerResponse: number;
}

export function percentiles(values: Float64Array): LatencyStats {
  if (values.length === 0) return { p50: NaN, p90: NaN, p99: NaN, max: NaN, mean: NaN };
  const sorted = Float64Array.from(values).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
  let sum = 0;
  for (const v of sorted) sum += v;
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted[sorted.length - 1]!, mean: sum / sorted.length };
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  let latencies = new Float64Array(1 << 16);
  let count = 0;
  let bytes = 0;
  const requests: AutocannonRequest[] = options.requests.map((r) => {
    const token = r.token;
    return {
      method: r.method,
      path: r.path,
      headers: { 'content-type': 'application/json', ...(typeof token === 'string' ? { 'x-forwarded-access-token': token } : {}), ...(r.headers ?? {}) },
      ...(r.body !== undefined ? { body: r.body } : {}),
      ...(typeof token === 'function'
        ? {
            setupRequest: (req: Parameters<NonNullable<AutocannonRequest['setupRequest']>>[0]) => {
              req.headers['x-forwarded-access-token'] = token();
              return req;
            },
          }
        : {}),
    };
  });
  const started = process.hrtime.bigint();
  const result = await new Promise<import('autocannon').AutocannonResult>((resolve, reject) => {
    const instance = autocannon(
      {
        url: options.url,
        connections: options.connections,
        ...(options.amount !== undefined ? { amount: options.amount } : { duration: options.durationSec ?? 10 }),
        timeout: options.timeoutSec ?? 10,
        ...(options.overallRate !== undefined ? { overallRate: options.overallRate } : {}),
        requests,
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    instance.on('response', (_client: unknown, _status: number, resBytes: number, responseTime: number) => {
      if (count === latencies.length) {
        const bigger = new Float64Array(latencies.length * 2);
        bigger.set(latencies);
        latencies = bigger;
      }
      latencies[count++] = responseTime;
      bytes += resBytes;
    });
  });
  const wallSec = Number(process.hrtime.bigint() - started) / 1e9;
  const durationSec = options.amount !== undefined ? wallSec : result.duration || wallSec;
  const statusCodes: Record<string, number> = {};
  for (const [code, { count: n }] of Object.entries(result.statusCodeStats)) statusCodes[code] = n;
  const ok = Object.entries(statusCodes).reduce((s, [code, n]) => (code.startsWith('2') ? s + n : s), 0);
  return {
    connections: options.connections,
    durationSec,
    completed: count,
    rps: ok / durationSec,
    latencyMs: percentiles(latencies.subarray(0, count)),
    errors: {
      total: result.errors + result.non2xx,
      socket: result.errors - result.timeouts,
      timeouts: result.timeouts,
      non2xx: result.non2xx,
      statusCodes,
    },
    bytesPerResponse: count > 0 ? bytes / count : 0,
  };
}

/** Distinct tokens prefix0, prefix1, ...; after `pool` of them it wraps (counted: a wrapped token can hit the cache). */
export class TokenSequence {
  private n = 0;
  wrapped = 0;

  constructor(
    readonly prefix: string,
    readonly pool: number = Number.POSITIVE_INFINITY,
  ) {}

  readonly next = (): string => {
    if (this.n >= this.pool) {
      this.n = 0;
      this.wrapped++;
    }
    return `${this.prefix}${this.n++}`;
  };

  get issued(): number {
    return this.n;
  }
}
