/**
 * The soak's report: its data (bench/results/soak.json), the flatness verdict computed from the
 * samples, the Markdown (soak.md) and a hand-written SVG of RSS, heap and sockets over time
 * (soak.svg; linear axes, unlike svg.ts's log-log scaling panels).
 */
import type { LatencyStats } from './load.js';
import type { PacerTotals } from './pacer.js';
import { fmtBytes, fmtMs } from './report.js';
import type { SocketCount } from './sockets.js';

export interface SoakSample {
  /** Seconds since the load started (negative: before it; the idle sample: after it). */
  t: number;
  phase: 'baseline' | 'load' | 'idle';
  rssBytes?: number;
  heapUsedBytes?: number;
  heapTotalBytes?: number;
  externalBytes?: number;
  /** nodejs_active_handles_total */
  activeHandles?: number;
  eventLoopLagP99Ms?: number;
  /** The service's CPU over the interval, % of one core. */
  cpuPct?: number;
  sockets?: SocketCount;
  /** Collections over the interval, from --trace-gc; heapAfterFullGcBytes: the lowest heap after a Mark-Compact in it. */
  gc?: { scavenges: number; full: number; pauseMs: number; heapAfterFullGcBytes?: number };
  /** decision_cache_entries */
  cacheEntries?: number;
  /** Cache counters over the interval. */
  cache?: { hits: number; misses: number; inserts: number; evictions: number; shared: number };
  /** The fake Kubernetes API: requests so far, and over the interval. */
  upstream?: { total: number; delta: number; perSec: number };
  /** The loader over the interval. */
  load?: {
    sent: number;
    answered: number;
    ok: number;
    ratePerSec: number;
    errors: number;
    wrong: number;
    skipped: number;
    inFlight: number;
    latencyMs: LatencyStats;
  };
  fakeRssBytes?: number;
}

export interface Flatness {
  metric: string;
  unit: 'bytes' | 'count';
  middleMean: number;
  lastMean: number;
  /** lastMean - middleMean */
  change: number;
  /** change / middleMean */
  changeRatio: number;
  /** Least-squares slope over the middle and last thirds, per minute. */
  slopePerMin: number;
  /** What it must stay within, in words; empty when only reported. */
  limit: string;
  /** Undefined when the metric is only reported, not judged. */
  ok?: boolean;
}

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export interface SoakReport {
  generatedAt: string;
  command: string;
  environment: {
    node: string;
    cpus: number;
    cpuModel: string;
    memoryBytes: number;
    loadAverageStart: number[];
    loadAverageEnd: number[];
    git: string;
    note: string;
  };
  ours: { how: string; why: string; flags: string[] };
  parameters: Record<string, string | number>;
  workload: Array<{ label: string; weight: number; who: string; what: string; expected: string }>;
  totals: PacerTotals & {
    ratePerSec: number;
    errors: number;
    distinctTokens: number;
    cache: { hits: number; misses: number; inserts: number; evictions: number; shared: number; hitRatio: number };
    upstreamCalls: number;
    upstreamByEndpoint: Record<string, number>;
    upstreamByStatus: Record<string, number>;
  };
  preflight: Check[];
  samples: SoakSample[];
  thirds: { middle: [number, number]; last: [number, number] };
  flatness: Flatness[];
  checks: Check[];
  verdict: 'pass' | 'fail';
  logs: Record<string, string>;
}

// ---------------------------------------------------------------- flatness

/** Index ranges [from, to) of the middle and last thirds of the load samples. */
export function thirds(n: number): { middle: [number, number]; last: [number, number] } {
  const third = Math.floor(n / 3);
  return { middle: [third, 2 * third], last: [n - third, n] };
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : NaN);

function slope(points: Array<[number, number]>): number {
  if (points.length < 2) return NaN;
  const mx = mean(points.map(([x]) => x));
  const my = mean(points.map(([, y]) => y));
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? NaN : num / den;
}

/**
 * The mean of the last third of the load samples against the mean of the middle third (the first
 * third is warm-up: the heap and the cache fill, connections open), and the slope over both.
 */
