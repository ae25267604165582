// The dynamic-mode decision fixtures (fixtures/dynamic/<set>/) over real HTTP: for each set two real
// OIDC providers (issuers a and b, knowing the accounts of identities.yaml) are started, tenants.yaml
// is written with their URLs, and the service runs in-process with --mode=dynamic on the set's
// rbac.yaml. Each case mints the token its `token` key names, sends it as the gateway would, and
// checks the answer with the static fixtures' comparison. The rest of a case is the project's
// fixture format, parsed by its own strict parser (server/cases/cases.ts) with `token` as the
// one extra key.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { parseTenants } from '../server/config/tenants.js';
import { parseCasesFile } from '../server/cases/cases.js';
import { isRecord } from '../server/file-format.js';
import { startOidcProvider, type OidcProvider } from './support/oidc.js';
import { assertAnswer, send, type FixtureCase } from './support/fixtures.js';
import { startTestService, writeTempFile, type TestService } from './support/service.js';

const DYNAMIC_FIXTURES = fileURLToPath(new URL('../fixtures/dynamic/', import.meta.url));
const ISSUERS = ['a', 'b'] as const;
type IssuerName = (typeof ISSUERS)[number];
const PLACEHOLDER: Record<IssuerName, string> = { a: '${ISSUER_A}', b: '${ISSUER_B}' };

type TokenKind = 'jwt' | 'opaque' | 'expired' | 'none' | 'garbage';
type TokenHeader = 'x-forwarded-access-token' | 'authorization';
type TokenSpec =
  | { kind: 'jwt' | 'opaque' | 'expired'; issuer: IssuerName; account: string; header: TokenHeader; denied?: string }
  | { kind: 'none' }
  | { kind: 'garbage'; header: TokenHeader };

/**
 * What the service must conclude about the caller before the policy runs, read from its log: a
 * verified identity, or a denial (with its code where one is wanted). This keeps a deny case from
 * passing for a reason other than the one it is about.
 */
type Outcome = { verified: true } | { verified: false; code?: string };

interface ProviderSpec {
  clients: Array<{ client_id: string; client_secret: string }>;
  accounts: Record<string, Record<string, unknown>>;
}

interface DynamicCase {
  fixture: FixtureCase;
  token: TokenSpec;
}

interface DynamicSet {
  name: string;
  rbacFile: string;
  /** tenants.yaml with ${ISSUER_A} / ${ISSUER_B} still in it. */
  tenantsTemplate: string;
  /** Tenant name -> the issuer it trusts. */
  tenantIssuers: Map<string, IssuerName>;
  providers: Record<IssuerName, ProviderSpec>;
  cases: DynamicCase[];
}

function loadDynamicSets(root: string = DYNAMIC_FIXTURES): DynamicSet[] {
  const sets = readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => loadDynamicSet(join(root, d.name), d.name))
    .sort((a, b) => a.name.localeCompare(b.name));
  if (sets.length === 0) throw new Error(`${root}: no fixture sets`);
  return sets;
}

function loadDynamicSet(dir: string, name: string): DynamicSet {
  const providers = loadIdentities(join(dir, 'identities.yaml'));
  const tenantsFile = join(dir, 'tenants.yaml');
  const tenantsTemplate = readFileSync(tenantsFile, 'utf8');
  const tenantIssuers = checkTenants(tenantsFile, tenantsTemplate, providers);

  // The project's strict case parser, with `token` as this runner's one extra key.
  const casesFile = join(dir, 'cases.yaml');
  const cases = parseCasesFile(casesFile, readFileSync(casesFile, 'utf8'), name, ['token']).map((fixture) => ({
    fixture,
    token: tokenSpec(fixture.extra.token, providers, (msg) => new Error(`${casesFile}: case "${fixture.note}": ${msg}`)),
  }));
  return {
    name,
    rbacFile: join(dir, 'rbac.yaml'),
    tenantsTemplate,
    tenantIssuers,
    providers,
    cases,
  };
}

