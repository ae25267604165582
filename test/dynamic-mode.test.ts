// Dynamic mode beyond single decisions, against real OIDC providers (test/support/oidc.ts) and the
// service started in-process: the claims cache and its bounds, key rotation, the provider going
// away, --dynamic.accept-input-without-token, what is logged (and that no token ever is), metrics,
// tenants.yaml validation and the https rule for issuers.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { stringify as stringifyYaml } from 'yaml';
import { parseTenants } from '../server/config/tenants.js';
import { ConfigError } from '../server/errors.js';
import { Backoff } from '../server/oidc/backoff.js';
import { bindIntrospection } from '../server/oidc/binding.js';
import type { IdentityError } from '../server/oidc/identity.js';
import { OidcVerifier } from '../server/oidc/verifier.js';
import { verifierOptions } from './support/oidc-verifier.js';
import { startOidcProvider, type JwtMintOptions, type OidcProvider, type OidcProviderOptions } from './support/oidc.js';
import { captureLogger, eventually, metricValue, startTestService, writeTempFile, type CapturedLogger, type TestService } from './support/service.js';

// ---- the world these tests decide in --------------------------------------------------------------

const CLIENT = { client_id: 'gateway', client_secret: 'gateway-secret' };
const ACCOUNTS: OidcProviderOptions['accounts'] = {
  alice: { claims: { preferred_username: 'alice', groups: ['readers'] } },
  mallory: { claims: { preferred_username: 'mallory', groups: ['staff'] } },
  dave: { claims: { preferred_username: 'dave', groups: [], organization: 'acme' } },
};
/** readers (and alice) read application logs; organization acme reads them too, by claim. */
const RBAC = `roles:
  - name: application-read
    resources: [logs]
    tenants: [application, infrastructure, stalled, unreachable]
    permissions: [read]
roleBindings:
  - name: readers
    roles: [application-read]
    subjects:
      - {kind: group, name: readers}
      - {kind: user, name: alice}
claimRoleBindings:
  - name: acme
    claim: organization
    values: [acme]
    roles: [application-read]
`;

/** Every token the tests mint or make up, and every log they capture: checked together at the end. */
const tokensSeen: string[] = [];
const logsSeen: CapturedLogger[] = [];
/** Decision log files (OPA's events) written by services above: logs too. */
const decisionLogFiles: string[] = [];

function track(token: string): string {
  tokensSeen.push(token);
  return token;
}

const startProvider = (options: Partial<OidcProviderOptions> = {}): Promise<OidcProvider> =>
  startOidcProvider({ accounts: ACCOUNTS, clients: [CLIENT], ...options });
const jwt = async (p: OidcProvider, account = 'alice', o: Omit<JwtMintOptions, 'clientId'> = {}) =>
  track(await p.jwtAccessToken(account, { clientId: CLIENT.client_id, ...o }));
const opaque = async (p: OidcProvider, account = 'alice') => track(await p.opaqueAccessToken(account, { clientId: CLIENT.client_id }));

interface TenantSpec {
  name: string;
  issuerURL: string;
  introspection?: boolean;
  /** oidc.userinfoOpaqueTokens: opaque tokens resolved at userinfo, unbound. */
  userinfo?: boolean;
}

function tenantsYaml(tenants: readonly TenantSpec[]): string {
  return stringifyYaml({
    tenants: tenants.map((t) => ({
      name: t.name,
      id: t.name,
      oidc: {
        clientID: CLIENT.client_id,
        clientSecret: CLIENT.client_secret,
        issuerURL: t.issuerURL,
        usernameClaim: 'preferred_username',
        groupClaim: 'groups',
        audiences: ['lokistack-authz'],
        ...(t.introspection ? { introspection: true } : {}),
        ...(t.userinfo ? { userinfoOpaqueTokens: true } : {}),
      },
    })),
  });
}

/** The service in dynamic mode on RBAC and these tenants; http issuers allowed unless `secure`. */
async function startDynamic(tenants: readonly TenantSpec[], flags: string[] = [], options: { secure?: boolean } = {}): Promise<TestService> {
  const log = captureLogger('debug');
  logsSeen.push(log);
  const tenantsFile = writeTempFile('tenants.yaml', tenantsYaml(tenants));
  return startTestService({
    rbac: RBAC,
    logger: log,
    flags: ['--mode=dynamic', `--tenants.config=${tenantsFile}`, ...(options.secure ? [] : ['--oidc.allow-insecure-issuers']), ...flags],
  });
}

function input(tenant = 'application', over: Record<string, unknown> = {}): Record<string, unknown> {
  return { groups: [], permission: 'read', resource: 'logs', subject: '', tenant, tenantID: tenant, token: '', extras: {}, ...over };
}

interface Answer {
  status: number;
  body: unknown;
  ms: number;
}

async function ask(
  svc: TestService,
  body: Record<string, unknown>,
  token?: string,
  header: 'x-forwarded-access-token' | 'authorization' = 'x-forwarded-access-token',
): Promise<Answer> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token !== undefined) headers[header] = header === 'authorization' ? `Bearer ${token}` : token;
  const started = performance.now();
  const res = await fetch(`${svc.publicUrl}/v1/data/lokistack/allow`, { method: 'POST', headers, body: JSON.stringify({ input: body }) });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as unknown, ms: performance.now() - started };
}

/** The decision, asserting the answer is a 200 {"result": boolean}. */
async function allowed(
  svc: TestService,
  body: Record<string, unknown>,
  token?: string,
  header?: 'x-forwarded-access-token' | 'authorization',
): Promise<boolean> {
  const a = await ask(svc, body, token, header);
  assert.equal(a.status, 200, JSON.stringify(a.body));
  const result = (a.body as { result?: unknown }).result;
  assert.equal(typeof result, 'boolean', JSON.stringify(a.body));
  return result as boolean;
}

type LogRecord = Record<string, unknown>;
const records = (log: CapturedLogger, from = 0): LogRecord[] => log.lines.slice(from).map((l) => JSON.parse(l) as LogRecord);
const denials = (log: CapturedLogger, from = 0): LogRecord[] => records(log, from).filter((r) => r.msg === 'denied: no identity');