export function flatness(
  load: SoakSample[],
  metric: string,
  unit: Flatness['unit'],
  pick: (s: SoakSample) => number | undefined,
  judge?: { limit: string; ok: (f: Omit<Flatness, 'limit' | 'ok'>) => boolean },
): Flatness {
  const { middle, last } = thirds(load.length);
  const values = (from: number, to: number) => load.slice(from, to).flatMap((s) => (pick(s) === undefined || !Number.isFinite(pick(s)!) ? [] : [pick(s)!]));
  const m = mean(values(...middle));
  const l = mean(values(...last));
  const pts = load.slice(middle[0], last[1]).flatMap((s) => {
    const v = pick(s);
    return v === undefined || !Number.isFinite(v) ? [] : [[s.t / 60, v] as [number, number]];
  });
  const f = { metric, unit, middleMean: m, lastMean: l, change: l - m, changeRatio: m > 0 ? (l - m) / m : NaN, slopePerMin: slope(pts) };
  if (!judge) return { ...f, limit: '' };
  const enough = middle[1] > middle[0] && Number.isFinite(m) && Number.isFinite(l);
  return { ...f, limit: judge.limit, ok: enough && judge.ok(f) };
}

// ---------------------------------------------------------------- Markdown

const num = (v: number | undefined, digits = 0) =>
  v === undefined || !Number.isFinite(v) ? '–' : v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const pct = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '–' : `${v >= 0 ? '+' : ''}${(v * 100).toFixed(1)} %`);
const signed = (v: number, unit: Flatness['unit']) =>
  unit === 'bytes' ? `${v >= 0 ? '+' : '−'}${fmtBytes(Math.abs(v))}` : `${v >= 0 ? '+' : '−'}${num(Math.abs(v), 1)}`;
const codes = (m: Record<string, number>) =>
  Object.entries(m)
    .map(([k, n]) => `${n}×${k}`)
    .join(', ');

function socketsCell(s: SocketCount | undefined): string {
  if (!s) return '–';
  const inbound = Object.entries(s.inbound)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  const outbound = Object.entries(s.outbound)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  return `${s.total} (${[inbound, outbound, `listen ${s.listening}`, s.other ? `other ${s.other}` : ''].filter(Boolean).join(', ')})`;
}

