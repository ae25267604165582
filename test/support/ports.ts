/**
 * Free loopback ports for programs that cannot report a port they bound from :0 (the peers, nginx,
 * memcached, OPA). All `n` are held open together before any is released, so one call never hands
 * out the same port twice (two sequential bind-to-0-and-close calls can: the kernel may pick the
 * just-released port again, and a peer then serves its internal mux where its public one was expected).
 */
import { createServer, type Server } from 'node:net';

export async function freePorts(n: number, host = '127.0.0.1'): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const srv = createServer();
      servers.push(srv);
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(0, host, () => resolve());
      });
    }
    return servers.map((s) => (s.address() as { port: number }).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => (s.listening ? s.close(() => resolve()) : resolve()))));
  }
}

/** One free loopback port (see freePorts). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const [port] = await freePorts(1, host);
  return port!;
}
