import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { createSecureContext } from 'node:tls';
import { KubeError, type AccessReview, type KubeAuthz, type TokenReviewer, type TokenReviewResult } from './types.js';
import type { KubeTarget } from './kubeconfig.js';
import type { Limiter } from './limiter.js';
import { hashToken } from '../cache/decision-cache.js';

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

/** Which API a call is made to: names it in metrics and warn lines (never a token or a user). */
export type KubeCallName = 'subjectaccessreviews' | 'selfsubjectaccessreviews' | 'tokenreviews' | 'projects' | 'namespaces' | 'discovery';

export interface KubeCallObserver {
  /** One finished call: method (lower case), status code or "error", seconds. */
  call(method: string, code: string, seconds: number): void;
  /** A call that failed for another reason than the caller giving up: the API's status, or 0 when none came. */
  failed?(call: KubeCallName, err: KubeError): void;
}

/**
 * The openshift modes' view of Kubernetes, over node:http(s) alone (issue 14: the generated
 * client's import, model serialisers and middleware chain cost more memory and CPU than the calls):
 * JSON in, JSON out, a timeout on every call, a shared bound on concurrent calls, and two kept-alive
 * agents. Calls made as the service carry its token and client certificate; calls made with the
 * user's token go through an agent without the service's certificate, so a client certificate never
 * outranks the user's token.
 */
export class KubeClient implements KubeAuthz, TokenReviewer {
  private detected: Promise<'projects' | 'namespaces'> | undefined;
  private readonly serviceAgent: HttpAgent;
  private readonly userAgent: HttpAgent;
  private readonly send: typeof httpRequest;
  // The server URL, parsed once: a URL string per call would be parsed again on every call.
  private readonly at: { protocol: string; hostname: string; port: string; prefix: string };

  constructor(
    private readonly target: KubeTarget,
    private readonly options: KubeClientOptions,
    private readonly limiter: Limiter,
    private readonly observer: KubeCallObserver,
  ) {
    // One connection per call in flight at most, kept for the next: a cold decision makes several
    // calls, and a new TLS handshake each would cost more CPU than the call. Sessions are resumed.
    const url = new URL(target.server);
    this.at = { protocol: url.protocol, hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: url.port, prefix: url.pathname.replace(/\/+$/, '') };
    const common = { keepAlive: true, maxSockets: limiter.limit, maxFreeSockets: limiter.limit, timeout: 60_000 };
    if (target.server.startsWith('https:')) {
      const { ca, cert, key, rejectUnauthorized, servername } = target.tls;
      // The CA, certificate and key as prebuilt contexts, not as agent options: https.Agent names
      // its connection pool by concatenating every TLS option into a string on each request (the
      // CA bundle and key decoded from their Buffers each time: KiBs per call, tens of KiB with a
      // cluster's CA bundle), and tls.connect parses them into a new context per connection.
      // Without `ca` the context trusts Node's default roots, as tls.connect would.
      const context = (withIdentity: boolean) => createSecureContext({ ...(ca ? { ca } : {}), ...(withIdentity && cert && key ? { cert, key } : {}) });
      const trust = { ...common, rejectUnauthorized, ...(servername ? { servername } : {}) };
      this.serviceAgent = new HttpsAgent({ ...trust, secureContext: context(true) });
      this.userAgent = new HttpsAgent({ ...trust, secureContext: context(false) });
      this.send = httpsRequest;
    } else {
      this.serviceAgent = new HttpAgent(common);
      this.userAgent = new HttpAgent(common);
      this.send = httpRequest;
    }
  }

  async review(req: AccessReview, signal: AbortSignal): Promise<boolean> {
    const res = (
      this.options.ssar
        ? await this.call(
            { method: 'POST', name: 'selfsubjectaccessreviews', path: SSAR_PATH, body: selfSubjectAccessReviewJson(req), userToken: req.token },
            signal,
            callerOf(req),
          )
        : await this.call({ method: 'POST', name: 'subjectaccessreviews', path: SAR_PATH, body: subjectAccessReviewJson(req) }, signal, callerOf(req))
    ) as Reviewed;
    return res?.status?.allowed === true;
  }

