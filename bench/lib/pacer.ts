/**
 * A fixed-rate loader for the soak (bench/soak.ts): requests are started on a schedule (rate × time
 * elapsed), not as fast as the server answers, over a bounded set of keep-alive connections
 * (node:http Agent, FIFO, so every connection it opens stays in use and none idles out). Every
 * answer is read whole and checked by the request's own `check`. Counters are kept per interval
 * (`takeInterval`, called by the sampler) and for the whole run (`totals`).
 *
 * Unlike autocannon's overallRate (each connection sends its share of a second in a burst, then
 * waits for the next second), this spreads the requests over the second: one batch every few
 * milliseconds. When the server falls behind, requests queue on the agent up to `maxInFlight`; past
 * that a scheduled request is skipped and counted, so a slow server shows as a rate not held
 * instead of as a growing backlog in the loader.
 */
import { Agent, request } from 'node:http';
import { percentiles, type LatencyStats } from './load.js';

export interface PacedRequest {
  /** A name for the report (the variant of the workload). */
  label: string;
  method: 'POST' | 'GET';
  path: string;
  body?: string;
  headers: Record<string, string>;
  /** The answer's problem, or undefined when it is the expected one. Called for 2xx answers only. */
  check?: (status: number, body: string) => string | undefined;
}

export interface PacerOptions {
  /** http://host:port */
  url: string;
  ratePerSec: number;
  /** Most connections the agent opens. */
  connections: number;
  /** Requests started but not answered at once; past it, scheduled requests are skipped (counted). */
  maxInFlight: number;
  /** Per-request deadline. */
  timeoutMs: number;
  /** The next request to send. */
  next: () => PacedRequest;
}

export interface PacerCounts {
  /** Requests started. */
  sent: number;
  /** Answers received (any status). */
  answered: number;
  /** 2xx answers. */
  ok: number;
  /** Non-2xx answers by status code. */
  non2xx: Record<string, number>;
  /** Connection errors (no answer) by error code. */
  connErrors: Record<string, number>;
  /** Requests without an answer within the deadline. */
  timeouts: number;
  /** 2xx answers whose body was not the expected decision. */
  wrong: number;
  /** Scheduled requests not sent because maxInFlight requests were already waiting. */
  skipped: number;
  /** Answers by label. */
  byLabel: Record<string, number>;
}

export interface PacerInterval extends PacerCounts {
  /** Seconds this interval covers. */
  seconds: number;
  latencyMs: LatencyStats;
  /** In flight when the interval was taken. */
  inFlight: number;
}

export interface PacerTotals extends PacerCounts {
  seconds: number;
  latencyMs: LatencyStats;
  /** Up to 20 wrong answers and 20 errors, for the report. */
  examples: string[];
}

const emptyCounts = (): PacerCounts => ({ sent: 0, answered: 0, ok: 0, non2xx: {}, connErrors: {}, timeouts: 0, wrong: 0, skipped: 0, byLabel: {} });

const bump = (m: Record<string, number>, k: string) => {
  m[k] = (m[k] ?? 0) + 1;
};

class Latencies {
  private values = new Float64Array(1 << 14);
  private n = 0;
  push(v: number): void {
    if (this.n === this.values.length) {
      const bigger = new Float64Array(this.values.length * 2);
      bigger.set(this.values);
      this.values = bigger;
    }
    this.values[this.n++] = v;
  }
  stats(): LatencyStats {
    return percentiles(this.values.subarray(0, this.n));
  }
  reset(): void {
    this.n = 0;
  }
}

export function errorCount(c: PacerCounts): number {
  return Object.values(c.non2xx).reduce((s, n) => s + n, 0) + Object.values(c.connErrors).reduce((s, n) => s + n, 0) + c.timeouts;
}

export class Pacer {
  private readonly agent: Agent;
  private readonly host: string;
  private readonly port: number;
  private timer: NodeJS.Timeout | undefined;
  private started = 0n;
  private scheduled = 0;
  private inFlight = 0;
  private stopped = false;
  private idle: (() => void) | undefined;

  private interval = emptyCounts();
  private intervalStart = 0n;
  private readonly intervalLatency = new Latencies();
  private readonly total = emptyCounts();
  private readonly totalLatency = new Latencies();
  private readonly examples: string[] = [];
  private stoppedAt = 0n;
  // A check's verdict per distinct body: the same few answers come back all the time.
  private readonly verdicts = new Map<PacedRequest['check'], Map<string, string | undefined>>();

  constructor(private readonly options: PacerOptions) {
    const u = new URL(options.url);
    this.host = u.hostname;
    this.port = Number(u.port);
    this.agent = new Agent({ keepAlive: true, maxSockets: options.connections, maxFreeSockets: options.connections, scheduling: 'fifo' });
  }

