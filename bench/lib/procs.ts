/**
 * Child processes of the benchmark: the servers under test and the fake Kubernetes API. Each runs
 * in a process of its own (its CPU and memory are its own, its RSS is read from /proc), with its
 * stderr kept in a log file under bench/results/tmp/.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { ClusterSpec } from './cluster.js';

export { freePort, freePorts } from '../../test/support/ports.js';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface ProcMemory {
  /** Resident set size now, bytes. */
  rssBytes: number;
  /** Peak resident set size of the process's life so far (VmHWM), bytes. */
  peakRssBytes: number;
}

/** VmRSS and VmHWM of a process from /proc/<pid>/status; undefined once it has gone. */
export function procMemory(pid: number): ProcMemory | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) * 1024;
  return { rssBytes: kb('VmRSS'), peakRssBytes: kb('VmHWM') };
}

const CLK_TCK = 100; // sysconf(_SC_CLK_TCK) on Linux

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat; undefined once it has gone. */
export function procCpuSeconds(pid: number): number | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Fields after the command name (which may hold spaces) start at field 3: utime is 14, stime 15.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

export interface Proc {
  name: string;
  pid: number;
  child: ChildProcess;
  logFile: string;
  memory(): ProcMemory | undefined;
  cpuSeconds(): number | undefined;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
  stop(graceMs?: number): Promise<void>;
  running(): boolean;
}

export function spawnProc(name: string, command: string, args: string[], logFile: string, env: NodeJS.ProcessEnv = process.env): Proc {
  const log = createWriteStream(logFile, { flags: 'a' });
  log.write(`# ${new Date().toISOString()} ${command} ${args.join(' ')}\n`);
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  child.stdout!.pipe(log, { end: false });
  child.stderr!.pipe(log, { end: false });
  let alive = true;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      alive = false;
      log.end(`# exited code=${code} signal=${signal}\n`);
      resolve();
    }),
  );
  if (child.pid === undefined) throw new Error(`${name}: could not start ${command}`);
  const pid = child.pid;
  return {
    name,
    pid,
    child,
    logFile,
    memory: () => procMemory(pid),
    cpuSeconds: () => procCpuSeconds(pid),
    running: () => alive,
    async stop(graceMs = 10_000) {
      if (!alive) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Polls `url` until it answers 2xx (or `ok` says so); fails early if the process exits. */
export async function waitReady(proc: Proc, url: string, timeoutMs = 30_000, ok: (status: number) => boolean = (s) => s >= 200 && s < 300): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!proc.running()) throw new Error(`${proc.name} exited before it was ready; see ${proc.logFile}:\n${tail(proc.logFile)}`);
    const status = await fetch(url).then(
      (r) => r.arrayBuffer().then(() => r.status),
      () => 0,
    );
    if (status && ok(status)) return;
    if (Date.now() > deadline) {
      await proc.stop();
      throw new Error(`${proc.name} not ready at ${url} within ${timeoutMs} ms; see ${proc.logFile}:\n${tail(proc.logFile)}`);
    }
    await sleep(100);
  }
}

export function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

export interface FakeCounts {
  total: number;
  byEndpoint: Record<string, number>;
  reviews: { clusterWide: number; namespaced: number };
  byStatus: Record<string, number>;
}

export interface FakeKubeProc {
  proc: Proc;
  url: string;
  controlUrl: string;
  kubeconfig: string;
  counts(): Promise<FakeCounts>;
  reset(): Promise<void>;
  latency(ms: number): Promise<void>;
  cluster(spec: ClusterSpec): Promise<void>;
  tokens(prefix: string, count: number, identity: { username: string; groups: string[] }): Promise<void>;
}

/**
 * Starts bench/fake-kube-server.ts in its own process and waits for its JSON line. It serves HTTPS
 * (what client-go needs to send a user's token); `http: true` points url and kubeconfig at its plain
 * HTTP listener instead (the probes that call it with node:http).
 */
export async function startFakeKubeProc(root: string, dir: string, logFile: string, options: { http?: boolean } = {}): Promise<FakeKubeProc> {
  const proc = spawnProc(
    'fake-kube',
    process.execPath,
    ['--import', 'tsx', `${root}/bench/fake-kube-server.ts`, '--dir', dir, ...(options.http ? ['--http'] : [])],
    logFile,
  );
  const first = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: proc.child.stdout! });
    const timer = setTimeout(() => reject(new Error(`fake-kube printed nothing within 30 s; see ${logFile}`)), 30_000);
    rl.once('line', (line) => {
      clearTimeout(timer);
      resolve(line);
    });
    proc.child.once('exit', () => reject(new Error(`fake-kube exited at start:\n${tail(logFile)}`)));
  });
  const info = JSON.parse(first) as { url: string; controlUrl: string; kubeconfig: string };
  const call = async (method: string, path: string, body?: unknown): Promise<unknown> => {
    const res = await fetch(`${info.controlUrl}${path}`, {
      method,
      ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
    });
    const json = (await res.json()) as unknown;
    if (!res.ok) throw new Error(`fake-kube control ${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  return {
    proc,
    ...info,
    counts: async () => (await call('GET', '/counts')) as FakeCounts,
    reset: async () => void (await call('POST', '/reset')),
    latency: async (ms) => void (await call('POST', '/latency', { ms })),
    cluster: async (spec) => void (await call('POST', '/cluster', spec)),
    tokens: async (prefix, count, identity) => void (await call('POST', '/tokens', { prefix, count, ...identity })),
  };
}

/** The difference of two count snapshots (after - before). */
export function diffCounts(after: FakeCounts, before: FakeCounts): FakeCounts {
  const sub = (a: Record<string, number>, b: Record<string, number>) => {
    const out: Record<string, number> = {};
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const d = (a[k] ?? 0) - (b[k] ?? 0);
      if (d !== 0) out[k] = d;
    }
    return out;
  };
  return {
    total: after.total - before.total,
    byEndpoint: sub(after.byEndpoint, before.byEndpoint),
    reviews: {
      clusterWide: after.reviews.clusterWide - before.reviews.clusterWide,
      namespaced: after.reviews.namespaced - before.reviews.namespaced,
    },
    byStatus: sub(after.byStatus, before.byStatus),
  };
}
