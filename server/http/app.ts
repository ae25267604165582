import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import type { Authorizer } from '../decision/types.js';
import type { DecisionLog } from '../observability/decision-log.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { dataApiHandler, type DataApiOptions } from './data-api.js';
import { errorHandler, notFound } from './error-handler.js';
import { healthHandlers, type HealthChecks } from './health.js';

export interface AppDeps {
  authorizer: Authorizer;
  decisionLog?: DecisionLog;
  metrics: Metrics;
  logger: Logger;
  options: DataApiOptions;
  health: HealthChecks;
  version: string;
}

/** The public listener: OPA's Data API and /health. Everything else is Go's 404, as OPA and opa-openshift answer. */
export function createPublicApp(deps: AppDeps): Express {
  const app = baseApp();
  app.use(instrument(deps.metrics, (req) => (req.path === '/v1/data' || req.path.startsWith('/v1/data/') ? 'data' : req.path === '/health' ? 'health' : 'other')));
  const data = dataApiHandler(deps);
  app.all(['/v1/data', '/v1/data/{*path}'], data);
  app.get('/health', healthHandlers(deps.health).opaHealth);
  app.use(notFound);
  app.use(errorHandler(deps.logger));
  return app;
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
  return (req: Request, res: Response, next: NextFunction): void => {
    const end = process.hrtime.bigint();
    const handler = handlerOf(req);
    res.once('finish', () => {
      const labels = { code: String(res.statusCode), method: req.method.toLowerCase(), handler };
      metrics.httpRequests.inc(labels);
      metrics.httpDuration.observe(labels, Number(process.hrtime.bigint() - end) / 1e9);
      metrics.httpRequestSize.observe(labels, Number(req.headers['content-length'] ?? 0) || 0);
      metrics.httpResponseSize.observe(labels, Number(res.getHeader('content-length') ?? 0) || 0);
    });
    next();
  };
}
