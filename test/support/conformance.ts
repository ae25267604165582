/**
 * Differential conformance against real opa-openshift: one request sent byte for byte to both
 * authorizers, their answers reduced to what the gateway acts on, and a generator of gateway-shaped
 * (and deliberately broken) requests, each with a token of its own because both sides cache per
 * token and input.
 *
 * The comparison is the oracle: the peer's answer, never an expectation written here. What is
 * normalized away is only what carries no meaning for the gateway: the order of namespaces in a
 * matcher (Go map order there), the error envelope (text/plain there, OPA's JSON here; the gateway
 * reads only the status) and trailing whitespace of a message.
 */
import { request as httpRequest } from 'node:http';
import type { Identity } from './fake-kube/server.js';
import { LOKISTACK_IDENTITIES } from './fake-kube/fixtures.js';

export interface WireRequest {
  method?: string;
  /** Path after /v1/data/ */
  path: string;
  body: string;
  /** Header name -> value, or several values sent as several header lines. */
  headers: Record<string, string | string[]>;
}

export interface WireAnswer {
  status: number;
  text: string;
}

/** One request over node:http (fetch would fold repeated headers into one). */
export function sendWire(baseUrl: string, req: WireRequest, timeoutMs = 20_000): Promise<WireAnswer> {
  const url = new URL(`${baseUrl}/v1/data/${req.path}`);
  return new Promise((resolve, reject) => {
    const r = httpRequest(
      url,
      {
        method: req.method ?? 'POST',
        // Content-Length always: Node sends a DELETE or OPTIONS body unframed otherwise, and the
        // bytes would be read as the next request. A connection per request: no case can leave
        // anything behind for the next.
        headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(req.body)), ...req.headers },
        agent: false,
        timeout: timeoutMs,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', reject);
      },
    );
    r.on('timeout', () => r.destroy(new Error(`no answer from ${url.host} in ${timeoutMs} ms`)));
    r.on('error', reject);
    r.end(req.body);
  });
}

/** What the gateway acts on: the status, and the decision (200) or the message (errors). */
export type Normalized =
  | { status: 200; result: boolean }
  | { status: 200; allowed: string; op?: string; matchers: Array<{ type: unknown; name: unknown; values: string[] }> }
  | { status: 200; other: string }
  | { status: number; message: string };

/** A matcher value's alternatives, sorted; `dropEscapes` drops regex escapes (`\.` -> `.`). */
function alternatives(value: unknown, dropEscapes: boolean): string[] {
  if (typeof value !== 'string') return [JSON.stringify(value)];
  const parts = value.split('|');
  return (dropEscapes ? parts.map((p) => p.replace(/\\(.)/g, '$1')) : parts).sort();
}

/** opa-openshift's 401 messages (authorizer.go, handler.go): these prefixes, then the error's text. */
export const UNAUTHORIZED_PREFIXES = ['cluster-wide SAR failed: ', 'namespaced SAR failed: ', 'failed to access api server: '];

export function normalize(answer: WireAnswer, options: { unescape?: boolean } = {}): Normalized {
  let body: unknown;
  try {
    body = JSON.parse(answer.text);
  } catch {
    body = undefined;
  }
  if (answer.status !== 200) {
    const b = body as { message?: unknown } | undefined;
    const message = (b && typeof b === 'object' && typeof b.message === 'string' ? b.message : answer.text).trim();
    // A failed Kubernetes call: the prefix says which decision step failed (the gateway relays it);
    // the rest is the client library's rendering of the cause (client-go's vs this service's).
    const prefix = answer.status === 401 ? UNAUTHORIZED_PREFIXES.find((p) => message.startsWith(p)) : undefined;
    return { status: answer.status, message: prefix ? `${prefix}…` : message };
  }
  const result = (body as { result?: unknown } | undefined)?.result;
  if (typeof result === 'boolean') return { status: 200, result };
  const r = result as { allowed?: unknown; data?: unknown } | undefined;
  if (r && typeof r === 'object' && typeof r.allowed === 'string' && typeof r.data === 'string') {
    try {
      const data = JSON.parse(r.data) as { matchers?: Array<{ Type: unknown; Name: unknown; Value: unknown }>; matcherOp?: string };
      const matchers = (data.matchers ?? [])
        .map((m) => ({ type: m.Type, name: m.Name, values: alternatives(m.Value, options.unescape === true) }))
        .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
      return { status: 200, allowed: r.allowed, ...(data.matcherOp ? { op: data.matcherOp } : {}), matchers };
    } catch {
      /* fall through: compared as text */
    }
  }
  return { status: 200, other: answer.text.trim() };
}

