import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { isForwardAuthPath } from '../forward-auth/contracts.js';
import { forwardAuthHandler, type ForwardAuthCoreOptions } from '../forward-auth/core.js';
import type { ForwardAuthorizer } from '../forward-auth/types.js';
import type { Metrics } from '../observability/metrics.js';
import { dataApiHandler, isDataApiPath, type DataApiDeps } from './data-api.js';
import { errorHandler, notFound, writeError } from './error-handler.js';
import { healthHandlers, type HealthChecks } from './health.js';

/** The Data API's dependencies (its decision log and body budget serve /forward-auth too), and the rest of the listener's. */
export interface AppDeps extends DataApiDeps {
  health: HealthChecks;
  /** /forward-auth, when the mode serves it and it is enabled; 404 otherwise. */
  forwardAuth?: { authorizer: ForwardAuthorizer; options: ForwardAuthCoreOptions };
}

/**
 * The public listener: OPA's Data API, /health and, when enabled, /forward-auth. Everything else
 * is Go's 404, as OPA and opa-openshift answer. The Data API and /forward-auth, the hot paths, run
 * on Node's request and response directly; express serves the rest.
 */
export function createPublicApp(deps: AppDeps): RequestListener {
  const app = baseApp();
  app.use(instrument(deps.metrics, (req) => (req.path === '/health' ? 'health' : 'other')));
  app.get('/health', healthHandlers(deps.health).opaHealth);
  app.use(notFound);
  app.use(errorHandler(deps.logger));

  const data = dataApiHandler(deps);
  const observe = observer(deps.metrics, 'data');
  const fa = deps.forwardAuth;
  const forwardAuth =
    fa &&
    forwardAuthHandler({
      authorizer: fa.authorizer,
      options: fa.options,
      metrics: deps.metrics,
      logger: deps.logger,
      ...(deps.decisionLog ? { decisionLog: deps.decisionLog } : {}),
      ...(deps.bodyBudget ? { bodyBudget: deps.bodyBudget } : {}),
    });
  const observeForwardAuth = observer(deps.metrics, 'forward-auth');
  return (req, res) => {
    if (forwardAuth && isForwardAuthPath(req.url ?? '')) {
      observeForwardAuth(req, res);
      forwardAuth(req, res).catch((err: unknown) => writeError(deps.logger, req, res, err));
      return;
    }
    if (!isDataApiPath(req.url ?? '')) {
      app(req, res);
      return;
    }
    observe(req, res);
    data(req, res).catch((err: unknown) => writeError(deps.logger, req, res, err));
  };
}

/** The internal listener: /live, /ready, /metrics and OPA's /health. */
export function createInternalApp(deps: Pick<AppDeps, 'metrics' | 'logger' | 'health'>): Express {
  const app = baseApp();
  const health = healthHandlers(deps.health);
  app.get('/live', health.live);
  app.get('/ready', health.ready);
  app.get('/health', health.opaHealth);
  app.get('/metrics', async (_req, res) => {
    res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });
  app.use(notFound);
  app.use(errorHandler(deps.logger));
  return app;
}

function baseApp(): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  return app;
}

/** Counts and times every request by status code, lower-case method and handler. */
function instrument(metrics: Metrics, handlerOf: (req: Request) => string) {
  // One observer per handler name (a few fixed ones), each with its label sets.
  const observers = new Map<string, ReturnType<typeof observer>>();
  return (req: Request, res: Response, next: NextFunction): void => {
    const handler = handlerOf(req);
    let observe = observers.get(handler);
    if (observe === undefined) {
      observe = observer(metrics, handler);
      observers.set(handler, observe);
    }
    observe(req, res);
    next();
  };
}

function observer(metrics: Metrics, handler: string) {
  // One label set per method and status, made once: a labels object per request is garbage.
  const labelSets = new Map<string, { code: string; method: string; handler: string }>();
  const labelsOf = (code: string, method: string) => {
    const key = `${code} ${method}`;
    let labels = labelSets.get(key);
    if (labels === undefined) {
      labels = Object.freeze({ code, method: method.toLowerCase(), handler });
      // Bounded all the same: Node's parser knows some 30 methods, and statuses are three digits.
      if (labelSets.size < 4096) labelSets.set(key, labels);
    }
    return labels;
  };
  return (req: IncomingMessage, res: ServerResponse): void => {
    const start = process.hrtime.bigint();
    // 'close' follows 'finish' on every answer written, and comes alone when the client went away
    // first: nginx's 499, client closed request. One listener, no wrapper.
    res.on('close', () => {
      const labels = labelsOf(res.writableFinished ? String(res.statusCode) : '499', req.method ?? '');
      metrics.httpRequests.inc(labels);
      metrics.httpDuration.observe(labels, Number(process.hrtime.bigint() - start) / 1e9);
      metrics.httpRequestSize.observe(labels, Number(req.headers['content-length'] ?? 0) || 0);
      metrics.httpResponseSize.observe(labels, Number(res.getHeader('content-length') ?? 0) || 0);
    });
  };
}
