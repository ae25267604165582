/**
 * The real nginx (Debian's /usr/sbin/nginx, auth_request built in) as an unprivileged process on
 * loopback, with its own prefix, temp and log files, in front of a recording Loki stand-in. The
 * configuration is the one a docs page shows: `docNginxConfig` takes the page's ```nginx block and
 * swaps only the addresses, so CI runs what users copy.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect } from 'node:net';
import { freePort } from './ports.js';
import { join } from 'node:path';
import { makeTempDir } from './service.js';
import { ROOT } from './tools.js';

export const NGINX_BIN = process.env.NGINX_BIN ?? '/usr/sbin/nginx';

/** nginx, or: a failure under CI (which installs it), a skip elsewhere. */
export function requireNginx(ctx: Mocha.Context): string {
  if (existsSync(NGINX_BIN)) return NGINX_BIN;
  if (process.env.CI) throw new Error(`nginx is required in CI: ${NGINX_BIN} is missing (.ci/run installs Debian's nginx)`);
  ctx.skip();
  throw new Error('unreachable');
}

/**
 * The ```nginx block of a docs page (docs/forward-auth/nginx.md by default), with each `from`
 * string replaced by its `to`. Every `from` must occur: a page that changed its addresses fails the
 * suite instead of silently running something else.
 */
export function docNginxConfig(replacements: Record<string, string>, page = 'docs/forward-auth/nginx.md'): string {
  const text = readFileSync(join(ROOT, page), 'utf8');
  const blocks = [...text.matchAll(/^```nginx\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
  if (blocks.length !== 1) throw new Error(`${page}: expected one \`\`\`nginx block, found ${blocks.length}`);
  let config = blocks[0]!;
  for (const [from, to] of Object.entries(replacements)) {
    if (!config.includes(from)) throw new Error(`${page}: the nginx block no longer contains ${JSON.stringify(from)}`);
    config = config.split(from).join(to);
  }
  return config;
}

export { freePort };

export interface RunningNginx {
  /** http://127.0.0.1:<port> */
  url: string;
  port: number;
  /** nginx's error log so far (for assertion messages). */
  errorLog(): string;
  stop(): Promise<void>;
}

/**
 * Runs nginx in the foreground, one process (no master, no workers switching user), with
 * `httpConfig` inside its `http {}` block. `port` is the port the config listens on.
 */
export async function startNginx(httpConfig: string, port: number, bin = NGINX_BIN): Promise<RunningNginx> {
  const prefix = makeTempDir('lokistack-authz-nginx-');
  for (const d of ['logs', 'tmp']) mkdirSync(join(prefix, d));
  const conf = join(prefix, 'nginx.conf');
  const errorLog = join(prefix, 'logs', 'error.log');
  writeFileSync(
    conf,
    `daemon off;
master_process off;
pid ${join(prefix, 'nginx.pid')};
error_log ${errorLog} info;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path ${join(prefix, 'tmp', 'body')};
    proxy_temp_path ${join(prefix, 'tmp', 'proxy')};
    fastcgi_temp_path ${join(prefix, 'tmp', 'fastcgi')};
    uwsgi_temp_path ${join(prefix, 'tmp', 'uwsgi')};
    scgi_temp_path ${join(prefix, 'tmp', 'scgi')};
${httpConfig}
}
`,
  );
  const child: ChildProcess = spawn(bin, ['-p', prefix, '-c', conf, '-e', errorLog], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const readLog = () => (existsSync(errorLog) ? readFileSync(errorLog, 'utf8') : '');
  const ready = await Promise.race([waitForPort(port, 10_000), exited.then(() => false)]);
  if (!ready) {
    child.kill('SIGKILL');
    throw new Error(`nginx did not start: ${output}\n${readLog()}`);
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    errorLog: readLog,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGQUIT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function waitForPort(port: number, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const open = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (open) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return false;
}

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
}

export interface RecordingLoki {
  port: number;
  requests: RecordedRequest[];
  /** Every value of a header across the copies one request carried (rawHeaders, case-insensitive). */
  all(req: RecordedRequest, name: string): string[];
  stop(): Promise<void>;
}

/** A Loki stand-in that records every request reaching it and answers 200 (204 for pushes). */
export async function startRecordingLoki(): Promise<RecordingLoki> {
  const requests: RecordedRequest[] = [];
  const server: Server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders });
    req.resume();
    req.on('end', () => {
      if (req.url?.includes('/push')) res.writeHead(204).end();
      else res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"status":"success","data":{"resultType":"streams","result":[]}}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as { port: number }).port,
    requests,
    all: (req, name) => req.rawHeaders.flatMap((h, i) => (i % 2 === 0 && h.toLowerCase() === name.toLowerCase() ? [req.rawHeaders[i + 1]!] : [])),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * nginx with docs/forward-auth/nginx.md's configuration, between a recording Loki and the service
 * at `authzUrl` (http://127.0.0.1:<port>). Stop both with `stop()`.
 */
export async function startDocumentedNginx(authzUrl: string, bin = NGINX_BIN): Promise<{ nginx: RunningNginx; loki: RecordingLoki; stop(): Promise<void> }> {
  const loki = await startRecordingLoki();
  const port = await freePort();
  const config = docNginxConfig({
    'listen 8080;': `listen 127.0.0.1:${port};`,
    'server loki:3100;': `server 127.0.0.1:${loki.port};`,
    'http://lokistack-authz:8080': authzUrl,
  });
  let nginx: RunningNginx;
  try {
    nginx = await startNginx(config, port, bin);
  } catch (err) {
    await loki.stop();
    throw err;
  }
  return {
    nginx,
    loki,
    async stop() {
      await nginx.stop();
      await loki.stop();
    },
  };
}
