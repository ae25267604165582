/**
 * Where the Kubernetes API is and how the service proves who it is, read without
 * @kubernetes/client-node (issue 14: importing it costs some 60 MiB of resident memory in every
 * gateway pod). opa-openshift's order: --openshift.kubeconfig, else $KUBECONFIG's first file, else
 * the pod's service account. What a kubeconfig may say is what the Loki Operator and people write:
 * a server, its CA (file or data), insecure-skip-tls-verify, tls-server-name; a token, a token
 * file, a client certificate and key (file or data). Everything else that changes where calls go
 * or who they are made as (exec plugins, auth providers, basic auth, impersonation, proxies) is
 * refused at startup, naming the field: a credential silently dropped would make calls as nobody,
 * or with an identity the operator did not mean.
 */
import { isIPv6 } from 'node:net';
import { dirname, isAbsolute, join } from 'node:path';
import { ConfigError } from '../errors.js';
import { readRegularFileSync } from '../files.js';
import { parseGoJsonExact } from '../go-json.js';
import { lazyPackage } from '../lazy-package.js';

/** A kubeconfig with a few contexts and their certificates inline is tens of KiB. */
export const MAX_KUBECONFIG_BYTES = 1 << 20;
/** A CA bundle, a client certificate or a key: what --tls.cert-file allows. */
export const MAX_KUBE_PEM_BYTES = 1 << 20;
/** A projected service-account token is about 1 KiB. */
export const MAX_TOKEN_FILE_BYTES = 64 << 10;
/** client-go re-reads a token file once a minute: a rotated projected token is picked up as soon. */
export const TOKEN_FILE_REREAD_MS = 60_000;

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** The API server and the service's credentials, resolved once at startup. */
export interface KubeTarget {
  /** https://host:port[/prefix] without a trailing slash (http:// when the kubeconfig says so). */
  server: string;
  /** Trust and client identity for TLS; the CA, certificate and key as read. */
  tls: { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized: boolean; servername?: string };
  /** The service's bearer token, when it has one (a client certificate may be all it has). */
  token?: ServiceToken;
}

/** The service's bearer token: fixed, or a file re-read as the kubelet rotates it. */
export interface ServiceToken {
  current(): string;
}

export interface KubeTargetOptions {
  /** --openshift.kubeconfig */
  explicit?: string | undefined;
  /** The process environment (KUBECONFIG, KUBERNETES_SERVICE_HOST/PORT): passed in, never read here. */
  env: Readonly<Record<string, string | undefined>>;
  /** Where the pod's service account is mounted (tests point it elsewhere). */
  serviceAccountDir?: string;
  /** Clock for token-file re-reads (tests drive it). */
  now?: () => number;
}

/** opa-openshift's order: the flag, $KUBECONFIG's first file, the in-cluster service account. */
export function loadKubeTarget(options: KubeTargetOptions): KubeTarget {
  const now = options.now ?? Date.now;
  if (options.explicit) return loadKubeconfigFile(options.explicit, now);
  // client-node merges every file of the list; the service reads one, the first, and says so in the docs.
  const first = options.env.KUBECONFIG?.split(':').find((f) => f !== '');
  if (first) return loadKubeconfigFile(first, now);
  if (options.env.KUBERNETES_SERVICE_HOST) return inCluster(options.env, options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR, now);
  throw new ConfigError('--openshift.kubeconfig', '', 'no Kubernetes API to ask: not running in a cluster; set --openshift.kubeconfig or $KUBECONFIG');
}

/** The pod's service account, as client-go's InClusterConfig reads it (always https). */
export function inCluster(env: KubeTargetOptions['env'], dir: string, now: () => number = Date.now): KubeTarget {
  const source = 'in-cluster service account';
  const host = env.KUBERNETES_SERVICE_HOST ?? '';
  const port = env.KUBERNETES_SERVICE_PORT ?? '';
  if (host === '' || !/^\d{1,5}$/.test(port)) {
    throw new ConfigError(source, 'KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT', 'both must be set (a host and a port number)');
  }
  const server = `https://${isIPv6(host) ? `[${host}]` : host}:${port}`;
  checkServer(source, server);
  return {
    server,
    tls: { ca: readPem(source, 'ca.crt', join(dir, 'ca.crt')), rejectUnauthorized: true },
    token: new TokenFile(source, join(dir, 'token'), now),
  };
}

/** A kubeconfig file (YAML or JSON); relative paths in it are resolved against its directory. */
export function loadKubeconfigFile(file: string, now: () => number = Date.now): KubeTarget {
  const text = Buffer.from(readRegularFileSync('kubeconfig', file, MAX_KUBECONFIG_BYTES)).toString('utf8');
  return parseKubeconfig(text, file, now);
}

