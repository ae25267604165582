import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer, ServerResponse, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { SecureContextOptions } from 'node:tls';
import type { Config, ListenAddress } from './config/config.js';
import { CertReloader, checkPair, readPair, type CertPair, type PairFiles } from './config/tls-reload.js';
import { createInternalApp, createPublicApp } from './http/app.js';
import { ByteBudget } from './http/byte-budget.js';
import type { HealthChecks } from './http/health.js';
import { httpLivenessCheck } from './http/liveness.js';
import { DecisionLog } from './observability/decision-log.js';
import type { Logger } from './observability/logger.js';
import { Metrics } from './observability/metrics.js';
import { VERSION } from './version.js';
import { lazy } from './wiring/lazy.js';
import type { WiredMode } from './wiring/mode.js';
import { ListenError, reasonOf } from './errors.js';

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
  // Certificates first: an expired or mismatched pair stops startup before anything is wired.
  const secure: SecureContextOptions = { minVersion: config.tls.minVersion, ...(config.tls.ciphers ? { ciphers: config.tls.ciphers } : {}) };
  const publicPair = config.tls.certFile && config.tls.keyFile ? await loadPair({ cert: config.tls.certFile, key: config.tls.keyFile }, secure) : undefined;
  const internalPair =
    config.tls.internalCertFile && config.tls.internalKeyFile
      ? await loadPair({ cert: config.tls.internalCertFile, key: config.tls.internalKeyFile }, secure)
      : undefined;
  const mode = await wireMode(config, logger, metrics);
  metrics.buildInfo.set({ version: VERSION, node_version: process.version, mode: config.mode }, 1);

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
  const bodyBudget = new ByteBudget(config.web.maxBufferedBytes);
  // The forward-auth core is loaded only when served (issue 14): off by default, and in no mode's wiring.
  const forwardAuth =
    mode.forwardAuth && config.forwardAuth
      ? (
          await lazy(
            () => import('./forward-auth/core.js'),
            () => require('./forward-auth/core.js'),
          )
        ).forwardAuthHandler({
          authorizer: mode.forwardAuth,
          options: config.forwardAuth,
          metrics,
          logger,
          ...(decisionLog ? { decisionLog } : {}),
          bodyBudget,
        })
      : undefined;
  const publicApp = createPublicApp({
    authorizer: mode.authorizer,
    ...(decisionLog ? { decisionLog } : {}),
    metrics,
    logger,
    health,
    version: VERSION,
    bodyBudget,
    ...(forwardAuth ? { forwardAuth } : {}),
    options: {
      maxBytes: config.web.maxBodyBytes,
      maxDepth: config.web.maxDepth,
      maxNodes: config.web.maxNodes,
      maxArrayLength: config.web.maxArrayLength,
      maxStringBytes: config.web.maxStringBytes,
      maxDecodedBytes: config.web.maxInputBytes,
      maxYamlNodes: config.web.maxYamlNodes,
      decisionTimeoutMs: config.web.decisionTimeoutMs,
      reasons: config.web.reasons,
      logReasons: config.decisionLog?.reasons ?? false,
      memoBytes: config.mode === 'static' ? config.policy.memoBytes : config.openshift ? config.openshift.cache.memoBytes : 0,
    },
  });
  const internalApp = createInternalApp({ metrics, logger, health });

  const isDraining = () => draining;
  let publicServer: Server | undefined;
  let internalServer: Server;
  try {
    publicServer = await listen(makeServer(publicApp, publicPair, secure, config, isDraining), 'web.listen', config.web.listen, config);
    internalServer = await listen(makeServer(internalApp, internalPair, secure, config, isDraining), 'web.internal.listen', config.web.internalListen, config);
  } catch (err) {
    // Half started is not started: nothing may keep listening or watching after a failed start.
    publicServer?.close();
    await mode.close();
    await decisionLog?.close();
    throw err;
  }
  const publicAddress = publicServer.address() as AddressInfo;
  const internalAddress = internalServer.address() as AddressInfo;

  const watchPair = (server: Server, pair: CertPair | undefined, name: 'tls' | 'internal-tls'): CertReloader | undefined => {
    if (!pair) return undefined;
    countReload(metrics, name, true);
    const reloader = new CertReloader(pair, {
      files: pair.files,
      secure,
      intervalMs: config.tls.reloadIntervalMs,
      // New connections get the new pair; open ones keep theirs.
      apply: (p) => (server as HttpsServer).setSecureContext({ ...secure, cert: p.cert, key: p.key }),
      onApplied: (p) => {
        countReload(metrics, name, true);
        logger.info(
          { config: name, file: p.files.cert, notAfter: new Date(p.leaf.validTo).toISOString(), fingerprint: p.fingerprint256 },
          'serving a new TLS certificate',
        );
      },
      onRejected: (err) => {
        countReload(metrics, name, false);
        logger.error({ config: name, reason: reasonOf(err) }, 'rejected the new TLS certificate and key; the previous ones keep serving');
      },
    });
    reloader.start();
    return reloader;
  };
  const publicCerts = watchPair(publicServer, publicPair, 'tls');
  const internalCerts = watchPair(internalServer, internalPair, 'internal-tls');
  const certReloaders = [publicCerts, internalCerts].filter((r): r is CertReloader => r !== undefined);

  const healthUrl = defaultHealthUrl(config, publicAddress, Boolean(publicPair));
  if (healthUrl) {
    // The service's own listener presents a certificate the service holds: trust exactly that one
    // (a private CA needs no flag then). Anything else is verified with the CA, as opa-openshift.
    const own = publicCerts && isOwnListener(healthUrl, config, publicAddress);
    const check = httpLivenessCheck(
      healthUrl,
      own ? { pin: () => publicCerts.fingerprints() } : config.tls.internalCaFile ? { caFile: config.tls.internalCaFile } : {},
    );
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
  logger.info({ address: `${publicAddress.address}:${publicAddress.port}`, tls: Boolean(publicPair), mode: config.mode }, 'serving the Data API');
  logger.info({ address: `${internalAddress.address}:${internalAddress.port}`, tls: Boolean(internalPair) }, 'serving internal endpoints');

  return {
    publicAddress,
    internalAddress,
    metrics,
    async reload() {
      await Promise.all(certReloaders.map((r) => r.check()));
      await mode.reload();
    },
    async shutdown() {
      draining = true;
      for (const r of certReloaders) r.stop();
      // The internal listener stays up while the public one drains, so probes see "not ready".
      await drain(publicServer, config.web.shutdownTimeoutMs);
      await drain(internalServer, config.web.shutdownTimeoutMs);
      await mode.close();
      await decisionLog?.close();
    },
  };
}