async function metricsText(svc: TestService): Promise<string> {
  const res = await fetch(`${svc.internalUrl}/metrics`);
  assert.equal(res.status, 200);
  return res.text();
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as { port: number };
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A server that accepts connections and never answers. */
async function stalledServer(): Promise<{ url: string; close(): Promise<void> }> {
  const sockets: Socket[] = [];
  const s: Server = createServer((socket) => void sockets.push(socket));
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        for (const so of sockets) so.destroy();
        s.close(() => r());
      }),
  };
}

/** The same JWT with one character of its signature changed. */
function tamper(token: string): string {
  const [h, p, sig] = token.split('.') as [string, string, string];
  const c = sig[5] === 'A' ? 'B' : 'A';
  return track(`${h}.${p}.${sig.slice(0, 5)}${c}${sig.slice(6)}`);
}

// ---- the claims cache ---------------------------------------------------------------------------

describe('dynamic mode: the claims cache', () => {
  let idp: OidcProvider;
  let svc: TestService;

  before(async () => {
    idp = await startProvider();
    svc = await startDynamic([
      { name: 'application', issuerURL: idp.issuer, userinfo: true },
      { name: 'infrastructure', issuerURL: idp.issuer, introspection: true },
    ]);
  });
  after(async () => {
    await svc?.stop();
    await idp?.stop();
  });

  it('a JWT is checked against keys fetched once; the same token again, or another one, calls the provider no more', async () => {
    idp.requests.reset();
    const t1 = await jwt(idp);
    assert.equal(await allowed(svc, input(), t1), true);
    assert.equal(idp.requests.count('discovery'), 1, 'discovery on first use');
    assert.equal(idp.requests.count('jwks'), 1, 'keys fetched once');
    const calls = idp.requests.log.length;

    assert.equal(await allowed(svc, input(), t1), true);
    assert.equal(await allowed(svc, input(), t1), true);
    const t2 = await jwt(idp);
    assert.equal(await allowed(svc, input(), t2), true);
    assert.deepEqual(idp.requests.log.slice(calls), [], 'no provider call for a cached identity nor for a new JWT signed with a known key');
  });

  it('an opaque token is resolved at userinfo once, then answered from the cache', async () => {
    idp.requests.reset();
    const o1 = await opaque(idp);
    for (let i = 0; i < 3; i++) assert.equal(await allowed(svc, input(), o1), true);
    assert.equal(idp.requests.count('userinfo'), 1);
    const o2 = await opaque(idp, 'mallory');
    for (let i = 0; i < 3; i++) assert.equal(await allowed(svc, input(), o2), false);
    assert.equal(idp.requests.count('userinfo'), 2, 'a new token is one more call, then cached too');
  });

  it('an opaque token is introspected once, then answered from the cache', async () => {
    idp.requests.reset();
    const o = await opaque(idp);
    for (let i = 0; i < 3; i++) assert.equal(await allowed(svc, input('infrastructure'), o), true);
    assert.equal(idp.requests.count('introspection'), 1);
    assert.equal(idp.requests.count('userinfo'), 0);
  });

  it('50 concurrent requests with one new opaque token make one userinfo call', async () => {
    idp.requests.reset();
    const o = await opaque(idp);
    const answers = await Promise.all(Array.from({ length: 50 }, () => allowed(svc, input(), o)));
    assert.deepEqual(new Set(answers), new Set([true]));
    assert.equal(idp.requests.count('userinfo'), 1);
  });

  it('the same token on another tenant is verified for that tenant, not served from the first', async () => {
    idp.requests.reset();
    const o = await opaque(idp);
    assert.equal(await allowed(svc, input('application'), o), true);
    assert.equal(await allowed(svc, input('infrastructure'), o), true);
    assert.equal(idp.requests.count('userinfo'), 1);
    assert.equal(idp.requests.count('introspection'), 1);
  });
});

describe('dynamic mode: cache entries end with the token', () => {
  let idp: OidcProvider;

  before(async () => {
    idp = await startProvider();
  });
  after(async () => {
    await idp?.stop();
  });

  it('a JWT stops allowing once it expires, although its identity was cached', async () => {
    // No clock tolerance: otherwise jose accepts the token for --oidc.clock-tolerance (30s) past exp.
    const svc = await startDynamic([{ name: 'application', issuerURL: idp.issuer }], ['--oidc.clock-tolerance=0s']);
    try {
      const t = await jwt(idp, 'alice', { ttlSeconds: 2 });
      assert.equal(await allowed(svc, input(), t), true);
      assert.equal(await allowed(svc, input(), t), true);
      assert.equal(metricValue(await metricsText(svc), 'oidc_claims_cache_requests_total', { result: 'hit' }), 1, 'the second answer came from the cache');
      const from = svc.log.lines.length;
      const expired = await eventually(async () => !(await allowed(svc, input(), t)), 100, 100);
      assert.ok(expired, 'denied within 10 s of a 2 s token');
      assert.equal(await allowed(svc, input(), t), false, 'and stays denied');
      assert.equal(denials(svc.log, from)[0]?.code, 'expired');
    } finally {
      await svc.stop();
    }
  });

  it('--oidc.max-claims-ttl bounds identities of tokens without exp (opaque, via userinfo)', async () => {
    const svc = await startDynamic([{ name: 'application', issuerURL: idp.issuer, userinfo: true }], ['--oidc.max-claims-ttl=1s']);
    try {
      idp.requests.reset();
      const o = await opaque(idp);
      assert.equal(await allowed(svc, input(), o), true);
      assert.equal(await allowed(svc, input(), o), true);
      assert.equal(idp.requests.count('userinfo'), 1, 'cached at first');
      const asked = await eventually(async () => (await allowed(svc, input(), o)) && idp.requests.count('userinfo') >= 2, 50, 100);
      assert.ok(asked, 'userinfo asked again within 5 s of a 1 s bound');
    } finally {
      await svc.stop();
    }
  });
});

// ---- key rotation -------------------------------------------------------------------------------

