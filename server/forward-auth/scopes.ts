import type { Scope } from './types.js';

/**
 * Loki's HTTP API (docs/sources/reference/loki-http-api.md), path by path: the scope each route
 * needs, by method. Paths match exactly as Loki's router (gorilla/mux, no StrictSlash) matches them;
 * a method a route does not list is answered 405 by Loki, and is denied here rather than guessed.
 * `*` stands for one path segment (a label, field, rule namespace or group name).
 */
const READ = { GET: 'logs:read', POST: 'logs:read' } as const;
const ROUTES: ReadonlyArray<{ path: string; methods: Readonly<Record<string, Scope>> }> = [
  // Ingestion.
  { path: '/loki/api/v1/push', methods: { POST: 'logs:write' } },
  { path: '/api/prom/push', methods: { POST: 'logs:write' } },
  { path: '/otlp/v1/logs', methods: { POST: 'logs:write' } },
  // Queries and metadata (the query frontend and queriers take GET and POST forms alike).
  { path: '/loki/api/v1/query', methods: READ },
  { path: '/loki/api/v1/query_range', methods: READ },
  { path: '/loki/api/v1/labels', methods: READ },
  { path: '/loki/api/v1/label', methods: READ },
  { path: '/loki/api/v1/label/*/values', methods: READ },
  { path: '/loki/api/v1/series', methods: READ },
  { path: '/loki/api/v1/tail', methods: { GET: 'logs:read' } },
  { path: '/loki/api/v1/index/stats', methods: READ },
  { path: '/loki/api/v1/index/volume', methods: READ },
  { path: '/loki/api/v1/index/volume_range', methods: READ },
  { path: '/loki/api/v1/index/shards', methods: READ },
  { path: '/loki/api/v1/patterns', methods: READ },
  { path: '/loki/api/v1/detected_fields', methods: READ },
  { path: '/loki/api/v1/detected_field/*/values', methods: READ },
  { path: '/loki/api/v1/detected_labels', methods: READ },
  { path: '/loki/api/v1/format_query', methods: READ },
  // The legacy read API.
  { path: '/api/prom/query', methods: READ },
  { path: '/api/prom/label', methods: READ },
  { path: '/api/prom/label/*/values', methods: READ },
  { path: '/api/prom/series', methods: READ },
  { path: '/api/prom/tail', methods: { GET: 'logs:read' } },
  // Log deletion (the compactor): creating, listing and cancelling requests all need delete, since
  // a listed request shows the queries other users deleted by.
  { path: '/loki/api/v1/delete', methods: { GET: 'logs:delete', POST: 'logs:delete', PUT: 'logs:delete', DELETE: 'logs:delete' } },
  { path: '/loki/api/admin/delete', methods: { GET: 'logs:delete', POST: 'logs:delete', PUT: 'logs:delete', DELETE: 'logs:delete' } },
  // The ruler: rule groups by namespace (Cortex-style API), and the Prometheus-style listings.
  { path: '/loki/api/v1/rules', methods: { GET: 'rules:read' } },
  { path: '/loki/api/v1/rules/*', methods: { GET: 'rules:read', POST: 'rules:write', DELETE: 'rules:write' } },
  { path: '/loki/api/v1/rules/*/*', methods: { GET: 'rules:read', DELETE: 'rules:write' } },
  { path: '/api/prom/rules', methods: { GET: 'rules:read' } },
  { path: '/api/prom/rules/*', methods: { GET: 'rules:read', POST: 'rules:write', DELETE: 'rules:write' } },
  { path: '/api/prom/rules/*/*', methods: { GET: 'rules:read', DELETE: 'rules:write' } },
  { path: '/prometheus/api/v1/rules', methods: { GET: 'rules:read' } },
  { path: '/api/prom/api/v1/rules', methods: { GET: 'rules:read' } },
  { path: '/prometheus/api/v1/alerts', methods: { GET: 'alerts:read' } },
  { path: '/api/prom/api/v1/alerts', methods: { GET: 'alerts:read' } },
];

const SCOPES: ReadonlySet<string> = new Set<Scope>(['logs:read', 'logs:write', 'logs:delete', 'rules:read', 'rules:write', 'alerts:read', 'alerts:write']);

export function isScope(s: unknown): s is Scope {
  return typeof s === 'string' && SCOPES.has(s);
}

/**
 * The scope a request to Loki needs, from its method and its path as Loki routes it (decoded,
 * clean: see original-path.ts); undefined for anything Loki's API does not list.
 */
export function scopeOf(method: string, path: string): Scope | undefined {
  const segments = path.split('/');
  for (const route of ROUTES) {
    const want = route.path.split('/');
    if (want.length !== segments.length) continue;
    if (!want.every((w, i) => (w === '*' ? segments[i] !== '' : w === segments[i]))) continue;
    return Object.hasOwn(route.methods, method) ? route.methods[method] : undefined;
  }
  return undefined;
}

/**
 * What each scope asks of the policy: `lokistack/allow` with this resource and permission. Rules
 * and alerts are the tenant's logs as observatorium/api (the LokiStack gateway) authorizes its
 * ruler routes, so existing roles mean the same on both paths. Deleting needs a role that lists
 * `delete`: a write role never implies it. `alerts:write` (Alertmanager silences) is not a Loki
 * API and is never granted.
 */
export const POLICY_ACTION: Readonly<Record<Scope, { resource: string; permission: string } | undefined>> = {
  'logs:read': { resource: 'logs', permission: 'read' },
  'logs:write': { resource: 'logs', permission: 'write' },
  'logs:delete': { resource: 'logs', permission: 'delete' },
  'rules:read': { resource: 'logs', permission: 'read' },
  'rules:write': { resource: 'logs', permission: 'write' },
  'alerts:read': { resource: 'logs', permission: 'read' },
  'alerts:write': undefined,
};
