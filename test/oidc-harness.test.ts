import assert from 'node:assert/strict';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { startOidcProvider, type OidcProvider, type OidcProviderOptions } from './support/oidc.js';

// Proves test/support/oidc.ts with the libraries the service will use: openid-client for discovery,
// userinfo and introspection, jose for JWT access token verification.
const options: OidcProviderOptions = {
  accounts: {
    alice: { claims: { preferred_username: 'alice', email: 'alice@example.com', groups: ['team-a', 'admins'], organization: 'acme' } },
    bob: { claims: { preferred_username: 'bob', groups: ['team-b'] } },
  },
  clients: [{ client_id: 'lokistack', client_secret: 'lokistack-secret' }],
  audience: 'observatorium',
};

/** Error `code` (jose) or `cause.code` (undici's fetch failure, e.g. ECONNREFUSED). */
function codeOf(err: unknown): string | undefined {
  const e = err as { code?: string; cause?: { code?: string; cause?: { code?: string } } };
  return e.code ?? e.cause?.code ?? e.cause?.cause?.code;
}

describe('OIDC provider harness (oidc-provider + openid-client + jose)', () => {
  let idp: OidcProvider;
  let other: OidcProvider;
  let config: client.Configuration;

  before(async () => {
    [idp, other] = await Promise.all([startOidcProvider(options), startOidcProvider(options)]);
    config = await client.discovery(new URL(idp.issuer), 'lokistack', 'lokistack-secret', undefined, {
      execute: [client.allowInsecureRequests],
    });
  });
  after(async () => {
    await Promise.all([idp?.stop(), other?.stop()]);
  });

  const jwks = (p: OidcProvider) =>
    // cooldownDuration 0: jose otherwise refuses to refetch for 30 s after a fetch, even on an unknown kid.
    createRemoteJWKSet(new URL(`${p.issuer}/jwks`), { cooldownDuration: 0 });

  it('is discoverable with openid-client and logs the requests it serves', () => {
    const meta = config.serverMetadata();
    assert.equal(meta.issuer, idp.issuer);
    assert.equal(meta.jwks_uri, `${idp.issuer}/jwks`);
    assert.equal(meta.userinfo_endpoint, `${idp.issuer}/me`);
    assert.equal(meta.introspection_endpoint, `${idp.issuer}/token/introspection`);
    assert.equal(idp.requests.count('discovery'), 1);
    assert.notEqual(idp.issuer, other.issuer);
  });

  it('issues JWT access tokens that jose verifies, with the account claims', async () => {
    const token = await idp.jwtAccessToken('alice', { clientId: 'lokistack' });
    const before = idp.requests.count('jwks');
    const { payload, protectedHeader } = await jwtVerify(token, jwks(idp), { issuer: idp.issuer, audience: 'observatorium' });
    assert.equal(protectedHeader.typ, 'at+jwt');
    assert.equal(protectedHeader.kid, idp.signingKid);
    assert.equal(payload.sub, 'alice');
    assert.equal(payload.client_id, 'lokistack');
    assert.equal(payload.scope, 'logs');
    assert.deepEqual(payload.groups, ['team-a', 'admins']);
    assert.equal(payload.preferred_username, 'alice');
    assert.equal(payload.organization, 'acme');
    assert.equal((payload.exp ?? 0) - (payload.iat ?? 0), 3600);
    // Minting does not touch /jwks; the verifier's fetch does, once.
    assert.equal(idp.requests.count('jwks'), before + 1);
  });

  it('honours per-token ttl, extra claims, scope and audience', async () => {
    const token = await idp.jwtAccessToken('bob', {
      clientId: 'lokistack',
      ttlSeconds: 120,
      extraClaims: { tenant: 'application' },
      scope: 'logs:read',
      audience: 'elsewhere',
    });
    const { payload } = await jwtVerify(token, jwks(idp), { issuer: idp.issuer, audience: 'elsewhere' });
    assert.equal((payload.exp ?? 0) - (payload.iat ?? 0), 120);
    assert.equal(payload.tenant, 'application');
    assert.equal(payload.scope, 'logs:read');
    assert.deepEqual(payload.groups, ['team-b']);
  });

  it("is rejected against the second provider's keys and issuer", async () => {
    const token = await idp.jwtAccessToken('alice', { clientId: 'lokistack' });
    await assert.rejects(jwtVerify(token, jwks(other), { issuer: other.issuer, audience: 'observatorium' }), (err) => {
      assert.equal(codeOf(err), 'ERR_JWKS_NO_MATCHING_KEY');
      return true;
    });
    await assert.rejects(jwtVerify(token, jwks(idp), { issuer: other.issuer, audience: 'observatorium' }), (err) => {
      assert.equal(codeOf(err), 'ERR_JWT_CLAIM_VALIDATION_FAILED');
      return true;
    });
    await assert.rejects(jwtVerify(token, jwks(idp), { issuer: idp.issuer, audience: 'someone-else' }), (err) => {
      assert.equal(codeOf(err), 'ERR_JWT_CLAIM_VALIDATION_FAILED');
      return true;
    });
  });

  it('mints already expired JWT access tokens without sleeping', async () => {
    const token = await idp.expiredJwtAccessToken('alice', { clientId: 'lokistack', ttlSeconds: 300 });
    await assert.rejects(jwtVerify(token, jwks(idp), { issuer: idp.issuer, audience: 'observatorium' }), (err) => {
      assert.equal(codeOf(err), 'ERR_JWT_EXPIRED');
      return true;
    });
  });

  it('rotates keys: the remote JWKS refetches on the unknown kid; dropped keys stop verifying', async () => {
    const set = jwks(idp);
    const opts = { issuer: idp.issuer, audience: 'observatorium' };
    const oldToken = await idp.jwtAccessToken('alice', { clientId: 'lokistack' });
    await jwtVerify(oldToken, set, opts);
    const oldKid = idp.signingKid;
    const fetches = idp.requests.count('jwks');

    await idp.rotateKeys();
    assert.notEqual(idp.signingKid, oldKid);
    assert.deepEqual(idp.publishedKids, [idp.signingKid, oldKid]);
    const newToken = await idp.jwtAccessToken('alice', { clientId: 'lokistack' });
    assert.equal(decodeProtectedHeader(newToken).kid, idp.signingKid);
    await jwtVerify(newToken, set, opts);
    assert.equal(idp.requests.count('jwks'), fetches + 1);
    await jwtVerify(oldToken, set, opts);

    await idp.dropOldKeys();
    await assert.rejects(jwtVerify(oldToken, jwks(idp), opts), (err) => {
      assert.equal(codeOf(err), 'ERR_JWKS_NO_MATCHING_KEY');
      return true;
    });
    await jwtVerify(newToken, jwks(idp), opts);
  });

  it('issues opaque access tokens accepted by userinfo and introspection', async () => {
    const opaque = await idp.opaqueAccessToken('alice', { clientId: 'lokistack' });
    assert.equal(opaque.split('.').length, 1);

    const userinfo = await client.fetchUserInfo(config, opaque, client.skipSubjectCheck);
    assert.equal(userinfo.sub, 'alice');
    assert.equal(userinfo.email, 'alice@example.com');
    assert.deepEqual(userinfo.groups, ['team-a', 'admins']);
    assert.equal(idp.requests.count('userinfo'), 1);

    const active = await client.tokenIntrospection(config, opaque);
    assert.equal(active.active, true);
    assert.equal(active.sub, 'alice');
    assert.equal(active.client_id, 'lokistack');
    assert.deepEqual(active.groups, ['team-a', 'admins']);
    assert.equal((await client.tokenIntrospection(config, 'garbage')).active, false);
    assert.equal(idp.requests.count('introspection'), 2);

    // The second provider has its own storage: alice's token means nothing there.
    const otherConfig = await client.discovery(new URL(other.issuer), 'lokistack', 'lokistack-secret', undefined, {
      execute: [client.allowInsecureRequests],
    });
    assert.equal((await client.tokenIntrospection(otherConfig, opaque)).active, false);
  });

  it('issues opaque tokens bound to a resource (aud at introspection), and to each client its own', async () => {
    const bound = await idp.opaqueAccessToken('alice', { clientId: 'lokistack', audience: 'urn:another:api' });
    assert.equal(bound.split('.').length, 1, 'opaque');
    const info = await client.tokenIntrospection(config, bound);
    assert.equal(info.active, true);
    assert.equal(info.client_id, 'lokistack');
    assert.ok(info.aud === 'urn:another:api' || (Array.isArray(info.aud) && info.aud.includes('urn:another:api')), JSON.stringify(info.aud));
    const plain = await client.tokenIntrospection(config, await idp.opaqueAccessToken('alice', { clientId: 'lokistack' }));
    assert.equal(plain.aud, undefined, 'no resource, no aud');
  });

  it('holds requests to an endpoint until released, counting those waiting', async () => {
    const opaque = await idp.opaqueAccessToken('bob', { clientId: 'lokistack' });
    const held = idp.hold('userinfo');
    const calls = [1, 2, 3].map(() => client.fetchUserInfo(config, opaque, client.skipSubjectCheck));
    for (let i = 0; i < 100 && held.waiting < 3; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(held.waiting, 3);
    held.release();
    for (const u of await Promise.all(calls)) assert.equal(u.sub, 'bob');
    assert.equal(held.maxWaiting, 3);
    assert.equal(held.waiting, 0);
  });

  it('issues ID tokens carrying the account claims', async () => {
    const idToken = await idp.idToken('bob', { clientId: 'lokistack' });
    const { payload } = await jwtVerify(idToken, jwks(idp), { issuer: idp.issuer, audience: 'lokistack' });
    assert.equal(payload.sub, 'bob');
    assert.deepEqual(payload.groups, ['team-b']);
  });

  it('refuses connections after stop() and serves the same tokens after restart()', async () => {
    const opaque = await idp.opaqueAccessToken('bob', { clientId: 'lokistack' });
    const jwt = await idp.jwtAccessToken('bob', { clientId: 'lokistack' });

    await idp.stop();
    await assert.rejects(client.fetchUserInfo(config, opaque, client.skipSubjectCheck), (err) => {
      assert.equal(codeOf(err), 'ECONNREFUSED');
      return true;
    });
    await assert.rejects(jwtVerify(jwt, jwks(idp), { issuer: idp.issuer, audience: 'observatorium' }));

    await idp.restart();
    assert.equal((await client.fetchUserInfo(config, opaque, client.skipSubjectCheck)).sub, 'bob');
    assert.equal((await client.tokenIntrospection(config, opaque)).active, true);
    await jwtVerify(jwt, jwks(idp), { issuer: idp.issuer, audience: 'observatorium' });
  });

  it("gives 'fixed' keys the same kid in every provider and run", async () => {
    const [a, b] = await Promise.all([startOidcProvider({ ...options, keys: 'fixed' }), startOidcProvider({ ...options, keys: 'fixed' })]);
    try {
      assert.equal(a.signingKid, b.signingKid);
      assert.notEqual(a.signingKid, idp.signingKid);
      const token = await a.jwtAccessToken('alice', { clientId: 'lokistack' });
      // Same key, different issuer: the signature verifies, the issuer check does not.
      await assert.rejects(jwtVerify(token, jwks(b), { issuer: b.issuer, audience: 'observatorium' }), (err) => {
        assert.equal(codeOf(err), 'ERR_JWT_CLAIM_VALIDATION_FAILED');
        return true;
      });
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });
});
