import type {
  AuthorizationV1Api,
  ApisApi,
  ConfigurationOptions,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  ObservableMiddleware,
  RequestContext,
  ResponseContext,
} from '@kubernetes/client-node';
import { createHash } from 'node:crypto';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest, type AgentOptions as HttpsAgentOptions } from 'node:https';
import { KubeError, type AccessReview, type KubeAuthz, type TokenReviewer, type TokenReviewResult } from './types.js';
import { deadline } from '../deadline.js';
import type { Limiter } from './limiter.js';

export type NamespaceSource = 'projects' | 'namespaces' | 'auto';

export interface KubeClientOptions {
  /** SelfSubjectAccessReview with the user's token, instead of SubjectAccessReview as the service. */
  ssar: boolean;
  /** Deadline for one call. */
  timeoutMs: number;
  /** projects: OpenShift's project list with the user's token; namespaces: every namespace, listed
   *  as the service (plain Kubernetes); auto: projects when the cluster serves project.openshift.io. */
  namespaceSource: NamespaceSource;
}

/**
 * The @kubernetes/client-node module, loaded by the openshift modes alone (loadKubeClientModule):
 * imported, it adds some 60 MiB of resident memory to a process that never calls Kubernetes.
 */
export type K8sModule = typeof import('@kubernetes/client-node');

export function loadKubeClientModule(): Promise<K8sModule> {
  return import('@kubernetes/client-node');
}

/** opa-openshift's order: --openshift.kubeconfig, else $KUBECONFIG, else the in-cluster service account. */
export function loadKubeConfig(k8s: K8sModule, explicit: string | undefined): KubeConfig {
  const kc = new k8s.KubeConfig();
  if (!explicit && !process.env.KUBECONFIG && !process.env.KUBERNETES_SERVICE_HOST) {
    throw new Error('no Kubernetes API to ask: not running in a cluster; set --openshift.kubeconfig or $KUBECONFIG');
  }
  try {
    if (explicit) kc.loadFromFile(explicit);
    else if (process.env.KUBECONFIG) kc.loadFromDefault();
    else kc.loadFromCluster();
  } catch (err) {
    throw new Error(`cannot load the Kubernetes client configuration (${explicit ?? process.env.KUBECONFIG ?? 'in-cluster'}): ${(err as Error).message}`);
  }
  if (!kc.getCurrentCluster()) {
    throw new Error(`the Kubernetes client configuration (${explicit ?? process.env.KUBECONFIG ?? 'in-cluster'}) names no current cluster`);
  }
  return kc;
}

/** Which API a call is made to: names it in metrics and warn lines (never a token or a user). */
export type KubeCallName = 'subjectaccessreviews' | 'selfsubjectaccessreviews' | 'tokenreviews' | 'projects' | 'namespaces' | 'discovery';

export interface KubeCallObserver {
  /** One finished call: method (lower case), status code or "error", seconds. */
  call(method: string, code: string, seconds: number): void;
  /** A call that failed for another reason than the caller giving up: the API's status, or 0 when none came. */
  failed?(call: KubeCallName, err: KubeError): void;
}

/**
 * The openshift modes' view of Kubernetes through @kubernetes/client-node: one set of API clients
 * for the process, the user's token set per call, a timeout on every call, and a shared bound on
 * concurrent calls. Calls made with the user's token go through a configuration without the
 * service's credentials, so a client certificate never outranks the user's token.
 */
export class KubeClient implements KubeAuthz, TokenReviewer {
  private readonly serviceCore: CoreV1Api;
  private readonly serviceApis: ApisApi;
  private readonly userAuthz: AuthorizationV1Api;
  private readonly userCustom: CustomObjectsApi;
  private detected: Promise<'projects' | 'namespaces'> | undefined;
  // The client builds a new agent for every call, so no connection would ever be reused: each call's
  // agent is swapped for one long-lived keep-alive agent with the same TLS options.
  private readonly agents = new Map<'service' | 'user', HttpAgent>();

  constructor(
    private readonly k8s: K8sModule,
    private readonly service: KubeConfig,
    private readonly options: KubeClientOptions,
    private readonly limiter: Limiter,
    private readonly observer: KubeCallObserver,
  ) {
    const user = anonymous(k8s, service);
    this.serviceCore = service.makeApiClient(k8s.CoreV1Api);
    this.serviceApis = service.makeApiClient(k8s.ApisApi);
    this.userAuthz = user.makeApiClient(k8s.AuthorizationV1Api);
    this.userCustom = user.makeApiClient(k8s.CustomObjectsApi);
  }