export function soakMarkdown(r: SoakReport, svgName: string): string {
  const out: string[] = [];
  const failed = r.checks.filter((c) => !c.ok);
  out.push('# lokistack-authz soak');
  out.push('');
  out.push(`Generated ${r.generatedAt} by \`${r.command}\`.`);
  out.push('');
  out.push(
    r.verdict === 'pass'
      ? `**Verdict: pass.** ${num(r.totals.answered)} decisions at ${num(r.totals.ratePerSec, 1)} req/s over ${num(r.totals.seconds / 60, 1)} min with cache churn: no errors, no wrong answers, memory and open sockets flat (last third against middle third of the run).`
      : `**Verdict: FAIL.** ${failed.map((c) => c.name).join('; ')}.`,
  );
  out.push('');
  out.push(
    `**Indicative.** ${r.environment.note} Machine: ${r.environment.cpus} cores (${r.environment.cpuModel}), ${fmtBytes(r.environment.memoryBytes)}, Node ${r.environment.node}; load average ${r.environment.loadAverageStart.map((v) => v.toFixed(2)).join(' ')} at the start, ${r.environment.loadAverageEnd.map((v) => v.toFixed(2)).join(' ')} at the end.`,
  );
  out.push('');
  out.push(`- Code: ${r.environment.git}`);
  out.push(`- Ours: ${r.ours.how}`);
  out.push(`- Flags: \`${r.ours.flags.join(' ')}\``);
  out.push('');
  out.push('## Parameters');
  out.push('');
  out.push('| parameter | value |');
  out.push('|---|---|');
  for (const [k, v] of Object.entries(r.parameters)) out.push(`| ${k} | ${typeof v === 'number' ? num(v, 2).replace(/\.00$/, '') : v} |`);
  out.push('');
  out.push(
    "Workload (each request picks a variant by weight, then a token of that user from the sliding window of active tokens; the token is the cache key's, so a new login is a new set of cache entries):",
  );
  out.push('');
  out.push('| variant | weight | user | request | expected answer |');
  out.push('|---|---:|---|---|---|');
  for (const w of r.workload) out.push(`| ${w.label} | ${w.weight} | ${w.who} | ${w.what} | ${w.expected} |`);
  out.push('');

  out.push('## Result');
  out.push('');
  for (const c of r.checks) out.push(`- ${c.ok ? '✅' : '❌'} ${c.name}: ${c.detail}`);
  out.push('');
  const t = r.totals;
  out.push('| | |');
  out.push('|---|---|');
  out.push(`| requests sent / answered / 2xx | ${num(t.sent)} / ${num(t.answered)} / ${num(t.ok)} |`);
  out.push(`| achieved rate | ${num(t.ratePerSec, 1)} req/s over ${num(t.seconds, 1)} s |`);
  out.push(
    `| errors | ${t.errors}${t.errors ? ` (${[codes(t.non2xx), codes(t.connErrors), t.timeouts ? `${t.timeouts} timeouts` : ''].filter(Boolean).join('; ')})` : ''} |`,
  );
  out.push(`| wrong answers | ${t.wrong} |`);
  out.push(`| skipped (loader backlog full) | ${t.skipped} |`);
  out.push(`| latency p50 / p90 / p99 / max | ${fmtMs(t.latencyMs.p50)} / ${fmtMs(t.latencyMs.p90)} / ${fmtMs(t.latencyMs.p99)} / ${fmtMs(t.latencyMs.max)} |`);
  out.push(`| distinct tokens used | ${num(t.distinctTokens)} |`);
  out.push(
    `| cache | ${num(t.cache.hits)} hits, ${num(t.cache.misses)} misses (hit ratio ${(t.cache.hitRatio * 100).toFixed(1)} %), ${num(t.cache.inserts)} inserts, ${num(t.cache.evictions)} evictions, ${num(t.cache.shared)} joined in flight |`,
  );
  out.push(`| Kubernetes API calls | ${num(t.upstreamCalls)} (${codes(t.upstreamByEndpoint)}; statuses ${codes(t.upstreamByStatus)}) |`);
  out.push(`| answers by variant | ${codes(t.byLabel)} |`);
  out.push('');
  if (t.examples.length) {
    out.push('First errors and wrong answers:');
    out.push('');
    out.push('```');
    out.push(...t.examples.slice(0, 20));
    out.push('```');
    out.push('');
  }

  out.push('## Flatness');
  out.push('');
  const load = r.samples.filter((s) => s.phase === 'load');
  const span = (range: [number, number]) => (range[1] > range[0] ? `${num(load[range[0]]?.t)}–${num(load[range[1] - 1]?.t)} s` : 'none');
  out.push(
    `Means over the samples taken under load: the middle third (${span(r.thirds.middle)}) against the last third (${span(r.thirds.last)}); the first third is warm-up (the heap grows to its working size, the cache fills to its bound, connections open). The slope is a least-squares fit over the middle and last thirds.`,
  );
  out.push('');
  out.push('| metric | middle third | last third | change | slope per minute | limit | |');
  out.push('|---|---:|---:|---:|---:|---|---|');
  for (const f of r.flatness) {
    const v = (x: number) => (f.unit === 'bytes' ? fmtBytes(x) : num(x, 1));
    out.push(
      `| ${f.metric} | ${v(f.middleMean)} | ${v(f.lastMean)} | ${signed(f.change, f.unit)} (${pct(f.changeRatio)}) | ${Number.isFinite(f.slopePerMin) ? signed(f.slopePerMin, f.unit) : '–'} | ${f.limit || 'reported only'} | ${f.ok === undefined ? '' : f.ok ? '✅' : '❌'} |`,
    );
  }
  out.push('');
  out.push(`![RSS, heap and open sockets over time](${svgName})`);
  out.push('');

  out.push('## Samples');
  out.push('');
  out.push(
    "Every sample: the service's VmRSS (/proc), heap used and total, the lowest heap after a full collection (Mark-Compact) in the interval (its `--trace-gc` lines), active handles and event-loop lag p99 (its /metrics), its open sockets (/proc/<pid>/fd, told apart with /proc/net/tcp: accepted on the public listener, on the internal one, connected to the fake API, listening), `decision_cache_entries`, and over the interval since the previous sample: cache hits, misses, evictions, calls the fake Kubernetes API received, the rate achieved, latency, errors and wrong answers, the service's CPU.",
  );
  out.push('');
  out.push(
    '| t (s) | phase | RSS | heap used | heap total | heap after full GC | full GCs | handles | sockets | cache entries | hits | misses | evictions | upstream/s | req/s | p50 | p99 | errors | wrong | CPU | lag p99 |',
  );
  out.push('|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const s of r.samples) {
    out.push(
      `| ${num(s.t)} | ${s.phase} | ${fmtBytes(s.rssBytes)} | ${fmtBytes(s.heapUsedBytes)} | ${fmtBytes(s.heapTotalBytes)} | ${fmtBytes(s.gc?.heapAfterFullGcBytes)} | ${num(s.gc?.full)} | ${num(s.activeHandles)} | ${socketsCell(s.sockets)} | ${num(s.cacheEntries)} | ${num(s.cache?.hits)} | ${num(s.cache?.misses)} | ${num(s.cache?.evictions)} | ${num(s.upstream?.perSec)} | ${num(s.load?.ratePerSec, 1)} | ${fmtMs(s.load?.latencyMs.p50)} | ${fmtMs(s.load?.latencyMs.p99)} | ${s.load ? s.load.errors : '–'} | ${s.load ? s.load.wrong : '–'} | ${s.cpuPct === undefined ? '–' : `${s.cpuPct.toFixed(0)} %`} | ${fmtMs(s.eventLoopLagP99Ms)} |`,
    );
  }
  out.push('');
  if (r.preflight.length) {
    out.push('## Preflight');
    out.push('');
    out.push('Each variant once, with a token of its own, before the load: the answers the soak then checks every response against.');
    out.push('');
    for (const c of r.preflight) out.push(`- ${c.ok ? '✅' : '❌'} ${c.name}: ${c.detail}`);
    out.push('');
  }
  out.push('## Logs');
  out.push('');
  for (const [k, v] of Object.entries(r.logs)) out.push(`- ${k}: \`${v}\``);
  out.push('');
  return out.join('\n');
}

