import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Check } from './health.js';

/**
 * opa-openshift's `http` liveness check: GET a URL on the public listener where no route is, which
 * must answer 404 within a second. It proves the public listener accepts and answers.
 */
export function httpLivenessCheck(url: string, options: { caFile?: string; timeoutMs?: number } = {}): Check {
  const ca = options.caFile ? readFileSync(options.caFile) : undefined;
  const timeout = options.timeoutMs ?? 1000;
  return () =>
    new Promise<void>((resolve, reject) => {
      const target = new URL(url);
      const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
      const req = send(target, { method: 'GET', timeout, ...(ca ? { ca } : {}), agent: false }, (res) => {
        res.resume();
        if (res.statusCode === 404) resolve();
        else reject(new Error(`unexpected status code ${res.statusCode}, expected 404`));
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeout}ms`)));
      req.on('error', reject);
      req.end();
    });
}