/**
 * Each mode's wiring is loaded only when that mode runs (issue 14): what one mode needs (the OIDC
 * clients and jose, the Kubernetes client, memcached, bcrypt) is resident memory in every sidecar
 * of another mode otherwise, some 3 MiB.
 */
async function wireMode(config: Config, logger: Logger, metrics: Metrics): Promise<WiredMode> {
  switch (config.mode) {
    case 'static':
      return (
        await lazy(
          () => import('./wiring/static-mode.js'),
          () => require('./wiring/static-mode.js'),
        )
      ).wireStaticMode(config, logger, metrics);
    case 'dynamic':
      return (
        await lazy(
          () => import('./wiring/dynamic-mode.js'),
          () => require('./wiring/dynamic-mode.js'),
        )
      ).wireDynamicMode(config, logger, metrics);
    case 'openshift-logging':
    case 'openshift-network':
      return (
        await lazy(
          () => import('./wiring/openshift-mode.js'),
          () => require('./wiring/openshift-mode.js'),
        )
      ).wireOpenShiftMode(config, logger, metrics);
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

/** Reads and checks a pair at startup: a fault stops the service, naming the file. */
async function loadPair(files: PairFiles, secure: SecureContextOptions): Promise<CertPair> {
  return checkPair(files, await readPair(files), secure);
}

function countReload(metrics: Metrics, config: string, ok: boolean): void {
  metrics.configReloads.inc({ config, result: ok ? 'success' : 'failure' });
  metrics.configLastReloadSuccessful.set({ config }, ok ? 1 : 0);
  if (ok) metrics.configLastReloadSuccessTime.set({ config }, Date.now() / 1000);
}

/** Whether `url` reaches this service's public listener: the default URL, or a loopback one on its port. */
function isOwnListener(url: string, config: Config, bound: AddressInfo): boolean {
  if (config.web.healthcheckUrl === undefined) return true;
  const u = new URL(url);
  const port = u.port === '' ? 443 : Number(u.port);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  return u.protocol === 'https:' && port === bound.port && ['localhost', '127.0.0.1', '::1', bound.address].includes(host);
}

function makeServer(app: RequestListener, tls: CertPair | undefined, secure: SecureContextOptions, config: Config, draining: () => boolean): Server {
  // Node checks the headers and request timeouts on this timer (30s by default): without it a
  // slow client outlives a 1s timeout by up to 30s.
  const connectionsCheckingInterval = Math.max(100, Math.min(1000, Math.floor(Math.min(config.web.headersTimeoutMs, config.web.requestTimeoutMs) / 4)));
  // While draining, every answer written says Connection: close, in-flight ones included, so that
  // no keep-alive client sends a request on a connection about to close (as Go's Server.Shutdown).
  class DrainAwareResponse<Req extends IncomingMessage = IncomingMessage> extends ServerResponse<Req> {
    // biome-ignore lint/suspicious/noExplicitAny: ServerResponse.writeHead's overloads take (message?, headers?) or (headers?); only the status is read here.
    override writeHead(statusCode: number, ...rest: any[]): this {
      if (draining() && !this.headersSent) this.shouldKeepAlive = false;
      return super.writeHead(statusCode, ...(rest as []));
    }
  }
  const listener: RequestListener = app;
  const common = { connectionsCheckingInterval, ServerResponse: DrainAwareResponse };
  if (!tls) return createHttpServer(common, listener);
  return createHttpsServer({ ...secure, cert: tls.cert, key: tls.key, ...common }, listener);
}

/** Listens on `address`; a failure (port in use, no permission, no such address) names the flag that set it. */
function listen(server: Server, flag: 'web.listen' | 'web.internal.listen', address: ListenAddress, config: Config): Promise<Server> {
  server.headersTimeout = config.web.headersTimeoutMs;
  server.requestTimeout = config.web.requestTimeoutMs;
  return new Promise((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException) => {
      const where = `${address.host ? (address.host.includes(':') ? `[${address.host}]` : address.host) : ''}:${address.port}`;
      const why =
        err.code === 'EADDRINUSE'
          ? 'the address is already in use (another process listens there)'
          : err.code === 'EACCES'
            ? 'permission denied (ports below 1024 need privileges)'
            : err.message;
      reject(new ListenError('listen_failed', `cannot listen on --${flag}=${where}: ${why}`, { cause: err }));
    };
    server.once('error', failed);
    server.listen({ port: address.port, ...(address.host ? { host: address.host } : {}) }, () => {
      server.off('error', failed);
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
