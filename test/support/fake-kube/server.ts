/**
 * A fake Kubernetes authentication/authorization API on real HTTP (127.0.0.1, random port), so
 * tests drive the real @kubernetes/client-node over a real socket: serialisation, status codes,
 * errors and timeouts behave as against a cluster. RBAC semantics live in rbac.ts, the endpoints in
 * handlers.ts; this module does the HTTP plumbing: bearer-token authentication, the request log,
 * injected faults and the KubeConfig that points at the fake.
 *
 * It speaks what kube-apiserver speaks to client-go: request bodies in JSON or in the Kubernetes
 * protobuf encoding (protobuf.ts; client-go in Go programs such as opa-openshift and the gateway
 * sends access and token reviews that way and accepts JSON answers), over HTTP and, with `tls`, over
 * HTTPS with a CA of its own (tls.ts), plus OpenShift's OAuth server metadata.
 */
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { callerFor, dispatch, matchRoute, type ApiState, type FakeKubeEndpoint, type Identity } from './handlers.js';
import { RbacAuthorizer, RbacStore } from './rbac.js';
import { ProtobufError, decodeKubeProtobuf, isKubeProtobuf } from './protobuf.js';
import { StatusError, reasonFor, statusBody, unauthorized } from './status.js';
import { fakeKubeCertificates, type FakeKubeCertificates } from './tls.js';

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
  /**
   * Also serve HTTPS, with a serving certificate from a CA made for this process (tls.ts). `true`:
   * on 127.0.0.1, a random port. The object form places it elsewhere, e.g. the gateway's in-cluster
   * address (`host` 10.0.0.1, `port` 443 inside a network namespace); `altNames` are extra DNS names
   * or IPs the certificate must name. HTTP stays on `url` either way.
   */
  tls?: boolean | { host?: string; port?: number; altNames?: string[] };
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
  /**
   * The body as the handlers saw it: parsed JSON, or the object a protobuf body decodes to (in the
   * JSON shape, so a review reads the same either way), or the raw text when neither; undefined when empty.
   */
  body?: unknown;
  /** How the body came: 'protobuf' (application/vnd.kubernetes.protobuf), 'json', or undefined when empty. */
  encoding?: 'json' | 'protobuf';
  /** The Accept header, to see what a client asked for. */
  accept?: string;
  /** Whether the request came over the HTTPS listener. */
  tls?: boolean;
  /** HTTP status answered; undefined while pending, and for resets and requests never answered. */
  status?: number;
}

export interface FakeKube {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  /** https://HOST:PORT when started with `tls`, else undefined. */
  readonly httpsUrl: string | undefined;
  /** The CA (PEM) that signed the HTTPS certificate (what a pod's ca.crt holds), when started with `tls`. */
  readonly caPem: string | undefined;
  /**
   * A KubeConfig for this server authenticating with `token` (default: serviceIdentityToken). With
   * `{https: true}` it names the HTTPS URL and trusts the CA (certificate-authority-data), as a
   * cluster's kubeconfig does; otherwise plain HTTP with skipTLSVerify.
   */
  kubeConfig(token?: string, options?: KubeconfigOptions): KubeConfig;
  /** The same configuration as kubeconfig file text (JSON, which is YAML), for code that reads a path. */
  kubeconfigText(token?: string, options?: KubeconfigOptions): string;
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

export interface KubeconfigOptions {
  /** Point at the HTTPS listener and trust its CA (needs `tls` at start). */
  https?: boolean;
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
    const fault = faults.find((f) => f.remaining > 0 && (f.endpoint === undefined || f.endpoint === '*' || f.endpoint === endpoint));
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

