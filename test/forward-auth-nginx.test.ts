/**
 * The real nginx (Debian's 1.22, auth_request) with docs/forward-auth/nginx.md's configuration in
 * front of a recording Loki stand-in, lokistack-authz in static mode deciding. What is checked is
 * what reaches Loki: the oracle is Loki's trust model (it believes any X-Scope-OrgID and
 * X-Prom-Label-Policy it receives), so only granted values may arrive, and a denial nothing at all.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { basic, decodePolicy, GEL_RBAC, send, writeHtpasswd } from './support/forward-auth.js';
import { freePort, requireNginx, startDocumentedNginx, type RecordedRequest } from './support/nginx.js';
import { startTestService, type TestService } from './support/service.js';

describe('forward-auth behind the real nginx (docs/forward-auth/nginx.md)', function () {
  this.timeout(60_000);
  let svc: TestService;
  let proxy: Awaited<ReturnType<typeof startDocumentedNginx>>;

  before(async function () {
    const nginx = requireNginx(this);
    // The bundled policy and an rbac file with selectors: what an operator deploys.
    svc = await startTestService({
      rbac: GEL_RBAC,
      flags: [
        '--forward-auth.enabled',
        `--forward-auth.htpasswd-file=${writeHtpasswd()}`,
        // nginx itself is trusted to assert identities: the documented configuration must still
        // keep a client from asserting one through it.
        '--forward-auth.trusted-proxies=127.0.0.1/32',
      ],
    });
    proxy = await startDocumentedNginx(svc.publicUrl, nginx);
  });
  after(async () => {
    await proxy?.stop();
    await svc?.stop();
  });

  /** One request through nginx; the requests Loki received because of it. */
  async function through(method: string, path: string, headers: Array<[string, string]> = [], body?: string) {
    const before = proxy.loki.requests.length;
    const r = await send(`${proxy.nginx.url}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
    return { ...r, reached: proxy.loki.requests.slice(before) };
  }
  const one = (reached: RecordedRequest[]): RecordedRequest => {
    assert.equal(reached.length, 1, `${reached.length} requests reached Loki: ${proxy.nginx.errorLog().slice(-2000)}`);
    return reached[0]!;
  };

  it('kubriX-style basic auth per tenant: each user reaches Loki as its tenant, without its password', async () => {
    for (const [user, tenant] of [
      ['team-a-user', 'team-a'],
      ['team-b-user', 'team-b'],
    ]) {
      const r = await through('GET', '/loki/api/v1/query_range?query=%7Bapp%3D%22x%22%7D', [['Authorization', basic(user!)]]);
      assert.equal(r.status, 200);
      const got = one(r.reached);
      assert.deepEqual(proxy.loki.all(got, 'X-Scope-OrgID'), [tenant]);
      assert.deepEqual(proxy.loki.all(got, 'X-Prom-Label-Policy'), []);
      assert.deepEqual(proxy.loki.all(got, 'Authorization'), []);
      // Loki sees the request as the client sent it.
      assert.equal(got.url, '/loki/api/v1/query_range?query=%7Bapp%3D%22x%22%7D');
    }
  });

  it('GEL\'s example policy reaches Loki as one header: {secret!="true", env="prod"} OR {env="dev"}', async () => {
    const got = one((await through('GET', '/loki/api/v1/query?query=%7Benv%3D%22prod%22%7D', [['Authorization', basic('gel-reader')]])).reached);
    assert.deepEqual(proxy.loki.all(got, 'X-Scope-OrgID'), ['team-b']);
    const policies = proxy.loki.all(got, 'X-Prom-Label-Policy');
    assert.equal(policies.length, 1);
    assert.deepEqual(decodePolicy(policies[0]).sort(), [
      ['team-b', '{env="dev"}'],
      ['team-b', '{secret!="true", env="prod"}'],
    ]);
  });

  it('forged X-Scope-OrgID, X-Prom-Label-Policy and X-Auth-Request-* never reach Loki as sent', async () => {
    const forged: Array<[string, string]> = [
      ['X-Prom-Label-Policy', 'team-b:%7Benv%3D~%22.%2B%22%7D'],
      ['X-Auth-Request-User', 'team-a-user'],
      ['X-Auth-Request-Groups', 'admins'],
      ['X-Auth-Request-Email', 'root@example.com'],
    ];
    // The restricted reader tries to widen its policy and to pass as someone else.
    const got = one((await through('GET', '/loki/api/v1/query', [['Authorization', basic('gel-reader')], ...forged])).reached);
    assert.deepEqual(proxy.loki.all(got, 'X-Scope-OrgID'), ['team-b']);
    assert.deepEqual(
      decodePolicy(proxy.loki.all(got, 'X-Prom-Label-Policy')[0])
        .map((p) => p[1])
        .sort(),
      ['{env="dev"}', '{secret!="true", env="prod"}'],
    );
    for (const h of ['X-Auth-Request-User', 'X-Auth-Request-Groups', 'X-Auth-Request-Email']) assert.deepEqual(proxy.loki.all(got, h), [], h);

    // A whole-tenant reader's forged policy is dropped, not passed on (it would be Loki's to believe).
    const a = one(
      (
        await through('GET', '/loki/api/v1/labels', [
          ['Authorization', basic('team-a-user')],
          ['X-Prom-Label-Policy', 'team-b:%7B%7D'],
        ])
      ).reached,
    );
    assert.deepEqual(proxy.loki.all(a, 'X-Prom-Label-Policy'), []);

    // No credential, only identity headers nginx is trusted to assert: the documented config strips them.
    const anon = await through('GET', '/loki/api/v1/query', forged);
    assert.equal(anon.status, 401);
    assert.equal(anon.reached.length, 0);
  });

  it("a client's own X-Original-* or X-Forwarded-* headers cannot make a query look like a push", async () => {
    // The collector may push to team-a, not read it: it sends a query dressed as a push.
    for (const forged of [
      [
        ['X-Original-Method', 'POST'],
        ['X-Original-URI', '/loki/api/v1/push'],
      ],
      [
        ['X-Forwarded-Method', 'POST'],
        ['X-Forwarded-Uri', '/loki/api/v1/push'],
      ],
    ] as Array<Array<[string, string]>>) {
      const r = await through('GET', '/loki/api/v1/query?query=%7Bapp%3D%22x%22%7D', [
        ['Authorization', basic('collector')],
        ['X-Scope-OrgID', 'team-a'],
        ...forged,
      ]);
      assert.equal(r.status, 403, JSON.stringify(forged));
      assert.equal(r.reached.length, 0);
    }
  });

  it('a requested tenant is granted or refused with 403, and a denial never reaches Loki', async () => {
    const other = await through('GET', '/loki/api/v1/query', [
      ['Authorization', basic('team-a-user')],
      ['X-Scope-OrgID', 'team-b'],
    ]);
    assert.equal(other.status, 403);
    assert.equal(other.reached.length, 0);
    const write = await through(
      'POST',
      '/loki/api/v1/push',
      [
        ['Authorization', basic('team-a-user')],
        ['Content-Type', 'application/json'],
      ],
      '{"streams":[]}',
    );
    assert.equal(write.status, 403);
    assert.equal(write.reached.length, 0);
    const own = await through('GET', '/loki/api/v1/query', [
      ['Authorization', basic('team-a-user')],
      ['X-Scope-OrgID', 'team-a'],
    ]);
    assert.deepEqual(proxy.loki.all(one(own.reached), 'X-Scope-OrgID'), ['team-a']);
  });

  it('401 (with the Basic challenge) without a credential or with a wrong one; 403 for a known user without the grant', async () => {
    const none = await through('GET', '/loki/api/v1/query');
    assert.equal(none.status, 401);
    assert.match(String(none.headers['www-authenticate']), /^Basic /);
    assert.equal((await through('GET', '/loki/api/v1/query', [['Authorization', basic('team-a-user', 'wrong')]])).status, 401);
    assert.equal((await through('GET', '/config', [['Authorization', basic('team-a-user')]])).status, 403);
    assert.equal(proxy.loki.requests.filter((r) => r.url === '/config').length, 0);
  });

  it('a push with its body reaches Loki for the tenant named, and a path hiding a query behind push does not', async () => {
    const body = '{"streams":[{"stream":{"app":"x"},"values":[["1","line"]]}]}';
    const push = await through(
      'POST',
      '/loki/api/v1/push',
      [
        ['Authorization', basic('collector')],
        ['X-Scope-OrgID', 'team-a'],
        ['Content-Type', 'application/json'],
      ],
      body,
    );
    assert.equal(push.status, 204);
    assert.deepEqual(proxy.loki.all(one(push.reached), 'X-Scope-OrgID'), ['team-a']);
    for (const path of ['/loki/api/v1/push/../query?query=%7B%7D', '/loki/api/v1/push/%2e%2e/query', '/loki/api/v1/push/%2E%2E/query']) {
      const r = await through('POST', path, [
        ['Authorization', basic('collector')],
        ['X-Scope-OrgID', 'team-a'],
      ]);
      assert.ok(r.status === 400 || r.status === 403, `${path}: ${r.status}`);
      assert.equal(r.reached.length, 0, path);
    }
  });

  it('an absolute-form request line (POST http://host/path) is decided on the path Loki receives', async () => {
    const raw = (target: string) =>
      new Promise<string>((resolve, reject) => {
        const s = connect(proxy.nginx.port, '127.0.0.1', () =>
          s.write(
            `POST ${target} HTTP/1.1\r\nHost: x\r\nAuthorization: ${basic('collector')}\r\nX-Scope-OrgID: team-a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
          ),
        );
        let d = '';
        s.on('data', (c: Buffer) => (d += c.toString()));
        s.on('end', () => resolve(d.split('\r\n')[0]!));
        s.on('error', reject);
      });
    const before = proxy.loki.requests.length;
    assert.match(await raw('http://other.example/loki/api/v1/query?query=%7B%7D'), / 403 /);
    assert.equal(proxy.loki.requests.length, before);
    assert.match(await raw('http://other.example/loki/api/v1/push'), / 204 /);
    const got = proxy.loki.requests.slice(before);
    assert.deepEqual(
      got.map((r) => [r.url, r.headers['x-scope-orgid']]),
      [['/loki/api/v1/push', 'team-a']],
    );
  });

  it('lokistack-authz unreachable: nginx answers 500 and nothing reaches Loki', async function () {
    const down = await startDocumentedNginx(`http://127.0.0.1:${await freePort()}`, requireNginx(this));
    try {
      const r = await send(`${down.nginx.url}/loki/api/v1/query`, {
        headers: [
          ['Authorization', basic('team-a-user')],
          ['X-Scope-OrgID', 'team-a'],
        ],
      });
      assert.equal(r.status, 500);
      assert.equal(down.loki.requests.length, 0);
    } finally {
      await down.stop();
    }
  });
});
