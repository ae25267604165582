import type { IncomingMessage, ServerResponse } from 'node:http';
import { cacheKey, DecisionCache } from '../cache/decision-cache.js';
import { MemoryStore } from '../cache/memory-store.js';
import { deadline } from '../deadline.js';
import { BusyError, DecisionError, reasonOf } from '../errors.js';
import { ClientAbortError } from '../http/body.js';
import type { ByteBudget } from '../http/byte-budget.js';
import type { DecisionLog } from '../observability/decision-log.js';
import type { Logger } from '../observability/logger.js';
import { RateLimit } from '../observability/rate-limit.js';
import { answer, type Granted } from './answer.js';
import { readForwardAuthRequest, type ContractLimits } from './contracts.js';
import { ForwardAuthRefusal, forbidden, unauthenticated } from './errors.js';
import type { Metrics } from '../observability/metrics.js';
import { POLICY_ACTION } from './scopes.js';
import type { ForwardAuthorizer, ForwardAuthRequest, ForwardAuthResult } from './types.js';
import { closedSignal } from '../http/closed-signal.js';

export interface ForwardAuthCoreOptions extends ContractLimits {
  /** Bytes of X-Prom-Label-Policy answered at most; a larger policy is a 403 rather than a header a proxy truncates. */
  maxPolicyHeaderBytes: number;
  /** Deadline for one answer, the mode's upstream calls included. */
  timeoutMs: number;
  cache: { allowTtlMs: number; denyTtlMs: number; maxEntries: number };
}

export interface ForwardAuthCoreDeps {
  authorizer: ForwardAuthorizer;
  options: ForwardAuthCoreOptions;
  metrics: Pick<Metrics, 'forwardAuthDecisions' | 'forwardAuthCache'>;
  logger: Logger;
  decisionLog?: DecisionLog;
  /** Body bytes held across all requests (--web.max-buffered-bytes), shared with the Data API. */
  bodyBudget?: ByteBudget;
}

/**
 * The proxy-facing side of forward-auth: reads the question from whichever proxy contract carried
 * it, asks the mode who the caller is and what the scope grants them (cached under the
 * credential's digest, the scope and the requested tenants), picks the tenants, and answers 200
 * with X-Scope-OrgID and X-Prom-Label-Policy, or 401/403. Failures are 5xx, never a 401/403 that
 * would hide an outage as a denial, and never a 200.
 */
