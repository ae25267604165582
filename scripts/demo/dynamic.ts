import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { startOidcProvider, type OidcProvider } from '../../test/support/oidc.js';
import { repoPath, scratch, shown, startDemoService } from './service.js';
import { startTokenEndpoint } from './token-endpoint.js';
import type { DemoExample, DemoMode, DemoOptions, RunningDemo } from './types.js';

const ALLOW = '/v1/data/lokistack/allow';
/** Long enough to try things at leisure; the demo mints new ones on every start. */
const TOKEN_TTL_SECONDS = 8 * 3600;
const CLIENT = { client_id: 'lokistack', client_secret: 'demo-secret' };

/** The provider's accounts; the tenant names users by `email` (docs/examples/dynamic-tenants.yaml). */
const ACCOUNTS = {
  alice: { claims: { email: 'alice@example.com', groups: ['developers'] } },
  bob: { claims: { email: 'bob@example.com', groups: ['qa'] } },
};

export const DYNAMIC_EXAMPLES: readonly DemoExample[] = [
  {
    title: "alice's token proves alice@example.com in group developers: allowed (no identity in the input needed)",
    method: 'POST',
    path: ALLOW,
    headers: [['Authorization', 'Bearer $ALICE']],
    body: '{"input":{"permission":"read","resource":"logs","tenant":"application"}}',
    answer: '{"result":true}',
  },
  {
    title: "bob asserting alice's identity is decided as bob: denied",
    method: 'POST',
    path: ALLOW,
    headers: [['X-Forwarded-Access-Token', '$BOB']],
    body: '{"input":{"subject":"alice@example.com","groups":["developers"],"permission":"read","resource":"logs","tenant":"application"}}',
    answer: '{"result":false}',
    note: "log: level=warn … asserted=alice@example.com verified=bob@example.com\n     msg=\"the input's subject differs from the token's; deciding for the token's\"",
  },
  {
    title: 'no token: denied, whatever the input asserts',
    method: 'POST',
    path: ALLOW,
    headers: [],
    body: '{"input":{"subject":"alice@example.com","groups":["developers"],"permission":"read","resource":"logs","tenant":"application"}}',
    answer: '{"result":false}',
    note: 'log: level=info … msg="denied: no identity"',
  },
];

export const dynamicMode: DemoMode = {
  name: 'dynamic',
  summary: 'a real OIDC provider on loopback mints the tokens; the service verifies them',
  start: (options) => (options.fixtures ? startFixtureSet(options, options.fixtures) : startExample(options)),
};

async function startExample(options: DemoOptions): Promise<RunningDemo> {
  return startDynamicDemo(options, [], DYNAMIC_EXAMPLES);
}

/**
 * The example dynamic setup: a real provider with alice and bob, docs/examples/dynamic-tenants.yaml
 * pointing at it, and the service with `extraFlags` (forward-auth's demo adds --forward-auth.enabled).
 */
export async function startDynamicDemo(options: DemoOptions, extraFlags: readonly string[], examples: readonly DemoExample[]): Promise<RunningDemo> {
  const files = scratch();
  const stops: Array<() => Promise<void>> = [async () => files.remove()];
  try {
    const provider = await startOidcProvider({ accounts: ACCOUNTS, clients: [CLIENT], audience: CLIENT.client_id, accessTokenTtlSeconds: TOKEN_TTL_SECONDS });
    stops.unshift(() => provider.stop());
    const template = readFileSync(repoPath('docs/examples/dynamic-tenants.yaml'), 'utf8');
    const tenants = files.write('tenants.yaml', template.replaceAll('${ISSUER}', provider.issuer));
    const svc = await startDemoService(
      [
        '--mode=dynamic',
        `--rbac.config=${shown(repoPath('deploy/examples/rbac.yaml'))}`,
        `--tenants.config=${tenants}`,
        '--oidc.allow-insecure-issuers',
        ...extraFlags,
      ],
      options,
      options.log,
    );
    stops.unshift(() => svc.service.shutdown());
    const mint = (account: string) => provider.jwtAccessToken(account, { clientId: CLIENT.client_id });
    return {
      url: svc.url,
      upstreams: [
        `provider ${provider.issuer}  (oidc-provider; client ${CLIENT.client_id}; accounts alice, bob; tenants.yaml from docs/examples/dynamic-tenants.yaml)`,
      ],
      command: svc.command,
      variables: [
        ['ALICE', await mint('alice')],
        ['BOB', await mint('bob')],
      ],
      examples: [...examples],
      notes: [`The tokens are JWT access tokens (aud ${CLIENT.client_id}) valid for ${TOKEN_TTL_SECONDS / 3600} hours.`],
      stop: () => runAll(stops),
    };
  } catch (err) {
    await runAll(stops);
    throw err;
  }
}

