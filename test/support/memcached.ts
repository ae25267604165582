import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { freePort } from './ports.js';
import { writeTempFile } from './service.js';

/** A real memcached (Debian's package) on a free loopback port, started and stopped by the test. */
export interface MemcachedServer {
  address: string;
  port: number;
  stop(): Promise<void>;
}

export { freePort };

export function memcachedBinary(): string | undefined {
  return ['/usr/bin/memcached', '/usr/local/bin/memcached'].find((p) => existsSync(p));
}

export async function startMemcached(binary: string, port?: number): Promise<MemcachedServer> {
  const p = port ?? (await freePort());
  const child: ChildProcess = spawn(binary, ['-l', '127.0.0.1', '-p', String(p), '-U', '0', '-m', '16', '-u', 'root'], { stdio: 'ignore' });
  await waitForPort(p, 5000);
  return {
    address: `127.0.0.1:${p}`,
    port: p,
    stop: () =>
      new Promise<void>((resolve) => {
        // Killed by a signal, a child keeps exitCode null: stopping it twice must not wait for an exit already gone.
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`memcached did not listen on ${port} within ${timeoutMs}ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A memcached entry-key file (`--memcached.hmac-key-file`) with one fresh 32-byte key. */
export function memcachedKeyFile(): string {
  return writeTempFile('memcached-keys', `k1=${randomBytes(32).toString('base64')}\n`);
}

/**
 * Real memcached servers for the tests of the describe block it is called in (it registers mocha
 * hooks: call it in the block's body). The block is skipped where Debian's memcached is missing;
 * every server a test started is stopped after it, so a failing test leaks none.
 */
export function memcachedPerTest(): { start(port?: number): Promise<MemcachedServer> } {
  const binary = memcachedBinary();
  const started: MemcachedServer[] = [];
  before(function () {
    if (!binary) this.skip();
  });
  afterEach(async () => {
    await Promise.all(started.splice(0).map((m) => m.stop()));
  });
  return {
    async start(port) {
      const m = await startMemcached(binary!, port);
      started.push(m);
      return m;
    },
  };
}