export const same = (a: Normalized, b: Normalized): boolean => JSON.stringify(a) === JSON.stringify(b);

/** Deterministic PRNG (mulberry32): a failing case is rerun from its seed. */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface GeneratedCase {
  id: string;
  /** Tokens to add to the fake API for this case (each case brings its own). */
  tokens: Record<string, Identity>;
  request: WireRequest;
  /** What the generator chose, for the failure message. */
  shape: string;
}

export interface GeneratorProfile {
  /** logging: application/infrastructure/audit with the ViaQ/OTel keys; network: the network tenant with Src/Dst keys. */
  mode: 'logging' | 'network';
}

const PEOPLE = ['alice', 'bob', 'carol', 'dave', 'admin', 'master', 'collector'] as const;
const NAMESPACES = ['log-test-0', 'log-test-1', 'log-test-2', 'kube-system', 'openshift-logging', 'no-such-ns'];
const EXTRA_GROUPS = ['system:cluster-admins', 'cluster-admin', 'dedicated-admin', 'log-readers', 'developers', 'system:masters', ''];

/**
 * The n-th generated case for `profile`, from `seed`: mostly what observatorium/api's restAuthorizer
 * sends (reference §2.1), varied in identity, groups, tenant, permission, selectors, metadataOnly and
 * wildcardSelectors; some with fields missing or of the wrong type; some bodies malformed or with
 * duplicate keys; some with the token missing, unknown to the cluster, or sent twice.
 */