export function forwardAuthHandler(deps: ForwardAuthCoreDeps) {
  const { authorizer, options, metrics, logger } = deps;
  const store = new MemoryStore({ maxEntries: options.cache.maxEntries, maxBytes: options.cache.maxEntries * 2048 });
  const cache = new DecisionCache<ForwardAuthResult>(
    store,
    { allowTtlMs: options.cache.allowTtlMs, denyTtlMs: options.cache.denyTtlMs },
    {
      hit: () => metrics.forwardAuthCache.inc({ result: 'hit' }),
      miss: () => metrics.forwardAuthCache.inc({ result: 'miss' }),
      shared: () => metrics.forwardAuthCache.inc({ result: 'shared' }),
      insert: () => {},
      storeError: () => {},
    },
    { encode: (v) => JSON.stringify(v), decode: (s) => JSON.parse(s) as ForwardAuthResult, allows: (v) => v.kind === 'granted' },
  );

  // An upstream down fails every request: one line per failure code every 10s, with the count left out.
  const failures = new RateLimit(10_000);

  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = process.hrtime.bigint();
    const limit = deadline(options.timeoutMs, closedSignal(req, res));
    res.once('close', () => limit.release());
    let fa: ForwardAuthRequest | undefined;
    let subject: string | undefined;
    const finish = (result: string, status: number, granted?: Granted, refusal?: { code: string; reason: string }) => {
      metrics.forwardAuthDecisions.inc({ mode: authorizer.mode, scope: fa?.scope ?? 'none', result });
      deps.decisionLog?.write({
        decision_id: deps.decisionLog.newDecisionId(),
        path: 'forward-auth',
        // What was decided on; never the headers, which hold the credential.
        input: fa
          ? { scope: fa.scope, method: fa.method, path: fa.path, requested_tenants: fa.requestedTenants, ...(subject !== undefined ? { subject } : {}) }
          : {},
        identity: { check: result },
        result: {
          status,
          ...(granted
            ? {
                tenants: granted.tenants.map((t) => t.id),
                policies: Object.fromEntries(granted.tenants.filter((t) => t.selectors).map((t) => [t.id, t.selectors])),
              }
            : {}),
          ...(refusal ? { code: refusal.code, reason: refusal.reason } : {}),
        },
        requested_by: `${req.socket.remoteAddress ?? ''}:${req.socket.remotePort ?? ''}`,
        timestamp: new Date().toISOString(),
        metrics: { timer_server_handler_ns: Number(process.hrtime.bigint() - started) },
      });
    };

    try {
      const lease = req.method === 'POST' ? deps.bodyBudget?.lease() : undefined;
      if (lease) res.once('close', () => lease.release());
      fa = await readForwardAuthRequest(req, limit.signal, options, lease);
      if (!authorizer.ready()) throw new BusyError('forward-auth is not ready: its configuration is still loading');
      if (!POLICY_ACTION[fa.scope]) throw forbidden('scope_not_served', `${fa.scope} is not a scope this service grants`);
      const credential = authorizer.credentialKey(fa);
      if (credential === undefined) throw unauthenticated('no_credential', 'no credential: send one (Authorization) with the request');
      const request = fa;
      // Identical requests in flight share this computation: it runs to its own deadline, so the
      // first requester going away does not fail the others.
      const result = await cache.get(cacheKey({ credential, scope: fa.scope, tenants: fa.requestedTenants }), async () => {
        const own = deadline(options.timeoutMs);
        try {
          return await authorizer.authorize({ ...request, signal: own.signal });
        } finally {
          own.release();
        }
      });
      if (result.kind === 'unauthenticated') throw unauthenticated(result.code, result.reason);
      subject = result.subject;
      if (result.kind === 'forbidden') throw forbidden(result.code, result.reason);
      const granted = answer(fa.scope, fa.requestedTenants, result.grants, options.maxPolicyHeaderBytes);
      const headers: Record<string, string> = { 'X-Scope-OrgID': granted.orgId, 'Cache-Control': 'no-store' };
      if (granted.labelPolicy !== undefined) headers['X-Prom-Label-Policy'] = granted.labelPolicy;
      finish('allow', 200, granted);
      res.writeHead(200, { ...headers, 'Content-Length': '0' }).end();
    } catch (err) {
      if (err instanceof ClientAbortError) {
        res.destroy();
        return;
      }
      const { status, code, reason, result } = classify(err);
      finish(result, status, undefined, { code, reason });
      if (status >= 500) {
        const suppressed = failures.take(`${status}\0${code}`);
        if (suppressed !== undefined)
          logger.error(
            {
              path: 'forward-auth',
              scope: fa?.scope,
              status,
              code,
              reason: reasonOf(err),
              ...(suppressed > 0 ? { suppressed } : {}),
            },
            'forward-auth could not decide',
          );
      } else logger.debug({ path: 'forward-auth', scope: fa?.scope, status, code, reason }, 'forward-auth refused');
      const body = `${JSON.stringify({ code, message: reason })}\n`;
      const headers: Record<string, string> = {
        'Content-Type': 'application/json',
        'Content-Length': String(Buffer.byteLength(body)),
        'Cache-Control': 'no-store',
      };
      if (status === 401 && authorizer.challenge) headers['WWW-Authenticate'] = authorizer.challenge;
      if (err instanceof BusyError) headers['Retry-After'] = String(err.retryAfterSeconds);
      if (!req.complete) headers.Connection = 'close';
      if (res.headersSent) res.destroy();
      else res.writeHead(status, headers).end(body);
    }
  };
}

function classify(err: unknown): { status: number; code: string; reason: string; result: string } {
  if (err instanceof ForwardAuthRefusal) {
    return {
      status: err.status,
      code: err.code,
      reason: err.reason,
      result: err.status === 401 ? 'unauthenticated' : err.status === 403 ? 'forbidden' : 'invalid',
    };
  }
  if (err instanceof BusyError) return { status: 503, code: 'busy', reason: err.message, result: 'busy' };
  // The proxy's own request faults (a body over its bound) keep their 4xx; everything else is a
  // failure to decide, answered 5xx so that no proxy mistakes it for a verdict.
  if (err instanceof DecisionError && err.status < 500) return { status: 400, code: err.code, reason: err.message, result: 'invalid' };
  // A mode's typed failure (an upstream down: 503) keeps its status; its message is written for callers.
  if (err instanceof DecisionError) return { status: err.status, code: err.code, reason: err.message, result: 'error' };
  return { status: 500, code: 'internal_error', reason: 'forward-auth could not decide; see the service log', result: 'error' };
}
