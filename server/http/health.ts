import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ParsedUrlQuery } from 'node:querystring';
import { sendJson } from './send.js';
import { reasonOf } from '../errors.js';

/** A named check: resolves when healthy, rejects with the reason when not. */
export type Check = () => Promise<void>;

export interface HealthChecks {
  /** Liveness: the process can serve at all. */
  live: Record<string, Check>;
  /** Readiness, on top of liveness: a policy and its data are loaded, and the process is not draining. */
  ready: Record<string, Check>;
}

/**
 * /live and /ready as opa-openshift serves them (metalmatze/signal): 200 or 503 with a JSON map of
 * check name to "OK" or the failure, indented with four spaces; `?hide=1` answers `{}`.
 * /health is OPA's: 200 `{}`, and with `?bundles` a 500 until the policy is loaded.
 */
export function healthHandlers(checks: HealthChecks) {
  const run = async (res: ServerResponse, query: ParsedUrlQuery, sets: Array<Record<string, Check>>): Promise<void> => {
    const results: Record<string, string> = {};
    let ok = true;
    for (const set of sets) {
      for (const [name, check] of Object.entries(set)) {
        try {
          await check();
          results[name] = 'OK';
        } catch (err) {
          ok = false;
          results[name] = reasonOf(err);
        }
      }
    }
    const body = query.hide !== undefined ? {} : results;
    sendJson(res, ok ? 200 : 503, `${JSON.stringify(body, null, 4)}\n`);
  };
  return {
    live: (_req: IncomingMessage, res: ServerResponse, query: ParsedUrlQuery) => run(res, query, [checks.live]),
    ready: (_req: IncomingMessage, res: ServerResponse, query: ParsedUrlQuery) => run(res, query, [checks.ready, checks.live]),
    opaHealth: async (_req: IncomingMessage, res: ServerResponse, query: ParsedUrlQuery): Promise<void> => {
      if (query.bundles !== undefined || query.bundle !== undefined) {
        for (const check of Object.values(checks.ready)) {
          try {
            await check();
          } catch {
            sendJson(res, 500, `${JSON.stringify({ error: 'one or more bundles are not activated' })}\n`);
            return;
          }
        }
      }
      sendJson(res, 200, '{}\n');
    },
  };
}
