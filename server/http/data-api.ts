import { posix } from 'node:path';
import type { Request, Response } from 'express';
import { outcomeOf, type Authorizer, type Decision } from '../decision/types.js';
import { DecisionError, invalidParameter } from '../errors.js';
import type { DecisionLog } from '../observability/decision-log.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { readBody, type BodyLimits } from './body.js';
import { parseInputParam, parsePostBody, type ParsedInput } from './input.js';
import { goStruct } from './json.js';
import { sendJson } from './send.js';

export interface DataApiOptions extends BodyLimits {
  /** Deepest nesting of arrays and objects accepted in `input`. */
  maxDepth: number;
  /** Deadline for one decision, upstream calls included. */
  decisionTimeoutMs: number;
}

export interface DataApiDeps {
  authorizer: Authorizer;
  /** When set, every decision is logged and answered with its decision_id, as OPA does. */
  decisionLog?: DecisionLog;
  metrics: Metrics;
  logger: Logger;
  options: DataApiOptions;
  version: string;
}

const PREFIX = '/v1/data';
const MISSING_INPUT_WARNING = { code: 'api_usage_warning', message: "'input' key missing from the request" };

/** OPA's Data API v1: GET and POST /v1/data/{path}, answered as OPA answers them. */
export function dataApiHandler(deps: DataApiDeps) {
  return async (req: Request, res: Response): Promise<void> => {
    const started = process.hrtime.bigint();
    const rawPath = req.originalUrl.split('?', 1)[0]!;
    if (redirectUnclean(rawPath, req, res)) return;
    if (req.method !== 'GET' && req.method !== 'HEAD' && req.method !== 'POST') {
      // OPA's write API (PUT, PATCH, DELETE) is not served: documents come from configuration.
      res.status(405).end();
      return;
    }
    const params = queryParams(req);
    const path = parsePath(rawPath);
    const parsed: ParsedInput =
      req.method === 'POST'
        ? parsePostBody(await readBody(req, deps.options), req.headers['content-type'], deps.options.maxDepth)
        : parseInputParam(lastValue(req.query.input), deps.options.maxDepth);
    const parsedAt = process.hrtime.bigint();

    const signal = AbortSignal.any([AbortSignal.timeout(deps.options.decisionTimeoutMs), closedSignal(req, res)]);
    const decisionId = deps.decisionLog?.newDecisionId();
    const logDecision = (outcome: { result?: unknown; error?: { code: string; message: string } }) =>
      deps.decisionLog?.write({
        decision_id: decisionId!,
        path: path.join('/'),
        ...(parsed.input !== undefined ? { input: parsed.input } : {}),
        ...outcome,
        requested_by: `${req.socket.remoteAddress ?? ''}:${req.socket.remotePort ?? ''}`,
        timestamp: new Date().toISOString(),
        metrics: { timer_server_handler_ns: Number(process.hrtime.bigint() - started) },
      });
    let decision: Decision;
    try {
      decision = await deps.authorizer.decide({ path, input: parsed.input, token: bearerToken(req), signal });
    } catch (err) {
      deps.metrics.decisions.inc({ mode: deps.authorizer.mode, result: 'error' });
      logDecision({ error: err instanceof DecisionError ? { code: err.code, message: err.message } : { code: 'internal_error', message: 'internal error' } });
      throw err;
    }
    logDecision(decision.defined ? { result: decision.value } : {});
    const outcome = outcomeOf(decision);
    deps.metrics.decisions.inc({ mode: deps.authorizer.mode, result: outcome });
    const done = process.hrtime.bigint();
    deps.logger.debug({ path: path.join('/'), result: outcome, durationMs: Number(done - started) / 1e6 }, 'decision');

    const body = goStruct(
      [
        ['provenance', params.provenance ? { version: deps.version } : undefined],
        [
          'metrics',
          params.metrics
            ? {
                timer_rego_input_parse_ns: Number(parsedAt - started),
                timer_rego_query_eval_ns: Number(done - parsedAt),
                timer_server_handler_ns: Number(process.hrtime.bigint() - started),
              }
            : undefined,
        ],
        ['result', decision.defined ? decision.value : undefined],
        ['warning', parsed.missing ? MISSING_INPUT_WARNING : undefined],
        ['decision_id', decisionId],
      ],
      params.pretty,
    );
    sendJson(res, 200, body + '\n');
  };
}

/**
 * Go's ServeMux answers an unclean path with a redirect: 307 to the cleaned path (`//`, `.`, `..`),
 * then 301 to drop a trailing slash. OPA clients see the same here.
 */
function redirectUnclean(rawPath: string, req: Request, res: Response): boolean {
  const query = req.originalUrl.slice(rawPath.length);
  const cleaned = posix.normalize(rawPath);
  if (cleaned !== rawPath) {
    res.redirect(307, cleaned + query);
    return true;
  }
  if (rawPath.length > PREFIX.length + 1 && rawPath.endsWith('/')) {
    res.redirect(301, rawPath.slice(0, -1) + query);
    return true;
  }
  if (rawPath === PREFIX + '/') {
    res.redirect(301, PREFIX + query);
    return true;
  }
  return false;
}

/** Path segments after /v1/data, each URL-unescaped on its own (so %2F stays inside a segment). */
export function parsePath(rawPath: string): string[] {
  const rest = rawPath.slice(PREFIX.length + 1);
  if (rest === '') return [];
  return rest.split('/').map((seg) => {
    let s: string;
    try {
      s = decodeURIComponent(seg);
    } catch {
      throw invalidParameter(`invalid path: invalid escape in '${seg.slice(0, 64)}'`);
    }
    if (s.includes('"')) throw invalidParameter(`invalid path: invalid ref term '${s.slice(0, 64)}'`);
    return s;
  });
}

interface DataParams {
  pretty: boolean;
  metrics: boolean;
  provenance: boolean;
}

function queryParams(req: Request): DataParams {
  const explain = lastValue(req.query.explain);
  if (explain !== undefined && explain.toLowerCase() !== 'off') {
    throw invalidParameter('explain is not supported: policies are evaluated from WebAssembly, which keeps no trace');
  }
  return {
    pretty: boolParam(req.query.pretty),
    metrics: boolParam(req.query.metrics) || boolParam(req.query.instrument),
    provenance: boolParam(req.query.provenance),
  };
}

/** OPA's getBoolParam: a bare `?pretty` is true, otherwise only a case-insensitive `true`. */
function boolParam(v: unknown): boolean {
  const s = lastValue(v);
  return s !== undefined && (s === '' || s.toLowerCase() === 'true');
}

function lastValue(v: unknown): string | undefined {
  if (Array.isArray(v)) return lastValue(v[v.length - 1]);
  return typeof v === 'string' ? v : undefined;
}

/** The caller's token: X-Forwarded-Access-Token, else an Authorization bearer token. */
function bearerToken(req: Request): string | undefined {
  const forwarded = req.headers['x-forwarded-access-token'];
  if (typeof forwarded === 'string' && forwarded !== '') return forwarded;
  const auth = req.headers.authorization;
  const m = auth ? /^Bearer\s+(\S+)\s*$/i.exec(auth) : null;
  return m ? m[1] : undefined;
}

/** Aborts when the client goes away before the answer is written. */
function closedSignal(req: Request, res: Response): AbortSignal {
  const ac = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) ac.abort(new Error('client closed the connection'));
  });
  req.once('aborted', () => ac.abort(new Error('client aborted the request')));
  return ac.signal;
}