describe('dynamic mode: signing key rotation (--oidc.jwks-refresh-cooldown=0s)', () => {
  let idp: OidcProvider;
  let svc: TestService;
  // Signed with the first key; each is sent at most once, at the step named.
  let cachedOld: string;
  let beforeDrop: string;
  let afterDrop: string;
  let afterRefetch: string;

  // Another issuer's token: its kid is unknown to the service, which makes it refetch the keys.
  let stranger: OidcProvider;

  before(async () => {
    [idp, stranger] = await Promise.all([startProvider(), startProvider()]);
    svc = await startDynamic([{ name: 'application', issuerURL: idp.issuer }], ['--oidc.jwks-refresh-cooldown=0s']);
    [cachedOld, beforeDrop, afterDrop, afterRefetch] = [await jwt(idp), await jwt(idp), await jwt(idp), await jwt(idp)];
  });
  after(async () => {
    await svc?.stop();
    await Promise.all([idp?.stop(), stranger?.stop()]);
  });

  it('after rotateKeys() a token signed with the new key allows at once (the unknown kid refetches the keys)', async () => {
    assert.equal(await allowed(svc, input(), cachedOld), true);
    const fetches = idp.requests.count('jwks');
    await idp.rotateKeys();
    const fresh = await jwt(idp);
    assert.equal(await allowed(svc, input(), fresh), true);
    assert.equal(idp.requests.count('jwks'), fetches + 1);
    assert.equal(await allowed(svc, input(), beforeDrop), true, 'the old key is still published');
  });

  it('after dropOldKeys(): a cached identity lasts its entry; an old-key token is denied once the keys are refetched', async () => {
    await idp.dropOldKeys();
    // The claims cache keeps a verified identity until min(exp, --oidc.max-claims-ttl).
    assert.equal(await allowed(svc, input(), cachedOld), true, 'cached identity');
    // The key set fetched after the rotation still holds the old key: jose refetches only for an
    // unknown kid (or after its 10-minute cacheMaxAge), so an old-key token verifies meanwhile.
    assert.equal(await allowed(svc, input(), afterDrop), true, 'old key still in the fetched key set');
    // Any unknown kid refetches the set, which no longer has the old key. (The harness cannot
    // rotateKeys() after dropOldKeys(): it would reuse a key generation, a duplicate kid.)
    const fetches = idp.requests.count('jwks');
    assert.equal(await allowed(svc, input(), await jwt(stranger)), false);
    assert.equal(idp.requests.count('jwks'), fetches + 1, 'the unknown kid refetched the keys');
    assert.equal(await allowed(svc, input(), await jwt(idp)), true, 'the current key verifies');
    const from = svc.log.lines.length;
    assert.equal(await allowed(svc, input(), afterRefetch), false);
    assert.equal(denials(svc.log, from)[0]?.code, 'bad_signature');
  });
});

// ---- the provider going away --------------------------------------------------------------------

describe('dynamic mode: the provider going down mid-run (--oidc.timeout=500ms)', () => {
  let idp: OidcProvider;
  let stalled: Awaited<ReturnType<typeof stalledServer>>;
  let svc: TestService;

  before(async () => {
    idp = await startProvider();
    stalled = await stalledServer();
    svc = await startDynamic(
      [
        { name: 'application', issuerURL: idp.issuer, userinfo: true },
        { name: 'infrastructure', issuerURL: idp.issuer, introspection: true },
        { name: 'stalled', issuerURL: stalled.url },
      ],
      // A short discovery backoff: the restart below is picked up within the test's patience.
      ['--oidc.timeout=500ms', '--oidc.discovery-backoff=100ms'],
    );
  });
  after(async () => {
    await svc?.stop();
    await idp?.restart();
    await idp?.stop();
    await stalled?.close();
  });

  it('cached identities keep answering, new opaque tokens are denied promptly, and all is well after restart()', async () => {
    const [t1, o1] = [await jwt(idp), await opaque(idp)];
    const [t2, o2, forInfra] = [await jwt(idp), await opaque(idp), await jwt(idp)];
    assert.equal(await allowed(svc, input(), t1), true);
    assert.equal(await allowed(svc, input(), o1), true);

    await idp.stop();
    assert.equal(await allowed(svc, input(), t1), true, 'cached JWT identity');
    assert.equal(await allowed(svc, input(), o1), true, 'cached opaque identity');

    const from = svc.log.lines.length;
    const denied = await ask(svc, input(), o2);
    assert.deepEqual({ status: denied.status, body: denied.body }, { status: 200, body: { result: false } });
    assert.ok(denied.ms < 5000, `answered in ${Math.round(denied.ms)} ms`);
    assert.equal(denials(svc.log, from)[0]?.code, 'provider_unreachable');

    // A new JWT signed with a key fetched earlier needs no provider call: it still verifies.
    assert.equal(await allowed(svc, input(), t2), true, 'new JWT, known key');
    // A tenant whose issuer was never discovered cannot verify anything.
    const from2 = svc.log.lines.length;
    assert.equal(await allowed(svc, input('infrastructure'), forInfra), false);
    assert.equal(denials(svc.log, from2)[0]?.code, 'provider_unreachable');

    await idp.restart();
    assert.equal(await allowed(svc, input(), o2), true, 'the failure was not cached');
    assert.equal(await allowed(svc, input(), await opaque(idp)), true, 'a new opaque token');
    // Discovery failed while the provider was down: it is retried once its backoff ends.
    assert.ok(await eventually(() => allowed(svc, input('infrastructure'), forInfra), 50, 50), 'discovery retried');
  });

  it('a provider that accepts connections and never answers is given up after --oidc.timeout', async () => {
    const t = await jwt(idp);
    const from = svc.log.lines.length;
    const a = await ask(svc, input('stalled'), t);
    assert.deepEqual({ status: a.status, body: a.body }, { status: 200, body: { result: false } });
    assert.ok(a.ms < 5000, `answered in ${Math.round(a.ms)} ms`);
    assert.equal(denials(svc.log, from)[0]?.code, 'provider_unreachable');
  });
});

// ---- --dynamic.accept-input-without-token -------------------------------------------------------