  async review(req: AccessReview, signal: AbortSignal): Promise<boolean> {
    const resourceAttributes = {
      ...(req.namespace ? { namespace: req.namespace } : {}),
      verb: req.verb,
      group: req.apiGroup,
      resource: req.resource,
      ...(req.subresource ? { subresource: req.subresource } : {}),
      name: req.name,
    };
    if (this.options.ssar) {
      const res = await this.call('post', 'selfsubjectaccessreviews', signal, 'user', callerOf(req.token), (opts) =>
        this.userAuthz.createSelfSubjectAccessReview(
          { body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes } } },
          withToken(this.k8s, req.token, opts),
        ),
      );
      return res.status?.allowed === true;
    }
    const body = {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        user: req.user,
        groups: [...req.groups],
        ...(req.uid ? { uid: req.uid } : {}),
        ...(req.extra ? { extra: Object.fromEntries(Object.entries(req.extra).map(([k, v]) => [k, [...v]])) } : {}),
        resourceAttributes,
      },
    };
    // The lean path (issue 14): the review is the cold path's most frequent call, one per namespace.
    const res = (await this.call('post', 'subjectaccessreviews', signal, 'service', callerOf(req.token), (_opts, callSignal) =>
      this.postAsService('/apis/authorization.k8s.io/v1/subjectaccessreviews', body, callSignal),
    )) as { status?: { allowed?: unknown } } | null;
    return res?.status?.allowed === true;
  }

  /** A TokenReview made as the service, for the API server's default audience. */
  async reviewToken(token: string, signal: AbortSignal): Promise<TokenReviewResult> {
    const res = (await this.call('post', 'tokenreviews', signal, 'service', callerOf(token), (_opts, callSignal) =>
      this.postAsService(
        '/apis/authentication.k8s.io/v1/tokenreviews',
        { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } },
        callSignal,
      ),
    )) as TokenReviewAnswer | null;
    const status = res?.status;
    if (status?.authenticated !== true)
      return { authenticated: false, error: (typeof status?.error === 'string' ? status.error : 'not authenticated').slice(0, 200) };
    const u = status.user;
    const user = typeof u?.username === 'string' ? u.username : '';
    // An authenticated answer naming nobody is no identity to decide on.
    if (user === '') return { authenticated: false, error: 'the token review named no user' };
    // Read as plain JSON now, not through the client's models: an identity of the wrong shape is
    // no identity (a string where groups belong must not become one group per character).
    const groups = u?.groups ?? [];
    const extra = u?.extra ?? {};
    const uid = u?.uid;
    const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
    const extraOk =
      typeof extra === 'object' && extra !== null && !Array.isArray(extra) && Object.values(extra).every((v) => v === undefined || v === null || strings(v));
    if (!strings(groups) || !extraOk || (uid !== undefined && typeof uid !== 'string')) {
      return { authenticated: false, error: 'the token review answered an identity of the wrong shape' };
    }
    return {
      authenticated: true,
      user,
      groups: [...groups],
      ...(uid ? { uid } : {}),
      ...(Object.keys(extra).length > 0 ? { extra: Object.fromEntries(Object.entries(extra).map(([k, v]) => [k, [...((v ?? []) as string[])]])) } : {}),
    };
  }

  async listNamespaces(user: { token: string }, signal: AbortSignal): Promise<string[]> {
    const source = await this.namespaceSource(signal);
    if (source === 'projects') {
      const list = (await this.call('get', 'projects', signal, 'user', callerOf(user.token), (opts) =>
        this.userCustom.listClusterCustomObject({ group: 'project.openshift.io', version: 'v1', plural: 'projects' }, withToken(this.k8s, user.token, opts)),
      )) as { items?: Array<{ metadata?: { name?: string } }> };
      return names(list.items);
    }
    const list = await this.call('get', 'namespaces', signal, 'service', callerOf(user.token), (opts) => this.serviceCore.listNamespace({}, opts));
    return names(list.items);
  }

  /** Closes the kept-alive connections. */
  close(): void {
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
  }

  /** This call's deadline, and the long-lived agent of its identity in place of a new one. */
  private perCall(signal: AbortSignal, as: 'service' | 'user'): ConfigurationOptions<ObservableMiddleware> {
    return {
      middleware: [
        middleware(this.k8s, (ctx) => {
          ctx.setSignal(signal);
          let agent = this.agents.get(as);
          if (!agent) {
            agent = keepAliveAgent(ctx.getAgent() as HttpAgent | undefined, this.limiter.limit);
            if (agent) this.agents.set(as, agent);
          }
          if (agent) ctx.setAgent(agent);
        }),
      ],
      middlewareMergeStrategy: 'append',
    };
  }

  /**
   * A POST of JSON made as the service over node:http(s) itself: the service's credentials and
   * TLS settings applied by @kubernetes/client-node exactly as for its own calls
   * (applySecurityAuthentication: token, client certificate, CA, proxy agent), then one request on
   * the kept-alive agent. The generated client's model serialisers, node-fetch and middleware
   * chain cost several times the call itself, and a cold decision makes one review per namespace.
   * Answers are read up to MAX_ANSWER_BYTES; a non-2xx answer is a `kube_status` KubeError with
   * the Status message, as the generated client's ApiException becomes one.
   */
  private async postAsService(path: string, body: unknown, signal: AbortSignal): Promise<unknown> {
    const server = this.service.getCurrentCluster()?.server;
    if (!server) throw new KubeError('kube_unreachable', 0, 'the kubeconfig names no current cluster');
    const url = `${server.replace(/\/+$/, '')}${path}`;
    const ctx = new this.k8s.RequestContext(url, this.k8s.HttpMethod.POST);
    await this.service.applySecurityAuthentication(ctx);
    let agent = this.agents.get('service');
    if (!agent) {
      agent = keepAliveAgent(ctx.getAgent() as HttpAgent | undefined, this.limiter.limit);
      if (agent) this.agents.set('service', agent);
    }
    const text = JSON.stringify(body);
    const headers = { ...ctx.getHeaders(), 'Content-Type': 'application/json', Accept: 'application/json', 'Content-Length': String(Buffer.byteLength(text)) };
    const request = url.startsWith('https:') ? httpsRequest : httpRequest;
    signal.throwIfAborted();
    return new Promise((resolve, reject) => {
      const req = request(url, { method: 'POST', headers, signal, ...(agent ? { agent } : {}) }, (res) => {
        readAnswer(res).then(({ status, text: answer }) => {
          let parsed: unknown;
          try {
            parsed = answer === '' ? null : JSON.parse(answer);
          } catch {
            parsed = undefined;
          }
          if (status >= 200 && status < 300) {
            if (parsed === undefined) reject(new KubeError('kube_status', status, `${status} the answer is not JSON`));
            else resolve(parsed);
            return;
          }
          const s = parsed as { message?: unknown; reason?: unknown } | null | undefined;
          const message = typeof s?.message === 'string' ? s.message : typeof s?.reason === 'string' ? s.reason : '';
          reject(new KubeError('kube_status', status, `${status}${message ? ` ${message}` : ''}`.slice(0, 500)));
        }, reject);
      });
      req.on('error', reject);
      req.end(text);
    });
  }

  /** Which list answers "namespaces the user may see": decided once per process, on first use. */
  private namespaceSource(signal: AbortSignal): Promise<'projects' | 'namespaces'> {
    if (this.options.namespaceSource !== 'auto') return Promise.resolve(this.options.namespaceSource);
    this.detected ??= this.call('get', 'discovery', signal, 'service', '', (opts) => this.serviceApis.getAPIVersions(opts)).then(
      (groups) => (groups.groups.some((g) => g.name === 'project.openshift.io') ? 'projects' : 'namespaces'),
      (err: unknown) => {
        this.detected = undefined; // try again on the next request
        throw err;
      },
    );
    return this.detected;
  }

  /** One call: a slot of the limiter in the caller's turn, the per-call deadline, metrics, a warn on failure. */
  private async call<T>(
    method: string,
    name: KubeCallName,
    outer: AbortSignal,
    as: 'service' | 'user',
    caller: string,
    run: (opts: ConfigurationOptions<ObservableMiddleware>, signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    return this.limiter.run(
      async () => {
        const limit = deadline(this.options.timeoutMs, outer);
        const signal = limit.signal;
        const started = process.hrtime.bigint();
        const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
        try {
          const res = await run(this.perCall(signal, as), signal);
          this.observer.call(method, method === 'post' ? '201' : '200', seconds());
          return res;
        } catch (err) {
          const e = toKubeError(this.k8s, err, limit.timedOut(), this.options.timeoutMs, signal.aborted);
          this.observer.call(method, e.status > 0 ? String(e.status) : 'error', seconds());
          if (e.code !== 'kube_aborted') this.observer.failed?.(name, e);
          throw e;
        } finally {
          limit.release();
        }
      },
      outer,
      caller,
    );
  }
}

