/**
 * The gateway suite's driver, run by test/gateway-e2e.test.ts inside
 * `unshare --mount --net --propagation private` (see namespace.ts): starts the fake Kubernetes API
 * on 127.0.0.1:443 over TLS, the recording Loki stand-in, this service and real opa-openshift with
 * the Loki Operator's arguments, then, once per authorizer, the real gateway with that authorizer as
 * every tenant's opa.url; sends each case's request and prints one JSON object on stdout:
 * {results: {ours: Outcome[], opaOpenshift: Outcome[]}}. The mocha test asserts on it.
 *
 *   GATEWAY_E2E_IN_NAMESPACE=1 OPA_OPENSHIFT_BIN=... OBSERVATORIUM_API_BIN=... \
 *     unshare --mount --net --propagation private node --import tsx test/support/gateway/run.ts logging
 */
import { randomBytes } from 'node:crypto';
import { startFakeKube, type Identity } from '../fake-kube/server.js';
import { LOKISTACK_CLUSTER_YAML, LOKISTACK_IDENTITIES, LOKISTACK_TOKENS, lokistackFakeKubeOptions } from '../fake-kube/fixtures.js';
import { OPERATOR_LOGGING_ARGS, OPERATOR_NETWORK_ARGS, fakeKubeconfigFile, startAuthzOn } from '../openshift.js';
import { startOpaOpenshift } from '../peers.js';
import { join } from 'node:path';
import { startOidcProvider } from '../oidc.js';
import { LOOPBACK_LISTENERS, startAuthz } from '../openshift.js';
import { makeTempDir, writeTempFile } from '../service.js';
import { ROOT } from '../tools.js';
import { LOGGING_CASES, NETWORK_CASES, NETWORK_RBAC, OIDC_ACCOUNTS, OIDC_CASES, OIDC_RBAC, type GatewayCase, type TenantKind } from './cases.js';
import { startLokiStandIn, type LokiHit } from './loki.js';
import { enterInCluster, writeServiceAccount } from './namespace.js';
import { send } from './client.js';
import { EXTRACT_SELECTORS, startGateway } from './observatorium.js';

export interface Outcome {
  name: string;
  status: number;
  /** What reached Loki for this request (none for a denial). */
  hits: LokiHit[];
}

export interface DriverReport {
  kind: TenantKind;
  /** `reference`: real opa-openshift (openshift kinds) or the gateway's in-process OPA (oidc). */
  results: Record<'ours' | 'reference', Outcome[]>;
}

const OPENSHIFT_KINDS = {
  logging: { tenants: ['application', 'infrastructure', 'audit'], args: OPERATOR_LOGGING_ARGS, cases: LOGGING_CASES, extraRbac: '', warmTenant: 'application' },
  network: { tenants: ['network'], args: OPERATOR_NETWORK_ARGS, cases: NETWORK_CASES, extraRbac: NETWORK_RBAC, warmTenant: 'network' },
} as const;

/** The tenants.yaml the operator renders for openshift modes (reference §3), with `opaUrl` as every tenant's opa.url. */
function openshiftTenants(names: readonly string[], opaUrl: string): string {
  const cookieSecret = randomBytes(16).toString('hex');
  const lines = ['tenants:'];
  for (const name of names) {
    lines.push(
      `- name: ${name}`,
      `  id: ${name}`,
      '  openshift:',
      '    serviceAccount: lokistack-dev-gateway',
      `    redirectURL: https://127.0.0.1/openshift/${name}/callback`,
      `    cookieSecret: ${cookieSecret}`,
      '  opa:',
      `    url: ${opaUrl}`,
      '    withAccessToken: true',
    );
  }
  return `${lines.join('\n')}\n`;
}

const tokenFor = (index: number, c: GatewayCase): string | undefined => (c.who === undefined ? undefined : `token-e2e-${index}-${c.who}`);

/** Sends every case through a gateway started by `start`, after a warm-up request has passed; what reached Loki per case. */
async function runCases(
  start: () => ReturnType<typeof startGateway>,
  loki: Awaited<ReturnType<typeof startLokiStandIn>>,
  cases: readonly GatewayCase[],
  tokenOf: (index: number, c: GatewayCase) => string | undefined,
  warm: { tenant: string; token: string },
): Promise<Outcome[]> {
  const gateway = await start();
  try {
    // Tenants register once the gateway has read their provider's metadata: wait for a read to pass.
    const probe: GatewayCase = { name: 'warm', tenant: warm.tenant, method: 'GET', path: '/loki/api/v1/labels', status: 200 };
    let status = 0;
    for (let i = 0; i < 100 && status !== 200; i++) {
      status = await send(gateway.url, probe, warm.token).catch(() => 0);
      if (status !== 200) await new Promise((r) => setTimeout(r, 200));
    }
    if (status !== 200) throw new Error(`the gateway never served the ${warm.tenant} tenant (last status ${status}):\n${gateway.output()}`);
    const outcomes: Outcome[] = [];
    for (const [i, c] of cases.entries()) {
      loki.hits.length = 0;
      const got = await send(gateway.url, c, tokenOf(i, c));
      outcomes.push({ name: c.name, status: got, hits: [...loki.hits] });
    }
    return outcomes;
  } finally {
    await gateway.stop();
  }
}

const OIDC_CLIENT = { client_id: 'lokistack-gateway', client_secret: 'gateway-e2e-client-secret' };
const OIDC_TENANTS = ['application', 'infrastructure', 'audit'];

