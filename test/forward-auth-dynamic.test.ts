// Forward-auth in dynamic mode, through the ForwardAuthorizer interface: real OIDC providers on
// loopback (test/support/oidc.ts), two issuers with tenants on each, the real compiled policy for
// `allow` (static mode's wasm over an rbac file), and the verifier the Data API uses. What a caller
// gets is checked against the attacker's goals: another issuer's or another client's token gets
// nothing, a tenant of another issuer costs no call, an opaque token cannot fan out to every
// provider, and a token never reaches a log line.
import assert from 'node:assert/strict';
import { generateKeyPair, SignJWT } from 'jose';
import { stringify as stringifyYaml } from 'yaml';
import { loadConfig } from '../server/config/config.js';
import { parseForwardAuthModes, FORWARD_AUTH_MODES_FLAGS } from '../server/config/forward-auth-modes.js';
import { parseFlags } from '../server/config/flags.js';
import { parseTenants, type Tenant } from '../server/config/tenants.js';
import { defined, type Authorizer, type Decision, type DecisionRequest } from '../server/decision/types.js';
import { DecisionError } from '../server/errors.js';
import { DynamicForwardAuthorizer, makeDynamicForwardAuthorizer, mergeGrants, type LabelPolicy } from '../server/forward-auth/dynamic.js';
import { bearerCredentialKey, bearerFrom } from '../server/forward-auth/oidc-bearer.js';
import type { ForwardAuthRequest, ForwardAuthResult, Scope } from '../server/forward-auth/types.js';
import { Metrics } from '../server/observability/metrics.js';
import { OidcVerifier } from '../server/oidc/verifier.js';
import { verifierOptions } from './support/oidc-verifier.js';
import { wireStaticMode } from '../server/wiring/static-mode.js';
import type { WiredMode } from '../server/wiring/mode.js';
import { startOidcProvider, type OidcProvider } from './support/oidc.js';
import { captureLogger, eventually, silentLogger, writeTempFile, type CapturedLogger } from './support/service.js';

const CLIENT = { client_id: 'gateway', client_secret: 'gateway-secret' };
/** Another application of the same providers: its tokens must not open any tenant. */
const OTHER_CLIENT = { client_id: 'other-app', client_secret: 'other-secret' };
const ACCOUNTS = {
  alice: { claims: { preferred_username: 'alice', groups: ['readers'] } },
  devon: { claims: { preferred_username: 'devon', groups: ['dev-only'] } },
  // VSHN-style: a Keycloak group path naming the tenant ID.
  vera: { claims: { preferred_username: 'vera', groups: ['/tenants/tenant-beta'] } },
  walt: { claims: { preferred_username: 'walt', groups: ['writers'] } },
  nobody: { claims: { preferred_username: 'nobody', groups: [] } },
};

const RBAC = `roles:
  - name: read-all
    resources: [logs]
    tenants: [alpha, beta, gamma]
    permissions: [read]
  - name: write-alpha
    resources: [logs]
    tenants: [alpha]
    permissions: [write]
roleBindings:
  - name: readers
    roles: [read-all]
    subjects:
      - {kind: group, name: readers}
      - {kind: group, name: dev-only}
  - name: writers
    roles: [write-alpha]
    subjects:
      - {kind: group, name: writers}
tenantClaims:
  - claim: groups
    prefix: /tenants/
    field: tenantID
    resources: [logs]
    permissions: [read]
`;

function tenantsYaml(a: OidcProvider, b: OidcProvider): string {
  const oidc = (issuer: string, extra: Record<string, unknown> = {}) => ({
    issuerURL: issuer,
    clientID: CLIENT.client_id,
    clientSecret: CLIENT.client_secret,
    usernameClaim: 'preferred_username',
    groupClaim: 'groups',
    audiences: ['lokistack-authz'],
    ...extra,
  });
  return stringifyYaml({
    tenants: [
      { name: 'alpha', id: 'tenant-alpha', oidc: oidc(a.issuer, { introspection: true }) },
      { name: 'beta', id: 'tenant-beta', oidc: oidc(`${a.issuer}/`) },
      { name: 'gamma', id: 'tenant-gamma', oidc: oidc(b.issuer, { userinfoOpaqueTokens: true }) },
      { name: 'delta', id: 'tenant-delta', oidc: oidc(b.issuer, { userinfoOpaqueTokens: true }) },
    ],
  });
}