/**
 * A keep-alive agent with the TLS options (CA, client certificate) the client chose for this call.
 * Proxy agents are kept as they are: they carry their own connection handling.
 */
function keepAliveAgent(template: HttpAgent | undefined, limit: number): HttpAgent | undefined {
  const common = { keepAlive: true, maxSockets: limit, maxFreeSockets: limit, timeout: 60_000 };
  if (template?.constructor === HttpsAgent) {
    return new HttpsAgent({ ...(template as HttpAgent & { options: HttpsAgentOptions }).options, ...common });
  }
  if (template?.constructor === HttpAgent) return new HttpAgent(common);
  return template;
}

/** A TokenReview's answer as the API writes it (authentication.k8s.io/v1), read as untrusted JSON. */
interface TokenReviewAnswer {
  status?: {
    authenticated?: unknown;
    error?: string;
    user?: { username?: unknown; uid?: unknown; groups?: unknown; extra?: Record<string, unknown[] | null | undefined> };
  };
}

// A review's answer is its request echoed with a status: a few KiB. Beyond this is no review.
const MAX_ANSWER_BYTES = 1 << 20;

/** An answer's status and body text, read up to MAX_ANSWER_BYTES (then the connection is dropped). */
function readAnswer(res: IncomingMessage): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_ANSWER_BYTES) {
        // Settled first: dropping the connection then reports an abort, which must not win.
        reject(new KubeError('kube_status', res.statusCode ?? 0, `${res.statusCode ?? 0} answer larger than ${MAX_ANSWER_BYTES} bytes`));
        res.destroy();
        return;
      }
      chunks.push(chunk);
    });
    res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks, size).toString('utf8') }));
    res.on('error', reject);
    res.on('aborted', () => reject(new Error('aborted')));
  });
}