  const serve = (req: IncomingMessage, res: ServerResponse, entry: RecordedRequest, raw: Buffer, identity: Identity | undefined): void => {
    try {
      // Served to anyone, before authentication, as OpenShift's apiserver does (system:discovery).
      if (entry.path === OAUTH_METADATA_PATH && state.openshift && (req.method === 'GET' || req.method === 'HEAD')) {
        send(res, entry, 200, oauthMetadata(oauthBase()));
        return;
      }
      // The apiserver authenticates before it routes: a bad token is a 401 even on an unknown path.
      if (!identity) throw unauthorized();
      const body = decodeBody(raw, req.headers['content-type']);
      const reply = dispatch(matchRoute(entry.path, state), req.method ?? 'GET', callerFor(identity), body, state);
      send(res, entry, reply.code, reply.body);
    } catch (err) {
      const status = err instanceof StatusError ? err : new StatusError(500, 'InternalError', `Internal error occurred: ${String(err)}`);
      send(res, entry, status.code, status.toStatus());
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, overTls: boolean): Promise<void> => {
    const raw = await readBody(req);
    const path = new URL(req.url ?? '/', 'http://fake-kube').pathname;
    const route = matchRoute(path, state);
    const identity = bearerIdentity(req, state.tokens);
    const entry: RecordedRequest = { method: req.method ?? 'GET', path };
    if (route) entry.endpoint = route.endpoint;
    if (identity) entry.user = identity.username;
    if (req.headers.accept !== undefined) entry.accept = req.headers.accept;
    if (overTls) entry.tls = true;
    if (raw === undefined) {
      requests.push(entry);
      send(res, entry, 413, statusBody(413, 'RequestEntityTooLarge', 'Request entity too large'));
      return;
    }
    if (raw.length > 0) {
      entry.encoding = isKubeProtobuf(req.headers['content-type']) ? 'protobuf' : 'json';
      entry.body = recordedBody(raw, req.headers['content-type']);
    }
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

  const listener =
    (overTls: boolean): RequestListener =>
    (req, res) => {
      handle(req, res, overTls).catch((err: unknown) => {
        if (!res.headersSent && !res.destroyed) {
          res.writeHead(500, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify(statusBody(500, 'InternalError', `Internal error occurred: ${String(err)}`)));
        }
      });
    };
  const server = createServer(listener(false));
  await listen(server, '127.0.0.1', 0);
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  state.address = `127.0.0.1:${port}`;

  let httpsServer: Server | undefined;
  let httpsUrl: string | undefined;
  let certs: FakeKubeCertificates | undefined;
  if (options.tls) {
    const where = options.tls === true ? {} : options.tls;
    const host = where.host ?? '127.0.0.1';
    certs = fakeKubeCertificates([host, ...(where.altNames ?? [])]);
    httpsServer = createHttpsServer({ key: certs.keyPem, cert: certs.certPem }, listener(true)) as unknown as Server;
    try {
      await listen(httpsServer, host, where.port ?? 0);
    } catch (err) {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      throw err;
    }
    const bound = httpsServer.address() as AddressInfo;
    httpsUrl = `https://${host.includes(':') ? `[${host}]` : host}${bound.port === 443 ? '' : `:${bound.port}`}`;
  }
  // OAuth endpoints named in the metadata: on the HTTPS listener when there is one, as on a cluster.
  const oauthBase = (): string => httpsUrl ?? url;

  const kubeConfig = (token = options.serviceIdentityToken, kcOptions: KubeconfigOptions = {}): KubeConfig => {
    const kc = new KubeConfig();
    if (kcOptions.https && !(httpsUrl && certs)) throw new Error('fake-kube: kubeConfig({https: true}) needs startFakeKube({tls})');
    const cluster =
      kcOptions.https && httpsUrl && certs
        ? { name: 'fake-kube', server: httpsUrl, caData: Buffer.from(certs.caPem).toString('base64'), skipTLSVerify: false }
        : // The client refuses an http:// server unless skipTLSVerify is set (config.js createAgent).
          { name: 'fake-kube', server: url, skipTLSVerify: true };
    kc.loadFromOptions({
      clusters: [cluster],
      users: [token === undefined ? { name: 'fake-kube-user' } : { name: 'fake-kube-user', token }],
      contexts: [{ name: 'fake-kube', cluster: 'fake-kube', user: 'fake-kube-user' }],
      currentContext: 'fake-kube',
    });
    return kc;
  };

  return {
    url,
    port,
    httpsUrl,
    caPem: certs?.caPem,
    kubeConfig,
    kubeconfigText: (token?: string, kcOptions?: KubeconfigOptions) => kubeConfig(token, kcOptions).exportConfig(),
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
      await Promise.all(
        [server, httpsServer]
          .filter((s): s is Server => s !== undefined)
          .map(
            (s) =>
              new Promise<void>((resolve) => {
                s.close(() => resolve());
                s.closeAllConnections();
              }),
          ),
      );
    },
  };
}

/** The identity for `Authorization: Bearer <token>`, case-insensitive scheme as the apiserver accepts. */
function bearerIdentity(req: IncomingMessage, tokens: ReadonlyMap<string, Identity>): Identity | undefined {
  const match = /^bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  return match ? tokens.get(match[1]!) : undefined;
}

/** The body bytes; undefined when they exceed MAX_BODY_BYTES. */
async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** The request object, decoded as its Content-Type says; a body that does not decode is a 400, as the apiserver answers. */
function decodeBody(raw: Buffer, contentType: string | undefined): unknown {
  if (raw.length === 0) return undefined;
  if (isKubeProtobuf(contentType)) {
    try {
      return decodeKubeProtobuf(raw).object;
    } catch (err) {
      if (err instanceof ProtobufError || err instanceof TypeError) throw new StatusError(400, 'BadRequest', `failed to decode protobuf body: ${err.message}`);
      throw err;
    }
  }
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch (err) {
    throw new StatusError(400, 'BadRequest', `couldn't get version/kind; json parse error: ${(err as Error).message}`);
  }
}

/** What the request log keeps: the decoded object, else the raw text (hex for undecodable protobuf). */
function recordedBody(raw: Buffer, contentType: string | undefined): unknown {
  try {
    return decodeBody(raw, contentType);
  } catch {
    return isKubeProtobuf(contentType) ? raw.toString('hex') : raw.toString('utf8');
  }
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

export const OAUTH_METADATA_PATH = '/.well-known/oauth-authorization-server';

/**
 * OpenShift's OAuth server metadata (RFC 8414), which kube-apiserver serves to anyone at this path
 * and the gateway's `openshift` authenticator reads to find the login endpoints. The endpoints are
 * named on the fake itself; it does not run an OAuth flow.
 */
export function oauthMetadata(base: string): Record<string, unknown> {
  return {
    issuer: base,
    authorization_endpoint: `${base}/oauth/authorize`,
    token_endpoint: `${base}/oauth/token`,
    scopes_supported: ['user:check-access', 'user:full', 'user:info', 'user:list-projects', 'user:list-scoped-projects'],
    response_types_supported: ['code', 'token'],
    grant_types_supported: ['authorization_code', 'implicit'],
    code_challenge_methods_supported: ['plain', 'S256'],
  };
}

function reviewedVerb(body: unknown): string | undefined {
  const spec = (body as { spec?: { resourceAttributes?: { verb?: unknown }; nonResourceAttributes?: { verb?: unknown } } } | undefined)?.spec;
  const verb = spec?.resourceAttributes?.verb ?? spec?.nonResourceAttributes?.verb;
  return typeof verb === 'string' ? verb : undefined;
}