function loadIdentities(file: string): Record<IssuerName, ProviderSpec> {
  const fail = (msg: string): never => {
    throw new Error(`${file}: ${msg}`);
  };
  const doc = parseYaml(readFileSync(file, 'utf8')) as unknown;
  if (!isRecord(doc) || !isRecord(doc.providers)) return fail('needs a "providers" mapping');
  const keys = Object.keys(doc.providers).sort();
  if (keys.join(',') !== 'a,b') fail(`providers must be exactly a and b, got ${keys.join(', ')}`);
  const out = {} as Record<IssuerName, ProviderSpec>;
  for (const issuer of ISSUERS) {
    const p = doc.providers[issuer];
    if (!isRecord(p)) return fail(`providers.${issuer} must be a mapping`);
    for (const k of Object.keys(p)) if (k !== 'clients' && k !== 'accounts') fail(`providers.${issuer}: unknown key "${k}"`);
    const clients = Array.isArray(p.clients) ? p.clients : fail(`providers.${issuer}.clients must be a list`);
    if (clients.length === 0 || !clients.every((c) => isRecord(c) && typeof c.client_id === 'string' && typeof c.client_secret === 'string')) {
      fail(`providers.${issuer}.clients: each needs client_id and client_secret`);
    }
    const accounts = isRecord(p.accounts) ? p.accounts : fail(`providers.${issuer}.accounts must map account ids to claims`);
    for (const [id, claims] of Object.entries(accounts)) {
      if (!isRecord(claims)) fail(`providers.${issuer}.accounts.${id} must be a mapping of claims`);
      if ('sub' in (claims as Record<string, unknown>)) fail(`providers.${issuer}.accounts.${id}: sub is the account id, not a claim to set`);
    }
    out[issuer] = { clients: clients as ProviderSpec['clients'], accounts: accounts as ProviderSpec['accounts'] };
  }
  return out;
}

/** tenants.yaml must parse once its placeholders are filled, and name clients its issuer knows. */
function checkTenants(file: string, template: string, providers: Record<IssuerName, ProviderSpec>): Map<string, IssuerName> {
  const issuers = new Map<string, IssuerName>();
  for (const issuer of ISSUERS) if (!template.includes(PLACEHOLDER[issuer])) throw new Error(`${file}: ${PLACEHOLDER[issuer]} is not used`);
  const fakeUrl = (issuer: IssuerName) => `http://issuer-${issuer}.invalid`;
  const filled = fillIssuers(template, { a: fakeUrl('a'), b: fakeUrl('b') });
  for (const t of parseTenants(file, filled)) {
    const issuer = ISSUERS.find((i) => t.oidc.issuerURL === fakeUrl(i));
    if (!issuer) throw new Error(`${file}: tenant ${t.name}: issuerURL must be ${PLACEHOLDER.a} or ${PLACEHOLDER.b}`);
    if (!providers[issuer].clients.some((c) => c.client_id === t.oidc.clientID)) {
      throw new Error(`${file}: tenant ${t.name}: client ${t.oidc.clientID} is not a client of provider ${issuer} in identities.yaml`);
    }
    issuers.set(t.name, issuer);
  }
  return issuers;
}

function fillIssuers(template: string, urls: Record<IssuerName, string>): string {
  const filled = template.replaceAll(PLACEHOLDER.a, urls.a).replaceAll(PLACEHOLDER.b, urls.b);
  const left = /\$\{[^}]*\}/.exec(filled);
  if (left) throw new Error(`tenants.yaml: unknown placeholder ${left[0]}`);
  return filled;
}

function tokenSpec(raw: unknown, providers: Record<IssuerName, ProviderSpec>, fail: (msg: string) => Error): TokenSpec {
  if (!isRecord(raw)) throw fail('needs token: {issuer, account, kind} (or {kind: none|garbage})');
  for (const k of Object.keys(raw)) if (!['issuer', 'account', 'kind', 'header', 'denied'].includes(k)) throw fail(`token: unknown key "${k}"`);
  const kinds: TokenKind[] = ['jwt', 'opaque', 'expired', 'none', 'garbage'];
  const kind = raw.kind as TokenKind;
  if (!kinds.includes(kind)) throw fail(`token.kind must be one of ${kinds.join(', ')}`);
  const header = raw.header ?? 'x-forwarded-access-token';
  if (header !== 'x-forwarded-access-token' && header !== 'authorization') throw fail('token.header must be x-forwarded-access-token or authorization');
  if (kind === 'none') {
    if (Object.keys(raw).length !== 1) throw fail('token {kind: none} takes no other key');
    return { kind };
  }
  if (raw.denied !== undefined && (typeof raw.denied !== 'string' || kind === 'garbage')) throw fail('token.denied is the code a valid token is denied with');
  if (kind === 'garbage') {
    if (raw.issuer !== undefined || raw.account !== undefined) throw fail('a garbage token has no issuer or account');
    return { kind, header };
  }
  const issuer = raw.issuer as IssuerName;
  if (!ISSUERS.includes(issuer)) throw fail('token.issuer must be a or b');
  if (typeof raw.account !== 'string' || !(raw.account in providers[issuer].accounts)) {
    throw fail(`token.account ${JSON.stringify(raw.account)} is not an account of provider ${issuer}`);
  }
  return { kind, issuer, account: raw.account, header, ...(typeof raw.denied === 'string' ? { denied: raw.denied } : {}) };
}

