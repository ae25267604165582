/**
 * Summarises a V8 .cpuprofile (node --cpu-prof): where the sampled time went, by function (self
 * and inclusive) and by area (HTTP core, express, policy evaluation, metrics, GC, ...).
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface FunctionTime {
  fn: string;
  where: string;
  area: string;
  selfMs: number;
  selfPct: number;
  totalMs: number;
  totalPct: number;
}

export interface ProfileSummary {
  file: string;
  sampledMs: number;
  /** Time not idle: what the requests cost. Percentages below are of this. */
  busyMs: number;
  topSelf: FunctionTime[];
  topTotal: FunctionTime[];
  areas: Array<{ area: string; selfMs: number; pct: number }>;
}

const ROOT_NAMES = new Set(['(root)', '(program)', '(idle)', '(garbage collector)']);

/** Which part of the stack a frame belongs to, from its script URL. */
export function areaOf(frame: CallFrame): string {
  const u = frame.url;
  const f = frame.functionName;
  if (f === '(garbage collector)') return 'GC';
  if (f === '(idle)') return 'idle';
  if (f === '(program)') return 'V8/native (program)';
  if (u.startsWith('wasm://')) return 'policy (WebAssembly)';
  if (u.includes('/@open-policy-agent/opa-wasm/')) return 'policy (opa-wasm JS glue)';
  if (u.includes('/node_modules/express/') || u.includes('/node_modules/router/') || u.includes('/node_modules/path-to-regexp/')) return 'express + router';
  if (
    /\/node_modules\/(body-parser|raw-body|finalhandler|on-finished|send|statuses|type-is|content-type|parseurl|qs|depd|http-errors|mime|accepts|negotiator|encodeurl|escape-html|merge-descriptors|proxy-addr|forwarded|ipaddr\.js|fresh|range-parser|vary|cookie|etag|destroy|ee-first|media-typer|unpipe|iconv-lite|safer-buffer|inherits|setprototypeof|toidentifier|bytes|utils-merge|methods|array-flatten|serve-static)\//.test(
      u,
    )
  )
    return 'express deps';
  if (u.includes('/node_modules/prom-client/') || u.includes('/node_modules/tdigest/') || u.includes('/node_modules/bintrees/')) return 'metrics (prom-client)';
  if (/\/server\/observability\/log(ger|-fields|-destination)\.[jt]s$/.test(u)) return 'logging';
  if (u.includes('/node_modules/lru-cache/')) return 'cache (lru-cache)';
  if (u.includes('/node_modules/@kubernetes/')) return 'kube client';
  if (u.includes('/node_modules/')) return `other deps (${/\/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u)?.[1] ?? '?'})`;
  if (u.includes('/server/http/')) return 'ours: server/http';
  if (u.includes('/server/decision/') || u.includes('/server/policy/')) return 'ours: decision + policy';
  if (u.includes('/server/')) return 'ours: other';
  if (
    /^node:(_http|http|net|stream|internal\/(http|streams|stream_base|net|js_stream))|^node:internal\/(deps\/llhttp|http)/.test(u) ||
    /_http_|internal\/streams|stream_base_commons|net\.js/.test(u)
  )
    return 'node http + net + streams';
  if (u.startsWith('node:internal/abort_controller') || u.includes('abort_controller')) return 'AbortSignal';
  if (u.startsWith('node:internal/timers') || u.startsWith('node:timers')) return 'timers';
  if (u.startsWith('node:') || u === '') return f === '' ? 'node/V8 builtins' : 'node/V8 builtins';
  return 'other';
}

function shortUrl(url: string): string {
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) return url.slice(nm + '/node_modules/'.length);
  const s = url.indexOf('/server/');
  if (s >= 0) return url.slice(s + 1);
  return url.replace(/^file:\/\//, '');
}

export function summarizeProfile(file: string, top = 20): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  for (const n of profile.nodes) byId.set(n.id, n);
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const keyOf = (n: ProfileNode) => `${n.callFrame.functionName || '(anonymous)'}\u0000${n.callFrame.url}:${n.callFrame.lineNumber + 1}`;

  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const frames = new Map<string, CallFrame>();
  let sampled = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    sampled += us;
    if (node.callFrame.functionName === '(idle)') idle += us;
    const k = keyOf(node);
    frames.set(k, node.callFrame);
    self.set(k, (self.get(k) ?? 0) + us);
    // Inclusive: every distinct function on the stack gets the sample once (recursion counted once).
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur)!;
      const ck = keyOf(n);
      if (seen.has(ck)) continue;
      seen.add(ck);
      frames.set(ck, n.callFrame);
      total.set(ck, (total.get(ck) ?? 0) + us);
    }
  }
  const busy = Math.max(1, sampled - idle);
  const row = (k: string): FunctionTime => {
    const frame = frames.get(k)!;
    const s = self.get(k) ?? 0;
    const t = total.get(k) ?? 0;
    return {
      fn: frame.functionName || '(anonymous)',
      where: frame.url ? `${shortUrl(frame.url)}:${frame.lineNumber + 1}` : '',
      area: areaOf(frame),
      selfMs: s / 1000,
      selfPct: (100 * s) / busy,
      totalMs: t / 1000,
      totalPct: (100 * t) / busy,
    };
  };
  const notRoot = (k: string) => !ROOT_NAMES.has(frames.get(k)!.functionName) && frames.get(k)!.functionName !== '(idle)';
  const topSelf = [...self.keys()]
    .filter((k) => frames.get(k)!.functionName !== '(idle)')
    .sort((a, b) => self.get(b)! - self.get(a)!)
    .slice(0, top)
    .map(row);
  const topTotal = [...total.keys()]
    .filter(notRoot)
    .sort((a, b) => total.get(b)! - total.get(a)!)
    .slice(0, top)
    .map(row);
  const areas = new Map<string, number>();
  for (const [k, us] of self) {
    const a = areaOf(frames.get(k)!);
    if (a === 'idle') continue;
    areas.set(a, (areas.get(a) ?? 0) + us);
  }
  return {
    file,
    sampledMs: sampled / 1000,
    busyMs: busy / 1000,
    topSelf,
    topTotal,
    areas: [...areas.entries()].sort((a, b) => b[1] - a[1]).map(([area, us]) => ({ area, selfMs: us / 1000, pct: (100 * us) / busy })),
  };
}
