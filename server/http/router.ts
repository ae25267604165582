import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { type ParsedUrlQuery, parse as parseQuery } from 'node:querystring';

/** A GET route; it answers HEAD too (Node drops the body and keeps the headers). */
export type Route = (req: IncomingMessage, res: ServerResponse, query: ParsedUrlQuery) => void | Promise<void>;

export interface RouterOptions {
  /** GET routes by exact path. */
  get: Record<string, Route>;
  /** Every other method and path. */
  notFound(req: IncomingMessage, res: ServerResponse): void;
  /** A route that threw or rejected. */
  onError(req: IncomingMessage, res: ServerResponse, err: unknown): void;
  /** Sees each request first, with its path (metrics). */
  observe?(req: IncomingMessage, res: ServerResponse, pathname: string): void;
}

/**
 * The routes off the hot paths (health, readiness, metrics) on Node's request and response: an
 * exact-path table in place of express, which cost some 15 MiB of every idle sidecar (issue 14).
 * Paths match as express matched them, so probes and scrapers see the same answers: ignoring ASCII
 * case, with one optional trailing slash, never percent-decoded.
 */
export function createRouter(options: RouterOptions): RequestListener {
  const routes = new Map(Object.entries(options.get).map(([path, route]) => [routeKey(path), route]));
  const { notFound, onError, observe } = options;
  return (req, res) => {
    const target = requestTarget(req.url ?? '');
    observe?.(req, res, target.pathname);
    const route = req.method === 'GET' || req.method === 'HEAD' ? routes.get(routeKey(target.pathname)) : undefined;
    if (route === undefined) {
      notFound(req, res);
      return;
    }
    try {
      const done = route(req, res, parseQuery(target.search ?? ''));
      if (done) done.catch((err: unknown) => onError(req, res, err));
    } catch (err) {
      onError(req, res, err);
    }
  };
}

function routeKey(pathname: string): string {
  // Latin-1 at most (Node reads the request line so): toLowerCase never maps a letter to ASCII there.
  const lower = pathname.toLowerCase();
  return lower.length > 1 && lower.endsWith('/') ? lower.slice(0, -1) : lower;
}

const AUTHORITY = /^[a-z][a-z0-9+.-]*:\/\/[^/?]*/i;

/**
 * The path and query string of a request target, as express read them: split at the first `?`.
 * A target with a fragment or in absolute form (`http://host/path`, which proxies send) went
 * through Node's legacy url.parse, whose effects on a path are kept here (url.parse itself warns on
 * Node 24): backslashes before the query are slashes, the fragment is dropped, the scheme and
 * authority skipped. (Whitespace, which url.parse also trims, never passes Node's request parser.)
 */
export function requestTarget(url: string): { pathname: string; search: string | undefined } {
  let rest = url;
  if (url.charCodeAt(0) !== 0x2f || url.includes('#')) {
    const split = rest.search(/[?#]/);
    const head = split < 0 ? rest : rest.slice(0, split);
    rest = head.replaceAll('\\', '/') + rest.slice(head.length);
    const hash = rest.indexOf('#');
    if (hash >= 0) rest = rest.slice(0, hash);
    const authority = AUTHORITY.exec(rest);
    if (authority) rest = rest.slice(authority[0].length);
  }
  const q = rest.indexOf('?');
  return q < 0 ? { pathname: rest, search: undefined } : { pathname: rest.slice(0, q), search: rest.slice(q + 1) };
}