// ---------------------------------------------------------------- SVG

interface Line {
  name: string;
  color: string;
  dash?: string;
  points: Array<[number, number]>;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Round tick steps: 1, 2, 5 × 10^k giving about `want` ticks. */
function ticks(min: number, max: number, want = 5): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / want;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) out.push(Math.round(v / step) * step);
  return out;
}

const PW = 700;
const PH = 200;

function linearPanel(x0: number, y0: number, title: string, yFmt: (v: number) => string, lines: Line[], xMax: number, marks: number[]): string {
  const out: string[] = [`<g transform="translate(${x0},${y0})">`];
  out.push(`<text x="${PW / 2}" y="-10" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`);
  out.push(`<rect x="0" y="0" width="${PW}" height="${PH}" fill="#fafafa" stroke="#999"/>`);
  const ys = lines.flatMap((l) => l.points.map(([, y]) => y)).filter(Number.isFinite);
  if (ys.length === 0) {
    out.push(`<text x="${PW / 2}" y="${PH / 2}" text-anchor="middle" fill="#888">no data</text></g>`);
    return out.join('\n');
  }
  const yMax = Math.max(...ys) * 1.1 || 1;
  const sx = (x: number) => (x / (xMax || 1)) * PW;
  const sy = (y: number) => PH - (y / yMax) * PH;
  for (const t of ticks(0, yMax)) {
    out.push(`<line x1="0" y1="${sy(t).toFixed(1)}" x2="${PW}" y2="${sy(t).toFixed(1)}" stroke="#e4e4e4"/>`);
    out.push(`<text x="-6" y="${(sy(t) + 4).toFixed(1)}" text-anchor="end" font-size="11">${esc(yFmt(t))}</text>`);
  }
  for (const t of ticks(0, xMax / 60, 10)) {
    out.push(`<line x1="${sx(t * 60).toFixed(1)}" y1="${PH}" x2="${sx(t * 60).toFixed(1)}" y2="${PH + 4}" stroke="#999"/>`);
    out.push(`<text x="${sx(t * 60).toFixed(1)}" y="${PH + 16}" text-anchor="middle" font-size="11">${t}</text>`);
  }
  for (const m of marks) out.push(`<line x1="${sx(m).toFixed(1)}" y1="0" x2="${sx(m).toFixed(1)}" y2="${PH}" stroke="#888" stroke-dasharray="3 3"/>`);
  out.push(`<text x="${PW / 2}" y="${PH + 32}" text-anchor="middle" font-size="12">minutes under load</text>`);
  let lx = 0;
  for (const l of lines) {
    const pts = l.points.filter(([, y]) => Number.isFinite(y));
    if (pts.length === 0) continue;
    const d = pts.map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${l.color}" stroke-width="2"${l.dash ? ` stroke-dasharray="${l.dash}"` : ''}/>`);
    out.push(
      `<line x1="${lx}" y1="${PH + 48}" x2="${lx + 20}" y2="${PH + 48}" stroke="${l.color}" stroke-width="2"${l.dash ? ` stroke-dasharray="${l.dash}"` : ''}/>`,
    );
    out.push(`<text x="${lx + 24}" y="${PH + 52}" font-size="11">${esc(l.name)}</text>`);
    lx += 40 + l.name.length * 6.5;
  }
  out.push('</g>');
  return out.join('\n');
}

