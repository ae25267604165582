/**
 * A fake Kubernetes authentication/authorization API on real HTTP (127.0.0.1, random port), so
 * tests drive the real @kubernetes/client-node over a real socket: serialisation, status codes,
 * errors and timeouts behave as against a cluster. RBAC semantics live in rbac.ts, the endpoints in
 * handlers.ts; this module does the HTTP plumbing: bearer-token authentication, the request log,
 * injected faults and the KubeConfig that points at the fake.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { callerFor, dispatch, matchRoute, type ApiState, type FakeKubeEndpoint, type Identity } from './handlers.js';
import { RbacAuthorizer, RbacStore } from './rbac.js';
import { StatusError, reasonFor, statusBody, unauthorized } from './status.js';

export type { FakeKubeEndpoint, Identity } from './handlers.js';

export interface FakeKubeOptions {
  /** RBAC objects and Namespaces: multi-document YAML, or parsed objects (`kind: List` allowed). */
  objects: string | readonly unknown[];
  /** Bearer token -> identity. Every request must carry one of these tokens, else 401. */
  tokens: Record<string, Identity>;
  /** The token kubeConfig() uses when called without one (the service's own identity). */
  serviceIdentityToken?: string;
  /** Serve project.openshift.io (default true); false is a vanilla cluster: projects are 404. */
  openshift?: boolean;
  /** See AuthorizerOptions.evaluationErrorInStatus in rbac.ts (default true). */
  evaluationErrorInStatus?: boolean;
}

/**
 * A fault applied to matching requests, after they are recorded and before authentication (it
 * models the network or a proxy, not the apiserver's policy). Steps run in order: wait latencyMs,
 * then reset, else hang, else answer `status`, else serve normally.
 */
export interface FakeKubeFault {
  /** The endpoint it applies to; '*' or unset: every request, unknown paths included. */
  endpoint?: FakeKubeEndpoint | '*';
  /** Delay before the answer (or before the other fault steps). */
  latencyMs?: number;
  /** Answer with this HTTP status and a Status body (401, 403, 500, ...). */
  status?: number;
  /** The Status message for `status`; defaults to a generic one naming the fault. */
  message?: string;
  /** Destroy the socket without answering: the client sees a connection reset. */
  reset?: boolean;
  /** Never answer: the request is held until clearFaults() (then served normally) or close(). */
  hang?: boolean;
  /** Apply to this many matching requests only, then stop matching (default: unlimited). */
  times?: number;
}

export interface RecordedRequest {
  method: string;
  /** URL path without the query string. */
  path: string;
  /** Which endpoint the path names; undefined for unknown paths. */
  endpoint?: FakeKubeEndpoint;
  /** For access reviews: the verb under review (resourceAttributes or nonResourceAttributes). */
  verb?: string;
  /** Username the bearer token maps to; undefined when the token is missing or unknown. */
  user?: string;
  /** Parsed JSON body, or the raw text when it is not JSON; undefined when empty. */
  body?: unknown;
  /** HTTP status answered; undefined while pending, and for resets and requests never answered. */
  status?: number;
}

