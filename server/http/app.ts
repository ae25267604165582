import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { isForwardAuthPath } from '../forward-auth/contracts.js';
import type { Metrics } from '../observability/metrics.js';
import { dataApiHandler, isDataApiPath, type DataApiDeps } from './data-api.js';
import { notFound, writeError } from './error-handler.js';
import { healthHandlers, type HealthChecks } from './health.js';
import { createRouter } from './router.js';

/** The Data API's dependencies (its decision log and body budget serve /forward-auth too), and the rest of the listener's. */
export interface AppDeps extends DataApiDeps {
  health: HealthChecks;
  /**
   * /forward-auth's handler (forward-auth/core.ts's forwardAuthHandler), when the mode serves it and
   * it is enabled; 404 otherwise. Built by the caller, which loads the core only then.
   */
  forwardAuth?: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
}

/**
 * The public listener: OPA's Data API, /health and, when enabled, /forward-auth. Everything else
 * is Go's 404, as OPA and opa-openshift answer. The Data API and /forward-auth are the hot paths;
 * the router serves the rest.
 */
export function createPublicApp(deps: AppDeps): RequestListener {
  const app = createRouter({
    get: { '/health': healthHandlers(deps.health).opaHealth },
    notFound,
    onError: (req, res, err) => writeError(deps.logger, req, res, err),
    observe: instrument(deps.metrics, (pathname) => (pathname === '/health' ? 'health' : 'other')),
  });

  const data = dataApiHandler(deps);
  const observe = observer(deps.metrics, 'data');
  const { forwardAuth } = deps;
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
export function createInternalApp(deps: Pick<AppDeps, 'metrics' | 'logger' | 'health'>): RequestListener {
  const health = healthHandlers(deps.health);
  const { registry } = deps.metrics;
  return createRouter({
    get: {
      '/live': health.live,
      '/ready': health.ready,
      '/health': health.opaHealth,
      '/metrics': async (_req, res) => {
        const text = await registry.metrics();
        res.writeHead(200, { 'Content-Type': registry.contentType, 'Content-Length': Buffer.byteLength(text) });
        res.end(text);
      },
    },
    notFound,
    onError: (req, res, err) => writeError(deps.logger, req, res, err),
  });
}

/** Counts and times every request by status code, lower-case method and handler. */
function instrument(metrics: Metrics, handlerOf: (pathname: string) => string) {
  // One observer per handler name (a few fixed ones), each with its label sets.
  const observers = new Map<string, ReturnType<typeof observer>>();
  return (req: IncomingMessage, res: ServerResponse, pathname: string): void => {
    const handler = handlerOf(pathname);
    let observe = observers.get(handler);
    if (observe === undefined) {
      observe = observer(metrics, handler);
      observers.set(handler, observe);
    }
    observe(req, res);
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
