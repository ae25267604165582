import { hash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { posix } from 'node:path';
import { parse as parseQuery, type ParsedUrlQuery } from 'node:querystring';
import { boundReason } from '../decision/reasons.js';
import { outcomeOf, type Authorizer, type Decision, type DecisionAudit, type DecisionOutcome, type DecisionRequest } from '../decision/types.js';
import { deadline } from '../deadline.js';
import { DecisionError, invalidParameter } from '../errors.js';
import type { DecisionLog } from '../observability/decision-log.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { readBody, type BodyLimits } from './body.js';
import type { ByteBudget } from './byte-budget.js';
import { lastQueryBytes, parseInputParam, parsePostBody, type InputOptions, type ParsedInput } from './input.js';
import { DEFAULT_INPUT_LIMITS } from './input-limits.js';
import { goStruct } from './json.js';
import { sendJson } from './send.js';
import { closedSignal } from './closed-signal.js';
import { DecisionMemo, type RememberedAnswer } from '../decision/memo.js';

export interface DataApiOptions extends BodyLimits, Partial<Omit<InputOptions, 'maxDepth'>> {
  /** Deepest nesting of arrays and objects accepted in `input`. */
  maxDepth: number;
  /** Deadline for one decision, upstream calls included. */
  decisionTimeoutMs: number;
  /**
   * --web.reasons: answer `?reasons=true` with a `reason` beside `result`. Off by default: a reason
   * names roles, bindings and namespaces, which the caller of a Data API need not learn.
   */
  reasons?: boolean;
  /** --decision-log.reasons: decision log events carry their reason (default with a decision log). */
  logReasons?: boolean;
  /** --policy.memo-bytes, --cache.memo-bytes: requests remembered with their answers when the authorizer allows it (0 or absent: none). */
  memoBytes?: number;
}

export interface DataApiDeps {
  authorizer: Authorizer;
  /** When set, every decision is logged and answered with its decision_id, as OPA does. */
  decisionLog?: DecisionLog;
  metrics: Metrics;
  logger: Logger;
  options: DataApiOptions;
  version: string;
  /** Body bytes held across all requests; unbounded when absent. */
  bodyBudget?: ByteBudget;
}

const PREFIX = '/v1/data';
const MISSING_INPUT_WARNING = { code: 'api_usage_warning', message: "'input' key missing from the request" };

/** Whether a request path (query excluded) is the Data API's. */
export function isDataApiPath(url: string): boolean {
  return url.startsWith(PREFIX) && (url.length === PREFIX.length || url[PREFIX.length] === '/' || url[PREFIX.length] === '?');
}

/**
 * OPA's Data API v1: GET and POST /v1/data/{path}, answered as OPA answers them (in the openshift
 * modes, POST only, as opa-openshift answers). It runs on Node's
 * own request and response, not express's: this is the hot path. Throws DecisionError for the
 * caller's one error handler to answer.
 */
export function dataApiHandler(deps: DataApiDeps) {
  // Static mode hands the policy the body's own text of the input when it can (input.ts).
  const limits: InputOptions = { ...DEFAULT_INPUT_LIMITS, ...definedOnly(deps.options), keepInputText: deps.authorizer.mode === 'static' };
  const postOnly = deps.authorizer.mode.startsWith('openshift-');
  const mode = deps.authorizer.mode;
  // Label sets made once: a labels object per request is garbage the collector pays for.
  const decisionLabels = {
    allow: { mode, result: 'allow' },
    deny: { mode, result: 'deny' },
    undefined: { mode, result: 'undefined' },
    other: { mode, result: 'other' },
    error: { mode, result: 'error' },
  } as const;
  const wantReasonAlways = Boolean(deps.decisionLog && deps.options.logReasons !== false);
  // A decision log records each decision's input, which a remembered answer never parses.
  const memo =
    deps.authorizer.memoGeneration && !deps.decisionLog && (deps.options.memoBytes ?? 0) > 0 ? new DecisionMemo(deps.options.memoBytes ?? 0) : undefined;
  const byToken = deps.authorizer.memoByToken;
  // Every decision made or remembered is counted, and logged at debug level.
  const record = (outcome: DecisionOutcome, path: readonly string[], started: bigint): void => {
    deps.metrics.decisions.inc(decisionLabels[outcome]);
    if (deps.logger.isLevelEnabled('debug')) {
      deps.logger.debug({ path: path.join('/'), result: outcome, durationMs: Number(process.hrtime.bigint() - started) / 1e6 }, 'decision');
    }
  };
  // The gateway asks one path over and over: its segments are parsed once and shared (frozen).
  let lastRawPath = '';
  let lastPath: readonly string[] = [];
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = process.hrtime.bigint();
    const url = req.url ?? PREFIX;
    const q = url.indexOf('?');
    const rawPath = q < 0 ? url : url.slice(0, q);
    if (redirectUnclean(rawPath, q < 0 ? '' : url.slice(q), res)) return;
    if (req.method !== 'POST') {
      // opa-openshift's decision handler refuses every other method with 400 `request must be a POST`;
      // the openshift modes stand in for it, so a gateway or probe sees the same answer there.
      if (postOnly) throw invalidParameter('request must be a POST');
      // OPA routes GET and POST on /v1/data; HEAD matches no route, and the write API (PUT, PATCH,
      // DELETE) is not served as documents come from configuration: 405 with an empty body, as OPA.
      if (req.method !== 'GET') {
        res.writeHead(405).end();
        return;
      }
    }
    const params = q < 0 ? NO_PARAMS : queryParams(parseQuery(url.slice(q + 1)));
    // Asked with reasons off, the parameter is ignored as OPA ignores one it does not know: a
    // gateway whose opa.url carries it keeps working.
    const answerReason = params.reasons && deps.options.reasons === true;
    if (rawPath !== lastRawPath) {
      lastPath = Object.freeze(parsePath(rawPath));
      lastRawPath = rawPath;
    }
    const path = lastPath;
    let parsed: ParsedInput;
    // Set when this request's decision may be remembered: the generation it was made for, and the request as its key.
    let memoGeneration: object | undefined;
    let memoKey = '';
    const token = bearerToken(req);
    if (req.method === 'POST') {
      const lease = deps.bodyBudget?.lease();
      // The bytes stay taken while the request lives, and so does an estimate of the decoded input's
      // heap: a 1 MiB body of small strings decodes to several times its size.
      if (lease) res.on('close', () => lease.release());
      const body = await readBody(req, deps.options, lease);
      const contentType = req.headers['content-type'] ?? '';
      if (memo && params === NO_PARAMS && memo.fits((byToken ? TOKEN_KEY_CHARS : 0) + rawPath.length + contentType.length + body.length + 2)) {
        memoGeneration = deps.authorizer.memoGeneration?.();
        // latin1 maps each byte to one character: two bodies share a key only when byte-identical.
        // The token only by its hash: a remembered answer must not keep a credential in the heap.
        if (memoGeneration) memoKey = `${byToken ? `${hash('sha256', token ?? '')}\n` : ''}${rawPath}\n${contentType}\n${body.toString('latin1')}`;
        const remembered = memoGeneration && memo.get(memoGeneration, memoKey);
        if (remembered) {
          byToken?.remembered();
          record(remembered.outcome, path, started);
          sendJson(res, 200, remembered.text);
          return;
        }
      }
      parsed = parsePostBody(body, contentType, limits);
      lease?.take(parsed.footprint);
    } else {
      parsed = parseInputParam(q < 0 ? undefined : lastQueryBytes(url.slice(q + 1), 'input'), limits);
    }
    const parsedAt = process.hrtime.bigint();

    // Made on first use: static decisions never wait, and a timer plus listeners per request is
    // measurable work on the hot path.
    let signal: AbortSignal | undefined;
    const lazySignal = () => {
      if (!signal) {
        const limit = deadline(deps.options.decisionTimeoutMs, closedSignal(req, res));
        res.on('close', limit.release);
        signal = limit.signal;
      }
      return signal;
    };
    const decisionLog = deps.decisionLog;
    const decisionId = decisionLog?.newDecisionId();
    const audit: DecisionAudit = {};
    const logDecision = (outcome: { result?: unknown; error?: { code: string; message: string } }) =>
      decisionLog?.write({
        decision_id: decisionId!,
        path: path.join('/'),
        ...(audit.input !== undefined ? { input: audit.input } : parsed.input !== undefined ? { input: parsed.input } : {}),
        ...(audit.identity ? { identity: audit.identity } : {}),
        ...(audit.reason ? { reason: boundReason(audit.reason) } : {}),
        ...outcome,
        requested_by: `${req.socket.remoteAddress ?? ''}:${req.socket.remotePort ?? ''}`,
        timestamp: new Date().toISOString(),
        metrics: { timer_server_handler_ns: Number(process.hrtime.bigint() - started) },
      });
    const decisionRequest: DecisionRequest = {
      path,
      input: parsed.input,
      token,
      audit,
      get signal() {
        return lazySignal();
      },
    };
    if (parsed.occurrences) decisionRequest.inputOccurrences = parsed.occurrences;
    // The decision log and the reasons answer read it; otherwise nothing pays for it.
    if (wantReasonAlways || answerReason) decisionRequest.wantReason = true;
    let decision: Decision;
    try {
      decision = await deps.authorizer.decide(decisionRequest);
    } catch (err) {
      deps.metrics.decisions.inc(decisionLabels.error);
      if (decisionLog) {
        logDecision({ error: err instanceof DecisionError ? { code: err.code, message: err.message } : { code: 'internal_error', message: 'internal error' } });
      }
      throw err;
    }
    if (decisionLog) logDecision(decision.defined ? { result: decision.value } : {});
    const done = process.hrtime.bigint();
    const outcome = outcomeOf(decision);
    record(outcome, path, started);

    // The gateway's common answer, the result with nothing beside it: the one a request may be remembered with.
    if (params === NO_PARAMS && decisionId === undefined && !parsed.missing) {
      const text = plainAnswer(decision);
      // Remembered only for the generation that decided it (a reload meanwhile leaves nothing
      // behind), and by token only as long as the authorizer said the answer stands.
      const until = byToken ? decisionRequest.rememberUntil : Infinity;
      if (memo && memoGeneration && until !== undefined && deps.authorizer.memoGeneration?.() === memoGeneration) {
        memo.set(memoGeneration, memoKey, rememberedAnswer(outcome, text, until));
      }
      sendJson(res, 200, text);
      return;
    }
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
        ['reason', answerReason ? boundReason(audit.reason ?? NO_REASON) : undefined],
      ],
      params.pretty,
    );
    sendJson(res, 200, `${body}\n`);
  };
}