/**
 * The compiled policy decides `allow`; the label_policy rule (another part of issue 12) is not in
 * the bundled policy yet, so its value comes from this stand-in, which answers what the rule's
 * contract says for these roles: `dev-only` readers are restricted to {env="dev"}, others not.
 */
class PolicyWithLabelRule implements Authorizer {
  readonly mode = 'dynamic';
  readonly labelInputs: unknown[] = [];
  constructor(private readonly real: Authorizer) {}
  ready(): boolean {
    return this.real.ready();
  }
  async decide(req: DecisionRequest): Promise<Decision> {
    if (req.path.join('/') !== 'lokistack/label_policy') return this.real.decide(req);
    this.labelInputs.push(req.input);
    const input = req.input as { groups: string[] };
    return defined(
      input.groups.includes('dev-only') ? { restricted: true, selectors: ['{env="dev"}', '{env="staging", secret!="true"}'] } : { restricted: false },
    );
  }
}

/** labelPolicyFrom's contract (server/policy/label-policy.ts): undefined stays undefined; bad shapes throw. */
function labelPolicyFrom(d: Decision): LabelPolicy | undefined {
  if (!d.defined) return undefined;
  const v = d.value as { restricted?: unknown; selectors?: unknown };
  if (v?.restricted === false) return { restricted: false };
  if (v?.restricted === true && Array.isArray(v.selectors) && v.selectors.length > 0 && v.selectors.every((s) => typeof s === 'string')) {
    return { restricted: true, selectors: v.selectors as string[] };
  }
  throw new Error('malformed label policy');
}

