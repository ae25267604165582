/**
 * Helpers to run the real service in-process for tests: temp files, a silent or capturing logger,
 * and startService over loadConfig with both listeners on 127.0.0.1:0.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '../../server/config/config.js';
import { createLogger, type LogLevel, type Logger } from '../../server/observability/logger.js';
import { Metrics } from '../../server/observability/metrics.js';
import { startService, type Service } from '../../server/service.js';

/** The roles and bindings most suites decide with (the shape of deploy/examples/rbac.yaml). */
export const EXAMPLE_RBAC = `roles:
  - name: application-read
    resources: [logs]
    tenants: [application]
    permissions: [read]
  - name: collector-write
    resources: [logs]
    tenants: [application, infrastructure, audit]
    permissions: [write]
roleBindings:
  - name: developers-read-application
    roles: [application-read]
    subjects:
      - kind: group
        name: developers
      - kind: user
        name: alice@example.com
  - name: collector-writes
    roles: [collector-write]
    subjects:
      - kind: user
        name: system:serviceaccount:openshift-logging:logcollector
`;

/** An input the example rbac allows (alice reads application logs). */
export const ALLOWED_INPUT = Object.freeze({
  subject: 'alice@example.com',
  groups: ['staff'],
  permission: 'read',
  resource: 'logs',
  tenant: 'application',
});

/** The same request for a tenant alice has no role on: denied. */
export const DENIED_INPUT = Object.freeze({ ...ALLOWED_INPUT, tenant: 'audit' });

const tempDirs: string[] = [];

/** A fresh temporary directory, removed by removeTempDirs() (or at process exit). */
export function makeTempDir(prefix = 'lokistack-authz-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

/** Writes `content` to `name` inside `dir` (a new temp dir when omitted) and returns its path. */
export function writeTempFile(name: string, content: string | Uint8Array, dir: string = makeTempDir()): string {
  const file = join(dir, name);
  writeFileSync(file, content);
  return file;
}

export function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}
process.once('exit', removeTempDirs);

export interface CapturedLogger {
  logger: Logger;
  /** Every line written, as written (logfmt or JSON). */
  lines: string[];
  /** Lines parsed as JSON records (only when format is json). */
  records(): Array<Record<string, unknown>>;
  text(): string;
}

/** A logger whose output is kept in memory. JSON format unless asked otherwise. */
export function captureLogger(level: LogLevel = 'debug', format: 'json' | 'logfmt' = 'json'): CapturedLogger {
  const lines: string[] = [];
  const logger = createLogger({
    level,
    format,
    destination: {
      write(line: string) {
        lines.push(line);
      },
    },
  });
  return {
    logger,
    lines,
    records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
    text: () => lines.join(''),
  };
}

/** A logger that writes nowhere. */
export function silentLogger(): Logger {
  return createLogger({ level: 'error', format: 'json', destination: { write() {} } });
}

export interface TestServiceOptions {
  /** Content of the rbac file written to a temp dir (default EXAMPLE_RBAC). Ignored with rbacFile. */
  rbac?: string;
  /** An existing rbac file to use instead. */
  rbacFile?: string;
  /** More command-line flags; later ones win over the defaults given here. */
  flags?: string[];
  /** Log sink; a capturing debug logger when omitted. */
  logger?: CapturedLogger;
}

export interface TestService extends StartedService {
  rbacFile: string;
  log: CapturedLogger;
}

/**
 * Starts the real service (startService with loadConfig) on 127.0.0.1:0 for both listeners, with
 * file-event-only rbac reloading unless the flags say otherwise.
 */
export async function startTestService(options: TestServiceOptions = {}): Promise<TestService> {
  const rbacFile = options.rbacFile ?? writeTempFile('rbac.yaml', options.rbac ?? EXAMPLE_RBAC);
  const log = options.logger ?? captureLogger();
  const started = await startFromArgs(
    'startTestService',
    ['--web.listen=127.0.0.1:0', '--web.internal.listen=127.0.0.1:0', `--rbac.config=${rbacFile}`, '--rbac.reload-interval=0', ...(options.flags ?? [])],
    log.logger,
  );
  return { ...started, rbacFile, log };
}

/** A service started from a command line, with its own metrics registry. */
export interface StartedService {
  service: Service;
  config: Config;
  /** e.g. http://127.0.0.1:40123 */
  publicUrl: string;
  internalUrl: string;
  /** Shuts the service down; a second call does nothing. */
  stop(): Promise<void>;
}

/** Starts the real service (startService over loadConfig) from exactly `argv`; `caller` names the helper in a fault. */
export async function startFromArgs(caller: string, argv: readonly string[], logger: Logger): Promise<StartedService> {
  const loaded = loadConfig([...argv]);
  if (loaded.help) throw new Error(`${caller}: --help given`);
  const service = await startService(loaded.config, { logger, metrics: new Metrics() });
  let stopped = false;
  return {
    service,
    config: loaded.config,
    publicUrl: `http://127.0.0.1:${service.publicAddress.port}`,
    internalUrl: `http://127.0.0.1:${service.internalAddress.port}`,
    async stop() {
      if (stopped) return;
      stopped = true;
      await service.shutdown();
    },
  };
}

/** Polls `check` until it returns true, at most `attempts` times, `intervalMs` apart. */
export async function eventually(check: () => boolean | Promise<boolean>, attempts = 200, intervalMs = 25): Promise<boolean> {
  for (let i = 0; i < attempts; i++) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  return false;
}

/** Reads one sample of a Prometheus text exposition: `name{labels}` -> value, or undefined. */
export function metricValue(exposition: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of exposition.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) have[l[1]!] = l[2]!;
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

export interface RawResponse {
  status: number;
  headers: import('node:http').IncomingHttpHeaders;
  body: string;
}

/**
 * One HTTP request with full control of what goes on the wire: `chunks` are written one after
 * another (with `beforeChunk` awaited before each one but the first), then the request is ended.
 * Without a content-length header Node sends the body chunked. Write errors after the server has
 * answered (it may close early) are ignored: the answer is what the test looks at.
 */
export async function rawRequest(
  url: string,
  options: {
    method?: string;
    headers?: Record<string, string | number>;
    chunks?: Array<string | Uint8Array>;
    beforeChunk?: (index: number) => Promise<void> | void;
    /** Send `Expect: 100-continue` and write the body only once the server has taken the request in hand. */
    expectContinue?: boolean;
  } = {},
): Promise<RawResponse> {
  const { request } = await import('node:http');
  return new Promise<RawResponse>((resolve, reject) => {
    let answered = false;
    const headers = { ...(options.headers ?? {}), ...(options.expectContinue ? { expect: '100-continue' } : {}) };
    const req = request(url, { method: options.method ?? 'POST', headers, agent: false }, (res) => {
      answered = true;
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    const continued = options.expectContinue
      ? new Promise<void>((resolve) => {
          req.once('continue', () => resolve());
          req.flushHeaders();
        })
      : Promise.resolve();
    void (async () => {
      await continued;
      const chunks = options.chunks ?? [];
      for (let i = 0; i < chunks.length; i++) {
        if (i > 0 && options.beforeChunk) await options.beforeChunk(i);
        if (answered || req.destroyed) return;
        await new Promise<void>((done) => req.write(chunks[i]!, () => done()));
      }
      req.end();
    })().catch(() => {});
  });
}
