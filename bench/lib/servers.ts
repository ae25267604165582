/**
 * The servers under test: ours (the compiled service, as production runs it), the real OPA server
 * and the real opa-openshift, each built or found as pinned, each started in its own process.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { findPeer } from '../../test/support/peers.js';
import { freePort, freePorts, spawnProc, waitReady, type Proc } from './procs.js';

const run = promisify(execFile);

/** The upstream commit the prebuilt opa-openshift (../shared/peers) was built from; the protocol notes (shared/reference) were read from it too. */
export const OPA_OPENSHIFT_MODULE = 'github.com/observatorium/opa-openshift';
export const OPA_OPENSHIFT_REF = 'dbb77e0a9e2e';

export interface OursBuild {
  /** argv before the service's flags: [node, (--import tsx)?, entry] */
  command: string;
  args: string[];
  how: string;
  why: string;
}

/**
 * Compiles server/ with the project's tsconfig.build.json (what `npm run build` runs) into
 * bench/.build/dist, a private copy laid out as the package is (wasm/ and package.json beside
 * dist/ as symlinks), so `node bench/.build/dist/server/main.js` runs exactly the JavaScript
 * production runs, and a concurrent `npm run build` or edit by someone else cannot swap files under
 * a running benchmark. When tsc emits nothing usable, the service runs from source with tsx.
 */
export async function buildOurs(root: string, relDir = 'bench/.build'): Promise<OursBuild> {
  // Each caller its own directory (the soak uses bench/.build/soak): buildOurs empties its outDir
  // first, so a soak and `npm run bench` may run at the same time.
  const buildDir = join(root, relDir);
  const outDir = join(buildDir, 'dist');
  const up = relDir
    .split('/')
    .map(() => '..')
    .join('/');
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(buildDir, { recursive: true });
  for (const link of ['wasm', 'package.json']) {
    const at = join(buildDir, link);
    rmSync(at, { force: true, recursive: false });
    symlinkSync(`${up}/${link}`, at);
  }
  let tscNote = '';
  try {
    await run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', outDir], {
      cwd: root,
      maxBuffer: 16 << 20,
    });
  } catch (err) {
    const out = String((err as { stdout?: string }).stdout ?? '').trim();
    const errors = out.split('\n').filter((l) => /error TS\d+/.test(l));
    tscNote = ` (tsc reported ${errors.length} type error(s) in the working tree, first: ${errors[0] ?? out.slice(0, 200)}; the emitted JavaScript was used)`;
  }
  const entry = join(outDir, 'server/main.js');
  const v8 = oursNodeOptions(root);
  const malloc = Object.entries(oursEnv(root)).filter(([k]) => k.startsWith('MALLOC_'));
  const v8Note =
    (v8.flags.length ? `; node ${v8.flags.join(' ')} (${v8.from})` : `; no V8 flags (${v8.from})`) +
    (malloc.length ? `; ${malloc.map(([k, v]) => `${k}=${v}`).join(' ')}` : '');
  if (existsSync(entry)) {
    return {
      command: process.execPath,
      args: [...v8.flags, entry],
      how: `node ${relDir}/dist/server/main.js (compiled with tsc -p tsconfig.build.json)${tscNote}${v8Note}`,
      why: 'production runs the compiled dist/ with plain node; tsx would add its loader and on-the-fly transpilation to the startup and memory measured. Built into a private outDir so that other builds cannot change it mid-run.',
    };
  }
  return {
    command: process.execPath,
    args: [...v8.flags, '--import', 'tsx', join(root, 'server/main.ts')],
    how: `node --import tsx server/main.ts${v8Note}`,
    why: `the compiled build was not usable${tscNote}; running from source instead (numbers include tsx's loader)`,
  };
}

/**
 * The V8 flags ours runs with: the image's (deploy/Containerfile's `ENV NODE_OPTIONS`), so memory is
 * measured as a pod holds it; BENCH_NODE_OPTIONS replaces them (empty: V8's defaults).
 */
export function oursNodeOptions(root: string): { flags: string[]; from: string } {
  const env = process.env.BENCH_NODE_OPTIONS;
  if (env !== undefined) return { flags: env.split(/\s+/).filter(Boolean), from: 'BENCH_NODE_OPTIONS' };
  const m = /^ENV NODE_OPTIONS="([^"]*)"/m.exec(readFileSync(join(root, 'deploy/Containerfile'), 'utf8'));
  return m
    ? { flags: m[1]!.split(/\s+/).filter(Boolean), from: "deploy/Containerfile's NODE_OPTIONS" }
    : { flags: [], from: 'deploy/Containerfile sets no NODE_OPTIONS' };
}

/**
 * The environment ours runs with: the caller's, plus the image's glibc allocator settings
 * (deploy/Containerfile's `ENV MALLOC_*` lines) that the caller does not set itself, so memory is
 * measured as a pod holds it.
 */
export function oursEnv(root: string): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const m of readFileSync(join(root, 'deploy/Containerfile'), 'utf8').matchAll(/^ENV (MALLOC_[A-Z_]+)=(\S+)$/gm)) env[m[1]!] ??= m[2]!;
  return env;
}

export interface Running {
  proc: Proc;
  /** http://127.0.0.1:PORT of the public listener */
  base: string;
  /** http://127.0.0.1:PORT of the internal listener (metrics), when the server has one */
  internal?: string;
}