export interface FakeKube {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  /** A KubeConfig for this server authenticating with `token` (default: serviceIdentityToken). */
  kubeConfig(token?: string): KubeConfig;
  /** The same configuration as kubeconfig file text (JSON, which is YAML), for code that reads a path. */
  kubeconfigText(token?: string): string;
  /** Every request received, in arrival order. Clear it with `requests.length = 0`. */
  readonly requests: RecordedRequest[];
  /** Replaces the active faults. Requests already held by a hang fault stay held. */
  setFaults(...faults: Array<FakeKubeFault | FakeKubeFault[]>): void;
  /** Removes all faults and serves the requests that hang faults were holding. */
  clearFaults(): void;
  /** Replaces the RBAC objects and namespaces (same forms as FakeKubeOptions.objects). */
  setObjects(objects: string | readonly unknown[]): void;
  /** Replaces the token table (e.g. to revoke a token mid-test). */
  setTokens(tokens: Record<string, Identity>): void;
  /** Stops listening, destroys open connections (held requests included) and cancels delayed answers. */
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 1 << 20;

interface ActiveFault extends FakeKubeFault {
  remaining: number;
}

export async function startFakeKube(options: FakeKubeOptions): Promise<FakeKube> {
  const evaluationErrorInStatus = options.evaluationErrorInStatus ?? true;
  const makeAuthz = (objects: string | readonly unknown[]): Pick<ApiState, 'store' | 'authorizer'> => {
    const store = RbacStore.from(objects);
    return { store, authorizer: new RbacAuthorizer(store, { evaluationErrorInStatus }) };
  };
  const state: ApiState = {
    ...makeAuthz(options.objects),
    tokens: new Map(Object.entries(options.tokens)),
    openshift: options.openshift ?? true,
    address: '',
  };
  const requests: RecordedRequest[] = [];
  let faults: ActiveFault[] = [];
  const held = new Set<() => void>();
  const timers = new Set<NodeJS.Timeout>();

  const delay = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      timers.add(t);
    });

  const pickFault = (endpoint: FakeKubeEndpoint | undefined): ActiveFault | undefined => {
    const fault = faults.find(
      (f) => f.remaining > 0 && (f.endpoint === undefined || f.endpoint === '*' || f.endpoint === endpoint),
    );
    if (fault) fault.remaining -= 1;
    return fault;
  };

  const send = (res: ServerResponse, entry: RecordedRequest, code: number, body: unknown): void => {
    if (res.destroyed || res.writableEnded) return;
    entry.status = code;
    const text = JSON.stringify(body);
    res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  };

  const serve = (req: IncomingMessage, res: ServerResponse, entry: RecordedRequest, raw: string, identity: Identity | undefined): void => {
    try {
      // The apiserver authenticates before it routes: a bad token is a 401 even on an unknown path.
      if (!identity) throw unauthorized();
      let body: unknown;
      if (raw !== '') {
        try {
          body = JSON.parse(raw);
        } catch (err) {
          throw new StatusError(400, 'BadRequest', `couldn't get version/kind; json parse error: ${(err as Error).message}`);
        }
      }
      const reply = dispatch(matchRoute(entry.path, state), req.method ?? 'GET', callerFor(identity), body, state);
      send(res, entry, reply.code, reply.body);
    } catch (err) {
      const status = err instanceof StatusError ? err : new StatusError(500, 'InternalError', `Internal error occurred: ${String(err)}`);
      send(res, entry, status.code, status.toStatus());
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const raw = await readBody(req);
    const path = new URL(req.url ?? '/', 'http://fake-kube').pathname;
    const route = matchRoute(path, state);
    const identity = bearerIdentity(req, state.tokens);
    const entry: RecordedRequest = { method: req.method ?? 'GET', path };
    if (route) entry.endpoint = route.endpoint;
    if (identity) entry.user = identity.username;
    if (raw === undefined) {
      requests.push(entry);
      send(res, entry, 413, statusBody(413, 'RequestEntityTooLarge', 'Request entity too large'));
      return;
    }
    if (raw !== '') entry.body = parseOrRaw(raw);
    const verb = reviewedVerb(entry.body);
    if (verb !== undefined) entry.verb = verb;
    requests.push(entry);

    const fault = pickFault(entry.endpoint);
    if (fault?.latencyMs) await delay(fault.latencyMs);
    if (fault?.reset) {
      req.socket.destroy();
      return;
    }
    if (fault?.hang) {
      const resume = (): void => {
        held.delete(resume);
        serve(req, res, entry, raw, identity);
      };
      held.add(resume);
      return;
    }
    if (fault?.status) {
      const message = fault.message ?? `fake-kube: injected ${fault.status} fault`;
      send(res, entry, fault.status, statusBody(fault.status, reasonFor(fault.status), message));
      return;
    }
    serve(req, res, entry, raw, identity);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(500, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(statusBody(500, 'InternalError', `Internal error occurred: ${String(err)}`)));
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  state.address = `127.0.0.1:${port}`;

  const kubeConfig = (token = options.serviceIdentityToken): KubeConfig => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      // The client refuses an http:// server unless skipTLSVerify is set (config.js createAgent).
      clusters: [{ name: 'fake-kube', server: url, skipTLSVerify: true }],
      users: [token === undefined ? { name: 'fake-kube-user' } : { name: 'fake-kube-user', token }],
      contexts: [{ name: 'fake-kube', cluster: 'fake-kube', user: 'fake-kube-user' }],
      currentContext: 'fake-kube',
    });
    return kc;
  };

  return {
    url,
    port,
    kubeConfig,
    kubeconfigText: (token?: string) => kubeConfig(token).exportConfig(),
    requests,
    setFaults(...list) {
      faults = list.flat().map((f) => ({ ...f, remaining: f.times ?? Number.POSITIVE_INFINITY }));
    },
    clearFaults() {
      faults = [];
      for (const resume of [...held]) resume();
    },
    setObjects(objects) {
      Object.assign(state, makeAuthz(objects));
    },
    setTokens(tokens) {
      state.tokens = new Map(Object.entries(tokens));
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      held.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/** The identity for `Authorization: Bearer <token>`, case-insensitive scheme as the apiserver accepts. */
function bearerIdentity(req: IncomingMessage, tokens: ReadonlyMap<string, Identity>): Identity | undefined {
  const match = /^bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  return match ? tokens.get(match[1]!) : undefined;
}

/** The body as text; undefined when it exceeds MAX_BODY_BYTES. */
async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseOrRaw(raw: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}

function reviewedVerb(body: unknown): string | undefined {
  const spec = (body as { spec?: { resourceAttributes?: { verb?: unknown }; nonResourceAttributes?: { verb?: unknown } } } | undefined)?.spec;
  const verb = spec?.resourceAttributes?.verb ?? spec?.nonResourceAttributes?.verb;
  return typeof verb === 'string' ? verb : undefined;
}