  /** A TokenReview made as the service, for the API server's default audience. */
  async reviewToken(token: string, signal: AbortSignal): Promise<TokenReviewResult> {
    const body = JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } });
    const res = (await this.call(
      { method: 'POST', name: 'tokenreviews', path: '/apis/authentication.k8s.io/v1/tokenreviews', body },
      signal,
      callerOf({ token }),
    )) as TokenReviewAnswer | null;
    const status = res?.status;
    if (status?.authenticated !== true)
      return { authenticated: false, error: (typeof status?.error === 'string' ? status.error : 'not authenticated').slice(0, 200) };
    const u = status.user;
    const user = typeof u?.username === 'string' ? u.username : '';
    // An authenticated answer naming nobody is no identity to decide on.
    if (user === '') return { authenticated: false, error: 'the token review named no user' };
    // Untrusted JSON: an identity of the wrong shape is no identity (a string where groups belong
    // must not become one group per character).
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

  async listNamespaces(user: { token: string; tokenHash?: string }, signal: AbortSignal): Promise<string[]> {
    const source = await this.namespaceSource(signal);
    const list =
      source === 'projects'
        ? await this.call(
            { method: 'GET', name: 'projects', path: '/apis/project.openshift.io/v1/projects', userToken: user.token, maxBytes: MAX_LIST_BYTES },
            signal,
            callerOf(user),
          )
        : await this.call({ method: 'GET', name: 'namespaces', path: '/api/v1/namespaces', maxBytes: MAX_LIST_BYTES }, signal, callerOf(user));
    return names(list);
  }

  /** Closes the kept-alive connections. */
  close(): void {
    this.serviceAgent.destroy();
    this.userAgent.destroy();
  }

  /**
   * One request: as the service (its token, its client certificate) when `userToken` is undefined,
   * else with the user's token only. The answer is read up to `maxBytes`; a non-2xx answer is a
   * `kube_status` KubeError with the Status message (never a token: the API does not echo it).
   * The call's deadline and the caller's cancellation are one timer and one listener on the
   * caller's signal, not an AbortController per call (issue 14: a cold decision makes two or more).
   */
  private request(c: KubeCall, outer: AbortSignal): Promise<unknown> {
    const bearer = c.userToken ?? this.target.token?.current();
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (bearer !== undefined) headers.Authorization = `Bearer ${bearer}`;
    if (c.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(c.body));
    }
    if (outer.aborted) return Promise.reject(aborted(outer.reason));
    return new Promise((resolve, reject) => {
      const { protocol, hostname, port, prefix } = this.at;
      let settled = false;
      // Settles once: a destroyed request reports its own error after the one that destroyed it.
      const settle = (err: unknown, value?: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        outer.removeEventListener('abort', onAbort);
        if (err === undefined) resolve(value);
        else reject(err);
      };
      const stop = (err: KubeError) => {
        settle(err);
        req.destroy(err);
      };
      const onAbort = () => stop(aborted(outer.reason));
      const timer = setTimeout(() => stop(new KubeError('kube_timeout', 0, `no answer within ${this.options.timeoutMs}ms`)), this.options.timeoutMs);
      timer.unref();
      const req = this.send(
        {
          protocol,
          hostname,
          port,
          path: `${prefix}${c.path}`,
          method: c.method,
          headers,
          agent: c.userToken === undefined ? this.serviceAgent : this.userAgent,
        },
        (res) => {
          readAnswer(res, c.maxBytes ?? MAX_ANSWER_BYTES).then(({ status, text: answer }) => {
            let parsed: unknown;
            try {
              parsed = answer === '' ? null : JSON.parse(answer);
            } catch {
              parsed = undefined;
            }
            if (status >= 200 && status < 300) {
              if (parsed === undefined) settle(new KubeError('kube_status', status, `${status} the answer is not JSON`));
              else settle(undefined, parsed);
              return;
            }
            const s = parsed as { message?: unknown; reason?: unknown } | null | undefined;
            const message = typeof s?.message === 'string' ? s.message : typeof s?.reason === 'string' ? s.reason : '';
            settle(new KubeError('kube_status', status, `${status}${message ? ` ${message}` : ''}`.slice(0, 500)));
          }, settle);
        },
      );
      outer.addEventListener('abort', onAbort, { once: true });
      req.on('error', settle);
      req.end(c.body);
    });
  }

  /** Which list answers "namespaces the user may see": decided once per process, on first use. */
  private namespaceSource(signal: AbortSignal): Promise<'projects' | 'namespaces'> {
    if (this.options.namespaceSource !== 'auto') return Promise.resolve(this.options.namespaceSource);
    this.detected ??= this.call({ method: 'GET', name: 'discovery', path: '/apis', maxBytes: MAX_LIST_BYTES }, signal, '').then((list) => {
      const groups = (list as { groups?: unknown } | null)?.groups;
      if (!Array.isArray(groups)) throw new KubeError('kube_status', 200, '200 the API group list has no groups');
      return groups.some((g) => (g as { name?: unknown } | null)?.name === 'project.openshift.io') ? 'projects' : 'namespaces';
    });
    this.detected.catch(() => {
      this.detected = undefined; // try again on the next request
    });
    return this.detected;
  }

  /** One call: a slot of the limiter in the caller's turn, the per-call deadline, metrics, a warn on failure. */
  private call(c: KubeCall, outer: AbortSignal, caller: string): Promise<unknown> {
    return this.limiter.run(
      async () => {
        const method = c.method === 'POST' ? 'post' : 'get';
        const started = process.hrtime.bigint();
        try {
          const res = await this.request(c, outer);
          this.observer.call(method, method === 'post' ? '201' : '200', secondsSince(started));
          return res;
        } catch (err) {
          const e = toKubeError(err);
          this.observer.call(method, e.status > 0 ? String(e.status) : 'error', secondsSince(started));
          if (e.code !== 'kube_aborted') this.observer.failed?.(c.name, e);
          throw e;
        }
      },
      outer,
      caller,
    );
  }
}