/** Starts ours with `flags` (listeners added here) and waits for /ready. */
export async function startOurs(build: OursBuild, flags: string[], logFile: string, nodeFlags: string[] = []): Promise<Running> {
  const [port, internalPort] = (await freePorts(2)) as [number, number];
  const proc = spawnProc(
    'ours',
    build.command,
    [...nodeFlags, ...build.args, `--web.listen=127.0.0.1:${port}`, `--web.internal.listen=127.0.0.1:${internalPort}`, ...flags],
    logFile,
    oursEnv(fileURLToPath(new URL('../../', import.meta.url))),
  );
  const internal = `http://127.0.0.1:${internalPort}`;
  await waitReady(proc, `${internal}/ready`);
  return { proc, base: `http://127.0.0.1:${port}`, internal };
}

/**
 * The limit for static decisions: bare-server.mjs, node:http alone parsing the same JSON body and
 * answering {"result":true}, started with the same node as ours.
 */
export async function startBare(logFile: string): Promise<Running> {
  const port = await freePort();
  const script = fileURLToPath(new URL('./bare-server.mjs', import.meta.url));
  const proc = spawnProc('bare', process.execPath, [script, String(port)], logFile);
  const base = `http://127.0.0.1:${port}`;
  await waitReady(proc, `${base}/`);
  return { proc, base };
}

export type Found = { path: string; version: string } | { unavailable: string };

/** The pinned OPA CLI, as scripts/ensure-tools.sh finds or installs it. */
export async function findOpa(root: string): Promise<Found> {
  try {
    const { stdout } = await run('bash', ['scripts/ensure-tools.sh', 'opa'], { cwd: root, timeout: 600_000 });
    const path = /^opa=(.+)$/m.exec(stdout)?.[1];
    if (!path) return { unavailable: `scripts/ensure-tools.sh printed no opa= line: ${stdout.trim()}` };
    const version = (await run(path, ['version'])).stdout.match(/^Version: (.+)$/m)?.[1] ?? 'unknown';
    return { path, version };
  } catch (err) {
    return { unavailable: `scripts/ensure-tools.sh failed: ${firstLine(String((err as { stderr?: string }).stderr ?? (err as Error).message))}` };
  }
}

export async function startOpa(opa: string, policy: string, dataFile: string, logFile: string): Promise<Running> {
  const port = await freePort();
  const proc = spawnProc(
    'opa',
    opa,
    ['run', '--server', '--addr', `127.0.0.1:${port}`, '--skip-version-check', '--log-level', 'error', policy, dataFile],
    logFile,
  );
  const base = `http://127.0.0.1:${port}`;
  await waitReady(proc, `${base}/health`);
  return { proc, base };
}

/**
 * The real opa-openshift, as scripts/peers.sh finds it (OPA_OPENSHIFT_BIN, else the prebuilt copy in
 * ../shared/peers): the same executable the conformance suites run. The Go module proxy does not
 * serve this module, so it is not built here; when it cannot be found, the reason is said in our
 * own words (the report quotes no tool's raw output).
 */
export function findOpaOpenshift(): Found {
  const lookup = findPeer('opa-openshift');
  if ('path' in lookup)
    return { path: lookup.path, version: `${OPA_OPENSHIFT_MODULE}@${OPA_OPENSHIFT_REF} (prebuilt upstream commit, found by scripts/peers.sh)` };
  return {
    unavailable:
      'not found: set OPA_OPENSHIFT_BIN, or put the prebuilt peers in ../shared/peers (README.md, "Real peers"); it cannot be built from the Go module proxy, which does not serve this module',
  };
}

/** opa-openshift with the Loki Operator's openshift-logging arguments, pointed at `kubeconfig`. */
export async function startOpaOpenshift(bin: string, kubeconfig: string, logFile: string): Promise<Running> {
  const [port, internalPort] = (await freePorts(2)) as [number, number];
  const proc = spawnProc(
    'opa-openshift',
    bin,
    [...loggingArgs(port), `--web.internal.listen=127.0.0.1:${internalPort}`, `--openshift.kubeconfig=${kubeconfig}`],
    logFile,
  );
  const internal = `http://127.0.0.1:${internalPort}`;
  await waitReady(proc, `${internal}/ready`);
  return { proc, base: `http://127.0.0.1:${port}`, internal };
}

/**
 * The opa-openshift container arguments the Loki Operator renders for openshift-logging
 * (shared/reference/opa-openshift-protocol.md §3), listeners aside: loopback ports here, and the
 * health check URL on 127.0.0.1 (the operator's `localhost` can resolve to ::1 first in Node).
 */
export function loggingArgs(port: number): string[] {
  return [
    '--log.level=warn',
    `--web.listen=127.0.0.1:${port}`,
    `--web.healthchecks.url=http://127.0.0.1:${port}`,
    '--opa.skip-tenants=audit,infrastructure',
    '--opa.package=lokistack',
    '--opa.admin-groups=system:cluster-admins,cluster-admin,dedicated-admin',
    '--opa.matcher=kubernetes_namespace_name,k8s_namespace_name',
    '--opa.viaq-to-otel-migration=true',
    '--openshift.mappings=application=loki.grafana.com',
    '--openshift.mappings=infrastructure=loki.grafana.com',
    '--openshift.mappings=audit=loki.grafana.com',
  ];
}

/** Ours with the same logging arguments; `startOurs` adds the listeners, so --web.listen is dropped here. */
export function oursLoggingFlags(kubeconfig: string, extra: string[] = []): string[] {
  return [
    ...loggingArgs(0).filter((a) => !a.startsWith('--web.listen=') && !a.startsWith('--web.healthchecks.url=')),
    `--openshift.kubeconfig=${kubeconfig}`,
    ...extra,
  ];
}

// One parser of the Prometheus exposition for the suites and the benchmarks.
export { metricValue } from '../../test/support/service.js';

export async function scrape(running: Running): Promise<string> {
  if (!running.internal) return '';
  const res = await fetch(`${running.internal}/metrics`);
  return res.text();
}

function firstLine(s: string): string {
  return s.trim().split('\n')[0] ?? '';
}
