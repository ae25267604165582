import type { IncomingMessage } from 'node:http';
import { readBody } from '../http/body.js';
import type { BudgetLease } from '../http/byte-budget.js';
import { badRequest, forbidden } from './errors.js';
import { isMethod, originalPath } from './original-path.js';
import { isScope, scopeOf } from './scopes.js';
import type { ForwardAuthRequest } from './types.js';

export const FORWARD_AUTH_PREFIX = '/forward-auth';

/** Whether a request target is the forward-auth endpoint's: `/forward-auth`, its query, or a path under it. */
export function isForwardAuthPath(url: string): boolean {
  if (!url.startsWith(FORWARD_AUTH_PREFIX)) return false;
  const next = url[FORWARD_AUTH_PREFIX.length];
  return next === undefined || next === '?' || next === '/';
}

export interface ContractLimits {
  /** Bytes of a db-auth-gateway JSON body accepted. */
  maxBodyBytes: number;
  /** Tenants a client may name in X-Scope-OrgID at once. */
  maxRequestedTenants: number;
}

/** Loki's tenant ID rule (pkg/tenant ValidTenantID): its characters, at most 150 bytes, never `.` or `..`. */
export function isLokiTenantId(id: string): boolean {
  return /^[A-Za-z0-9!\-_.*'()]{1,150}$/.test(id) && id !== '.' && id !== '..';
}

/**
 * Reads one forward-auth question from whichever proxy contract carried it:
 * - db-auth-gateway: `POST` with `Content-Type: application/json` and a body `{"path","method","requiredScope"}`;
 * - nginx auth_request and Traefik ForwardAuth: the original method and URI in headers;
 * - Envoy ext_authz (HTTP service): the original method, and the original path under the prefix.
 * Everything the caller controls is read strictly: a repeated header, two contracts in one request,
 * or two headers that disagree is refused, never resolved by picking one.
 */
export async function readForwardAuthRequest(
  req: IncomingMessage,
  signal: AbortSignal,
  limits: ContractLimits,
  lease?: BudgetLease,
): Promise<ForwardAuthRequest> {
  const url = req.url ?? FORWARD_AUTH_PREFIX;
  const method = req.method ?? '';
  const common = () => ({
    requestedTenants: requestedTenants(req, limits.maxRequestedTenants),
    headers: req.headers,
    headersDistinct: req.headersDistinct,
    remoteAddress: req.socket.remoteAddress ?? '',
    signal,
  });

  const under = url.slice(FORWARD_AUTH_PREFIX.length);
  if (under.startsWith('/')) {
    // Envoy's path_prefix: the original request's path and method, as is.
    if (single(req, 'x-original-uri') !== undefined || single(req, 'x-forwarded-uri') !== undefined) {
      throw forbidden('ambiguous_request', 'the original path is given both under /forward-auth/ and in a header');
    }
    return { ...fromOriginal(method, under), ...common() };
  }

  const body = method === 'POST' ? await readBody(req, { maxBytes: limits.maxBodyBytes }, lease) : Buffer.alloc(0);
  if (body.length > 0) {
    if (!isJson(req.headers['content-type'])) throw badRequest('unsupported_body', 'a forward-auth body must be JSON (Content-Type: application/json)');
    return { ...fromGatewayBody(body), ...common() };
  }
  return { ...fromHeaders(req), ...common() };
}

function fromOriginal(method: string, uri: string): Pick<ForwardAuthRequest, 'scope' | 'method' | 'path'> {
  if (!isMethod(method)) throw forbidden('unknown_method', 'the original method is not an HTTP method Loki serves');
  const p = originalPath(uri);
  if (!p.ok) throw forbidden('ambiguous_path', p.reason);
  const scope = scopeOf(method, p.path);
  if (!scope) throw forbidden('unknown_path', `${method} ${truncate(p.path)} is not a Loki API this service grants`);
  return { scope, method, path: p.path };
}

/** nginx (X-Original-*) or Traefik (X-Forwarded-*): either pair, or both when they agree. */
function fromHeaders(req: IncomingMessage): Pick<ForwardAuthRequest, 'scope' | 'method' | 'path'> {
  const uri = agreeing(req, 'x-original-uri', 'x-forwarded-uri');
  const method = agreeing(req, 'x-original-method', 'x-forwarded-method');
  if (uri === undefined || method === undefined) {
    throw badRequest(
      'no_original_request',
      'no original request: send X-Original-Method and X-Original-URI (or X-Forwarded-Method and X-Forwarded-Uri), a db-auth-gateway JSON body, or the path under /forward-auth/',
    );
  }
  return fromOriginal(method, uri);
}

function agreeing(req: IncomingMessage, a: string, b: string): string | undefined {
  const x = single(req, a);
  const y = single(req, b);
  if (x !== undefined && y !== undefined && x !== y) throw forbidden('ambiguous_request', `${a} and ${b} disagree`);
  return x ?? y;
}

/** A header's value when sent once; refused when repeated (which copy a proxy or Loki reads is not ours to guess). */
function single(req: IncomingMessage, name: string): string | undefined {
  const values = req.headersDistinct[name];
  if (values === undefined) return undefined;
  if (values.length !== 1) throw forbidden('ambiguous_request', `${name} is repeated`);
  return values[0];
}

/** db-auth-gateway's body: the scope is its `requiredScope`; path and method are kept for the log. */
function fromGatewayBody(body: Buffer): Pick<ForwardAuthRequest, 'scope' | 'method' | 'path'> {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    throw badRequest('invalid_body', 'the forward-auth body is not JSON');
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw badRequest('invalid_body', 'the forward-auth body must be an object');
  const { path, method, requiredScope } = doc as Record<string, unknown>;
  if (typeof requiredScope !== 'string' || typeof path !== 'string' || typeof method !== 'string') {
    throw badRequest('invalid_body', 'the forward-auth body needs string fields path, method and requiredScope');
  }
  // An unknown scope is a denial: db-auth-gateway would turn anything but 401/403 into its 502.
  if (!isScope(requiredScope)) throw forbidden('unknown_scope', `scope ${JSON.stringify(truncate(requiredScope))} is not one this service grants`);
  return { scope: requiredScope, method: truncate(method), path: truncate(path, 2048) };
}

/**
 * X-Scope-OrgID as Loki reads it: tenant IDs separated by `|`, whitespace around them trimmed.
 * Sent twice, or with an empty or invalid element, it is refused: Loki and the proxy might read it
 * differently.
 */
function requestedTenants(req: IncomingMessage, max: number): string[] {
  const value = single(req, 'x-scope-orgid');
  if (value === undefined) return [];
  const ids = value.split('|').map((s) => s.trim());
  if (ids.length > max) throw forbidden('too_many_tenants', `X-Scope-OrgID names more than ${max} tenants`);
  for (const id of ids) {
    if (!isLokiTenantId(id)) throw forbidden('invalid_tenant', `X-Scope-OrgID holds an invalid tenant ID ${JSON.stringify(truncate(id))}`);
  }
  return [...new Set(ids)];
}

function isJson(contentType: string | undefined): boolean {
  return (contentType ?? '').split(';', 1)[0]!.trim().toLowerCase() === 'application/json';
}

function truncate(s: string, max = 160): string {
  return s.length <= max ? s : `${s.slice(0, max)}…`;
}