  start(): void {
    this.started = this.intervalStart = process.hrtime.bigint();
    const tick = () => {
      if (this.stopped) return;
      const elapsed = Number(process.hrtime.bigint() - this.started) / 1e9;
      const due = Math.floor(elapsed * this.options.ratePerSec);
      while (this.scheduled < due) {
        this.scheduled++;
        if (this.inFlight >= this.options.maxInFlight) {
          this.interval.skipped++;
          this.total.skipped++;
          continue;
        }
        this.send(this.options.next());
      }
      this.timer = setTimeout(tick, 2);
    };
    tick();
  }

  /** Stops scheduling, waits for the requests in flight (at most their deadline), closes the connections. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stoppedAt = process.hrtime.bigint();
    if (this.timer) clearTimeout(this.timer);
    if (this.inFlight > 0) await new Promise<void>((resolve) => (this.idle = resolve));
    this.agent.destroy();
  }

  /** Counts since the previous call. */
  takeInterval(): PacerInterval {
    const now = process.hrtime.bigint();
    const out: PacerInterval = {
      ...this.interval,
      seconds: Number(now - this.intervalStart) / 1e9,
      latencyMs: this.intervalLatency.stats(),
      inFlight: this.inFlight,
    };
    this.interval = emptyCounts();
    this.intervalLatency.reset();
    this.intervalStart = now;
    return out;
  }

  totals(): PacerTotals {
    const end = this.stoppedAt || process.hrtime.bigint();
    return {
      ...this.total,
      non2xx: { ...this.total.non2xx },
      connErrors: { ...this.total.connErrors },
      byLabel: { ...this.total.byLabel },
      seconds: Number(end - this.started) / 1e9,
      latencyMs: this.totalLatency.stats(),
      examples: [...this.examples],
    };
  }

  private example(text: string): void {
    if (this.examples.length < 40) this.examples.push(text);
  }

  private send(r: PacedRequest): void {
    this.inFlight++;
    this.interval.sent++;
    this.total.sent++;
    const t0 = process.hrtime.bigint();
    let settled = false;
    let deadline: NodeJS.Timeout | undefined;
    const finish = () => {
      if (settled) return false;
      settled = true;
      clearTimeout(deadline);
      this.inFlight--;
      if (this.inFlight === 0 && this.idle) this.idle();
      return true;
    };
    const headers: Record<string, string | number> = { ...r.headers };
    if (r.body !== undefined) {
      headers['content-type'] ??= 'application/json';
      headers['content-length'] = Buffer.byteLength(r.body);
    }
    const req = request({ host: this.host, port: this.port, method: r.method, path: r.path, headers, agent: this.agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err) => fail((err as NodeJS.ErrnoException).code ?? err.message));
      res.on('end', () => {
        if (!finish()) return;
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        const status = res.statusCode ?? 0;
        const body = Buffer.concat(chunks).toString('utf8');
        for (const c of [this.interval, this.total]) {
          c.answered++;
          bump(c.byLabel, r.label);
        }
        this.intervalLatency.push(ms);
        this.totalLatency.push(ms);
        if (status < 200 || status > 299) {
          bump(this.interval.non2xx, String(status));
          bump(this.total.non2xx, String(status));
          this.example(`${r.label}: ${status} ${body.trim().slice(0, 200)}`);
          return;
        }
        this.interval.ok++;
        this.total.ok++;
        if (r.check) {
          let seen = this.verdicts.get(r.check);
          if (!seen) this.verdicts.set(r.check, (seen = new Map()));
          let problem: string | undefined;
          if (seen.has(body)) problem = seen.get(body);
          else {
            problem = r.check(status, body);
            if (seen.size < 1000) seen.set(body, problem);
          }
          if (problem !== undefined) {
            this.interval.wrong++;
            this.total.wrong++;
            this.example(`${r.label}: wrong answer: ${problem}`);
          }
        }
      });
    });
    const fail = (code: string) => {
      if (!finish()) return;
      bump(this.interval.connErrors, code);
      bump(this.total.connErrors, code);
      this.example(`${r.label}: connection error ${code}`);
    };
    // A deadline from the start, queueing on the agent included (req.setTimeout counts socket idleness only).
    deadline = setTimeout(() => {
      if (!finish()) return;
      this.interval.timeouts++;
      this.total.timeouts++;
      this.example(`${r.label}: no answer within ${this.options.timeoutMs} ms`);
      req.destroy();
    }, this.options.timeoutMs);
    req.on('error', (err) => fail((err as NodeJS.ErrnoException).code ?? err.message));
    req.end(r.body);
  }
}