describe('forward-auth, dynamic mode (OIDC tokens of two issuers, the compiled policy)', () => {
  let idpA: OidcProvider;
  let idpB: OidcProvider;
  let tenants: Tenant[];
  let wired: WiredMode;
  let policy: PolicyWithLabelRule;
  let log: CapturedLogger;
  const tokens: string[] = [];

  const newVerifier = () =>
    new OidcVerifier(tenants, verifierOptions({ negativeTtlMs: 0, discoveryBackoffMs: 0, discoveryBackoffMaxMs: 0, maxConcurrentCalls: 4 }));
  const authorizer = (over: { maxOpaqueTenants?: number; verifier?: OidcVerifier } = {}) =>
    makeDynamicForwardAuthorizer({
      decisionPath: ['lokistack', 'allow'],
      options: { maxOpaqueTenants: over.maxOpaqueTenants ?? 1 },
      tenants,
      verifier: over.verifier ?? newVerifier(),
      policy,
      labelPolicy: labelPolicyFrom,
      logger: log.logger,
    });
  const track = (t: string) => (tokens.push(t), t);
  const jwt = async (p: OidcProvider, who: keyof typeof ACCOUNTS, audience?: string) =>
    track(await p.jwtAccessToken(who, { clientId: CLIENT.client_id, ...(audience ? { audience } : {}) }));
  const opaque = async (p: OidcProvider, who: keyof typeof ACCOUNTS, clientId = CLIENT.client_id) => track(await p.opaqueAccessToken(who, { clientId }));

  function request(
    token: string | undefined,
    opts: { scope?: Scope; requested?: string[]; header?: 'authorization' | 'x-forwarded-access-token'; signal?: AbortSignal } = {},
  ): ForwardAuthRequest {
    const header = opts.header ?? 'authorization';
    return {
      scope: opts.scope ?? 'logs:read',
      method: 'GET',
      path: '/loki/api/v1/query_range',
      requestedTenants: opts.requested ?? [],
      headers: token === undefined ? {} : { [header]: header === 'authorization' ? `Bearer ${token}` : token },
      remoteAddress: '127.0.0.1',
      signal: opts.signal ?? new AbortController().signal,
    };
  }
  const resetCounts = () => {
    idpA.requests.reset();
    idpB.requests.reset();
  };
  const calls = (p: OidcProvider) => p.requests.log.length;

  before(async function () {
    this.timeout(60_000);
    [idpA, idpB] = await Promise.all([
      startOidcProvider({ accounts: ACCOUNTS, clients: [CLIENT, OTHER_CLIENT] }),
      startOidcProvider({ accounts: ACCOUNTS, clients: [CLIENT, OTHER_CLIENT] }),
    ]);
    const tenantsFile = writeTempFile('tenants.yaml', tenantsYaml(idpA, idpB));
    tenants = parseTenants(tenantsFile, tenantsYaml(idpA, idpB));
    const loaded = loadConfig([
      '--mode=dynamic',
      `--tenants.config=${tenantsFile}`,
      `--rbac.config=${writeTempFile('rbac.yaml', RBAC)}`,
      '--rbac.reload-interval=0',
    ]);
    if (loaded.help) throw new Error('help');
    wired = await wireStaticMode(loaded.config, silentLogger(), new Metrics({ processMetrics: false }));
  });
  beforeEach(() => {
    policy = new PolicyWithLabelRule(wired.authorizer);
    log = captureLogger('debug');
  });
  afterEach(() => {
    for (const line of log.lines) for (const t of tokens) assert.ok(!line.includes(t), `a token reached the log: ${line}`);
  });
  after(async () => {
    await wired?.close();
    await Promise.all([idpA?.stop(), idpB?.stop()]);
  });

  it("a JWT's issuer picks the tenants: alice gets both of her issuer's tenants she may read, whole, and the other provider is never called", async () => {
    const fa = authorizer();
    const token = await jwt(idpA, 'alice');
    resetCounts();
    const r = await fa.authorize(request(token));
    assert.deepEqual(r, { kind: 'granted', subject: 'alice', grants: [{ id: 'tenant-alpha' }, { id: 'tenant-beta' }] });
    assert.equal(calls(idpB), 0, 'the other issuer was asked about a token it did not issue');
    // The policy saw the verified identity and the configured tenant ID, as the Data API's input.
    assert.deepEqual(policy.labelInputs[0], {
      subject: 'alice',
      groups: ['readers'],
      claims: (policy.labelInputs[0] as { claims: unknown }).claims,
      tenant: 'alpha',
      tenantID: 'tenant-alpha',
      resource: 'logs',
      permission: 'read',
    });
    assert.equal((policy.labelInputs[0] as { claims: { iss: string } }).claims.iss, idpA.issuer);
  });

  it('the same token in X-Forwarded-Access-Token decides the same, and it wins over Authorization (as in the Data API)', async () => {
    const fa = authorizer();
    const alice = await jwt(idpA, 'alice');
    const nobody = await jwt(idpA, 'nobody');
    const both = {
      ...request(alice, { header: 'x-forwarded-access-token' }),
      headers: { 'x-forwarded-access-token': alice, authorization: `Bearer ${nobody}` },
    };
    assert.equal(((await fa.authorize(both)) as { subject: string }).subject, 'alice');
    assert.equal(fa.credentialKey(both), fa.credentialKey(request(alice)));
  });

  it('requested tenants narrow the grant; a tenant of another issuer, or none at all, is forbidden without a call to any provider', async () => {
    const fa = authorizer();
    const token = await jwt(idpA, 'alice');
    assert.deepEqual(await fa.authorize(request(token, { requested: ['tenant-beta'] })), {
      kind: 'granted',
      subject: 'alice',
      grants: [{ id: 'tenant-beta' }],
    });
    for (const requested of [['tenant-gamma'], ['tenant-alpha', 'tenant-gamma'], ['no-such-tenant']]) {
      const fresh = authorizer();
      resetCounts();
      const r = await fresh.authorize(request(token, { requested }));
      assert.equal(r.kind, 'forbidden', JSON.stringify(r));
      assert.equal((r as { code: string }).code, 'tenant_not_for_token');
      assert.equal(calls(idpA) + calls(idpB), 0, `${requested.join('|')}: a provider was called`);
    }
  });

  it("a foreign token gets nothing: another issuer's, another client's (JWT audience, introspected client), a forged signature", async () => {
    const stranger = await startOidcProvider({ accounts: ACCOUNTS, clients: [CLIENT] });
    try {
      const fa = authorizer();
      resetCounts();
      const theirs = await jwt(stranger, 'alice');
      assert.deepEqual(pick(await fa.authorize(request(theirs))), { kind: 'unauthenticated', code: 'wrong_issuer' });
      assert.equal(calls(idpA) + calls(idpB), 0, 'a token of an unknown issuer made calls to the configured ones');

      const otherAudience = await jwt(idpA, 'alice', 'other-app');
      assert.deepEqual(pick(await fa.authorize(request(otherAudience))), { kind: 'unauthenticated', code: 'wrong_audience' });

      const otherClient = await opaque(idpA, 'alice', OTHER_CLIENT.client_id);
      assert.deepEqual(pick(await fa.authorize(request(otherClient, { requested: ['tenant-alpha'] }))), { kind: 'unauthenticated', code: 'wrong_client' });

      // Our issuer's name, someone else's key.
      const { privateKey } = await generateKeyPair('ES256');
      const forged = track(
        await new SignJWT({ preferred_username: 'alice', groups: ['readers'] })
          .setProtectedHeader({ alg: 'ES256', kid: 'forged' })
          .setIssuer(idpA.issuer)
          .setAudience('lokistack-authz')
          .setSubject('alice')
          .setIssuedAt()
          .setExpirationTime('5m')
          .sign(privateKey),
      );
      assert.deepEqual(pick(await fa.authorize(request(forged))), { kind: 'unauthenticated', code: 'bad_signature' });
    } finally {
      await stranger.stop();
    }
  });

  it('an opaque token is checked with at most --forward-auth.opaque-token-max-tenants providers: beyond it, 401 asking for X-Scope-OrgID, with no call', async () => {
    const token = await opaque(idpB, 'alice');
    const fa = authorizer();
    resetCounts();
    const r = await fa.authorize(request(token));
    assert.deepEqual(pick(r), { kind: 'unauthenticated', code: 'opaque_token_ambiguous' });
    assert.match((r as { reason: string }).reason, /X-Scope-OrgID/);
    assert.equal(calls(idpA) + calls(idpB), 0, 'an ambiguous opaque token reached a provider');

    // Named, it is one call to one provider.
    resetCounts();
    assert.deepEqual(await fa.authorize(request(token, { requested: ['tenant-gamma'] })), {
      kind: 'granted',
      subject: 'alice',
      grants: [{ id: 'tenant-gamma' }],
    });
    assert.equal(idpB.requests.count('userinfo'), 1);
    assert.equal(calls(idpA), 0);

    // With a bound of 3 the same token is tried at each of the three tenants taking opaque
    // tokens, once each: alpha's introspection says nothing of a token idpA never issued.
    const wide = authorizer({ maxOpaqueTenants: 3 });
    resetCounts();
    assert.deepEqual(await wide.authorize(request(token)), { kind: 'granted', subject: 'alice', grants: [{ id: 'tenant-gamma' }] });
    assert.equal(idpA.requests.count('introspection'), 1);
    assert.equal(idpB.requests.count('userinfo'), 2);
    assert.equal(idpA.requests.count('userinfo') + idpB.requests.count('introspection'), 0);
  });

  it('an attacker sending a made-up opaque string per request costs at most one provider call each', async () => {
    const fa = authorizer();
    resetCounts();
    for (let i = 0; i < 5; i++) {
      const made = track(`madeup${i}abcdefghijklmnop`);
      const r = await fa.authorize(request(made, { requested: ['tenant-gamma'] }));
      assert.equal(r.kind, 'unauthenticated');
    }
    assert.equal(idpB.requests.count('userinfo'), 5);
    assert.equal(calls(idpA), 0);
  });

  it('a label-restricted reader gets the selectors of the label policy on logs:read, and nothing on rules:read (Loki would not enforce them there)', async () => {
    const fa = authorizer();
    const token = await jwt(idpA, 'devon');
    assert.deepEqual(await fa.authorize(request(token, { requested: ['tenant-alpha'] })), {
      kind: 'granted',
      subject: 'devon',
      grants: [{ id: 'tenant-alpha', selectors: ['{env="dev"}', '{env="staging", secret!="true"}'] }],
    });
    assert.deepEqual(pick(await fa.authorize(request(token, { scope: 'rules:read', requested: ['tenant-alpha'] }))), {
      kind: 'forbidden',
      code: 'not_allowed',
    });
    // alice, unrestricted, reads rules.
    assert.equal((await fa.authorize(request(await jwt(idpA, 'alice'), { scope: 'rules:read' }))).kind, 'granted');
  });

  it('writes follow allow alone (no label policy is evaluated); logs:delete needs a delete permission no rbac.yaml role has', async () => {
    const fa = authorizer();
    const walt = await jwt(idpA, 'walt');
    policy.labelInputs.length = 0;
    assert.deepEqual(await fa.authorize(request(walt, { scope: 'logs:write' })), { kind: 'granted', subject: 'walt', grants: [{ id: 'tenant-alpha' }] });
    assert.equal(policy.labelInputs.length, 0);
    assert.deepEqual(pick(await fa.authorize(request(walt, { scope: 'logs:read' }))), { kind: 'forbidden', code: 'not_allowed' });
    assert.deepEqual(pick(await fa.authorize(request(await jwt(idpA, 'alice'), { scope: 'logs:delete' }))), { kind: 'forbidden', code: 'not_allowed' });
    assert.deepEqual(pick(await fa.authorize(request(walt, { scope: 'logs:delete' }))), { kind: 'forbidden', code: 'not_allowed' });
  });

  it('logs:delete asks the policy for permission delete, as static mode does (a policy of its own data can grant it)', async () => {
    const asked: unknown[] = [];
    // A policy whose data gives walt delete on alpha (as --policy.data can; rbac.yaml cannot).
    const deleting: Authorizer = {
      mode: 'dynamic',
      ready: () => true,
      decide: async (req) => {
        asked.push(req.input);
        const i = req.input as { subject: string; tenant: string; permission: string; resource: string };
        return defined(
          req.path.join('/') === 'lokistack/allow' && i.subject === 'walt' && i.tenant === 'alpha' && i.resource === 'logs' && i.permission === 'delete',
        );
      },
    };
    const fa = makeDynamicForwardAuthorizer({
      decisionPath: ['lokistack', 'allow'],
      options: { maxOpaqueTenants: 1 },
      tenants,
      verifier: newVerifier(),
      policy: deleting,
      labelPolicy: labelPolicyFrom,
      logger: log.logger,
    });
    assert.deepEqual(await fa.authorize(request(await jwt(idpA, 'walt'), { scope: 'logs:delete' })), {
      kind: 'granted',
      subject: 'walt',
      grants: [{ id: 'tenant-alpha' }],
    });
    assert.ok(asked.every((i) => (i as { permission: string }).permission === 'delete'));
    assert.deepEqual(pick(await fa.authorize(request(await jwt(idpA, 'alice'), { scope: 'logs:delete' }))), { kind: 'forbidden', code: 'not_allowed' });
  });

  it('a Keycloak group naming the tenant (VSHN-style tenantClaims) grants that tenant only', async () => {
    const fa = authorizer();
    const vera = await jwt(idpA, 'vera');
    assert.deepEqual(await fa.authorize(request(vera)), { kind: 'granted', subject: 'vera', grants: [{ id: 'tenant-beta' }] });
    assert.deepEqual(pick(await fa.authorize(request(vera, { scope: 'logs:write' }))), { kind: 'forbidden', code: 'not_allowed' });
  });

  it('a policy without the label_policy rule denies every read (fail closed) and says why', async () => {
    const noRule: Authorizer = {
      mode: 'dynamic',
      ready: () => true,
      decide: (req) => (req.path[1] === 'label_policy' ? Promise.resolve({ defined: false }) : wired.authorizer.decide(req)),
    };
    const fa = new DynamicForwardAuthorizer(
      { tenants, maxOpaqueTenants: 1, allowPath: ['lokistack', 'allow'], labelPolicyPath: ['lokistack', 'label_policy'] },
      { verifier: newVerifier(), policy: noRule, labelPolicy: labelPolicyFrom, logger: log.logger },
    );
    assert.deepEqual(pick(await fa.authorize(request(await jwt(idpA, 'alice')))), { kind: 'forbidden', code: 'not_allowed' });
    assert.ok(log.lines.some((l) => l.includes('no label_policy rule')));
    const malformed: Authorizer = {
      ...noRule,
      decide: (req) => (req.path[1] === 'label_policy' ? Promise.resolve(defined({ restricted: 'yes' })) : wired.authorizer.decide(req)),
    };
    const fb = new DynamicForwardAuthorizer(
      { tenants, maxOpaqueTenants: 1, allowPath: ['lokistack', 'allow'], labelPolicyPath: ['lokistack', 'label_policy'] },
      { verifier: newVerifier(), policy: malformed, labelPolicy: labelPolicyFrom, logger: log.logger },
    );
    assert.equal((await fb.authorize(request(await jwt(idpA, 'alice')))).kind, 'forbidden');
  });

  it('no token, another scheme, a repeated or malformed header: 401 before any call; the credential key never holds the token', async () => {
    const fa = authorizer();
    resetCounts();
    assert.deepEqual(pick(await fa.authorize(request(undefined))), { kind: 'unauthenticated', code: 'no_token' });
    const basic = { ...request(undefined), headers: { authorization: 'Basic YWxpY2U6c2VjcmV0' } };
    assert.deepEqual(pick(await fa.authorize(basic)), { kind: 'unauthenticated', code: 'no_token' });
    const token = await jwt(idpA, 'alice');
    for (const headers of [
      { 'x-forwarded-access-token': `${token}, ${token}` },
      { authorization: `Bearer ${token} extra` },
      { 'x-forwarded-access-token': 'a\r\nX-Injected: 1' },
      { authorization: `Bearer ${'a'.repeat(20_000)}` },
    ]) {
      const r = await fa.authorize({ ...request(undefined), headers });
      assert.deepEqual(pick(r), { kind: 'unauthenticated', code: 'malformed_token' }, JSON.stringify(headers).slice(0, 80));
      assert.equal(fa.credentialKey({ ...request(undefined), headers }), undefined);
    }
    assert.equal(calls(idpA) + calls(idpB), 0);
    assert.equal(fa.credentialKey(request(undefined)), undefined);
    const key = fa.credentialKey(request(token))!;
    assert.ok(!key.includes(token) && key.length < 64);
    assert.notEqual(key, fa.credentialKey(request(await jwt(idpA, 'devon'))));
    assert.notEqual(key, bearerCredentialKey('openshift-logging', request(token).headers), 'keys are separated per mode');
    assert.deepEqual(bearerFrom({ authorization: `bearer\t${token}` }), { kind: 'token', token });
  });

  it('cancellation: a request whose client goes away stops waiting on the provider and decides nothing', async () => {
    const fa = authorizer();
    const token = await opaque(idpB, 'alice');
    const held = idpB.hold('userinfo');
    try {
      const ac = new AbortController();
      const pending = fa.authorize(request(token, { requested: ['tenant-gamma'], signal: ac.signal }));
      assert.ok(await eventually(() => held.waiting === 1), 'the userinfo call reached the provider');
      ac.abort(new Error('client gone'));
      await assert.rejects(pending, (err: unknown) => err instanceof DecisionError && err.status === 503);
      assert.ok(await eventually(() => held.waiting === 0), 'the call to the provider was cut');
    } finally {
      held.release();
    }
  });

  it('a provider that cannot answer is no verdict on the token: an error (5xx), neither a 401 nor a grant', async () => {
    const token = await jwt(idpB, 'alice');
    await idpB.stop();
    try {
      const fa = authorizer();
      await assert.rejects(
        fa.authorize(request(token, { requested: ['tenant-gamma'] })),
        (err: unknown) => err instanceof DecisionError && err.status === 503 && !err.message.includes(token),
      );
    } finally {
      await idpB.restart();
    }
  });

  it("flags: joined into the service's; parsed into forwardAuthModes when forward-auth is on in dynamic or openshift modes; a mode that ignores one warns", () => {
    const load = (argv: string[]) => {
      const r = loadConfig(argv);
      if (r.help) throw new Error('help');
      return r;
    };
    const rbac = `--rbac.config=${writeTempFile('rbac.yaml', RBAC)}`;
    const tenantsFile = writeTempFile('tenants.yaml', tenantsYaml(idpA, idpB));
    const dyn = load(['--mode=dynamic', rbac, `--tenants.config=${tenantsFile}`, '--forward-auth.enabled', '--forward-auth.opaque-token-max-tenants=3']);
    assert.deepEqual(dyn.config.forwardAuthModes, { dynamic: { maxOpaqueTenants: 3 }, kube: { kind: 'mappings' }, maxConcurrentTokenReviews: 16 });
    assert.deepEqual(dyn.warnings, []);
    // Off: nothing parsed, nothing served.
    assert.equal(load(['--mode=dynamic', rbac, `--tenants.config=${tenantsFile}`]).config.forwardAuthModes, undefined);
    const os = load([
      '--mode=openshift-logging',
      '--openshift.mappings=application=loki.grafana.com',
      '--forward-auth.enabled',
      '--forward-auth.kube-tenancy=namespaces',
      '--forward-auth.namespace-tenant=shared',
    ]);
    assert.equal(os.config.forwardAuthModes?.kube.kind, 'namespaces');
    assert.equal(
      load([
        ...'--mode=openshift-logging --openshift.mappings=application=loki.grafana.com --forward-auth.enabled --forward-auth.max-concurrent-token-reviews=2'.split(
          ' ',
        ),
      ]).config.forwardAuthModes?.maxConcurrentTokenReviews,
      2,
    );
    // Forward-auth reviews tokens whether or not the Data API does: the cache bounds are always parsed.
    assert.deepEqual(os.config.openshift?.tokenReview, { ttlMs: 60_000, maxEntries: 10_000 });
    assert.equal(os.config.openshift?.verifyToken, undefined);
    const stat = load([rbac, '--forward-auth.enabled', '--forward-auth.trusted-proxies=127.0.0.1', '--forward-auth.namespace-tenant=shared']);
    assert.equal(stat.config.forwardAuthModes, undefined);
    assert.deepEqual(stat.warnings, [
      '--forward-auth.namespace-tenant is read only in openshift-logging and openshift-network modes; this service runs in static mode and ignores it',
    ]);
  });

  it('flags: --forward-auth.opaque-token-max-tenants defaults to 1 and must be at least 1', () => {
    const parse = (argv: string[]) => parseForwardAuthModes(parseFlags(argv, FORWARD_AUTH_MODES_FLAGS).values);
    assert.equal(parse([]).dynamic.maxOpaqueTenants, 1);
    assert.equal(parse(['--forward-auth.opaque-token-max-tenants=3']).dynamic.maxOpaqueTenants, 3);
    assert.throws(() => parse(['--forward-auth.opaque-token-max-tenants=0']), /at least 1/);
  });

  it('two tenants sharing an ID: the wider grant wins, selectors are ORed', () => {
    assert.deepEqual(mergeGrants({ id: 't', selectors: ['{a="1"}'] }, { id: 't', selectors: ['{a="0"}', '{a="1"}'] }), {
      id: 't',
      selectors: ['{a="0"}', '{a="1"}'],
    });
    assert.deepEqual(mergeGrants({ id: 't', selectors: ['{a="1"}'] }, { id: 't' }), { id: 't' });
  });
});

function pick(r: ForwardAuthResult): { kind: string; code?: string } {
  return r.kind === 'granted' ? { kind: r.kind } : { kind: r.kind, code: r.code };
}
