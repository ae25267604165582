/**
 * Running the service in an openshift mode against the fake Kubernetes API, for tests: the Loki
 * Operator's container arguments, a kubeconfig file for the fake, startService over loadConfig,
 * and one decision request over real HTTP.
 */
import type { Config } from '../../server/config/config.js';
import type { Service } from '../../server/service.js';
import { LOKISTACK_IDENTITIES, LOKISTACK_TOKENS, lokistackFakeKubeOptions } from './fake-kube/fixtures.js';
import { startFakeKube, type FakeKube, type FakeKubeOptions, type KubeconfigOptions } from './fake-kube/server.js';
import { silentLogger, startFromArgs, writeTempFile, type CapturedLogger } from './service.js';

/** Where the fixtures' flags name the fake API's kubeconfig file. */
export const KUBECONFIG_PLACEHOLDER = '$FAKE_KUBECONFIG';

/**
 * The opa-openshift container arguments the Loki Operator renders (reference §3,
 * operator/internal/manifests/openshift/opa_openshift.go), in its order, with the default admin
 * groups and only the listen addresses changed (127.0.0.1:8082 and :8083 -> 127.0.0.1:0).
 * --openshift.kubeconfig is not among them: in the pod the in-cluster configuration is used.
 */
const OPERATOR_COMMON = [
  '--log.level=warn',
  '--web.listen=127.0.0.1:0',
  '--web.internal.listen=127.0.0.1:0',
  '--web.healthchecks.url=http://localhost:8082',
  '--opa.skip-tenants=audit,infrastructure',
  '--opa.package=lokistack',
  '--opa.admin-groups=system:cluster-admins,cluster-admin,dedicated-admin',
];
export const OPERATOR_LOGGING_ARGS: readonly string[] = [
  ...OPERATOR_COMMON,
  '--opa.matcher=kubernetes_namespace_name,k8s_namespace_name',
  '--opa.viaq-to-otel-migration=true',
  '--openshift.mappings=application=loki.grafana.com',
  '--openshift.mappings=infrastructure=loki.grafana.com',
  '--openshift.mappings=audit=loki.grafana.com',
];
export const OPERATOR_NETWORK_ARGS: readonly string[] = [
  ...OPERATOR_COMMON,
  '--opa.matcher=SrcK8S_Namespace,DstK8S_Namespace',
  '--opa.matcher-op=or',
  '--openshift.mappings=network=loki.grafana.com',
];
export const LOOPBACK_LISTENERS: readonly string[] = ['--web.listen=127.0.0.1:0', '--web.internal.listen=127.0.0.1:0'];

/**
 * A kubeconfig file for the fake API, authenticating as `token` (default: the gateway's service
 * account); `{https: true}` names its HTTPS listener and CA (the fake must be started with `tls`).
 */
export function fakeKubeconfigFile(fake: FakeKube, token: string = LOKISTACK_TOKENS.gateway, options: KubeconfigOptions = {}): string {
  return writeTempFile('kubeconfig', fake.kubeconfigText(token, options));
}

export interface RunningAuthz {
  service: Service;
  config: Config;
  /** http://127.0.0.1:PORT of the public listener */
  url: string;
  internalUrl: string;
  log?: CapturedLogger;
  stop(): Promise<void>;
}

/**
 * Starts the service exactly from `flags` (no defaults added but the kubeconfig placeholder
 * replaced), so a fixture's command line is the whole configuration.
 */
export async function startAuthz(flags: readonly string[], options: { kubeconfig: string; log?: CapturedLogger }): Promise<RunningAuthz> {
  const argv = flags.map((f) => f.replaceAll(KUBECONFIG_PLACEHOLDER, options.kubeconfig));
  const started = await startFromArgs('startAuthz', argv, options.log?.logger ?? silentLogger());
  return {
    service: started.service,
    config: started.config,
    url: started.publicUrl,
    internalUrl: started.internalUrl,
    ...(options.log ? { log: options.log } : {}),
    stop: started.stop,
  };
}

/** Starts the service on loopback listeners with the fake's kubeconfig (HTTPS with `kubeconfig.https`) and `flags`. */
export async function startAuthzOn(fake: FakeKube, flags: readonly string[], log?: CapturedLogger, kubeconfig: KubeconfigOptions = {}): Promise<RunningAuthz> {
  return startAuthz([...LOOPBACK_LISTENERS, `--openshift.kubeconfig=${KUBECONFIG_PLACEHOLDER}`, ...flags], {
    kubeconfig: fakeKubeconfigFile(fake, LOKISTACK_TOKENS.gateway, kubeconfig),
    ...(log ? { log } : {}),
  });
}