export function generateCase(profile: GeneratorProfile, seed: number, n: number): GeneratedCase {
  const rnd = prng(seed * 1_000_003 + n + (profile.mode === 'network' ? 500_000_000 : 0));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const chance = (p: number) => rnd() < p;
  const id = `${profile.mode}-${seed}-${n}`;
  const token = `tok-${id}`;
  const shape: string[] = [];

  const who = pick(PEOPLE);
  const identity = LOKISTACK_IDENTITIES[who];
  const tokens: Record<string, Identity> = {};
  const headers: Record<string, string | string[]> = {};
  const tokenRoll = rnd();
  if (tokenRoll < 0.85) {
    tokens[token] = identity;
    headers['x-forwarded-access-token'] = token;
  } else if (tokenRoll < 0.9) {
    shape.push('token unknown to the cluster');
    headers['x-forwarded-access-token'] = token;
  } else if (tokenRoll < 0.95) {
    shape.push('no token');
  } else {
    shape.push('two token headers');
    tokens[token] = identity;
    const other = `${token}-second`;
    tokens[other] = LOKISTACK_IDENTITIES[pick(PEOPLE)];
    headers['x-forwarded-access-token'] = chance(0.5) ? [token, other] : [other, token];
  }

  const tenants =
    profile.mode === 'network'
      ? ['network', 'network', 'network', 'application', 'nope']
      : ['application', 'application', 'application', 'infrastructure', 'audit', 'network', 'nope'];
  const keys =
    profile.mode === 'network'
      ? ['SrcK8S_Namespace', 'DstK8S_Namespace', 'kubernetes_namespace_name']
      : ['kubernetes_namespace_name', 'k8s_namespace_name', 'SrcK8S_Namespace'];
  const tenant = pick(tenants);
  const groups = [...(identity.groups ?? []), 'system:authenticated'];
  if (chance(0.2)) groups.push(pick(EXTRA_GROUPS));
  if (chance(0.05)) groups.length = 0;
  const input: Record<string, unknown> = {
    groups,
    permission: chance(0.85) ? 'read' : pick(['write', 'delete', '']),
    resource: chance(0.95) ? 'logs' : pick(['metrics', 'traces', '']),
    subject: chance(0.9) ? identity.username : pick(['alice', 'bob', 'kube:admin', '']),
    tenant,
    tenantID: tenant,
    token: '',
  };
  const extras: Record<string, unknown> = {};
  if (chance(0.75)) {
    const selectors: Record<string, unknown> = {};
    const nKeys = 1 + Math.floor(rnd() * 2);
    for (let k = 0; k < nKeys; k++) {
      const values: string[] = [];
      const nValues = Math.floor(rnd() * 4);
      for (let v = 0; v < nValues; v++) values.push(chance(0.95) ? pick(NAMESPACES) : pick(['', 'a.b', '.*', 'log-test-.*']));
      selectors[pick(keys)] = values;
    }
    extras.selectors = selectors;
  }
  if (chance(0.2)) extras.metadataOnly = chance(0.8) ? true : pick([false, 'true']);
  if (chance(0.1)) extras.wildcardSelectors = chance(0.7) ? true : pick([false, 'yes']);
  input.extras = extras;

  // Fields missing or of the wrong type: the gateway never sends these, an attacker on the pod network might.
  if (chance(0.06)) {
    const field = pick(['groups', 'permission', 'resource', 'subject', 'tenant', 'extras']);
    shape.push(`${field} broken`);
    if (chance(0.5)) delete input[field];
    else input[field] = pick([null, 7, {}, ['x'], 'str']);
  }

  let body = JSON.stringify({ input });
  const bodyRoll = rnd();
  if (bodyRoll < 0.04) {
    shape.push('truncated body');
    body = body.slice(0, Math.floor(body.length * rnd()));
  } else if (bodyRoll < 0.06) {
    shape.push('trailing bytes');
    body += pick(['x', '{}', ',', ' ]']);
  } else if (bodyRoll < 0.1) {
    // A repeated key: Go's encoding/json keeps the last, so does JSON.parse; the gateway never sends it.
    const key = pick(['tenant', 'subject', 'permission']);
    shape.push(`duplicate ${key}`);
    const first = JSON.stringify({ ...input, [key]: pick(['audit', 'alice', 'write', 'x']) });
    body = `{"input":${first.slice(0, -1)},${JSON.stringify(key)}:${JSON.stringify(input[key] ?? null)}}}`;
  } else if (bodyRoll < 0.12) {
    shape.push('odd document');
    body = pick(['', '{}', '{"input":null}', '[]', 'null', '{"input":[]}', '{"input":"x"}']);
  }
  let method = 'POST';
  let path = 'lokistack/allow';
  const wireRoll = rnd();
  if (wireRoll < 0.03) {
    method = pick(['GET', 'HEAD', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
    shape.push(method);
    if (method === 'GET' || method === 'HEAD') body = '';
  } else if (wireRoll < 0.05) {
    path = pick(['lokistack/other', 'x/allow', 'lokistack', 'lokistack/allow/x']);
    shape.push(`path ${path}`);
  }
  // Many namespaces now and then: one review each on both sides.
  if (chance(0.02) && body.includes('"selectors":{')) {
    const many = Array.from({ length: 5 + Math.floor(rnd() * 20) }, (_, i) => (i % 3 === 0 ? pick(NAMESPACES) : `ns-${Math.floor(rnd() * 50)}`));
    body = body.replace('"selectors":{', `"selectors":{${JSON.stringify(keys[0])}:${JSON.stringify(many)},`);
    shape.push(`${many.length} namespaces`);
  }
  return {
    id,
    tokens,
    request: { method, path, body, headers },
    shape: `${who} ${tenant} ${shape.join(', ')} ${body.length > 300 ? `${body.slice(0, 300)}…` : body}`,
  };
}
