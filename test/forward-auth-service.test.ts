/**
 * /forward-auth on the real service (static mode, basic auth against an htpasswd file, the policy
 * compiled by the real OPA compiler): each proxy contract as its documentation specifies it, and
 * what the worst caller could send.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { basic, decodePolicy, gelPolicyFlags, send, USERS, writeHtpasswd, type Answer } from './support/forward-auth.js';
import { eventually, makeTempDir, metricValue, startTestService, writeTempFile, type TestService } from './support/service.js';
import { requireOpa } from './support/tools.js';

const nginxStyle = (method: string, uri: string, extra: Array<[string, string]> = []): Array<[string, string]> => [
  ['X-Original-Method', method],
  ['X-Original-URI', uri],
  ...extra,
];

describe('forward-auth on the service (static mode)', function () {
  this.timeout(60_000);
  let svc: TestService;
  let decisions: string;

  before(async () => {
    decisions = join(makeTempDir(), 'decisions.jsonl');
    svc = await startTestService({
      flags: [
        ...gelPolicyFlags(),
        '--forward-auth.enabled',
        `--forward-auth.htpasswd-file=${writeHtpasswd()}`,
        '--forward-auth.trusted-proxies=127.0.0.2/32',
        `--decision-log.output=${decisions}`,
      ],
    });
  });
  after(async () => svc?.stop());

  const ask = (headers: Array<[string, string]>, more: { method?: string; body?: string; localAddress?: string; path?: string } = {}): Promise<Answer> =>
    send(`${svc.publicUrl}${more.path ?? '/forward-auth'}`, {
      headers,
      ...(more.method ? { method: more.method } : {}),
      ...(more.body !== undefined ? { body: more.body } : {}),
      ...(more.localAddress ? { localAddress: more.localAddress } : {}),
    });

  describe('nginx auth_request (X-Original-Method, X-Original-URI)', () => {
    it('grants a tenant reader its tenant, and no policy header (the whole tenant)', async () => {
      const r = await ask(nginxStyle('GET', '/loki/api/v1/query_range?query=%7Bapp%3D%22x%22%7D', [['Authorization', basic('team-a-user')]]));
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-scope-orgid'], 'team-a');
      assert.equal(r.headers['x-prom-label-policy'], undefined);
    });

    it('grants GEL\'s example policy as one header: {secret!="true", env="prod"} OR {env="dev"}', async () => {
      const r = await ask(nginxStyle('GET', '/loki/api/v1/query', [['Authorization', basic('gel-reader')]]));
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-scope-orgid'], 'team-b');
      assert.deepEqual(
        decodePolicy(r.headers['x-prom-label-policy'] as string).sort(),
        [
          ['team-b', '{env="dev"}'],
          ['team-b', '{secret!="true", env="prod"}'],
        ].sort(),
      );
    });

    it('401 without a credential (with a Basic challenge), and for a wrong password or an unknown user alike', async () => {
      const none = await ask(nginxStyle('GET', '/loki/api/v1/query'));
      assert.equal(none.status, 401);
      assert.match(String(none.headers['www-authenticate']), /^Basic /);
      const wrong = await ask(nginxStyle('GET', '/loki/api/v1/query', [['Authorization', basic('team-a-user', 'nope')]]));
      const unknown = await ask(nginxStyle('GET', '/loki/api/v1/query', [['Authorization', basic('mallory', 'nope')]]));
      assert.equal(wrong.status, 401);
      assert.equal(unknown.status, 401);
      assert.equal(wrong.body, unknown.body);
    });

    it('403 for a tenant the user has no role on, for a scope the user lacks, and for an unknown path', async () => {
      assert.equal(
        (
          await ask(
            nginxStyle('GET', '/loki/api/v1/query', [
              ['Authorization', basic('team-a-user')],
              ['X-Scope-OrgID', 'team-b'],
            ]),
          )
        ).status,
        403,
      );
      assert.equal(
        (
          await ask(
            nginxStyle('POST', '/loki/api/v1/push', [
              ['Authorization', basic('team-a-user')],
              ['X-Scope-OrgID', 'team-a'],
            ]),
          )
        ).status,
        403,
      );
      assert.equal((await ask(nginxStyle('GET', '/config', [['Authorization', basic('team-a-user')]]))).status, 403);
      // Deleting needs a role listing delete: writing never implies it.
      assert.equal(
        (
          await ask(
            nginxStyle('POST', '/loki/api/v1/delete', [
              ['Authorization', basic('collector')],
              ['X-Scope-OrgID', 'team-a'],
            ]),
          )
        ).status,
        403,
      );
      const del = await ask(nginxStyle('POST', '/loki/api/v1/delete?query=%7Bapp%3D%22x%22%7D&start=1', [['Authorization', basic('team-a-user')]]));
      assert.equal(del.status, 200);
      assert.equal(del.headers['x-scope-orgid'], 'team-a');
    });

    it('a write needs X-Scope-OrgID when several tenants are granted, and gets the one it names', async () => {
      const none = await ask(nginxStyle('POST', '/loki/api/v1/push', [['Authorization', basic('collector')]]));
      assert.equal(none.status, 403);
      assert.match(none.body, /X-Scope-OrgID/);
      const one = await ask(
        nginxStyle('POST', '/loki/api/v1/push', [
          ['Authorization', basic('collector')],
          ['X-Scope-OrgID', 'team-b'],
        ]),
      );
      assert.equal(one.status, 200);
      assert.equal(one.headers['x-scope-orgid'], 'team-b');
      assert.equal(one.headers['x-prom-label-policy'], undefined);
    });

    it('a path that hides one API behind another is denied, whatever the credential grants', async () => {
      // A collector may push; `push/../query` is a query to Loki, which it may not run.
      for (const uri of ['/loki/api/v1/push/../query', '/loki/api/v1/push/%2e%2e/query', '/loki//api/v1/push', '/loki%2Fapi%2Fv1%2Fpush']) {
        const r = await ask(
          nginxStyle('POST', uri, [
            ['Authorization', basic('collector')],
            ['X-Scope-OrgID', 'team-a'],
          ]),
        );
        assert.equal(r.status, 403, uri);
      }
    });

    it('repeated or disagreeing headers are refused, never resolved by picking one', async () => {
      const auth: [string, string] = ['Authorization', basic('collector')];
      const cases: Array<Array<[string, string]>> = [
        // The client adds Traefik's header to an nginx request: the two disagree.
        [['X-Original-Method', 'POST'], ['X-Original-URI', '/loki/api/v1/push'], ['X-Forwarded-Uri', '/loki/api/v1/query'], auth],
        [['X-Original-Method', 'POST'], ['X-Forwarded-Method', 'GET'], ['X-Original-URI', '/loki/api/v1/push'], auth],
        [['X-Original-Method', 'POST'], ['X-Original-URI', '/loki/api/v1/push'], ['X-Original-URI', '/loki/api/v1/query'], auth],
        [['X-Original-Method', 'POST'], ['X-Original-URI', '/loki/api/v1/push'], ['X-Scope-OrgID', 'team-a'], ['X-Scope-OrgID', 'team-b'], auth],
        [['X-Original-Method', 'POST'], ['X-Original-URI', '/loki/api/v1/push'], ['X-Scope-OrgID', 'team-a||team-b'], auth],
      ];
      for (const headers of cases) assert.equal((await ask(headers)).status, 403, JSON.stringify(headers));
      // Two Authorization headers: Node keeps the first; which one a proxy checked is unknown.
      const twice = await ask(nginxStyle('POST', '/loki/api/v1/push', [['X-Scope-OrgID', 'team-a'], auth, ['Authorization', basic('team-a-user')]]));
      assert.equal(twice.status, 401);
    });

    it('without the original request at all: 400, a misconfigured proxy, not a verdict', async () => {
      assert.equal((await ask([['Authorization', basic('team-a-user')]])).status, 400);
    });
  });

  describe('Traefik ForwardAuth and Envoy ext_authz', () => {
    it('Traefik: X-Forwarded-Method and X-Forwarded-Uri', async () => {
      const r = await ask([
        ['X-Forwarded-Method', 'GET'],
        ['X-Forwarded-Uri', '/loki/api/v1/labels'],
        ['Authorization', basic('team-b-user')],
      ]);
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-scope-orgid'], 'team-b');
    });

    it('Envoy: the original method and path under /forward-auth/', async () => {
      const r = await ask(
        [
          ['Authorization', basic('collector')],
          ['X-Scope-OrgID', 'team-a'],
        ],
        { method: 'POST', path: '/forward-auth/loki/api/v1/push' },
      );
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-scope-orgid'], 'team-a');
      assert.equal(
        (
          await ask(
            [
              ['Authorization', basic('collector')],
              ['X-Scope-OrgID', 'team-a'],
            ],
            { method: 'POST', path: '/forward-auth/loki/api/v1/push/../query' },
          )
        ).status,
        403,
      );
      // A path under the prefix and another in a header: which one the proxy meant is unknown.
      const both = await ask(
        [
          ['Authorization', basic('collector')],
          ['X-Scope-OrgID', 'team-a'],
          ['X-Forwarded-Uri', '/loki/api/v1/query'],
        ],
        { method: 'POST', path: '/forward-auth/loki/api/v1/push' },
      );
      assert.equal(both.status, 403);
    });
  });

  describe("db-auth-gateway's forward_auth contract", () => {
    /**
     * The client db-auth-gateway's docs/forward-auth-contract.md specifies: POST, Content-Type
     * application/json, the original headers copied, body {path, method, requiredScope}; 200 needs
     * one X-Scope-OrgID of `|`-separated IDs (no empty element); X-Prom-Label-Policy entries split
     * at the first colon, RFC 3986-decoded, each for a tenant in X-Scope-OrgID; any status other
     * than 200/401/403 is its 502.
     */
    async function gateway(original: {
      path: string;
      method: string;
      scope: string;
      headers: Array<[string, string]>;
    }): Promise<{ status: number; tenants?: string[]; policies?: Array<[string, string]> }> {
      const r = await ask([...original.headers, ['X-Forwarded-For', '203.0.113.7'], ['Content-Type', 'application/json']], {
        method: 'POST',
        body: JSON.stringify({ path: original.path, method: original.method, requiredScope: original.scope }),
      });
      if (r.status === 401 || r.status === 403) return { status: r.status };
      if (r.status !== 200) return { status: 502 };
      const org = r.headers['x-scope-orgid'];
      assert.equal(typeof org, 'string', 'X-Scope-OrgID is required on 200, once');
      const tenants = (org as string).split('|').map((t) => t.trim());
      assert.ok(
        tenants.every((t) => t !== ''),
        'an empty tenant is an error',
      );
      const policies: Array<[string, string]> = [];
      const raw = r.headers['x-prom-label-policy'];
      if (raw !== undefined) {
        for (const entry of String(raw).split(',')) {
          const colon = entry.indexOf(':');
          assert.ok(colon > 0, `entry ${entry} has a tenant and a colon`);
          const tenant = entry.slice(0, colon);
          const selector = decodeURIComponent(entry.slice(colon + 1));
          assert.ok(tenants.includes(tenant), `policy for ${tenant}, which X-Scope-OrgID does not list`);
          assert.match(selector, /^\{.*\}$/);
          policies.push([tenant, selector]);
        }
      }
      return { status: 200, tenants, policies };
    }

    it('answers a read with the tenant and the decoded policies, a write with its tenant', async () => {
      const read = await gateway({ path: '/loki/api/v1/query_range', method: 'GET', scope: 'logs:read', headers: [['Authorization', basic('gel-reader')]] });
      assert.deepEqual(read.tenants, ['team-b']);
      assert.deepEqual(read.policies?.map((p) => p[1]).sort(), ['{env="dev"}', '{secret!="true", env="prod"}']);
      const write = await gateway({
        path: '/loki/api/v1/push',
        method: 'POST',
        scope: 'logs:write',
        headers: [
          ['Authorization', basic('collector')],
          ['X-Scope-OrgID', 'team-a'],
        ],
      });
      assert.deepEqual(write, { status: 200, tenants: ['team-a'], policies: [] });
    });

    it('denials are 401 or 403, never a status it would turn into 502', async () => {
      assert.equal((await gateway({ path: '/loki/api/v1/push', method: 'POST', scope: 'logs:write', headers: [] })).status, 401);
      assert.equal((await gateway({ path: '/x', method: 'GET', scope: 'metrics:read', headers: [['Authorization', basic('team-a-user')]] })).status, 403);
      assert.equal((await gateway({ path: '/x', method: 'GET', scope: 'nonsense', headers: [['Authorization', basic('team-a-user')]] })).status, 403);
      assert.equal((await gateway({ path: '/x', method: 'GET', scope: 'alerts:write', headers: [['Authorization', basic('team-a-user')]] })).status, 403);
      assert.equal(
        (await gateway({ path: '/loki/api/v1/push', method: 'POST', scope: 'logs:write', headers: [['Authorization', basic('team-a-user')]] })).status,
        403,
      );
    });

    it('reads the scope from the body, never from headers the client copied in', async () => {
      // The client sends nginx's headers hoping the service reads a query path from them; the body says push.
      const r = await gateway({
        path: '/loki/api/v1/push',
        method: 'POST',
        scope: 'logs:write',
        headers: [
          ['Authorization', basic('team-a-user')],
          ['X-Original-URI', '/loki/api/v1/query'],
          ['X-Original-Method', 'GET'],
        ],
      });
      assert.equal(r.status, 403);
    });
  });

  describe('identity headers from an authenticating proxy (oauth2-proxy)', () => {
    const identity: Array<[string, string]> = [
      ['X-Auth-Request-User', 'someone'],
      ['X-Auth-Request-Groups', 'staff, gel-readers'],
      ['X-Auth-Request-Email', 'someone@example.com'],
    ];

    it('are trusted from a configured proxy address', async () => {
      const r = await ask(nginxStyle('GET', '/loki/api/v1/query', identity), { localAddress: '127.0.0.2' });
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-scope-orgid'], 'team-b');
      assert.ok(r.headers['x-prom-label-policy']);
    });

    it('sent twice, or groups without a user, prove nobody (401), even from a trusted proxy', async () => {
      const twice = await ask(
        nginxStyle('GET', '/loki/api/v1/query', [
          ['X-Auth-Request-User', 'someone'],
          ['X-Auth-Request-User', 'gel-reader'],
        ]),
        { localAddress: '127.0.0.2' },
      );
      assert.equal(twice.status, 401);
      const groupsOnly = await ask(nginxStyle('GET', '/loki/api/v1/query', [['X-Auth-Request-Groups', 'gel-readers']]), { localAddress: '127.0.0.2' });
      assert.equal(groupsOnly.status, 401);
    });

    it('are ignored from any other address (and that is logged), never trusted', async () => {
      const r = await ask(nginxStyle('GET', '/loki/api/v1/query', identity), { localAddress: '127.0.0.3' });
      assert.equal(r.status, 401);
      assert.ok(await eventually(() => svc.log.text().includes('ignored X-Auth-Request-* identity headers')));
      // Nor do they change what a basic-auth user gets.
      const withBasic = await ask(nginxStyle('GET', '/loki/api/v1/query', [...identity, ['Authorization', basic('team-a-user')]]), {
        localAddress: '127.0.0.3',
      });
      assert.equal(withBasic.headers['x-scope-orgid'], 'team-a');
    });
  });

  describe('cache, metrics and the decision log', () => {
    it('counts decisions and cache hits, and logs tenants and policies, never the credential', async () => {
      const headers = nginxStyle('GET', '/loki/api/v1/series', [['Authorization', basic('gel-reader')]]);
      assert.equal((await ask(headers)).status, 200);
      assert.equal((await ask(headers)).status, 200);
      const metrics = await (await fetch(`${svc.internalUrl}/metrics`)).text();
      assert.ok((metricValue(metrics, 'forward_auth_decisions_total', { mode: 'static', scope: 'logs:read', result: 'allow' }) ?? 0) >= 2);
      assert.ok((metricValue(metrics, 'forward_auth_cache_requests_total', { result: 'hit' }) ?? 0) >= 1);
      assert.ok((metricValue(metrics, 'forward_auth_decisions_total', { mode: 'static', scope: 'logs:read', result: 'unauthenticated' }) ?? 0) >= 1);

      // biome-ignore lint/suspicious/noExplicitAny: decision-log events are parsed JSON lines; the assertions name the fields.
      let events: Array<Record<string, any>> = [];
      assert.ok(
        await eventually(() => {
          events = readFileSync(decisions, 'utf8')
            .trim()
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l));
          return events.some((e) => e.input?.path === '/loki/api/v1/series');
        }),
      );
      const e = events.find((x) => x.input?.path === '/loki/api/v1/series')!;
      assert.equal(e.path, 'forward-auth');
      assert.equal(e.input.subject, 'gel-reader');
      assert.deepEqual(e.result.tenants, ['team-b']);
      assert.deepEqual([...e.result.policies['team-b']].sort(), ['{env="dev"}', '{secret!="true", env="prod"}']);
      const text = readFileSync(decisions, 'utf8');
      for (const [user, password] of Object.entries(USERS)) {
        assert.ok(!text.includes(password), 'a password in the decision log');
        assert.ok(!text.includes(basic(user).slice(6)), 'a credential in the decision log');
      }
    });
  });
});