interface ProviderSpec {
  clients: Array<{ client_id: string; client_secret: string }>;
  accounts: Record<string, Record<string, unknown>>;
}

/**
 * A dynamic fixture set (identities.yaml, tenants.yaml with ${ISSUER_<NAME>}, rbac.yaml): one
 * provider per identities.yaml entry, the service on the set's own configuration, and a token
 * endpoint so `lokistack-authz test --token-url` can mint what each case names.
 */
async function startFixtureSet(options: DemoOptions, dir: string): Promise<RunningDemo> {
  for (const f of ['identities.yaml', 'tenants.yaml', 'rbac.yaml']) {
    if (!existsSync(join(dir, f))) throw new Error(`${shown(dir)} is not a dynamic fixture set: it has no ${f}`);
  }
  const specs = loadIdentities(join(dir, 'identities.yaml'));
  const files = scratch();
  const stops: Array<() => Promise<void>> = [async () => files.remove()];
  try {
    const providers = new Map<string, { provider: OidcProvider; clientId: string; accounts: ReadonlySet<string> }>();
    let tenants = readFileSync(join(dir, 'tenants.yaml'), 'utf8');
    for (const [name, spec] of Object.entries(specs)) {
      const provider = await startOidcProvider({
        accounts: Object.fromEntries(Object.entries(spec.accounts).map(([id, claims]) => [id, { claims }])),
        clients: spec.clients,
      });
      stops.unshift(() => provider.stop());
      providers.set(name, { provider, clientId: spec.clients[0]!.client_id, accounts: new Set(Object.keys(spec.accounts)) });
      tenants = tenants.replaceAll(`\${ISSUER_${name.toUpperCase()}}`, provider.issuer);
    }
    const left = /\$\{[^}]*\}/.exec(tenants);
    if (left) throw new Error(`${shown(join(dir, 'tenants.yaml'))}: ${left[0]} names no provider of identities.yaml`);
    const svc = await startDemoService(
      [
        '--mode=dynamic',
        `--rbac.config=${shown(join(dir, 'rbac.yaml'))}`,
        `--tenants.config=${files.write('tenants.yaml', tenants)}`,
        '--oidc.allow-insecure-issuers',
      ],
      options,
      options.log,
    );
    stops.unshift(() => svc.service.shutdown());
    const tokens = await startTokenEndpoint(providers);
    stops.unshift(() => tokens.stop());
    return {
      url: svc.url,
      upstreams: [
        ...[...providers].map(([name, p]) => `provider ${name}  ${p.provider.issuer}`),
        `tokens    ${tokens.url}  (mints what a case's token names; demo only)`,
      ],
      command: svc.command,
      variables: [],
      examples: [],
      notes: [`Run the set's cases:  npx lokistack-authz test --url=${svc.url} --token-url=${tokens.url} ${shown(dir)}`],
      stop: () => runAll(stops),
    };
  } catch (err) {
    await runAll(stops);
    throw err;
  }
}

function loadIdentities(file: string): Record<string, ProviderSpec> {
  const doc = parseYaml(readFileSync(file, 'utf8')) as { providers?: Record<string, Partial<ProviderSpec>> } | null;
  const providers = doc?.providers;
  if (!providers || typeof providers !== 'object') throw new Error(`${shown(file)}: needs a "providers" mapping`);
  for (const [name, p] of Object.entries(providers)) {
    if (!Array.isArray(p?.clients) || p.clients.length === 0 || typeof p.accounts !== 'object' || p.accounts === null) {
      throw new Error(`${shown(file)}: providers.${name} needs clients and accounts`);
    }
  }
  return providers as Record<string, ProviderSpec>;
}

/** Runs every stop in order, even when one fails, so nothing is left listening. */
export async function runAll(stops: ReadonlyArray<() => Promise<void>>): Promise<void> {
  for (const stop of stops) await stop().catch(() => {});
}