/** The limiter's key for a caller: its token, hashed (the asserted subject is forgeable). */
function callerOf(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

/** The service's cluster (server, CA) with no credentials: the user's token is added per call. */
function anonymous(k8s: K8sModule, service: KubeConfig): KubeConfig {
  const cluster = service.getCurrentCluster();
  if (!cluster) throw new KubeError('kube_unreachable', 0, 'the kubeconfig names no current cluster');
  const kc = new k8s.KubeConfig();
  kc.loadFromClusterAndUser(cluster, { name: 'forwarded-user' });
  return kc;
}

function middleware(k8s: K8sModule, pre: (ctx: RequestContext) => void): ObservableMiddleware {
  return {
    pre: (ctx: RequestContext) => {
      pre(ctx);
      return new k8s.Observable(Promise.resolve(ctx));
    },
    post: (res: ResponseContext) => new k8s.Observable(Promise.resolve(res)),
  };
}

function withToken(k8s: K8sModule, token: string, opts: ConfigurationOptions<ObservableMiddleware>): ConfigurationOptions<ObservableMiddleware> {
  return {
    ...opts,
    middleware: [...(opts.middleware ?? []), middleware(k8s, (ctx) => ctx.setHeaderParam('Authorization', `Bearer ${token}`))],
    middlewareMergeStrategy: 'append',
  };
}

function names(items: ReadonlyArray<{ metadata?: { name?: string } }> | undefined): string[] {
  return (items ?? []).map((i) => i.metadata?.name).filter((n): n is string => typeof n === 'string' && n !== '');
}

/** A KubeError whose message carries the API's Status message or the transport fault, never a token. */
function toKubeError(k8s: K8sModule, err: unknown, timedOut: boolean, timeoutMs: number, aborted: boolean): KubeError {
  if (err instanceof KubeError) return err;
  if (err instanceof k8s.ApiException) {
    return new KubeError('kube_status', err.code, statusMessage(err), { cause: err });
  }
  if (timedOut) return new KubeError('kube_timeout', 0, `no answer within ${timeoutMs}ms`, { cause: err });
  if (aborted) return new KubeError('kube_aborted', 0, 'the request was cancelled', { cause: err });
  const e = err as { code?: string; message?: string };
  return new KubeError('kube_unreachable', 0, `the API server is unreachable: ${e.code ?? e.message ?? String(err)}`, { cause: err });
}

function statusMessage(err: InstanceType<K8sModule['ApiException']>): string {
  let message = '';
  try {
    const status = (typeof err.body === 'string' ? JSON.parse(err.body) : err.body) as { message?: unknown; reason?: unknown };
    if (typeof status?.message === 'string') message = status.message;
    else if (typeof status?.reason === 'string') message = status.reason;
  } catch {
    // not a Status object: the code says enough
  }
  return `${err.code}${message ? ` ${message}` : ''}`.slice(0, 500);
}