describe('forward-auth: configuration', function () {
  this.timeout(60_000);

  it('is off unless enabled: /forward-auth is a 404', async () => {
    const svc = await startTestService();
    try {
      assert.equal((await fetch(`${svc.publicUrl}/forward-auth`)).status, 404);
    } finally {
      await svc.stop();
    }
  });

  it('refuses at startup an htpasswd line that is not bcrypt, naming the file and the line', async () => {
    const file = writeTempFile('htpasswd', 'alice:$apr1$abc$0123456789abcdefghijkl\n');
    await assert.rejects(
      startTestService({ flags: ['--forward-auth.enabled', `--forward-auth.htpasswd-file=${file}`] }),
      new RegExp(`${file}: line 1: user "alice": not a bcrypt hash`),
    );
  });

  it('refuses a trusted proxy that is not an address or CIDR, and static forward-auth with no way to authenticate', async () => {
    await assert.rejects(
      startTestService({ flags: ['--forward-auth.enabled', '--forward-auth.trusted-proxies=10.0.0.0/33'] }),
      /--forward-auth.trusted-proxies: "10.0.0.0\/33"/,
    );
    await assert.rejects(startTestService({ flags: ['--forward-auth.enabled'] }), /needs --forward-auth.htpasswd-file/);
  });

  it('bounds the tenants evaluated for one request: beyond, 403 asking for X-Scope-OrgID', async () => {
    const svc = await startTestService({
      flags: [...gelPolicyFlags(), '--forward-auth.enabled', `--forward-auth.htpasswd-file=${writeHtpasswd()}`, '--forward-auth.max-evaluated-tenants=1'],
    });
    try {
      const all = await send(`${svc.publicUrl}/forward-auth`, { headers: nginxStyle('GET', '/loki/api/v1/query', [['Authorization', basic('team-a-user')]]) });
      assert.equal(all.status, 403);
      assert.match(all.body, /X-Scope-OrgID/);
      const named = await send(`${svc.publicUrl}/forward-auth`, {
        headers: nginxStyle('GET', '/loki/api/v1/query', [
          ['Authorization', basic('team-a-user')],
          ['X-Scope-OrgID', 'team-a'],
        ]),
      });
      assert.equal(named.status, 200);
    } finally {
      await svc.stop();
    }
  });

  it('maps tenant names to IDs with a tenants file, and reloads the htpasswd file', async () => {
    const dir = makeTempDir();
    const htpasswd = writeHtpasswd({ 'team-a-user': 'pass-a' }, dir);
    const tenants = writeTempFile('tenants.yaml', 'tenants:\n  - name: application\n    id: app-0001\n', dir);
    const svc = await startTestService({
      flags: [
        '--forward-auth.enabled',
        `--forward-auth.htpasswd-file=${htpasswd}`,
        `--forward-auth.tenants-config=${tenants}`,
        '--watch.settle-interval=20ms',
        '--forward-auth.cache-deny-ttl=0s',
      ],
    });
    try {
      // EXAMPLE_RBAC: alice@example.com reads the tenant named application.
      const alice = (pw: string) =>
        send(`${svc.publicUrl}/forward-auth`, { headers: nginxStyle('GET', '/loki/api/v1/query', [['Authorization', basic('alice@example.com', pw)]]) });
      assert.equal((await alice('wonderland')).status, 401);
      writeHtpasswd({ 'team-a-user': 'pass-a', 'alice@example.com': 'wonderland' }, dir);
      await svc.service.reload();
      const r = await alice('wonderland');
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-scope-orgid'], 'app-0001');
    } finally {
      await svc.stop();
    }
  });

  const buildBundle = async (opa: string, rego: string, entrypoints: string[]): Promise<string> => {
    const dir = makeTempDir();
    writeFileSync(join(dir, 'p.rego'), rego);
    const { execFileSync } = await import('node:child_process');
    const bundle = join(dir, 'b.tar.gz');
    execFileSync(opa, ['build', '-t', 'wasm', ...entrypoints.flatMap((e) => ['-e', e]), '-o', bundle, join(dir, 'p.rego')], { stdio: 'pipe' });
    return bundle;
  };

  it('refuses at startup a policy without lokistack/allow (every caller would be denied without a word)', async function () {
    const bundle = await buildBundle(requireOpa(this), 'package authz\n\nimport rego.v1\n\nallow if input.user == "root"\n', ['authz/allow']);
    await assert.rejects(
      startTestService({
        flags: [
          `--policy.bundle=${bundle}`,
          '--rbac.config=',
          '--opa.package=authz',
          '--forward-auth.enabled',
          `--forward-auth.htpasswd-file=${writeHtpasswd()}`,
        ],
      }),
      /the policy has no lokistack\/allow entrypoint/,
    );
  });

  it('a label policy of the wrong shape fails closed with a 5xx, not a grant and not a denial in disguise', async function () {
    const rego =
      'package lokistack\n\nimport rego.v1\n\nallow := true\n\nlabel_policy := {"restricted": true, "selectors": []}\n\nroles := [{"tenants": ["a"]}]\n';
    const bundle = await buildBundle(requireOpa(this), rego, ['lokistack/allow', 'lokistack/label_policy']);
    const tenants = writeTempFile('t.yaml', 'tenants:\n  - {name: a, id: a}\n');
    const svc = await startTestService({
      flags: [
        `--policy.bundle=${bundle}`,
        '--rbac.config=',
        '--forward-auth.enabled',
        `--forward-auth.htpasswd-file=${writeHtpasswd()}`,
        `--forward-auth.tenants-config=${tenants}`,
      ],
    });
    try {
      const r = await send(`${svc.publicUrl}/forward-auth`, { headers: nginxStyle('GET', '/loki/api/v1/query', [['Authorization', basic('team-a-user')]]) });
      assert.equal(r.status, 500);
      assert.equal(r.headers['x-scope-orgid'], undefined);
      // Writes do not read the label policy: the same user may push.
      const w = await send(`${svc.publicUrl}/forward-auth`, { headers: nginxStyle('POST', '/loki/api/v1/push', [['Authorization', basic('team-a-user')]]) });
      assert.equal(w.status, 200);
    } finally {
      await svc.stop();
    }
  });
});
