// Dynamic mode beyond single decisions, against real OIDC providers (test/support/oidc.ts) and the
// service started in-process: the claims cache and its bounds, key rotation, the provider going
// away, --dynamic.accept-input-without-token, what is logged (and that no token ever is), metrics,
// tenants.yaml validation and the https rule for issuers.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { stringify as stringifyYaml } from 'yaml';
import { parseTenants } from '../server/config/tenants.js';
import { ConfigError } from '../server/errors.js';
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

const startProvider = (options: Partial<OidcProviderOptions> = {}): Promise<OidcProvider> => startOidcProvider({ accounts: ACCOUNTS, clients: [CLIENT], ...options });
const jwt = async (p: OidcProvider, account = 'alice', o: Omit<JwtMintOptions, 'clientId'> = {}) => track(await p.jwtAccessToken(account, { clientId: CLIENT.client_id, ...o }));
const opaque = async (p: OidcProvider, account = 'alice') => track(await p.opaqueAccessToken(account, { clientId: CLIENT.client_id }));

interface TenantSpec {
  name: string;
  issuerURL: string;
  introspection?: boolean;
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

async function ask(svc: TestService, body: Record<string, unknown>, token?: string, header: 'x-forwarded-access-token' | 'authorization' = 'x-forwarded-access-token'): Promise<Answer> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token !== undefined) headers[header] = header === 'authorization' ? `Bearer ${token}` : token;
  const started = performance.now();
  const res = await fetch(`${svc.publicUrl}/v1/data/lokistack/allow`, { method: 'POST', headers, body: JSON.stringify({ input: body }) });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as unknown, ms: performance.now() - started };
}

/** The decision, asserting the answer is a 200 {"result": boolean}. */
async function allowed(svc: TestService, body: Record<string, unknown>, token?: string, header?: 'x-forwarded-access-token' | 'authorization'): Promise<boolean> {
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
      { name: 'application', issuerURL: idp.issuer },
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
    const svc = await startDynamic([{ name: 'application', issuerURL: idp.issuer }], ['--oidc.max-claims-ttl=1s']);
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
        { name: 'application', issuerURL: idp.issuer },
        { name: 'infrastructure', issuerURL: idp.issuer, introspection: true },
        { name: 'stalled', issuerURL: stalled.url },
      ],
      ['--oidc.timeout=500ms'],
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
    assert.equal(await allowed(svc, input('infrastructure'), forInfra), true, 'discovery retried');
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
    const svc = await startDynamic([{ name: 'application', issuerURL: idp.issuer }]);
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
    const [t] = parseTenants(FILE, `tenants:\n${tenant(OIDC + '      redirectURL: https://gw/cb\n')}    opa:\n      url: http://localhost:8080/v1/data/lokistack/allow\n      withAccessToken: true\n`);
    assert.deepEqual(t, { name: 'application', id: 'application', oidc: { issuerURL: 'https://idp.example.com/realms/a', clientID: 'gateway', audiences: ['gateway'], introspection: false } });
  });

  it('an unknown field is named', () => {
    const err = fault(`tenants:\n${tenant('      clientID: gateway\n      issuerUrl: https://idp.example.com\n')}`);
    assert.equal(err.field, 'tenants[0].oidc.issuerUrl');
    assert.match(err.fault, /unknown field/);
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
    const err = fault(`tenants:\n${tenant(OIDC + '      introspection: true\n')}`);
    assert.equal(err.field, 'tenants[0].oidc.introspection');
    assert.match(err.fault, /clientSecret/);
  });

  it('startup fails naming the file and the field', async () => {
    const file = writeTempFile('tenants.yaml', `tenants:\n${tenant(OIDC + '      groupsClaim: groups\n')}`);
    await assert.rejects(
      startTestService({ rbac: RBAC, flags: ['--mode=dynamic', `--tenants.config=${file}`] }),
      (err: Error) => {
        assert.match(err.message, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: tenants\\[0\\]\\.oidc\\.groupsClaim: unknown field`));
        return true;
      },
    );
  });
});

// ---- https issuers ------------------------------------------------------------------------------

describe('dynamic mode: issuers must be https unless --oidc.allow-insecure-issuers', () => {
  it('an http issuer without the flag: every request is denied, the reason logged, the provider never called', async () => {
    const idp = await startProvider();
    const svc = await startDynamic([{ name: 'application', issuerURL: idp.issuer }], [], { secure: true });
    try {
      idp.requests.reset();
      const from = svc.log.lines.length;
      assert.equal(await allowed(svc, input('application', { subject: 'alice' }), await jwt(idp)), false);
      assert.equal(await allowed(svc, input('application', { subject: 'alice' }), await opaque(idp)), false);
      const logged = denials(svc.log, from);
      assert.equal(logged.length, 2);
      for (const d of logged) {
        assert.equal(d.code, 'provider_error');
        assert.match(String(d.reason), /is not https.*--oidc\.allow-insecure-issuers/);
      }
      assert.deepEqual(idp.requests.log, [], 'no call over http');
    } finally {
      await svc.stop();
      await idp.stop();
    }
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

