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
import { LOGGING_CASES, NETWORK_CASES, NETWORK_RBAC, type GatewayCase, type TenantKind } from './cases.js';
import { startLokiStandIn, type LokiHit } from './loki.js';
import { enterInCluster, writeServiceAccount } from './namespace.js';
import { EXTRACT_SELECTORS, startGateway } from './observatorium.js';

export interface Outcome {
  name: string;
  status: number;
  /** What reached Loki for this request (none for a denial). */
  hits: LokiHit[];
}

export interface DriverReport {
  kind: TenantKind;
  results: Record<'ours' | 'opaOpenshift', Outcome[]>;
}

const KINDS = {
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

async function send(gatewayUrl: string, c: GatewayCase, token: string | undefined): Promise<number> {
  const url = new URL(`${gatewayUrl}/api/logs/v1/${c.tenant}${c.path}`);
  for (const [k, v] of Object.entries(c.params ?? {})) url.searchParams.set(k, v);
  const headers: Record<string, string> = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (c.body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(url, { method: c.method, headers, redirect: 'manual', ...(c.body !== undefined ? { body: c.body } : {}), signal: AbortSignal.timeout(15_000) });
  await res.arrayBuffer();
  return res.status;
}

async function main(): Promise<void> {
  const kind = process.argv[2] as TenantKind;
  const spec = KINDS[kind];
  if (!spec) throw new Error(`unknown tenant kind ${String(kind)}`);
  const opaOpenshiftBin = process.env.OPA_OPENSHIFT_BIN;
  const gatewayBin = process.env.OBSERVATORIUM_API_BIN;
  if (!opaOpenshiftBin || !gatewayBin) throw new Error('OPA_OPENSHIFT_BIN and OBSERVATORIUM_API_BIN must be set');

  enterInCluster();
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
    for (const [which, authz] of [['ours', ours.url], ['opaOpenshift', theirs.url]] as const) {
      const gateway = await startGateway({
        bin: gatewayBin,
        lokiUrl: loki.url,
        tenants: openshiftTenants(spec.tenants, `${authz}/v1/data/lokistack/allow`),
        rbac: 'roles: []\nroleBindings: []\n',
        extractSelectors: EXTRACT_SELECTORS[kind],
        env,
      });
      try {
        // The openshift tenants register once the gateway has read the OAuth metadata: wait for an admin read to pass.
        const warm: GatewayCase = { name: 'warm', who: 'admin', tenant: spec.warmTenant, method: 'GET', path: '/loki/api/v1/labels', status: 200 };
        let status = 0;
        for (let i = 0; i < 100 && status !== 200; i++) {
          status = await send(gateway.url, warm, warmToken).catch(() => 0);
          if (status !== 200) await new Promise((r) => setTimeout(r, 200));
        }
        if (status !== 200) throw new Error(`the gateway never served the ${spec.warmTenant} tenant (last status ${status}):\n${gateway.output()}`);
        const outcomes: Outcome[] = [];
        for (const [i, c] of spec.cases.entries()) {
          loki.hits.length = 0;
          const got = await send(gateway.url, c, tokenFor(i, c));
          outcomes.push({ name: c.name, status: got, hits: [...loki.hits] });
        }
        results[which] = outcomes;
      } finally {
        await gateway.stop();
      }
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
    process.stderr.write(`gateway e2e driver: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  },
);