describe('dynamic mode: --dynamic.accept-input-without-token', () => {
  let idp: OidcProvider;

  before(async () => {
    idp = await startProvider();
  });
  after(async () => {
    await idp?.stop();
  });

  it('is off by default: no token is no identity, even for a subject and group the rbac allows', async () => {
    const svc = await startDynamic([{ name: 'application', issuerURL: idp.issuer }]);
    try {
      assert.equal(await allowed(svc, input('application', { subject: 'alice', groups: ['readers'] })), false);
      assert.equal(await allowed(svc, input('application', { subject: 'eve', claims: { organization: 'acme' } })), false);
      assert.ok(!svc.log.text().includes('accept-input-without-token'), 'no warning when off');
    } finally {
      await svc.stop();
    }
  });

  it("on: the input's subject and groups decide, its claims are stripped, a token still wins, and startup warns", async () => {
    const svc = await startDynamic([{ name: 'application', issuerURL: idp.issuer }], ['--dynamic.accept-input-without-token']);
    try {
      const warning = records(svc.log).find((r) => r.level === 'warn' && String(r.msg).includes('--dynamic.accept-input-without-token'));
      assert.ok(warning, `startup warning in:\n${svc.log.text()}`);

      assert.equal(await allowed(svc, input('application', { subject: 'alice' })), true, 'asserted user');
      assert.equal(await allowed(svc, input('application', { subject: 'eve', groups: ['readers'] })), true, 'asserted group');
      assert.equal(await allowed(svc, input('application', { subject: 'eve', groups: [] })), false);
      // The claim binding (organization acme) cannot be forged in the input...
      assert.equal(await allowed(svc, input('application', { subject: 'eve', claims: { organization: 'acme' } })), false, 'forged claim');
      assert.equal(await allowed(svc, input('application', { subject: 'eve', claims: { organization: ['acme'] } })), false, 'forged claim list');
      // ...while the same claim proven by a token allows.
      assert.equal(await allowed(svc, input('application', { subject: 'eve' }), await jwt(idp, 'dave')), true, 'proven claim');
      // With a token the token decides, whatever the input asserts.
      assert.equal(await allowed(svc, input('application', { subject: 'alice', groups: ['readers'] }), await jwt(idp, 'mallory')), false, 'token wins');
      assert.equal(await allowed(svc, input('application', { subject: 'alice' }), track(`garbage-${randomUUID()}`)), false, 'a bad token is not "no token"');
    } finally {
      await svc.stop();
    }
  });
});

// ---- logs ---------------------------------------------------------------------------------------

describe('dynamic mode: what is logged', () => {
  // Both providers sign with the same ('fixed') key, so one's token verifies against the other's
  // keys and fails on the issuer alone.
  let idp: OidcProvider;
  let twin: OidcProvider;
  let svc: TestService;

  before(async () => {
    [idp, twin] = await Promise.all([startProvider({ keys: 'fixed' }), startProvider({ keys: 'fixed' })]);
    const decisionLog = writeTempFile('decisions.log', '');
    decisionLogFiles.push(decisionLog);
    svc = await startDynamic(
      [
        { name: 'application', issuerURL: idp.issuer },
        { name: 'unreachable', issuerURL: `http://127.0.0.1:${await closedPort()}` },
      ],
      [`--decision-log.output=${decisionLog}`],
    );
  });
  after(async () => {
    await svc?.stop();
    await Promise.all([idp?.stop(), twin?.stop()]);
  });

  it("a mismatch between the input's subject and the token's is logged", async () => {
    const t = await jwt(idp, 'alice');
    let from = svc.log.lines.length;
    assert.equal(await allowed(svc, input('application', { subject: 'alice' }), t), true);
    assert.equal(records(svc.log, from).filter((r) => r.level === 'warn').length, 0, 'no warning when they agree');

    from = svc.log.lines.length;
    assert.equal(await allowed(svc, input('application', { subject: 'admin' }), t), true);
    const warn = records(svc.log, from).find((r) => r.level === 'warn');
    assert.ok(warn, 'a warning');
    assert.equal(warn.asserted, 'admin');
    assert.equal(warn.verified, 'alice');
    assert.equal(warn.tenant, 'application');
  });

  const DENIAL_CASES: Array<{ code: string; tenant?: string; token: () => Promise<string | undefined> }> = [
    { code: 'expired', token: async () => track(await idp.expiredJwtAccessToken('alice', { clientId: CLIENT.client_id })) },
    { code: 'bad_signature', token: async () => tamper(await jwt(idp)) },
    { code: 'wrong_issuer', token: () => jwt(twin) },
    { code: 'wrong_audience', token: () => jwt(idp, 'alice', { audience: 'someone-else' }) },
    { code: 'no_token', token: async () => undefined },
    { code: 'provider_unreachable', tenant: 'unreachable', token: () => jwt(idp) },
  ];
  for (const d of DENIAL_CASES) {
    it(`a denial is logged with its code: ${d.code}`, async () => {
      const token = await d.token();
      const from = svc.log.lines.length;
      assert.equal(await allowed(svc, input(d.tenant ?? 'application', { subject: 'alice', groups: ['readers'] }), token), false);
      const logged = denials(svc.log, from);
      assert.equal(logged.length, 1, `one denial in:\n${svc.log.lines.slice(from).join('')}`);
      assert.equal(logged[0]!.code, d.code, `code of ${JSON.stringify(logged[0])}`);
      assert.equal(logged[0]!.tenant, d.tenant ?? 'application');
    });
  }

  it('made-up tokens of every shape are denied (canaries for the log check below)', async () => {
    const canaries = [
      `canary-opaque-${randomUUID()}`,
      `eyJhbGciOiJFUzI1NiIsImtpZCI6ImNhbmFyeSJ9.${Buffer.from(JSON.stringify({ sub: `canary-${randomUUID()}` })).toString('base64url')}.c2lnbmF0dXJlLWNhbmFyeQ`,
      `canary.with.dots-${randomUUID()}`,
    ].map(track);
    for (const c of canaries) {
      assert.equal(await allowed(svc, input('application', { subject: 'alice' }), c), false);
      assert.equal(await allowed(svc, input('application', { subject: 'alice' }), c, 'authorization'), false);
    }
  });
});

// ---- metrics ------------------------------------------------------------------------------------

