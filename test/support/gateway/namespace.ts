/**
 * The gateway's in-cluster look, made inside a private mount and network namespace (the suite's
 * whole process runs under `unshare --mount --net --propagation private`, root): a tmpfs over /run
 * (so /var/run/secrets/... is ours and the host's /run is untouched), the service-account files
 * observatorium/api's `openshift` authenticator reads, and loopback brought up (a new network
 * namespace starts with `lo` down). The fake API then listens on 127.0.0.1:443, where the gateway
 * looks for OAuth metadata whatever KUBERNETES_SERVICE_PORT says.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
export const UNSHARE_ARGS = ['--mount', '--net', '--propagation', 'private'] as const;

/** Why this machine cannot run the suite's namespace, or undefined when it can. */
export function namespaceUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root (unshare --mount --net needs it)';
  const probe = spawnSync('unshare', [...UNSHARE_ARGS, 'ip', 'link', 'set', 'lo', 'up'], { encoding: 'utf8' });
  if (probe.error) return `unshare or ip not runnable: ${probe.error.message}`;
  if (probe.status !== 0) return `unshare ${UNSHARE_ARGS.join(' ')} failed: ${probe.stderr.trim()}`;
  return undefined;
}

/** Inside the namespace only (refuses elsewhere, so it never changes the host): /run on tmpfs, lo up. */
export function enterInCluster(): void {
  if (process.env.GATEWAY_E2E_IN_NAMESPACE !== '1') throw new Error('enterInCluster runs only inside the unshare namespace');
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m,mode=755', 'tmpfs', '/run']);
  execFileSync('ip', ['link', 'set', 'lo', 'up']);
}

/** The pod's service-account files and the environment client-go's in-cluster config reads. */
export function writeServiceAccount(files: { caPem: string; token: string; namespace: string }): Record<string, string> {
  mkdirSync(SERVICE_ACCOUNT_DIR, { recursive: true });
  writeFileSync(`${SERVICE_ACCOUNT_DIR}/ca.crt`, files.caPem);
  writeFileSync(`${SERVICE_ACCOUNT_DIR}/token`, files.token);
  writeFileSync(`${SERVICE_ACCOUNT_DIR}/namespace`, files.namespace);
  return { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: '443' };
}

let warned = false;

/**
 * In a before() hook: returns when the namespace can be made; else under CI throws (the suite
 * fails), elsewhere skips the suite with one loud line on stderr, as requirePeer does for a peer.
 */
export function requireNamespace(ctx: Mocha.Context): void {
  const why = namespaceUnavailable();
  if (why === undefined) return;
  if (process.env.CI) throw new Error(`the gateway suite needs its own mount and network namespace in CI: ${why}`);
  if (!warned) {
    warned = true;
    process.stderr.write(`\n!!! SKIPPING the real-gateway suite: ${why}\n\n`);
  }
  ctx.skip();
}

/**
 * Runs test/support/gateway/run.ts for `kind` inside a fresh namespace and returns its parsed
 * report; rejects with the driver's stderr when it fails or outlives `timeoutMs`.
 */
export function runInNamespace<T>(kind: string, env: Record<string, string>, timeoutMs = 120_000): Promise<T> {
  return runScriptInNamespace<T>(fileURLToPath(new URL('./run.ts', import.meta.url)), [kind], `gateway driver (${kind})`, env, timeoutMs);
}

/**
 * Runs a driver script (tsx) with `args` inside a fresh mount and network namespace and returns the
 * JSON report it prints; rejects with its stderr when it fails or outlives `timeoutMs`.
 */
export function runScriptInNamespace<T>(script: string, args: readonly string[], name: string, env: Record<string, string>, timeoutMs = 120_000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const child = spawn('unshare', [...UNSHARE_ARGS, process.execPath, '--import', 'tsx', script, ...args], {
      env: { ...process.env, ...env, GATEWAY_E2E_IN_NAMESPACE: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group: on a timeout the driver and every peer it started are killed together.
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr = (stderr + c).slice(-20_000)));
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    }, timeoutMs);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) {
        reject(new Error(`${name} exited ${code ?? signal}:\n${stderr}`));
        return;
      }
      try {
        resolve(JSON.parse(stdout) as T);
      } catch (err) {
        reject(new Error(`${name} printed no report: ${(err as Error).message}\n${stderr}`));
      }
    });
  });
}
