/**
 * Driver for test/label-policy-gateway.test.ts, run inside `unshare --mount --net` (as the gateway
 * suite's driver is, test/support/gateway/namespace.ts): a real oidc-provider, the recording Loki
 * stand-in, this service in static mode on LABEL_RBAC, and the real LokiStack gateway
 * (observatorium/api) with OIDC tenants whose opa.url is this service; then the same gateway with a
 * stand-in authorizer that answers the matchers label-gateway.ts would give with answerMatchers on
 * (for dan and pat's policies). Sends each case with its account's JWT and prints
 * {ours: Outcome[], matchers: Outcome[]} as one JSON line on stdout.
 *
 *   GATEWAY_E2E_IN_NAMESPACE=1 OBSERVATORIUM_API_BIN=... \
 *     unshare --mount --net --propagation private node --import tsx test/label-policy-gateway.driver.ts
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import { gatewayMatchers } from '../server/decision/label-gateway.js';
import { parseSelector } from '../server/policy/label-policy.js';
import { startOidcProvider } from './support/oidc.js';
import { LOOPBACK_LISTENERS, startAuthz } from './support/openshift.js';
import { makeTempDir, writeTempFile } from './support/service.js';
import { startLokiStandIn, type LokiHit } from './support/gateway/loki.js';
import { enterInCluster } from './support/gateway/namespace.js';
import { startGateway } from './support/gateway/observatorium.js';
import { send } from './support/gateway/client.js';

export interface LabelCase {
  name: string;
  account: string;
  tenant: string;
  method: 'GET' | 'POST';
  path: string;
  params: Record<string, string>;
  body?: string;
}

export interface LabelReport {
  ours: LabelOutcome[];
  matchers: LabelOutcome[];
}

export interface LabelOutcome {
  name: string;
  status: number;
  hits: LokiHit[];
}

/** GEL's example policies, one selector of equality matchers, one with a regex, and readers without selectors. */
export const LABEL_RBAC = `roles:
  - {name: prod-not-secret, resources: [logs], tenants: [application], permissions: [read], selectors: ['{secret!="true", env="prod"}']}
  - {name: dev-only, resources: [logs], tenants: [application], permissions: [read], selectors: ['{env="dev"}']}
  - {name: payments, resources: [logs], tenants: [application], permissions: [read], selectors: ['{team=~"pay.*", env="prod"}']}
  - {name: application-all, resources: [logs], tenants: [application], permissions: [read]}
  - {name: writer, resources: [logs], tenants: [application], permissions: [write], selectors: ['{env="dev"}']}
roleBindings:
  - {name: gel, roles: [prod-not-secret, dev-only], subjects: [{kind: user, name: gail}]}
  - {name: dev, roles: [dev-only], subjects: [{kind: group, name: developers}]}
  - {name: pay, roles: [payments], subjects: [{kind: user, name: pat}]}
  - {name: admins, roles: [application-all], subjects: [{kind: user, name: ada}]}
  - {name: writer, roles: [writer], subjects: [{kind: user, name: collector}]}
`;

export const LABEL_ACCOUNTS = {
  gail: { claims: { preferred_username: 'gail', groups: [] } },
  dan: { claims: { preferred_username: 'dan', groups: ['developers'] } },
  pat: { claims: { preferred_username: 'pat', groups: [] } },
  ada: { claims: { preferred_username: 'ada', groups: [] } },
  collector: { claims: { preferred_username: 'collector', groups: [] } },
};

const RANGE = { start: '1700000000000000000', end: '1700000300000000000', limit: '10' };
const read = (name: string, account: string, query: string, path = '/loki/api/v1/query_range'): LabelCase => ({
  name,
  account,
  tenant: 'application',
  method: 'GET',
  path,
  params: { query, ...RANGE },
});

export const LABEL_CASES: LabelCase[] = [
  read('dan reads his streams', 'dan', '{env="dev"}'),
  read('dan asks for prod', 'dan', '{env="prod"}'),
  read('dan asks for any env by regex', 'dan', '{env=~".+"}'),
  read('dan asks for dev or prod', 'dan', '{env=~"dev|prod"}'),
  read('dan asks for every env but dev', 'dan', '{env!="dev"}'),
  read('dan asks for every env not matching x', 'dan', '{env!~"x"}'),
  read('dan asks by another label', 'dan', '{team="a"}'),
  read('dan asks with a line filter', 'dan', '{team="a"} |= "error"'),
  read('dan asks with a metric query', 'dan', 'sum(count_over_time({team="a"}[5m]))'),
  read('dan asks for two selectors', 'dan', 'count_over_time({env="prod"}[5m]) or count_over_time({team="b"}[5m])'),
  read('dan asks with an instant query', 'dan', '{env="prod"}', '/loki/api/v1/query'),
  read('pat reads payments in prod', 'pat', '{team="payments", env="prod"}'),
  read('pat asks for every team', 'pat', '{team=~".+"}'),
  read('pat asks for a team outside his regex', 'pat', '{team="billing", env="prod"}'),
  read('pat asks for his regex widened', 'pat', '{team=~"pay.*|.*", env="prod"}'),
  read("gail's two policies cannot be expressed", 'gail', '{env="dev"}'),
  read('ada reads the whole tenant', 'ada', '{env="prod", secret="true"}'),
  read('the writer reads nothing', 'collector', '{env="dev"}'),
  {
    name: 'the writer pushes any stream (writes are not label-restricted)',
    account: 'collector',
    tenant: 'application',
    method: 'POST',
    path: '/loki/api/v1/push',
    params: {},
    body: JSON.stringify({ streams: [{ stream: { env: 'prod' }, values: [['1700000000000000000', 'hello']] }] }),
  },
];

