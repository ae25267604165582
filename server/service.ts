import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, ServerResponse, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Config, ListenAddress } from './config/config.js';
import { createInternalApp, createPublicApp } from './http/app.js';
import { ByteBudget } from './http/byte-budget.js';
import type { HealthChecks } from './http/health.js';
import { httpLivenessCheck } from './http/liveness.js';
import { DecisionLog } from './observability/decision-log.js';
import type { Logger } from './observability/logger.js';
import { Metrics } from './observability/metrics.js';
import { VERSION } from './version.js';
import { wireDynamicMode } from './wiring/dynamic-mode.js';
import type { WiredMode } from './wiring/mode.js';
import { wireOpenShiftMode } from './wiring/openshift-mode.js';
import { wireStaticMode } from './wiring/static-mode.js';

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
 * Builds the service from a validated Config: wires the mode (failing startup with the file and
 * fault named), then starts both listeners.
 */
export async function startService(config: Config, deps: ServiceDeps): Promise<Service> {
  const { logger } = deps;
  const metrics = deps.metrics ?? new Metrics();
  const mode = await wireMode(config, logger, metrics);

  let draining = false;
  const health: HealthChecks = {
    live: {},
    ready: {
      ...mode.readyChecks,
      shutdown: async () => {
        if (draining) throw new Error('shutting down');
      },
    },
  };
  const decisionLog = config.decisionLog && makeDecisionLog(config.decisionLog, metrics, logger);
  const publicApp = createPublicApp({
    authorizer: mode.authorizer,
    ...(decisionLog ? { decisionLog } : {}),
    metrics,
    logger,
    health,
    version: VERSION,
    bodyBudget: new ByteBudget(config.web.maxBufferedBytes),
    options: {
      maxBytes: config.web.maxBodyBytes,
      maxDepth: config.web.maxDepth,
      maxNodes: config.web.maxNodes,
      maxArrayLength: config.web.maxArrayLength,
      maxStringBytes: config.web.maxStringBytes,
      maxDecodedBytes: config.web.maxInputBytes,
      maxYamlNodes: config.web.maxYamlNodes,
      decisionTimeoutMs: config.web.decisionTimeoutMs,
    },
  });
  const internalApp = createInternalApp({ metrics, logger, health });

  const publicTls = config.tls.certFile && config.tls.keyFile ? { cert: config.tls.certFile, key: config.tls.keyFile } : undefined;
  const internalTls = config.tls.internalCertFile && config.tls.internalKeyFile ? { cert: config.tls.internalCertFile, key: config.tls.internalKeyFile } : undefined;
  const isDraining = () => draining;
  let publicServer: Server | undefined;
  let internalServer: Server;
  try {
    publicServer = await listen(makeServer(publicApp, publicTls, config, isDraining), config.web.listen, config);
    internalServer = await listen(makeServer(internalApp, internalTls, config, isDraining), config.web.internalListen, config);
  } catch (err) {
    // Half started is not started: nothing may keep listening or watching after a failed start.
    publicServer?.close();
    await mode.close();
    await decisionLog?.close();
    throw err;
  }
  const publicAddress = publicServer.address() as AddressInfo;
  const internalAddress = internalServer.address() as AddressInfo;

  const healthUrl = defaultHealthUrl(config, publicAddress, Boolean(publicTls));
  if (healthUrl) {
    const check = httpLivenessCheck(healthUrl, config.tls.internalCaFile ? { caFile: config.tls.internalCaFile } : {});
    health.live.http = async () => {
      // While draining, the public listener is closed on purpose: the process is still alive.
      if (draining) return;
      try {
        await check();
        metrics.healthcheck.set({ name: 'http', check: 'live' }, 1);
      } catch (err) {
        metrics.healthcheck.set({ name: 'http', check: 'live' }, 0);
        throw err;
      }
    };
  }
  logger.info({ address: `${publicAddress.address}:${publicAddress.port}`, tls: Boolean(publicTls), mode: config.mode }, 'serving the Data API');
  logger.info({ address: `${internalAddress.address}:${internalAddress.port}`, tls: Boolean(internalTls) }, 'serving internal endpoints');

  return {
    publicAddress,
    internalAddress,
    metrics,
    reload: () => mode.reload(),
    async shutdown() {
      draining = true;
      // The internal listener stays up while the public one drains, so probes see "not ready".
      await drain(publicServer, config.web.shutdownTimeoutMs);
      await drain(internalServer, config.web.shutdownTimeoutMs);
      await mode.close();
      await decisionLog?.close();
    },
  };
}

async function wireMode(config: Config, logger: Logger, metrics: Metrics): Promise<WiredMode> {
  switch (config.mode) {
    case 'static':
      return wireStaticMode(config, logger, metrics);
    case 'dynamic':
      return wireDynamicMode(config, logger, metrics);
    case 'openshift-logging':
    case 'openshift-network':
      return wireOpenShiftMode(config, logger, metrics);
  }
}

function makeDecisionLog(c: NonNullable<Config['decisionLog']>, metrics: Metrics, logger: Logger): DecisionLog {
  const labels = { id: randomUUID(), version: VERSION, ...c.labels };
  const options = { mask: c.mask, labels, maxPending: c.maxPending, onDropped: () => metrics.decisionLogDropped.inc(), logger, name: c.output };
  return c.output === 'stdout' ? new DecisionLog(process.stdout, options) : DecisionLog.toFile(c.output, options);
}

/** --web.healthchecks.url as given, none when set empty, else this service's own public listener. */
function defaultHealthUrl(config: Config, bound: AddressInfo, tls: boolean): string | undefined {
  if (config.web.healthcheckUrl === null) return undefined;
  if (config.web.healthcheckUrl !== undefined) return config.web.healthcheckUrl;
  const host = bound.family === 'IPv6' ? (bound.address === '::' ? '[::1]' : `[${bound.address}]`) : bound.address === '0.0.0.0' ? '127.0.0.1' : bound.address;
  return `${tls ? 'https' : 'http'}://${host}:${bound.port}/`;
}

function makeServer(app: RequestListener, tls: { cert: string; key: string } | undefined, config: Config, draining: () => boolean): Server {
  // Node checks the headers and request timeouts on this timer (30s by default): without it a
  // slow client outlives a 1s timeout by up to 30s.
  const connectionsCheckingInterval = Math.max(100, Math.min(1000, Math.floor(Math.min(config.web.headersTimeoutMs, config.web.requestTimeoutMs) / 4)));
  // While draining, every answer written says Connection: close, in-flight ones included, so that
  // no keep-alive client sends a request on a connection about to close (as Go's Server.Shutdown).
  class DrainAwareResponse<Req extends IncomingMessage = IncomingMessage> extends ServerResponse<Req> {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    override writeHead(statusCode: number, ...rest: any[]): this {
      if (draining() && !this.headersSent) this.shouldKeepAlive = false;
      return super.writeHead(statusCode, ...(rest as []));
    }
  }
  const listener: RequestListener = app;
  const common = { connectionsCheckingInterval, ServerResponse: DrainAwareResponse };
  if (!tls) return createHttpServer(common, listener);
  return createHttpsServer(
    {
      cert: readFileSync(tls.cert),
      key: readFileSync(tls.key),
      minVersion: config.tls.minVersion,
      ...(config.tls.ciphers ? { ciphers: config.tls.ciphers } : {}),
      ...common,
    },
    listener,
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