/** A fake Kubernetes API shared by the tests of one describe block, and the services they start on it. */
export interface SharedFakeKube {
  /** The fake, from the block's `before` on. */
  readonly fake: FakeKube;
  /** A service on the fake (or on `on`) with `flags`, stopped after the test. */
  authz(flags: readonly string[], log?: CapturedLogger, on?: FakeKube): Promise<RunningAuthz>;
}

/**
 * Starts a fake for the describe block it is called in (it registers mocha hooks: call it in the
 * block's body) and puts it back as started before each test: no recorded requests, no faults, the
 * starting tokens. The services a test started are stopped after it, so a failing test leaks none.
 */
export function sharedFakeKube(options: FakeKubeOptions = lokistackFakeKubeOptions()): SharedFakeKube {
  let fake: FakeKube | undefined;
  const running: RunningAuthz[] = [];
  const started = (): FakeKube => {
    if (!fake) throw new Error("sharedFakeKube: the fake is started in the describe block's before hook");
    return fake;
  };
  before(async () => {
    fake = await startFakeKube(options);
  });
  after(async () => {
    await fake?.close();
  });
  beforeEach(() => {
    started().requests.length = 0;
  });
  afterEach(async () => {
    started().clearFaults();
    started().setTokens(options.tokens);
    await Promise.all(running.splice(0).map((a) => a.stop()));
  });
  return {
    get fake() {
      return started();
    },
    async authz(flags, log, on = started()) {
      const a = await startAuthzOn(on, flags, log);
      running.push(a);
      return a;
    },
  };
}

export interface Answer {
  status: number;
  /** The parsed JSON body (undefined when the body is not JSON). */
  body: unknown;
  text: string;
}

/** One POST to the Data API: `input` wrapped as {"input": ...}, or `rawBody` sent as is. */
export async function postDecision(
  baseUrl: string,
  request: { path?: string; input?: unknown; rawBody?: string; token?: string; headers?: Record<string, string> },
): Promise<Answer> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json', ...(request.headers ?? {}) };
  if (request.token !== undefined) headers['X-Forwarded-Access-Token'] = request.token;
  const body = request.rawBody ?? JSON.stringify({ input: request.input });
  const res = await fetch(`${baseUrl}/v1/data/${request.path ?? 'lokistack/allow'}`, { method: 'POST', headers, body });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.status, body: parsed, text };
}

export type Who = keyof typeof LOKISTACK_TOKENS;

/** Groups as the gateway sends them: the TokenReview's, i.e. the identity's plus system:authenticated. */
export function gatewayGroups(who: Who): string[] {
  return [...(LOKISTACK_IDENTITIES[who].groups ?? []), 'system:authenticated'];
}

/** The input observatorium/api's restAuthorizer sends for `who` (reference §2.1), field for field. */
export function gatewayInput(
  who: Who,
  options: { permission?: 'read' | 'write'; tenant?: string; extras?: Record<string, unknown>; groups?: string[]; subject?: string } = {},
): Record<string, unknown> {
  const tenant = options.tenant ?? 'application';
  return {
    groups: options.groups ?? gatewayGroups(who),
    permission: options.permission ?? 'read',
    resource: 'logs',
    subject: options.subject ?? LOKISTACK_IDENTITIES[who].username,
    tenant,
    tenantID: tenant,
    token: '',
    extras: options.extras ?? {},
  };
}

/** extras for a query whose stream selector names these namespaces under `label`. */
export function selecting(namespaces: string[], label = 'kubernetes_namespace_name'): Record<string, unknown> {
  return { selectors: { [label]: namespaces } };
}

/** The namespaces of a matcher answer: each matcher's Name -> Value. Throws on any other shape. */
export function matcherValues(result: unknown): { allowed: string; values: Record<string, string>; op?: string } {
  const r = result as { allowed?: unknown; data?: unknown };
  if (typeof r?.allowed !== 'string' || typeof r.data !== 'string') throw new Error(`not a matcher answer: ${JSON.stringify(result)}`);
  const data = JSON.parse(r.data) as { matchers: Array<{ Type: number; Name: string; Value: string }>; matcherOp?: string };
  const values: Record<string, string> = {};
  for (const m of data.matchers) values[m.Name] = m.Value;
  return { allowed: r.allowed, values, ...(data.matcherOp ? { op: data.matcherOp } : {}) };
}