const CLIENT = { client_id: 'lokistack-gateway', client_secret: 'label-policy-e2e-secret' };

function tenantsYaml(issuer: string, opaUrl: string): string {
  return [
    'tenants:',
    '- name: application',
    '  id: application',
    '  oidc:',
    `    clientID: ${CLIENT.client_id}`,
    `    clientSecret: ${CLIENT.client_secret}`,
    `    issuerURL: ${issuer}`,
    '    redirectURL: http://127.0.0.1/oidc/application/callback',
    '    usernameClaim: preferred_username',
    '    groupClaim: groups',
    '  opa:',
    `    url: ${opaUrl}`,
    '',
  ].join('\n');
}

/** The policies LABEL_RBAC gives dan and pat: what the stand-in answers them as matchers. */
export const MATCHER_POLICIES: Record<string, string> = { dan: '{env="dev"}', pat: '{team=~"pay.*", env="prod"}' };

/** An opa.url answering each subject's policy as label-gateway.ts's matcher answer; others denied. */
async function startMatcherStandIn(): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (c: string) => (body += c));
    req.on('end', () => {
      const subject = (JSON.parse(body) as { input?: { subject?: string } }).input?.subject ?? '';
      const policy = MATCHER_POLICIES[subject];
      const result = policy === undefined ? false : gatewayMatchers(parseSelector(policy));
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ result }));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) };
}

async function runCases(
  gatewayUrl: string,
  loki: Awaited<ReturnType<typeof startLokiStandIn>>,
  cases: readonly LabelCase[],
  tokens: Map<string, string>,
  warmAccount: string,
): Promise<LabelOutcome[]> {
  // The tenant registers once the gateway has read the provider's metadata: wait for a read to pass.
  const warm = read('warm', warmAccount, '{env="x"}');
  let status = 0;
  for (let i = 0; i < 100 && status !== 200; i++) {
    status = await send(gatewayUrl, warm, tokens.get(warmAccount)!).catch(() => 0);
    if (status !== 200) await new Promise((r) => setTimeout(r, 200));
  }
  if (status !== 200) throw new Error(`the gateway never served the tenant (last status ${status})`);
  const outcomes: LabelOutcome[] = [];
  for (const c of cases) {
    loki.hits.length = 0;
    const got = await send(gatewayUrl, c, tokens.get(c.account)!);
    outcomes.push({ name: c.name, status: got, hits: [...loki.hits] });
  }
  return outcomes;
}

async function main(): Promise<void> {
  const bin = process.env.OBSERVATORIUM_API_BIN;
  if (!bin) throw new Error('OBSERVATORIUM_API_BIN must be set');
  enterInCluster();
  const provider = await startOidcProvider({ accounts: LABEL_ACCOUNTS, clients: [CLIENT], audience: CLIENT.client_id });
  const loki = await startLokiStandIn();
  const rbacPath = writeTempFile('rbac.yaml', LABEL_RBAC, makeTempDir('label-policy-e2e-'));
  const ours = await startAuthz([...LOOPBACK_LISTENERS, '--mode=static', `--rbac.config=${rbacPath}`], { kubeconfig: '' });
  const standIn = await startMatcherStandIn();
  try {
    const tokens = new Map<string, string>();
    for (const account of Object.keys(LABEL_ACCOUNTS)) tokens.set(account, await provider.jwtAccessToken(account, { clientId: CLIENT.client_id }));
    const report = {} as LabelReport;
    for (const [which, opaUrl, cases, warm] of [
      ['ours', ours.url, LABEL_CASES, 'ada'],
      ['matchers', standIn.url, LABEL_CASES.filter((c) => c.account in MATCHER_POLICIES), 'dan'],
    ] as const) {
      const gateway = await startGateway({
        bin,
        lokiUrl: loki.url,
        tenants: tenantsYaml(provider.issuer, `${opaUrl}/v1/data/lokistack/allow`),
        rbac: 'roles: []\nroleBindings: []\n',
      });
      try {
        report[which] = await runCases(gateway.url, loki, cases, tokens, warm);
      } catch (err) {
        throw new Error(`${(err as Error).message}:\n${gateway.output()}`);
      } finally {
        await gateway.stop();
      }
    }
    process.stdout.write(`${JSON.stringify(report)}\n`);
  } finally {
    await standIn.close();
    await ours.stop();
    await loki.close();
    await provider.stop();
  }
}

if (process.env.GATEWAY_E2E_IN_NAMESPACE === '1' && process.argv[1]?.endsWith('label-policy-gateway.driver.ts')) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`label-policy gateway driver: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