/**
 * Go's ServeMux answers an unclean path with a redirect: 307 to the cleaned path (`//`, `.`, `..`),
 * then 301 to drop a trailing slash. OPA clients see the same here.
 *
 * The Location is written as Go's url.URL.String writes a path: every byte outside the path's
 * safe set percent-encoded. That is what keeps `/v1/data/../../\evil.example` from redirecting to
 * `/\evil.example`, which browsers read as `//evil.example`, another host: Go sends `/%5Cevil.example`.
 */
function redirectUnclean(rawPath: string, query: string, res: ServerResponse): boolean {
  // Cleaning changes only `//`, `.` and `..` segments and a trailing slash: a path with none is clean.
  if (!rawPath.endsWith('/') && !rawPath.includes('//') && !rawPath.includes('/.')) return false;
  const cleaned = posix.normalize(rawPath);
  const to = cleaned !== rawPath ? ([307, cleaned] as const) : rawPath.endsWith('/') ? ([301, rawPath.slice(0, -1)] as const) : undefined;
  if (!to) return false;
  const location = escapeLocationPath(to[1]);
  // Cleaning leaves no `//` and escaping no `\`; should either ever appear, refuse rather than redirect off-site.
  if (!location.startsWith('/') || /^\/[/\\]/.test(location)) throw invalidParameter('invalid path');
  res.writeHead(to[0], { Location: `${location}${escapeLocationQuery(query)}` }).end();
  return true;
}