describe('dynamic mode: metrics', () => {
  it('counts verifications by result, provider calls by endpoint and code, and claims cache hits and misses', async () => {
    const idp = await startProvider();
    const svc = await startDynamic([{ name: 'application', issuerURL: idp.issuer, userinfo: true }]);
    try {
      const t = await jwt(idp);
      const o = await opaque(idp);
      for (const token of [t, t, o, o]) assert.equal(await allowed(svc, input(), token), true);
      assert.equal(await allowed(svc, input(), track(await idp.expiredJwtAccessToken('alice', { clientId: CLIENT.client_id }))), false);
      assert.equal(await allowed(svc, input('application', { subject: 'alice' })), false);

      const m = await metricsText(svc);
      const v = (name: string, labels: Record<string, string>) => metricValue(m, name, labels);
      assert.equal(v('oidc_token_verifications_total', { result: 'ok' }), 4);
      assert.equal(v('oidc_token_verifications_total', { result: 'expired' }), 1);
      assert.equal(v('oidc_token_verifications_total', { result: 'no_token' }), 1);
      assert.equal(v('oidc_claims_cache_requests_total', { result: 'miss' }), 3);
      assert.equal(v('oidc_claims_cache_requests_total', { result: 'hit' }), 2);
      for (const endpoint of ['discovery', 'jwks', 'userinfo'] as const) {
        assert.equal(v('oidc_provider_requests_total', { tenant: 'application', endpoint, code: '200' }), 1, endpoint);
        assert.equal(idp.requests.count(endpoint), 1, `the provider saw one ${endpoint} call`);
      }
    } finally {
      await svc.stop();
      await idp.stop();
    }
  });
});

// ---- tenants.yaml -------------------------------------------------------------------------------