/** One Kubernetes API call: what is sent, and as whom (the service unless `userToken`). */
interface KubeCall {
  method: 'GET' | 'POST';
  name: KubeCallName;
  path: string;
  /** JSON text. */
  body?: string;
  userToken?: string;
  maxBytes?: number;
}

function secondsSince(started: bigint): number {
  return Number(process.hrtime.bigint() - started) / 1e9;
}

function aborted(reason: unknown): KubeError {
  return new KubeError('kube_aborted', 0, 'the request was cancelled', { cause: reason });
}

/** A review's answer as the API writes it, read as untrusted JSON. */
type Reviewed = { status?: { allowed?: unknown } } | null;

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
// A list (projects, namespaces, API groups): 10,000 projects of ~1 KiB each fit; a list larger than
// this is no list this service can decide on (--openshift.max-namespaces bounds far fewer).
const MAX_LIST_BYTES = 32 << 20;

/** An answer's status and body text, read up to `maxBytes` (then the connection is dropped). */
function readAnswer(res: IncomingMessage, maxBytes: number): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        // Settled first: dropping the connection then reports an abort, which must not win.
        reject(new KubeError('kube_status', res.statusCode ?? 0, `${res.statusCode ?? 0} answer larger than ${maxBytes} bytes`));
        res.destroy();
        return;
      }
      chunks.push(chunk);
    });
    // One chunk (a review's answer mostly is) is decoded where it lies, not copied first.
    res.on('end', () => resolve({ status: res.statusCode ?? 0, text: (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)).toString('utf8') }));
    res.on('error', reject);
    res.on('aborted', () => reject(new Error('aborted')));
  });
}

/** The limiter's key for a caller: its token, hashed (the asserted subject is forgeable), once per decision when the decision did. */
function callerOf(who: { token: string; tokenHash?: string }): string {
  return who.tokenHash ?? hashToken(who.token);
}

const SAR_PATH = '/apis/authorization.k8s.io/v1/subjectaccessreviews';
const SSAR_PATH = '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews';
const str = (s: string): string => JSON.stringify(s);

/**
 * The review's resourceAttributes as JSON, written directly: the same bytes as JSON.stringify of
 * {namespace?, verb, group, resource, subresource?, name} without building that object per call.
 */
function resourceAttributesJson(r: AccessReview): string {
  return (
    `{${r.namespace ? `"namespace":${str(r.namespace)},` : ''}"verb":${str(r.verb)},"group":${str(r.apiGroup)},"resource":${str(r.resource)},` +
    `${r.subresource ? `"subresource":${str(r.subresource)},` : ''}"name":${str(r.name)}}`
  );
}

/** A SubjectAccessReview (authorization.k8s.io/v1) for the review's user, groups, uid and extra. */
export function subjectAccessReviewJson(r: AccessReview): string {
  // extra is rare (forward-auth's reviewed scopes): stringified as a fresh object, whatever keys it holds.
  const extra = r.extra ? `"extra":${JSON.stringify(Object.fromEntries(Object.entries(r.extra).map(([k, v]) => [k, [...v]])))},` : '';
  return (
    `{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{"user":${str(r.user)},"groups":${JSON.stringify(r.groups)},` +
    `${r.uid ? `"uid":${str(r.uid)},` : ''}${extra}"resourceAttributes":${resourceAttributesJson(r)}}}`
  );
}

/** A SelfSubjectAccessReview: the user is the token's, so only the attributes are sent. */
export function selfSubjectAccessReviewJson(r: AccessReview): string {
  return `{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview","spec":{"resourceAttributes":${resourceAttributesJson(r)}}}`;
}

/**
 * The names of a list's items, read as untrusted JSON the way opa-openshift's Go decoder reads
 * them: no items (absent or null) is an empty list; anything but an object with a list of items
 * is an error, never a list.
 */
function names(list: unknown): string[] {
  if (typeof list !== 'object' || list === null || Array.isArray(list)) throw new KubeError('kube_status', 200, '200 the list answer is not an object');
  const items = (list as { items?: unknown }).items;
  if (items === undefined || items === null) return [];
  if (!Array.isArray(items)) throw new KubeError('kube_status', 200, '200 the list answer has no list of items');
  return items.map((i) => (i as { metadata?: { name?: unknown } } | null)?.metadata?.name).filter((n): n is string => typeof n === 'string' && n !== '');
}

/** A KubeError whose message carries the API's Status message or the transport fault, never a token. */
function toKubeError(err: unknown): KubeError {
  if (err instanceof KubeError) return err;
  const e = err as { code?: string; message?: string };
  return new KubeError('kube_unreachable', 0, `the API server is unreachable: ${e.code ?? e.message ?? String(err)}`, { cause: err });
}