/** The identity outcome a case's token must have on the tenant its input names. */
function expectedOutcome(spec: TokenSpec, tenant: unknown, tenantIssuers: ReadonlyMap<string, IssuerName>): Outcome {
  // no_token denials carry no code in the log (reported); test/dynamic-mode.test.ts asserts one.
  if (spec.kind === 'none') return { verified: false };
  const issuer = typeof tenant === 'string' ? tenantIssuers.get(tenant) : undefined;
  if (!issuer) return { verified: false, code: 'unknown_tenant' };
  if (spec.kind === 'garbage') return { verified: false, code: 'inactive' };
  if (spec.kind === 'expired') return { verified: false, code: 'expired' };
  // Each provider has its own random keys: another issuer's JWT matches none of the tenant's keys,
  // and its opaque token is unknown to the tenant's provider.
  if (spec.issuer !== issuer) return { verified: false, code: spec.kind === 'jwt' ? 'bad_signature' : 'inactive' };
  return spec.denied ? { verified: false, code: spec.denied } : { verified: true };
}

function assertOutcome(lines: readonly string[], want: Outcome): void {
  const denials = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => r.msg === 'denied: no identity');
  if (want.verified) {
    assert.deepEqual(denials, [], 'the token is verified');
    return;
  }
  assert.equal(denials.length, 1, 'one denial is logged');
  if (want.code !== undefined) assert.equal(denials[0]!.code, want.code, 'the denial code');
}

/** The token a case names, minted now by its provider; undefined for kind none. */
async function mint(spec: TokenSpec, providers: Record<IssuerName, OidcProvider>, specs: Record<IssuerName, ProviderSpec>): Promise<string | undefined> {
  switch (spec.kind) {
    case 'none':
      return undefined;
    case 'garbage':
      return `garbage-${randomBytes(24).toString('base64url')}`;
    default: {
      const p = providers[spec.issuer];
      const clientId = specs[spec.issuer].clients[0]!.client_id;
      if (spec.kind === 'jwt') return p.jwtAccessToken(spec.account, { clientId });
      if (spec.kind === 'expired') return p.expiredJwtAccessToken(spec.account, { clientId });
      return p.opaqueAccessToken(spec.account, { clientId });
    }
  }
}

function tokenHeaders(spec: TokenSpec, token: string | undefined): Record<string, string> {
  if (spec.kind === 'none' || token === undefined) return {};
  return spec.header === 'authorization' ? { Authorization: `Bearer ${token}` } : { 'X-Forwarded-Access-Token': token };
}

describe('dynamic decision fixtures: HTTP service against two real OIDC providers', () => {
  for (const set of loadDynamicSets()) {
    describe(`set ${set.name}`, () => {
      const providers = {} as Record<IssuerName, OidcProvider>;
      let authz: TestService | undefined;

      before(async () => {
        const started = await Promise.all(
          ISSUERS.map((i) =>
            startOidcProvider({
              accounts: Object.fromEntries(Object.entries(set.providers[i].accounts).map(([id, claims]) => [id, { claims }])),
              clients: set.providers[i].clients,
            }),
          ),
        );
        ISSUERS.forEach((issuer, n) => (providers[issuer] = started[n]!));
        const tenantsFile = writeTempFile('tenants.yaml', fillIssuers(set.tenantsTemplate, { a: providers.a.issuer, b: providers.b.issuer }));
        authz = await startTestService({
          rbacFile: set.rbacFile,
          flags: ['--mode=dynamic', `--tenants.config=${tenantsFile}`, '--oidc.allow-insecure-issuers'],
        });
      });
      after(async () => {
        await authz?.stop();
        await Promise.all(ISSUERS.map((i) => providers[i]?.stop()));
      });

      for (const c of set.cases) {
        it(`${set.name}: ${c.fixture.note}`, async () => {
          const token = await mint(c.token, providers, set.providers);
          const fixture = { ...c.fixture, headers: { ...c.fixture.headers, ...tokenHeaders(c.token, token) } };
          const logged = authz!.log.lines.length;
          const answer = await send(authz!.publicUrl, fixture);
          try {
            assertAnswer(answer, fixture, 'service');
            if (fixture.wantStatus === 200) {
              const input = isRecord(fixture.input) ? fixture.input : {};
              assertOutcome(authz!.log.lines.slice(logged), expectedOutcome(c.token, input.tenant, set.tenantIssuers));
            }
          } catch (err) {
            // What the service said about this request is the quickest way to why.
            const lines = authz!.log.lines.slice(logged).join('');
            (err as Error).message += `\n--- service log for this case ---\n${lines}`;
            throw err;
          }
          assert.ok(!authz!.log.text().includes(token ?? '\0'), 'the token never reaches the log');
        });
      }
    });
  }
});