export function soakSvg(r: SoakReport, caption: string): string {
  const load = r.samples.filter((s) => s.phase === 'load');
  const xMax = Math.max(60, ...load.map((s) => s.t));
  const series = (pick: (s: SoakSample) => number | undefined) => load.flatMap((s) => (pick(s) === undefined ? [] : [[s.t, pick(s)!] as [number, number]]));
  const mib = (v: number) => `${Math.round(v)} MiB`;
  const toMiB = (v: number | undefined) => (v === undefined ? undefined : v / (1 << 20));
  const marks = [r.thirds.middle[0], r.thirds.last[0]].map((i) => load[i]?.t).filter((t): t is number => t !== undefined && t > 0);
  const W = 860;
  // The caption on lines of at most 120 characters.
  const lines: string[] = [];
  for (const word of caption.split(' ')) {
    if (lines.length && `${lines[lines.length - 1]} ${word}`.length <= 120) lines[lines.length - 1] += ` ${word}`;
    else lines.push(word);
  }
  const H = 2 * (PH + 110) + 50 + 16 * lines.length;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">`,
    '<rect width="100%" height="100%" fill="white"/>',
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="16" font-weight="bold">lokistack-authz soak: ${esc(String(r.parameters.rate))} req/s, openshift-logging, cache churn (${r.verdict})</text>`,
    linearPanel(
      100,
      60,
      'Memory of the service',
      mib,
      [
        { name: 'RSS (VmRSS)', color: '#1f77b4', points: series((s) => toMiB(s.rssBytes)) },
        { name: 'heap total', color: '#2ca02c', dash: '6 4', points: series((s) => toMiB(s.heapTotalBytes)) },
        { name: 'heap used', color: '#2ca02c', points: series((s) => toMiB(s.heapUsedBytes)) },
        { name: 'heap after full GC', color: '#8c564b', points: series((s) => toMiB(s.gc?.heapAfterFullGcBytes)) },
      ],
      xMax,
      marks,
    ),
    linearPanel(
      100,
      60 + PH + 110,
      'Open sockets of the service',
      (v) => String(v),
      [
        { name: 'all sockets (fds)', color: '#d62728', points: series((s) => s.sockets?.total) },
        { name: 'to the fake API', color: '#9467bd', points: series((s) => s.sockets?.outbound['fake-kube']) },
        { name: 'from the loader', color: '#ff7f0e', points: series((s) => s.sockets?.inbound.public) },
        { name: 'active handles', color: '#7f7f7f', dash: '6 4', points: series((s) => s.activeHandles) },
      ],
      xMax,
      marks,
    ),
    ...lines.map((l, i) => `<text x="100" y="${H - 12 - 16 * (lines.length - 1 - i)}" font-size="11" fill="#555">${esc(l)}</text>`),
    '</svg>',
    '',
  ].join('\n');
}
