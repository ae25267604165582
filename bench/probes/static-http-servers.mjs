// Two stripped-down servers for bench/probes/static-http-overhead.ts, built from the same compiled
// modules as the service (bench/.build/dist): the static decision with the same body parsing,
// policy evaluation, Go-style JSON and HTTP metrics, but
//   --variant=raw      on node:http alone
//   --variant=express  behind one express route
// and without per-request AbortSignals. What is left between them and the service is the cost of
// the HTTP layer around the decision.
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('../.build/dist/server/', import.meta.url));
const variant = process.argv.find((a) => a.startsWith('--variant='))?.slice('--variant='.length) ?? 'raw';
const args = process.argv.slice(2).filter((a) => !a.startsWith('--variant='));
const { loadConfig } = await import(`${dist}config/config.js`);
const { createLogger } = await import(`${dist}observability/logger.js`);
const { Metrics } = await import(`${dist}observability/metrics.js`);
const { wireStaticMode } = await import(`${dist}wiring/static-mode.js`);
const { readBody } = await import(`${dist}http/body.js`);
const { parsePostBody } = await import(`${dist}http/input.js`);
const { goStruct } = await import(`${dist}http/json.js`);
const { outcomeOf } = await import(`${dist}decision/types.js`);

const { config } = loadConfig(args);
const metrics = new Metrics();
const mode = await wireStaticMode(config, createLogger(config.log), metrics);
const limits = { maxBytes: config.web.maxBodyBytes };

async function decide(req, res) {
  const started = process.hrtime.bigint();
  const path = req.url.split('?', 1)[0].slice('/v1/data/'.length).split('/').map(decodeURIComponent);
  const parsed = parsePostBody(await readBody(req, limits), req.headers['content-type'], config.web.maxDepth);
  const decision = await mode.authorizer.decide({ path, input: parsed.input, token: undefined, signal: undefined });
  metrics.decisions.inc({ mode: 'static', result: outcomeOf(decision) });
  const body = goStruct([['result', decision.defined ? decision.value : undefined]]) + '\n';
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
  const labels = { code: '200', method: 'post', handler: 'data' };
  metrics.httpRequests.inc(labels);
  metrics.httpDuration.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
  metrics.httpRequestSize.observe(labels, Number(req.headers['content-length'] ?? 0));
  metrics.httpResponseSize.observe(labels, Buffer.byteLength(body));
}

let listener = decide;
if (variant === 'express') {
  const express = (await import('express')).default;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  app.post('/v1/data/{*path}', decide);
  listener = app;
}
createServer(listener).listen(config.web.listen.port, config.web.listen.host);
// The internal listener answers /ready so the probe can wait on it as on the service.
createServer((_req, res) => res.end('{}')).listen(config.web.internalListen.port, config.web.internalListen.host);