// Go's shouldEscape(c, encodePath) keeps these; `%` stays too, as the path is still escaped.
const PATH_UNSAFE = /[^A-Za-z0-9\-._~!$&'()*+,;=:@/%]/g;
const QUERY_UNSAFE = /[^A-Za-z0-9\-._~!$&'()*+,;=:@/?%]/g;

function escapeLocationPath(path: string): string {
  return path.replace(PATH_UNSAFE, (c) => encodeURIComponent(c).replace(/[!'()*]/g, (x) => `%${x.charCodeAt(0).toString(16).toUpperCase()}`));
}

function escapeLocationQuery(query: string): string {
  return query.replace(QUERY_UNSAFE, (c) => encodeURIComponent(c));
}

function definedOnly<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
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

const RESULT_TRUE = '{"result":true}\n';
const RESULT_FALSE = '{"result":false}\n';
/** An undefined decision with nothing beside it: OPA's empty object. */
const RESULT_NONE = '{}\n';

/** A SHA-256 in hex and its separator, ahead of a key remembered by token. */
const TOKEN_KEY_CHARS = 65;

/** The body answering `decision` with nothing beside it; the common ones written as made once. */
function plainAnswer(decision: Decision): string {
  if (!decision.defined) return RESULT_NONE;
  if (decision.value === true) return RESULT_TRUE;
  if (decision.value === false) return RESULT_FALSE;
  return `${goStruct([['result', decision.value]])}\n`;
}

// The static mode's answers, shared by every request remembered with one.
const PLAIN_ANSWERS: ReadonlyMap<string, RememberedAnswer> = new Map(
  (
    [
      ['allow', RESULT_TRUE],
      ['deny', RESULT_FALSE],
      ['undefined', RESULT_NONE],
    ] as const
  ).map(([outcome, text]) => [text, Object.freeze({ outcome, text, until: Infinity })]),
);

function rememberedAnswer(outcome: DecisionOutcome, text: string, until: number): RememberedAnswer {
  const shared = until === Infinity ? PLAIN_ANSWERS.get(text) : undefined;
  return shared ?? { outcome, text, until };
}

/** What a path no authorizer explains gets (a path outside the policy, an openshift mode's other paths). */
const NO_REASON = Object.freeze({ code: 'no_reason', message: 'nothing decided at this path gives a reason' });

interface DataParams {
  reasons: boolean;
  pretty: boolean;
  metrics: boolean;
  provenance: boolean;
}

/** A request without a query string: every parameter off. */
const NO_PARAMS: DataParams = Object.freeze({ reasons: false, pretty: false, metrics: false, provenance: false });

function queryParams(query: ParsedUrlQuery): DataParams {
  const explain = lastValue(query.explain);
  if (explain !== undefined && explain.toLowerCase() !== 'off') {
    throw invalidParameter('explain is not supported: policies are evaluated from WebAssembly, which keeps no trace');
  }
  return {
    reasons: boolParam(query.reasons),
    pretty: boolParam(query.pretty),
    metrics: boolParam(query.metrics) || boolParam(query.instrument),
    provenance: boolParam(query.provenance),
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

/**
 * The caller's token: X-Forwarded-Access-Token, else an Authorization bearer token. Of several
 * X-Forwarded-Access-Token headers the first is used, as opa-openshift's Header.Get does (Node
 * would join them with ", " and send that upstream as one token).
 */
function bearerToken(req: IncomingMessage): string | undefined {
  const forwarded = req.headers['x-forwarded-access-token'] === undefined ? undefined : firstHeader(req, 'x-forwarded-access-token');
  if (forwarded !== undefined && forwarded !== '') return forwarded;
  const auth = req.headers.authorization;
  const m = auth ? /^Bearer\s+(\S+)\s*$/i.exec(auth) : null;
  return m ? m[1] : undefined;
}

/**
 * The first value of header `name` (lower case) as received. headersDistinct would give the same,
 * but builds every header's list to give it: the forwarded token is on every openshift request.
 */
function firstHeader(req: IncomingMessage, name: string): string | undefined {
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const key = raw[i]!;
    if (key.length === name.length && key.toLowerCase() === name) return raw[i + 1];
  }
  return undefined;
}
