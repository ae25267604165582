/**
 * The real peers for tests and benchmarks: where the executables are (scripts/peers.sh decides),
 * the rule for a missing one, and running real opa-openshift on loopback.
 *
 *   const bin = requirePeer(this, 'opa-openshift');          // in a before(): skip or fail
 *   const peer = await startOpaOpenshift(bin, OPERATOR_LOGGING_ARGS, { kubeconfig });
 *   await fetch(`${peer.url}/v1/data/lokistack/allow`, ...); await peer.stop();
 *
 * Outside CI a missing peer skips the suite with one loud line on stderr; under CI
 * (`process.env.CI`) it is a failure, so the proof cannot silently go missing. bench/ may call
 * findPeer() and decide for itself.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { freePorts } from './ports.js';
import { ROOT } from './tools.js';

export type PeerName = 'opa-openshift' | 'observatorium-api';

export type PeerLookup = { path: string } | { missing: string };

const found = new Map<PeerName, PeerLookup>();

/** Where scripts/peers.sh finds `name`, or why it does not (asked once per process: unpacking hashes 130 MB). */
export function findPeer(name: PeerName): PeerLookup {
  const known = found.get(name);
  if (known) return known;
  let result: PeerLookup;
  try {
    const out = execFileSync('bash', ['scripts/peers.sh', name], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const path = new RegExp(`^${name}=(.+)$`, 'm').exec(out)?.[1];
    result = path ? { path } : { missing: `scripts/peers.sh printed no ${name}= line` };
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim();
    result = { missing: stderr || (err as Error).message };
  }
  found.set(name, result);
  return result;
}

const warned = new Set<PeerName>();

/**
 * The peer's path, or: under CI a thrown error (the hook fails the suite), elsewhere a skip of the
 * suite (call it from a before() hook) announced once on stderr.
 */
export function requirePeer(ctx: Mocha.Context, name: PeerName): string {
  const lookup = findPeer(name);
  if ('path' in lookup) return lookup.path;
  if (process.env.CI) throw new Error(`the real ${name} is required in CI: ${lookup.missing}`);
  if (!warned.has(name)) {
    warned.add(name);
    process.stderr.write(`\n!!! SKIPPING the suites that run the real ${name}: ${lookup.missing}\n\n`);
  }
  ctx.skip();
  throw new Error('unreachable');
}

export { freePort } from './ports.js';

export interface RunningPeer {
  /** http://127.0.0.1:PORT of the public listener */
  readonly url: string;
  /** http://127.0.0.1:PORT of the internal listener (/live, /ready, /metrics) */
  readonly internalUrl: string;
  readonly process: ChildProcess;
  /** Everything the peer wrote to stdout and stderr so far (its logs; never asserted on for secrets it does not print). */
  output(): string;
  /** SIGTERM, then SIGKILL after 5 s; resolves once it has exited. */
  stop(): Promise<void>;
}

/** A peer process started by a test: its output (the last 20,000 characters), and a stop that escalates to SIGKILL. */
export interface SpawnedPeer {
  process: ChildProcess;
  output(): string;
  gone(): boolean;
  stop(): Promise<void>;
}

export function spawnPeer(bin: string, argv: readonly string[], env: Record<string, string> = {}): SpawnedPeer {
  const child = spawn(bin, [...argv], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let output = '';
  const keep = (c: string) => (output = (output + c).slice(-20_000));
  child.stdout!.setEncoding('utf8').on('data', keep);
  child.stderr!.setEncoding('utf8').on('data', keep);
  let gone = false;
  const exited = new Promise<void>((resolve) => child.once('exit', () => ((gone = true), resolve())));
  return {
    process: child,
    output: () => output,
    gone: () => gone,
    async stop() {
      if (gone) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * Starts real opa-openshift with `args` (e.g. OPERATOR_LOGGING_ARGS from ./openshift.ts), its
 * listeners moved to free loopback ports and its health check pointed at its own public listener,
 * and `--openshift.kubeconfig=<kubeconfig>` added. Resolves once the public listener answers.
 */
export async function startOpaOpenshift(bin: string, args: readonly string[], options: { kubeconfig: string; readyTimeoutMs?: number }): Promise<RunningPeer> {
  const [port, internalPort] = (await freePorts(2)) as [number, number];
  const url = `http://127.0.0.1:${port}`;
  const internalUrl = `http://127.0.0.1:${internalPort}`;
  const placed = args.filter((a) => !/^--(web\.listen|web\.internal\.listen|web\.healthchecks\.url|openshift\.kubeconfig)(=|$)/.test(a));
  const argv = [
    ...placed,
    `--web.listen=127.0.0.1:${port}`,
    `--web.internal.listen=127.0.0.1:${internalPort}`,
    `--web.healthchecks.url=${url}`,
    `--openshift.kubeconfig=${options.kubeconfig}`,
  ];
  const peer = spawnPeer(bin, argv);
  const { output, stop } = peer;
  const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
  for (;;) {
    if (peer.gone()) throw new Error(`opa-openshift exited at start:\n${output()}`);
    try {
      // Ready once its internal mux serves /ready and its public mux (which has no /ready) answers
      // 404 there: if another process took a port in the meantime, this notices the wrong listener.
      const [internal, pub] = await Promise.all([
        fetch(`${internalUrl}/ready`, { signal: AbortSignal.timeout(500) }),
        fetch(`${url}/ready`, { signal: AbortSignal.timeout(500) }),
      ]);
      if (internal.status === 200 && pub.status === 404) break;
      throw new Error(`internal /ready ${internal.status}, public /ready ${pub.status}`);
    } catch {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`opa-openshift did not start listening on ${url}:\n${output()}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return { url, internalUrl, process: peer.process, output, stop };
}