describe('dynamic mode: tenants.yaml validation', () => {
  const FILE = '/etc/lokistack/tenants.yaml';
  const tenant = (oidc: string, name = 'application') => `  - name: ${name}\n    id: ${name}\n    oidc:\n${oidc}`;
  const OIDC = '      clientID: gateway\n      issuerURL: https://idp.example.com/realms/a\n';

  function fault(text: string): ConfigError {
    try {
      parseTenants(FILE, text);
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      assert.ok(err.message.startsWith(`${FILE}: `), err.message);
      return err;
    }
    assert.fail('parsed without a fault');
  }

  it('parses the valid shape, gateway-only fields included', () => {
    const [t] = parseTenants(
      FILE,
      `tenants:\n${tenant(`${OIDC}      redirectURL: https://gw/cb\n`)}    opa:\n      url: http://localhost:8080/v1/data/lokistack/allow\n      withAccessToken: true\n`,
    );
    assert.deepEqual(t, {
      name: 'application',
      id: 'application',
      oidc: { issuerURL: 'https://idp.example.com/realms/a', clientID: 'gateway', audiences: ['gateway'], introspection: false, userinfoOpaqueTokens: false },
    });
  });

  it('an unknown field is named', () => {
    const err = fault(`tenants:\n${tenant('      clientID: gateway\n      issuerUrl: https://idp.example.com\n')}`);
    assert.equal(err.field, 'tenants[0].oidc.issuerUrl');
    assert.match(err.fault, /unknown field/);
  });

  it('a value of the wrong shape is named by its kind, never quoted: a misplaced secret stays out of the logs', () => {
    // Changed in issue 15 (one validator for operator files): these faults used to end at "must be a
    // mapping" / "must be a string"; they now say what was found, as rbac.yaml's faults do, by kind only.
    let err = fault(`tenants:\n${tenant(`${OIDC}      clientSecret: 918273645\n`)}`);
    assert.equal(err.field, 'tenants[0].oidc.clientSecret');
    assert.equal(err.fault, 'must be a string, got a number');
    assert.ok(!err.message.includes('918273645'), err.message);
    err = fault(`tenants:\n${tenant(`${OIDC}      issuerCA: [s3cr3t-pem]\n`)}`);
    assert.equal(err.fault, 'must be a string, got a list');
    err = fault('tenants:\n  - topsecret\n');
    assert.equal(err.field, 'tenants[0]');
    assert.equal(err.fault, 'must be a mapping, got a string');
    assert.ok(!err.message.includes('topsecret'), err.message);
    err = fault('');
    assert.equal(err.field, '(top level)');
    assert.equal(err.fault, 'must be a mapping, got null');
  });

  it('a missing issuerURL is named', () => {
    const err = fault(`tenants:\n${tenant('      clientID: gateway\n')}`);
    assert.equal(err.field, 'tenants[0].oidc.issuerURL');
    assert.match(err.fault, /missing/);
  });

  it('a tenant listed twice is named', () => {
    const err = fault(`tenants:\n${tenant(OIDC)}${tenant(OIDC)}`);
    assert.equal(err.field, 'tenants[1].name');
    assert.match(err.fault, /twice/);
  });

  it('introspection without a clientSecret is named', () => {
    const err = fault(`tenants:\n${tenant(`${OIDC}      introspection: true\n`)}`);
    assert.equal(err.field, 'tenants[0].oidc.introspection');
    assert.match(err.fault, /clientSecret/);
  });

  it('startup fails naming the file and the field', async () => {
    const file = writeTempFile('tenants.yaml', `tenants:\n${tenant(`${OIDC}      groupsClaim: groups\n`)}`);
    await assert.rejects(startTestService({ rbac: RBAC, flags: ['--mode=dynamic', `--tenants.config=${file}`] }), (err: Error) => {
      assert.match(err.message, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: tenants\\[0\\]\\.oidc\\.groupsClaim: unknown field`));
      return true;
    });
  });
});

// ---- https issuers ------------------------------------------------------------------------------

describe('dynamic mode: issuers must be https unless --oidc.allow-insecure-issuers', () => {
  // Startup refuses such a tenants file (test/cli-startup.test.ts); the verifier refuses it too, so
  // a verifier built any other way still never fetches keys over http.
  it('the verifier denies every token of an http issuer without the flag, the provider never called', async () => {
    const idp = await startProvider();
    const tenants = parseTenants('t.yaml', tenantsYaml([{ name: 'application', issuerURL: idp.issuer, userinfo: true }]));
    const verifier = new OidcVerifier(tenants, verifierOptions({ allowInsecureIssuers: false }));
    try {
      idp.requests.reset();
      for (const token of [await jwt(idp), await opaque(idp)]) {
        await assert.rejects(verifier.verify('application', token, new AbortController().signal), (err: IdentityError) => {
          assert.equal(err.code, 'provider_error');
          assert.match(err.message, /is not https.*--oidc\.allow-insecure-issuers/);
          return true;
        });
      }
      assert.deepEqual(idp.requests.log, [], 'no call over http');
    } finally {
      await idp.stop();
    }
  });
});

// ---- binding opaque tokens to the tenant ---------------------------------------------------------

describe('dynamic mode: an opaque token is bound to the tenant (aud, else client_id)', () => {
  // A second application registered at the same provider: its users' tokens are genuine and active,
  // but they were issued to it, not to the gateway.
  const OTHER_APP = { client_id: 'other-app', client_secret: 'other-app-secret' };
  let idp: OidcProvider;
  let svc: TestService;
  const mintOpaque = async (account: string, clientId: string, audience?: string) =>
    track(await idp.opaqueAccessToken(account, { clientId, ...(audience ? { audience } : {}) }));

  before(async () => {
    idp = await startProvider({ clients: [CLIENT, OTHER_APP] });
    svc = await startDynamic([
      { name: 'application', issuerURL: idp.issuer, introspection: true },
      { name: 'infrastructure', issuerURL: idp.issuer },
      { name: 'stalled', issuerURL: idp.issuer, userinfo: true },
    ]);
  });
  after(async () => {
    await svc?.stop();
    await idp?.stop();
  });

  async function deniedWith(tenant: string, token: string): Promise<unknown> {
    const from = svc.log.lines.length;
    assert.equal(await allowed(svc, input(tenant), token), false);
    return denials(svc.log, from)[0]?.code;
  }

  it("introspection: another client's token (no aud) is refused; the gateway's own is accepted", async () => {
    assert.equal(await allowed(svc, input('application'), await mintOpaque('alice', CLIENT.client_id)), true, "the tenant's client");
    assert.equal(await deniedWith('application', await mintOpaque('alice', OTHER_APP.client_id)), 'wrong_client');
  });

  it("introspection: a token for another resource is refused even from the tenant's client; one for the tenant's audience is accepted", async () => {
    assert.equal(await deniedWith('application', await mintOpaque('alice', CLIENT.client_id, 'urn:another:api')), 'wrong_audience');
    assert.equal(await allowed(svc, input('application'), await mintOpaque('alice', OTHER_APP.client_id, 'lokistack-authz')), true, 'aud names the tenant');
  });

  it('without introspection or the opt-in, an opaque token is refused (unbound_token) without calling the provider', async () => {
    idp.requests.reset();
    assert.equal(await deniedWith('infrastructure', await mintOpaque('alice', CLIENT.client_id)), 'unbound_token');
    assert.deepEqual(idp.requests.log, [], 'no provider call');
  });

  it('oidc.userinfoOpaqueTokens: accepted unbound, as its startup warning says, even a token of another client', async () => {
    const warning = records(svc.log).find((r) => r.level === 'warn' && String(r.msg).includes('oidc.userinfoOpaqueTokens is on'));
    assert.ok(warning, `startup warning in:\n${svc.log.text()}`);
    assert.equal(warning.tenant, 'stalled');
    assert.match(String(warning.msg), /ANY of its clients/);
    assert.equal(await allowed(svc, input('stalled'), await mintOpaque('alice', OTHER_APP.client_id)), true);
  });

  it('tenants.yaml refuses introspection together with userinfoOpaqueTokens', () => {
    assert.throws(
      () =>
        parseTenants(
          't.yaml',
          'tenants:\n  - name: a\n    id: a\n    oidc: {issuerURL: https://idp.example.com, clientID: c, clientSecret: s, introspection: true, userinfoOpaqueTokens: true}\n',
        ),
      (err: ConfigError) => err.field === 'tenants[0].oidc.userinfoOpaqueTokens',
    );
  });
});

describe('bindIntrospection (RFC 7662: aud is a string or an array)', () => {
  const tenant = { clientID: 'gateway', audiences: ['lokistack-authz', 'logs'] };
  const codeOf = (info: Record<string, unknown>): string | undefined => {
    try {
      bindIntrospection('t', info, tenant);
      return undefined;
    } catch (err) {
      return (err as IdentityError).code;
    }
  };
  it('accepts an aud string or array naming an audience, whatever the client', () => {
    assert.equal(codeOf({ aud: 'logs', client_id: 'other' }), undefined);
    assert.equal(codeOf({ aud: ['x', 'lokistack-authz'], client_id: 'other' }), undefined);
  });
  it('refuses an aud naming none of them, even from the tenant client', () => {
    assert.equal(codeOf({ aud: ['x', 'y'], client_id: 'gateway' }), 'wrong_audience');
    assert.equal(codeOf({ aud: [], client_id: 'gateway' }), 'wrong_audience');
  });
  it('without aud, binds by client_id; with neither, refuses', () => {
    assert.equal(codeOf({ client_id: 'gateway' }), undefined);
    assert.equal(codeOf({ client_id: 'other' }), 'wrong_client');
    assert.equal(codeOf({}), 'unbound_token');
  });
});

// ---- the decision log ---------------------------------------------------------------------------

describe('dynamic mode: the decision log records the verified identity', () => {
  let idp: OidcProvider;
  let svc: TestService;
  let file: string;

  before(async () => {
    idp = await startProvider();
    file = writeTempFile('decisions.log', '');
    decisionLogFiles.push(file);
    svc = await startDynamic([{ name: 'application', issuerURL: idp.issuer }], [`--decision-log.output=${file}`]);
  });
  after(async () => {
    await svc?.stop();
    await idp?.stop();
  });

  /** The decision log event of the request answered with this decision_id. */
  async function eventOf(body: Record<string, unknown>, token?: string): Promise<Record<string, unknown>> {
    const headers: Record<string, string> = { 'content-type': 'application/json', ...(token ? { 'x-forwarded-access-token': token } : {}) };
    const res = await fetch(`${svc.publicUrl}/v1/data/lokistack/allow`, { method: 'POST', headers, body: JSON.stringify({ input: body }) });
    const answer = (await res.json()) as { decision_id?: string };
    assert.ok(answer.decision_id, 'decision_id in the answer');
    let found: Record<string, unknown> | undefined;
    const read = () => {
      const events = readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      found = events.find((e) => e.decision_id === answer.decision_id);
      return found !== undefined;
    };
    assert.ok(await eventually(read), 'the event was written');
    return found!;
  }

  it("mallory's token asserting alice is logged as mallory, alice's claim beside it", async () => {
    const e = await eventOf(input('application', { subject: 'alice', groups: ['readers'] }), await jwt(idp, 'mallory'));
    assert.equal(e.result, false);
    const evaluated = e.input as Record<string, unknown>;
    assert.equal(evaluated.subject, 'mallory');
    assert.deepEqual(evaluated.groups, ['staff']);
    assert.deepEqual(e.identity, { check: 'ok', asserted: { subject: 'alice', groups: ['readers'] } });
  });

  it('an identity the token confirms carries no asserted field', async () => {
    const e = await eventOf(input('application', { subject: 'alice', groups: ['readers'] }), await jwt(idp, 'alice'));
    assert.equal(e.result, true);
    assert.equal((e.input as Record<string, unknown>).subject, 'alice');
    assert.deepEqual(e.identity, { check: 'ok' });
  });

  it('a failed check logs no identity as evaluated, with its code and what was asserted', async () => {
    const expired = track(await idp.expiredJwtAccessToken('mallory', { clientId: CLIENT.client_id }));
    for (const [token, check] of [
      [expired, 'expired'],
      [undefined, 'no_token'],
    ] as const) {
      const e = await eventOf(input('application', { subject: 'alice', groups: ['readers'] }), token);
      assert.equal(e.result, false);
      const evaluated = e.input as Record<string, unknown>;
      assert.ok(!('subject' in evaluated) && !('groups' in evaluated), `no identity evaluated: ${JSON.stringify(evaluated)}`);
      assert.deepEqual(e.identity, { check, asserted: { subject: 'alice', groups: ['readers'] } });
    }
  });
});

// ---- provider call amplification ----------------------------------------------------------------

/** An issuer that answers every request with 503, counting them. */
async function failingIssuer(): Promise<{ url: string; calls: () => number; close(): Promise<void> }> {
  let calls = 0;
  const s = createHttpServer((_req, res) => {
    calls++;
    res.writeHead(503, { 'content-type': 'text/plain' }).end('down for maintenance');
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    calls: () => calls,
    close: () =>
      new Promise<void>((r) => {
        s.closeAllConnections();
        s.close(() => r());
      }),
  };
}

describe('dynamic mode: provider calls are not amplified by bad tokens or a failing issuer', () => {
  let idp: OidcProvider;

  before(async () => {
    idp = await startProvider();
  });
  after(async () => {
    await idp?.stop();
  });

  it('200 requests with one invalid opaque token make one introspection (or userinfo) call', async () => {
    const svc = await startDynamic(
      [
        { name: 'application', issuerURL: idp.issuer, introspection: true },
        { name: 'infrastructure', issuerURL: idp.issuer, userinfo: true },
        // The remembered failure outlives the 400 requests however slow the machine (default 5s).
      ],
      ['--oidc.negative-cache-ttl=1h'],
    );
    try {
      const bad = track(`made-up-${randomUUID()}`);
      idp.requests.reset();
      for (let i = 0; i < 200; i++) assert.equal(await allowed(svc, input('application'), bad), false);
      assert.equal(idp.requests.count('introspection'), 1);
      for (let i = 0; i < 200; i++) assert.equal(await allowed(svc, input('infrastructure'), bad), false);
      assert.equal(idp.requests.count('userinfo'), 1);
      const from = svc.log.lines.length;
      await allowed(svc, input('infrastructure'), bad);
      assert.equal(denials(svc.log, from)[0]?.code, 'inactive', 'a remembered failure keeps its code');
    } finally {
      await svc.stop();
    }
  });

  it('a failing issuer is discovered once per backoff, however many requests arrive, and leaves one warn line naming the call and status', async () => {
    const failing = await failingIssuer();
    const svc = await startDynamic([{ name: 'application', issuerURL: failing.url }], ['--oidc.discovery-backoff=1m']);
    try {
      const token = await jwt(idp);
      for (let i = 0; i < 50; i++) assert.equal(await allowed(svc, input(), token), false);
      await Promise.all(Array.from({ length: 50 }, () => allowed(svc, input(), track(`opaque-${randomUUID()}`))));
      assert.equal(failing.calls(), 1, 'one discovery call');
      const warns = records(svc.log).filter((r) => r.msg === 'upstream call failed');
      assert.equal(warns.length, 1, svc.log.text());
      assert.equal(warns[0]!.upstream, 'oidc');
      assert.equal(warns[0]!.call, 'discovery');
      assert.equal(warns[0]!.status, '503');
      assert.equal(warns[0]!.tenant, 'application');
      const codes = new Set(denials(svc.log).map((d) => d.code));
      assert.deepEqual(codes, new Set(['provider_unreachable', 'unbound_token']));
    } finally {
      await svc.stop();
      await failing.close();
    }
  });

  it('an unreachable issuer is warned about with the socket error as its status', async () => {
    const svc = await startDynamic([{ name: 'application', issuerURL: `http://127.0.0.1:${await closedPort()}` }]);
    try {
      assert.equal(await allowed(svc, input(), await jwt(idp)), false);
      const warns = records(svc.log).filter((r) => r.msg === 'upstream call failed');
      assert.deepEqual(
        warns.map((w) => [w.call, w.status]),
        [['discovery', 'ECONNREFUSED']],
      );
    } finally {
      await svc.stop();
    }
  });

  it('--oidc.max-concurrent-calls=3: 12 concurrent new tokens put at most 3 calls in flight at the provider, and all are answered', async () => {
    const svc = await startDynamic([{ name: 'application', issuerURL: idp.issuer, userinfo: true }], ['--oidc.max-concurrent-calls=3']);
    try {
      // Discovered first, so that only userinfo calls are in play.
      assert.equal(await allowed(svc, input(), await jwt(idp)), true);
      const tokens = await Promise.all(Array.from({ length: 12 }, () => opaque(idp)));
      const held = idp.hold('userinfo');
      const answers = Promise.all(tokens.map((t) => allowed(svc, input(), t)));
      assert.ok(await eventually(() => held.waiting >= 3), 'the provider sees calls');
      // Give any call beyond the bound the chance to arrive: without a bound, all 12 are here by now.
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(held.maxWaiting, 3, 'calls in flight at the provider');
      held.release();
      assert.deepEqual(
        await answers,
        tokens.map(() => true),
      );
    } finally {
      await svc.stop();
    }
  });

  it('at the bound, a request waits within its deadline, then is denied (provider_busy), and nothing is remembered against its token', async () => {
    // The slot is held by a key refetch (shared work, not cut by any one request's deadline),
    // triggered by a JWT with a key ID the issuer never published.
    const stranger = await startProvider();
    const svc = await startDynamic(
      [{ name: 'application', issuerURL: idp.issuer, userinfo: true }],
      ['--oidc.max-concurrent-calls=1', '--oidc.jwks-refresh-cooldown=0s', '--web.decision-timeout=500ms'],
    );
    try {
      assert.equal(await allowed(svc, input(), await jwt(idp)), true);
      const o = await opaque(idp);
      const held = idp.hold('jwks');
      const refetching = allowed(svc, input(), await jwt(stranger));
      assert.ok(await eventually(() => held.waiting === 1), 'the key refetch reached the provider');
      const from = svc.log.lines.length;
      idp.requests.reset();
      assert.equal(await allowed(svc, input(), o), false);
      assert.deepEqual(
        denials(svc.log, from).map((d) => d.code),
        ['provider_busy'],
      );
      assert.equal(idp.requests.count('userinfo'), 0, 'the waiting call never reached the provider');
      held.release();
      assert.equal(await refetching, false);
      assert.equal(await allowed(svc, input(), o), true, 'the same token verifies once a slot is free');
    } finally {
      await svc.stop();
      await stranger.stop();
    }
  });
});

describe('dynamic mode: the verifier holds a bounded amount in memory', () => {
  it('identities, remembered failures and verifications in flight each stay within --oidc.claims-cache-entries', async () => {
    const idp = await startProvider();
    const tenant = parseTenants('t.yaml', tenantsYaml([{ name: 'application', issuerURL: idp.issuer, introspection: true }]));
    const verifier = new OidcVerifier(tenant, verifierOptions({ maxEntries: 4 }));
    try {
      const bad = Array.from({ length: 10 }, () => track(`made-up-${randomUUID()}`));
      const good = await Promise.all(Array.from({ length: 10 }, () => jwt(idp)));
      // All at once: more verifications in flight than the bound.
      const pending = [...bad, ...good].map((t) => verifier.verify('application', t, new AbortController().signal));
      assert.ok(verifier.sizes().inflight <= 4, `in flight: ${verifier.sizes().inflight}`);
      const results = await Promise.allSettled(pending);
      assert.deepEqual(
        results.map((r) => r.status),
        [...bad.map(() => 'rejected'), ...good.map(() => 'fulfilled')],
      );
      const sizes = verifier.sizes();
      assert.ok(sizes.identities <= 4 && sizes.failures <= 4 && sizes.inflight === 0, JSON.stringify(sizes));
      assert.equal(sizes.identities, 4);
      assert.equal(sizes.failures, 4);
    } finally {
      await idp.stop();
    }
  });
});

describe('dynamic mode: past its bound the verifier forgets the identity least recently used', () => {
  // Changed in issue 15: the identity cache was a first-in-first-out map, so a token in steady use
  // was pushed out by any newer ones (a flood of made-up tokens); it is now an LRU (lru-cache).
  it('a token verified again keeps its entry; the one unused longest is verified anew', async () => {
    const idp = await startProvider();
    const tenant = parseTenants('t.yaml', tenantsYaml([{ name: 'application', issuerURL: idp.issuer }]));
    const seen: string[] = [];
    const verifier = new OidcVerifier(tenant, verifierOptions({ maxEntries: 2 }), {
      hit: () => void seen.push('hit'),
      miss: () => void seen.push('miss'),
    });
    try {
      const [a, b, c] = await Promise.all([jwt(idp, 'alice'), jwt(idp, 'mallory'), jwt(idp, 'dave')]);
      const verify = async (token: string) => (await verifier.verify('application', token, new AbortController().signal)).claims.preferred_username;
      for (const t of [a, b, a, c]) await verify(t);
      assert.deepEqual(seen, ['miss', 'miss', 'hit', 'miss'], 'a, b verified; a from memory; c verified, pushing out one');
      seen.length = 0;
      assert.equal(await verify(a), 'alice');
      assert.equal(await verify(b), 'mallory');
      assert.deepEqual(seen, ['hit', 'miss'], 'a, used since b, kept its entry; b, used least recently, went');
    } finally {
      await idp.stop();
    }
  });
});

describe("Backoff (the verifier's timing, on a fake clock)", () => {
  it('discovery backoff doubles per consecutive failure up to its cap, and a success resets it', () => {
    let now = 0;
    const b = new Backoff(1000, 5000, () => now);
    assert.equal(b.wait(), 0, 'no wait before any failure');
    const waits: number[] = [];
    for (let i = 0; i < 5; i++) {
      b.failed();
      waits.push(b.wait());
    }
    assert.deepEqual(waits, [1000, 2000, 4000, 5000, 5000]);
    now += 5000;
    assert.equal(b.wait(), 0, 'an attempt is allowed once the wait is over');
    b.succeeded();
    b.failed();
    assert.equal(b.wait(), 1000, 'back to the first wait after a success');
  });
});

// ---- secrets ------------------------------------------------------------------------------------

describe('dynamic mode: no token reaches the logs', () => {
  it('no token minted or made up above appears in any log line (or decision log event) of any service above', () => {
    assert.ok(tokensSeen.length > 30, `tokens tracked: ${tokensSeen.length}`);
    assert.ok(logsSeen.length > 5, `logs tracked: ${logsSeen.length}`);
    const decisions = decisionLogFiles.map((f) => readFileSync(f, 'utf8')).join('\n');
    assert.ok(decisions.includes('"decision_id"'), 'the decision log was written');
    const text = [...logsSeen.map((l) => l.text()), decisions].join('\n');
    assert.ok(text.includes('denied: no identity'), 'the logs hold the denials the tokens caused');
    for (const token of tokensSeen) {
      // The whole token, and each long part of it (a JWT's payload or signature alone is a secret too).
      for (const part of [token, ...token.split('.').filter((p) => p.length >= 16)]) {
        assert.ok(!text.includes(part), `a token (or part of one) is in the logs: ${part.slice(0, 12)}…`);
      }
    }
  });
});