// What a kubeconfig entry may hold. Anything else is refused by name: keys the service would not
// apply are ones an operator relies on (an exec plugin is the credential).
const CLUSTER_KEYS = new Set([
  'server',
  'certificate-authority',
  'certificate-authority-data',
  'insecure-skip-tls-verify',
  'tls-server-name',
  // Neither changes where a call goes or who it is made as.
  'disable-compression',
  'extensions',
]);
const USER_KEYS = new Set(['token', 'tokenFile', 'client-certificate', 'client-certificate-data', 'client-key', 'client-key-data', 'extensions']);
const SUPPORTED =
  'supported: cluster server, certificate-authority(-data), insecure-skip-tls-verify, tls-server-name; user token, tokenFile, client-certificate(-data), client-key(-data)';

/**
 * A kubeconfig's document. JSON that JSON.parse reads exactly (no duplicate key, no escaped
 * surrogate) is what YAML reads too, and needs no YAML parser: the yaml package, some 2 MiB of
 * every sidecar's idle memory (issue 14), is loaded only for a kubeconfig in YAML, and in a pod
 * (its service account) never. Anything else goes to YAML, which reads JSON too and refuses
 * duplicate keys as before.
 */
const yaml = lazyPackage<typeof import('yaml')>('yaml');

function parseText(text: string): unknown {
  if (/^\s*\{/.test(text)) {
    try {
      const json = parseGoJsonExact(text);
      if (json.exact) return json.value;
    } catch {
      // Not JSON after all: YAML reads it, or says why not.
    }
  }
  // A kubeconfig has no use for aliases: a few bound an alias bomb to nothing.
  return yaml().parse(text, { maxAliasCount: 16, uniqueKeys: true });
}

/** The current context's cluster and user, from kubeconfig text; `file` names it and anchors relative paths. */
export function parseKubeconfig(text: string, file: string, now: () => number = Date.now): KubeTarget {
  let doc: unknown;
  try {
    doc = parseText(text);
  } catch (err) {
    throw new ConfigError(`kubeconfig ${file}`, '', `not YAML or JSON: ${(err as Error).message.split('\n')[0]}`);
  }
  const source = `kubeconfig ${file}`;
  const root = object(source, '', doc);
  const contextName = root['current-context'];
  if (typeof contextName !== 'string' || contextName === '') throw new ConfigError(source, 'current-context', 'not set: name the context to use');
  const context = object(source, `contexts[${contextName}].context`, named(source, root, 'contexts', contextName).context);
  const clusterName = context.cluster;
  if (typeof clusterName !== 'string' || clusterName === '') throw new ConfigError(source, `contexts[${contextName}].context.cluster`, 'not set');
  const cluster = object(source, `clusters[${clusterName}].cluster`, named(source, root, 'clusters', clusterName).cluster);
  onlyKnown(source, `clusters[${clusterName}].cluster`, cluster, CLUSTER_KEYS);
  const userName = context.user;
  let user: Record<string, unknown> = {};
  if (userName !== undefined && userName !== '') {
    if (typeof userName !== 'string') throw new ConfigError(source, `contexts[${contextName}].context.user`, 'not a string');
    user = object(source, `users[${userName}].user`, named(source, root, 'users', userName).user ?? {});
    onlyKnown(source, `users[${userName}].user`, user, USER_KEYS);
  }
  const base = dirname(file);
  const path = (p: string) => (isAbsolute(p) ? p : join(base, p));
  const c = `clusters[${clusterName}].cluster`;
  const u = `users[${userName}].user`;

  const server = str(source, `${c}.server`, cluster.server);
  if (!server) throw new ConfigError(source, `${c}.server`, 'not set');
  const trimmed = server.replace(/\/+$/, '');
  checkServer(source, trimmed, `${c}.server`);
  const insecure = cluster['insecure-skip-tls-verify'];
  if (insecure !== undefined && typeof insecure !== 'boolean') throw new ConfigError(source, `${c}.insecure-skip-tls-verify`, 'not true or false');
  const ca = pemFrom(source, c, 'certificate-authority', cluster, path);
  // client-go refuses the pair: trusting a CA and trusting anything cannot both be meant.
  if (insecure === true && ca) throw new ConfigError(source, c, 'insecure-skip-tls-verify with a certificate authority: choose one');
  const servername = str(source, `${c}.tls-server-name`, cluster['tls-server-name']);

  const cert = pemFrom(source, u, 'client-certificate', user, path);
  const key = pemFrom(source, u, 'client-key', user, path);
  if ((cert === undefined) !== (key === undefined)) throw new ConfigError(source, u, 'a client certificate needs its key, and a key its certificate');
  const token = str(source, `${u}.token`, user.token);
  const tokenFile = str(source, `${u}.tokenFile`, user.tokenFile);
  if (token && tokenFile) throw new ConfigError(source, u, 'token and tokenFile both set: choose one');
  return {
    server: trimmed,
    tls: {
      rejectUnauthorized: insecure !== true,
      ...(ca ? { ca } : {}),
      ...(cert ? { cert } : {}),
      ...(key ? { key } : {}),
      ...(servername ? { servername } : {}),
    },
    ...(token ? { token: fixedToken(source, `${u}.token`, token) } : tokenFile ? { token: new TokenFile(source, path(tokenFile), now) } : {}),
  };
}

/** A token file, re-read once TOKEN_FILE_REREAD_MS has passed; a failed re-read keeps the last token. */
export class TokenFile implements ServiceToken {
  private token: string;
  private readAt: number;

  constructor(
    private readonly source: string,
    private readonly file: string,
    private readonly now: () => number,
  ) {
    // Unreadable at startup stops startup: there is no earlier token to keep using.
    this.token = this.read();
    this.readAt = now();
  }

  current(): string {
    if (this.now() - this.readAt >= TOKEN_FILE_REREAD_MS) {
      this.readAt = this.now();
      try {
        this.token = this.read();
      } catch {
        // Mid-rotation (the kubelet swaps a symlink) the file can be briefly missing or empty: the
        // previous token is still valid for a while, and the next re-read will try again.
      }
    }
    return this.token;
  }

  private read(): string {
    const token = Buffer.from(readRegularFileSync('token file', this.file, MAX_TOKEN_FILE_BYTES))
      .toString('utf8')
      .trim();
    return checkToken(this.source, this.file, token);
  }
}

function fixedToken(source: string, field: string, token: string): ServiceToken {
  const t = checkToken(source, field, token);
  return { current: () => t };
}

/** A token that would break the Authorization header (or smuggle a second one) is no token. */
function checkToken(source: string, where: string, token: string): string {
  if (token === '') throw new ConfigError(source, where, 'empty token');
  if (!/^[\x21-\x7e]+$/.test(token)) throw new ConfigError(source, where, 'the token holds characters no bearer token has (spaces, control or non-ASCII)');
  return token;
}

function checkServer(source: string, server: string, field = 'server'): void {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new ConfigError(source, field, `not a URL: ${JSON.stringify(server.slice(0, 200))}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ConfigError(source, field, `${url.protocol} is not http: or https:`);
  if (url.username || url.password || url.search || url.hash)
    throw new ConfigError(source, field, 'credentials, a query or a fragment in the server URL are not supported');
}

function readPem(source: string, field: string, file: string): Buffer {
  try {
    return Buffer.from(readRegularFileSync(undefined, file, MAX_KUBE_PEM_BYTES));
  } catch (err) {
    throw new ConfigError(source, field, (err as Error).message);
  }
}

/** `<name>` (a file, relative to the kubeconfig) or `<name>-data` (base64), never both. */
function pemFrom(source: string, at: string, name: string, entry: Record<string, unknown>, path: (p: string) => string): Buffer | undefined {
  const file = str(source, `${at}.${name}`, entry[name]);
  const data = str(source, `${at}.${name}-data`, entry[`${name}-data`]);
  if (file && data) throw new ConfigError(source, at, `${name} and ${name}-data both set: choose one`);
  if (file) return readPem(source, `${at}.${name}`, path(file));
  if (!data) return undefined;
  if (data.length > (MAX_KUBE_PEM_BYTES * 4) / 3 + 4 || !/^[A-Za-z0-9+/\s]*={0,2}\s*$/.test(data))
    throw new ConfigError(source, `${at}.${name}-data`, 'not base64 (or larger than 1 MiB)');
  return Buffer.from(data, 'base64');
}

function onlyKnown(source: string, at: string, entry: Record<string, unknown>, known: ReadonlySet<string>): void {
  for (const key of Object.keys(entry)) {
    if (!known.has(key)) throw new ConfigError(source, `${at}.${key}`, `not supported by this service (${SUPPORTED})`);
  }
}

function named(source: string, root: Record<string, unknown>, list: 'contexts' | 'clusters' | 'users', name: string): Record<string, unknown> {
  const entries = root[list] ?? [];
  if (!Array.isArray(entries)) throw new ConfigError(source, list, 'not a list');
  const found = entries.filter((e) => (e as { name?: unknown } | null)?.name === name);
  if (found.length === 0) throw new ConfigError(source, list, `no entry named ${JSON.stringify(name)}`);
  // Which of two would client-go take? The last; client-node the first: refuse rather than guess.
  if (found.length > 1) throw new ConfigError(source, list, `${found.length} entries named ${JSON.stringify(name)}`);
  return object(source, `${list}[${name}]`, found[0]);
}

function object(source: string, field: string, v: unknown): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConfigError(source, field, 'not a mapping');
  return v as Record<string, unknown>;
}

function str(source: string, field: string, v: unknown): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new ConfigError(source, field, 'not a string');
  return v;
}
