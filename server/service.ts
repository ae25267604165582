import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import type { Config, ListenAddress } from './config/config.js';
import { FileWatcher } from './config/file-watcher.js';
import { StaticAuthorizer } from './decision/static.js';
import { createInternalApp, createPublicApp } from './http/app.js';
import type { HealthChecks } from './http/health.js';
import type { Logger } from './observability/logger.js';
import { Metrics } from './observability/metrics.js';
import { parseRbac } from './policy/rbac.js';
import { PolicyStore } from './policy/store.js';
import { CompiledPolicy } from './policy/wasm-policy.js';
import { VERSION } from './version.js';

export interface ServiceDeps {
  logger: Logger;
  metrics?: Metrics;
}

export interface Service {
  publicAddress: AddressInfo;
  internalAddress: AddressInfo;
  metrics: Metrics;
  /** Stops accepting, lets in-flight requests finish (up to the shutdown timeout), then closes. */
  shutdown(): Promise<void>;
  /** Re-reads the watched files now (tests; the watcher does this on its own). */
  reload(): Promise<void>;
}

/**
 * Builds the service from a validated Config: loads the policy and its data (failing startup with
 * the file and fault named), wires the mode, and starts both listeners.
 */
export async function startService(config: Config, deps: ServiceDeps): Promise<Service> {
  const { logger } = deps;
  const metrics = deps.metrics ?? new Metrics();
  const entrypoint = config.decisionPath.join('/');

  const policy = await CompiledPolicy.load(config.policy.wasmFile, readFileSync(config.policy.wasmFile), [entrypoint], {
    maxBytes: config.policy.maxMemoryBytes,
  });
  const store = new PolicyStore(policy);

  const rbacFile = config.rbac.file;
  const applyRbac = async (text: string) => {
    const { rbac, warnings } = parseRbac(rbacFile, text);
    for (const w of warnings) logger.warn(w);
    await store.setData(rbac);
    metrics.policyMemory.set(store.current()!.memoryBytes());
  };
  const initialRbac = await readConfigFile(rbacFile);
  await applyRbac(initialRbac);
  markReload(metrics, 'rbac', true);
  logger.info({ file: rbacFile, entrypoint }, 'loaded roles and bindings');

  const watcher = new FileWatcher({
    file: rbacFile,
    intervalMs: config.rbac.reloadIntervalMs,
    apply: applyRbac,
    onApplied: () => {
      markReload(metrics, 'rbac', true);
      logger.info({ file: rbacFile }, 'reloaded roles and bindings');
    },
    onRejected: (err) => {
      markReload(metrics, 'rbac', false);
      logger.error({ file: rbacFile, reason: err instanceof Error ? err.message : String(err) }, 'rejected new roles and bindings; the previous ones keep serving');
    },
  });
  watcher.start(initialRbac);

  const authorizer = new StaticAuthorizer({
    store,
    onRenew: (err) => logger.warn({ reason: err instanceof Error ? err.message : String(err) }, 'policy instance trapped; replacing it'),
  });

  let draining = false;
  const health: HealthChecks = {
    live: {},
    ready: {
      policy: async () => {
        if (!authorizer.ready()) throw new Error('no policy loaded');
      },
      shutdown: async () => {
        if (draining) throw new Error('shutting down');
      },
    },
  };
  const publicApp = createPublicApp({
    authorizer,
    metrics,
    logger,
    health,
    version: VERSION,
    options: {
      maxBytes: config.web.maxBodyBytes,
      maxDepth: config.web.maxDepth,
      decisionTimeoutMs: config.web.decisionTimeoutMs,
    },
  });
  const internalApp = createInternalApp({ metrics, logger, health });

  const publicServer = await listen(makeServer(publicApp, config), config.web.listen, config);
  const internalServer = await listen(createHttpServer(internalApp), config.web.internalListen, config);
  const publicAddress = publicServer.address() as AddressInfo;
  const internalAddress = internalServer.address() as AddressInfo;
  logger.info({ address: `${publicAddress.address}:${publicAddress.port}`, tls: Boolean(config.tls.certFile), mode: config.mode }, 'serving the Data API');
  logger.info({ address: `${internalAddress.address}:${internalAddress.port}` }, 'serving internal endpoints');

  return {
    publicAddress,
    internalAddress,
    metrics,
    reload: () => watcher.check(),
    async shutdown() {
      draining = true;
      watcher.stop();
      await Promise.all([drain(publicServer, config.web.shutdownTimeoutMs), drain(internalServer, config.web.shutdownTimeoutMs)]);
    },
  };
}

function makeServer(app: Express, config: Config): Server {
  if (!config.tls.certFile || !config.tls.keyFile) return createHttpServer(app);
  return createHttpsServer(
    { cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile), minVersion: config.tls.minVersion },
    app,
  );
}

function listen(server: Server, address: ListenAddress, config: Config): Promise<Server> {
  server.headersTimeout = config.web.headersTimeoutMs;
  server.requestTimeout = config.web.requestTimeoutMs;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: address.port, ...(address.host ? { host: address.host } : {}) }, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

/** Closes a server: idle connections now, busy ones once their request is answered or the timeout passes. */
function drain(server: Server, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => server.closeAllConnections(), timeoutMs);
    timer.unref();
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeIdleConnections();
  });
}

function markReload(metrics: Metrics, config: string, ok: boolean): void {
  metrics.configReloads.inc({ config, result: ok ? 'success' : 'failure' });
  metrics.configLastReloadSuccessful.set({ config }, ok ? 1 : 0);
  if (ok) metrics.configLastReloadSuccessTime.set({ config }, Date.now() / 1000);
}

async function readConfigFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`${file}: cannot read: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
}