/** tenants.yaml for OIDC tenants verified by the gateway (clientID = the tokens' audience), with `opa` as each tenant's opa block. */
function oidcTenants(issuer: string, opa: string[]): string {
  const lines = ['tenants:'];
  for (const name of OIDC_TENANTS) {
    lines.push(
      `- name: ${name}`,
      `  id: ${name}`,
      '  oidc:',
      `    clientID: ${OIDC_CLIENT.client_id}`,
      `    clientSecret: ${OIDC_CLIENT.client_secret}`,
      `    issuerURL: ${issuer}`,
      `    redirectURL: http://127.0.0.1/oidc/${name}/callback`,
      '    usernameClaim: preferred_username',
      '    groupClaim: groups',
      '  opa:',
      ...opa.map((l) => `    ${l}`),
    );
  }
  return `${lines.join('\n')}\n`;
}

/**
 * OIDC tenants: tokens from a real oidc-provider, verified by the gateway; once with this service
 * (static mode, the policies/ Rego and OIDC_RBAC) as opa.url, as the operator's dynamic mode renders
 * it (a URL, no token forwarded), once with the gateway's in-process OPA evaluating the same Rego and
 * roles, as the operator's static mode renders it.
 */
async function runOidc(gatewayBin: string): Promise<DriverReport['results']> {
  const provider = await startOidcProvider({ accounts: OIDC_ACCOUNTS, clients: [OIDC_CLIENT], audience: OIDC_CLIENT.client_id });
  const loki = await startLokiStandIn();
  const dir = makeTempDir('gateway-e2e-oidc-');
  const rbacPath = writeTempFile('rbac.yaml', OIDC_RBAC, dir);
  const ours = await startAuthz([...LOOPBACK_LISTENERS, '--mode=static', `--rbac.config=${rbacPath}`], { kubeconfig: '' });
  try {
    const tokens = await Promise.all(
      OIDC_CASES.map((c) =>
        c.account
          ? provider.jwtAccessToken(c.account, { clientId: OIDC_CLIENT.client_id, ...(c.audience ? { audience: c.audience } : {}) })
          : Promise.resolve(undefined),
      ),
    );
    const warm = { tenant: 'application', token: await provider.jwtAccessToken('sam', { clientId: OIDC_CLIENT.client_id }) };
    const start = (opa: string[]) => () => startGateway({ bin: gatewayBin, lokiUrl: loki.url, tenants: oidcTenants(provider.issuer, opa), rbac: OIDC_RBAC });
    const tokenOf = (i: number) => tokens[i];
    return {
      ours: await runCases(start([`url: ${ours.url}/v1/data/lokistack/allow`]), loki, OIDC_CASES, tokenOf, warm),
      reference: await runCases(
        start(['query: data.lokistack.allow', `paths: [${rbacPath}, ${join(ROOT, 'policies/lokistack.rego')}]`]),
        loki,
        OIDC_CASES,
        tokenOf,
        warm,
      ),
    };
  } finally {
    await ours.stop();
    await loki.close();
    await provider.stop();
  }
}

async function main(): Promise<void> {
  const kind = process.argv[2] as TenantKind;
  const gatewayBin = process.env.OBSERVATORIUM_API_BIN;
  if (!gatewayBin) throw new Error('OBSERVATORIUM_API_BIN must be set');
  enterInCluster();
  if (kind === 'oidc') {
    process.stdout.write(`${JSON.stringify({ kind, results: await runOidc(gatewayBin) } satisfies DriverReport)}\n`);
    return;
  }
  const spec = OPENSHIFT_KINDS[kind];
  if (!spec) throw new Error(`unknown tenant kind ${String(kind)}`);
  const opaOpenshiftBin = process.env.OPA_OPENSHIFT_BIN;
  if (!opaOpenshiftBin) throw new Error('OPA_OPENSHIFT_BIN must be set');

  // Every case has a token of its own: opa-openshift caches decisions per token and input.
  const tokens: Record<string, Identity> = {};
  spec.cases.forEach((c, i) => {
    const token = tokenFor(i, c);
    if (token && c.who !== 'forged') tokens[token] = LOKISTACK_IDENTITIES[c.who!];
  });
  const warmToken = 'token-e2e-warm-admin';
  tokens[warmToken] = LOKISTACK_IDENTITIES.admin;
  const base = lokistackFakeKubeOptions();
  const fake = await startFakeKube({
    ...base,
    objects: `${LOKISTACK_CLUSTER_YAML}\n---\n${spec.extraRbac}`,
    tokens: { ...base.tokens, ...tokens },
    tls: { host: '127.0.0.1', port: 443, altNames: ['kubernetes.default.svc', 'localhost'] },
  });
  const env = writeServiceAccount({ caPem: fake.caPem!, token: LOKISTACK_TOKENS.gateway, namespace: 'openshift-logging' });
  const loki = await startLokiStandIn();
  const ours = await startAuthzOn(fake, spec.args, undefined, { https: true });
  const theirs = await startOpaOpenshift(opaOpenshiftBin, spec.args, { kubeconfig: fakeKubeconfigFile(fake, LOKISTACK_TOKENS.gateway, { https: true }) });
  const results = {} as DriverReport['results'];
  try {
    for (const [which, authz] of [
      ['ours', ours.url],
      ['reference', theirs.url],
    ] as const) {
      const start = () =>
        startGateway({
          bin: gatewayBin,
          lokiUrl: loki.url,
          tenants: openshiftTenants(spec.tenants, `${authz}/v1/data/lokistack/allow`),
          rbac: 'roles: []\nroleBindings: []\n',
          extractSelectors: EXTRACT_SELECTORS[kind],
          env,
        });
      results[which] = await runCases(start, loki, spec.cases, tokenFor, { tenant: spec.warmTenant, token: warmToken });
    }
  } finally {
    await theirs.stop();
    await ours.stop();
    await loki.close();
    await fake.close();
  }
  process.stdout.write(`${JSON.stringify({ kind, results } satisfies DriverReport)}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`gateway e2e driver: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
