/**
 * Faults of the real parts the service depends on, each injected while the service runs and then
 * cleared:
 *
 *   Kubernetes API (test/support/fake-kube, behind a TCP proxy this suite can close and reopen on
 *   the same port): slow past --kube.timeout, hung, 500s, connection resets, refused connections,
 *   a 401 for the user's expired token on the project list;
 *   OIDC provider (test/support/oidc, a real oidc-provider): stopped, its signing keys rotated;
 *   memcached (a real process this suite spawns): killed and restarted, stopped (SIGSTOP) and resumed.
 *
 * For each: the protocol's answer (openshift: 401 with opa-openshift's message; dynamic: a deny),
 * arriving while the fault is still on (so the configured timeout, not the fault clearing, ended it;
 * the only clock is mocha's generous timeout); nothing from the failure cached (the next request
 * after the fault clears is decided upstream, as the upstream's request log shows); and service
 * resuming once the fault clears.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { LOKISTACK_IDENTITIES, LOKISTACK_TOKENS, lokistackFakeKubeOptions } from './support/fake-kube/fixtures.js';
import { startFakeKube, type FakeKube, type RecordedRequest } from './support/fake-kube/server.js';
import { freePort, memcachedBinary, memcachedKeyFile } from './support/memcached.js';
import { startOidcProvider, type OidcProvider } from './support/oidc.js';
import {
  KUBECONFIG_PLACEHOLDER,
  OPERATOR_LOGGING_ARGS,
  gatewayInput,
  postDecision,
  selecting,
  startAuthz,
  type Answer,
  type RunningAuthz,
  type Who,
} from './support/openshift.js';
import { eventually, metricValue, startTestService, writeTempFile, type TestService } from './support/service.js';

const KUBE_TIMEOUT = '--kube.timeout=500ms';
/** The operator's arguments with our own listener as the health URL, and a short Kubernetes deadline. */
const OPERATOR_ARGS = [
  ...OPERATOR_LOGGING_ARGS.filter((a) => !a.startsWith('--web.healthchecks.url') && !a.startsWith('--log.level')),
  '--log.level=error',
  `--openshift.kubeconfig=${KUBECONFIG_PLACEHOLDER}`,
  KUBE_TIMEOUT,
  '--kube.review-cache-ttl=0',
];

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

/** A TCP proxy on a fixed loopback port: close() refuses connections (and cuts open ones), open() serves again. */
interface Proxy {
  port: number;
  close(): Promise<void>;
  open(): Promise<void>;
}

async function startProxy(targetPort: number): Promise<Proxy> {
  const port = await freePort();
  let server: Server | undefined;
  const sockets = new Set<Socket>();
  const open = async () => {
    if (server) return;
    server = createServer((client) => {
      const upstream = connect(targetPort, '127.0.0.1');
      sockets.add(client).add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server!.once('error', reject);
      server!.listen(port, '127.0.0.1', () => resolve());
    });
  };
  await open();
  return {
    port,
    open,
    async close() {
      const s = server;
      server = undefined;
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    },
  };
}

/** A kubeconfig file for the fake reached through `port`, as the gateway's service account. */
function kubeconfigVia(port: number): string {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'fake-kube', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'gateway', token: LOKISTACK_TOKENS.gateway }],
    contexts: [{ name: 'fake-kube', cluster: 'fake-kube', user: 'gateway' }],
    currentContext: 'fake-kube',
  });
  return writeTempFile('kubeconfig', kc.exportConfig());
}

function ask(authz: { url: string }, who: Who, options: Parameters<typeof gatewayInput>[1] = {}, token: string = LOKISTACK_TOKENS[who]): Promise<Answer> {
  return postDecision(authz.url, { input: gatewayInput(who, options), token });
}

function errorOf(a: Answer, status: number): string {
  assert.equal(a.status, status, `status ${a.status}: ${a.text}`);
  const body = a.body as { code?: unknown; message?: unknown };
  assert.equal(typeof body?.message, 'string', a.text);
  return body.message as string;
}

function resultOf(a: Answer): unknown {
  assert.equal(a.status, 200, `status ${a.status}: ${a.text}`);
  return (a.body as { result: unknown }).result;
}

function namespacesOf(result: unknown): string[] {
  const r = result as { allowed: string; data: string };
  const data = JSON.parse(r.data) as { matchers: Array<{ Value: string }> };
  return data.matchers[0]!.Value.split('|').sort();
}

const isReview = (r: RecordedRequest) => r.endpoint === 'subjectaccessreviews';
const isClusterReview = (r: RecordedRequest) =>
  isReview(r) && (r.body as { spec: { resourceAttributes: { namespace?: string } } }).spec.resourceAttributes.namespace === undefined;
const isProjects = (r: RecordedRequest) => r.endpoint === 'projects';

async function metric(internalUrl: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${internalUrl}/metrics`)).text();
  return metricValue(text, name, labels) ?? 0;
}

// ---------------------------------------------------------------------------------------------
// Kubernetes API faults
// ---------------------------------------------------------------------------------------------

describe("faults: the Kubernetes API (openshift-logging, the operator's arguments, --kube.timeout=500ms)", function () {
  this.timeout(30_000);
  let fake: FakeKube;
  let proxy: Proxy;
  let authz: RunningAuthz;

  before(async () => {
    fake = await startFakeKube(lokistackFakeKubeOptions());
    proxy = await startProxy(fake.port);
    authz = await startAuthz(OPERATOR_ARGS, { kubeconfig: kubeconfigVia(proxy.port) });
  });
  after(async () => {
    await authz?.stop();
    await proxy?.close();
    await fake?.close();
  });
  afterEach(async () => {
    fake.clearFaults();
    fake.setTokens(lokistackFakeKubeOptions().tokens);
    await proxy.open();
    fake.requests.length = 0;
  });

  /**
   * One fault, end to end: a request that needs the faulty call gets `want` while the fault is on;
   * once it clears the same request is decided upstream (not answered from a cached failure) and
   * succeeds. Each case uses its own query so no earlier success is cached for it either.
   */
  async function faultCase(opts: {
    who: Who;
    input: Parameters<typeof gatewayInput>[1];
    inject: () => void | Promise<void>;
    clear: () => void | Promise<void>;
    want: RegExp;
    /** What the second request during the fault must say, when it differs (a fresh connection). */
    wantAgain?: RegExp;
    upstream: (r: RecordedRequest) => boolean;
    check: (result: unknown) => void;
  }): Promise<void> {
    await opts.inject();
    const during = await ask(authz, opts.who, opts.input);
    assert.match(errorOf(during, 401), opts.want);
    assert.equal((during.body as { code: string }).code, 'unauthorized');
    // Twice (the fault set anew): the failure is not cached either way.
    await opts.inject();
    assert.match(errorOf(await ask(authz, opts.who, opts.input), 401), opts.wantAgain ?? opts.want);
    await opts.clear();
    fake.requests.length = 0;
    const after = await ask(authz, opts.who, opts.input);
    opts.check(resultOf(after));
    assert.ok(
      fake.requests.some(opts.upstream),
      `decided upstream after the fault cleared; the fake saw ${JSON.stringify(fake.requests.map((r) => `${r.method} ${r.path} ${r.status}`))}`,
    );
    // And now it is cached: the next identical request makes no call.
    fake.requests.length = 0;
    opts.check(resultOf(await ask(authz, opts.who, opts.input)));
    assert.deepEqual(fake.requests, [], 'the success is cached');
  }

  it('the cluster-wide review slower than --kube.timeout: 401 "cluster-wide SAR failed: …" before the review would answer', async () => {
    await faultCase({
      who: 'bob',
      input: { extras: selecting(['log-test-0']) },
      // 25 s: past mocha's timeout, so only the service's deadline can produce the answer in time.
      inject: () => fake.setFaults({ endpoint: 'subjectaccessreviews', latencyMs: 25_000 }),
      clear: () => fake.clearFaults(),
      want: /^cluster-wide SAR failed: failed to create subject access review: /,
      upstream: isClusterReview,
      check: (r) => assert.deepEqual(namespacesOf(r), ['log-test-0']),
    });
  });

  it('a hung cluster-wide review: 401 while the fake still holds the request', async () => {
    await faultCase({
      who: 'bob',
      input: { extras: selecting(['log-test-1']) },
      inject: () => fake.setFaults({ endpoint: 'subjectaccessreviews', hang: true }),
      clear: () => fake.clearFaults(),
      want: /^cluster-wide SAR failed: /,
      upstream: isClusterReview,
      check: (r) => assert.deepEqual(namespacesOf(r), ['log-test-1']),
    });
  });

  it('500s from the cluster-wide review: 401 "cluster-wide SAR failed: …"', async () => {
    await faultCase({
      who: 'carol',
      input: { extras: selecting(['log-test-2']) },
      inject: () => fake.setFaults({ endpoint: 'subjectaccessreviews', status: 500, message: 'etcdserver: request timed out' }),
      clear: () => fake.clearFaults(),
      want: /^cluster-wide SAR failed: failed to create subject access review: 500/,
      upstream: isClusterReview,
      check: (r) => assert.deepEqual(namespacesOf(r), ['log-test-2']),
    });
  });

  it('500s from a namespaced review (the cluster-wide one answers): 401 "namespaced SAR failed: …"', async () => {
    await faultCase({
      who: 'bob',
      input: { extras: selecting(['log-test-0', 'log-test-1']) },
      inject: () => fake.setFaults({ endpoint: 'subjectaccessreviews', times: 1 }, { endpoint: 'subjectaccessreviews', status: 500 }),
      clear: () => fake.clearFaults(),
      want: /^namespaced SAR failed: /,
      upstream: (r) => isReview(r) && !isClusterReview(r),
      check: (r) => assert.deepEqual(namespacesOf(r), ['log-test-0', 'log-test-1']),
    });
  });

  it('connection resets on the review: 401 "cluster-wide SAR failed: …"', async () => {
    await faultCase({
      who: 'bob',
      input: { extras: selecting(['log-test-0', 'kube-system']) },
      inject: () => fake.setFaults({ endpoint: 'subjectaccessreviews', reset: true }),
      clear: () => fake.clearFaults(),
      want: /^cluster-wide SAR failed: /,
      upstream: isClusterReview,
      check: (r) => assert.deepEqual(namespacesOf(r), ['log-test-0']),
    });
  });

  it('connection resets on the project list: 401 "failed to access api server: …"', async () => {
    await faultCase({
      who: 'alice',
      input: { extras: selecting(['log-test-2', 'kube-system']) },
      inject: () => fake.setFaults({ endpoint: 'projects', reset: true }),
      clear: () => fake.clearFaults(),
      want: /^failed to access api server: failed to list projects: /,
      upstream: isProjects,
      check: (r) => assert.deepEqual(namespacesOf(r), ['kube-system', 'log-test-2']),
    });
  });

  it('refused connections (the API server gone): 401 "cluster-wide SAR failed: …"; served again once it is back on its port', async () => {
    await faultCase({
      who: 'bob',
      input: { extras: selecting(['log-test-1', 'openshift-logging']) },
      inject: () => proxy.close(),
      clear: () => proxy.open(),
      // The first request may still go out on a pooled connection the proxy just cut.
      want: /^cluster-wide SAR failed: failed to create subject access review: the API server is unreachable: (ECONNREFUSED|ECONNRESET)/,
      wantAgain: /^cluster-wide SAR failed: failed to create subject access review: the API server is unreachable: ECONNREFUSED/,
      upstream: isClusterReview,
      check: (r) => assert.deepEqual(namespacesOf(r), ['log-test-1']),
    });
  });

  it('the user\'s token expired (the project list answers 401): 401 "failed to access api server: …"; served again with the token valid', async () => {
    const { alice: _expired, ...rest } = LOKISTACK_TOKENS;
    await faultCase({
      who: 'alice',
      input: { extras: selecting(['log-test-0', 'log-test-1']) },
      // The service's own token still works: the cluster-wide review passes; the user's list fails.
      inject: () => fake.setTokens(Object.fromEntries(Object.entries(rest).map(([who, token]) => [token, LOKISTACK_IDENTITIES[who as Who]]))),
      clear: () => fake.setTokens(lokistackFakeKubeOptions().tokens),
      want: /^failed to access api server: failed to list projects: 401/,
      upstream: isProjects,
      check: (r) => assert.deepEqual(namespacesOf(r), ['log-test-0', 'log-test-1']),
    });
  });

  it('a write with the API server slow: 401 within --kube.timeout, then true once it answers again', async () => {
    fake.setFaults({ endpoint: 'subjectaccessreviews', hang: true });
    assert.match(errorOf(await ask(authz, 'collector', { permission: 'write', tenant: 'audit' }), 401), /^cluster-wide SAR failed: /);
    fake.clearFaults();
    fake.requests.length = 0;
    assert.equal(resultOf(await ask(authz, 'collector', { permission: 'write', tenant: 'audit' })), true);
    assert.ok(fake.requests.some(isClusterReview));
  });

  it('the public listener and /live stay up through every fault', async () => {
    const live = await fetch(`${authz.internalUrl}/live`);
    assert.equal(live.status, 200, await live.text());
  });
});

// ---------------------------------------------------------------------------------------------
// OIDC provider faults
// ---------------------------------------------------------------------------------------------

const ACCOUNTS = {
  alice: { claims: { preferred_username: 'alice', email: 'alice@example.com', groups: ['app-devs'] } },
  mallory: { claims: { preferred_username: 'mallory', groups: ['staff'] } },
};
const CLIENT = { client_id: 'gateway', client_secret: 'gateway-secret' };
const DYNAMIC_RBAC = `roles:
  - name: application-read
    resources: [logs]
    tenants: [application]
    permissions: [read]
roleBindings:
  - name: app-devs
    roles: [application-read]
    subjects:
      - {kind: group, name: app-devs}
`;
const READ = { subject: 'alice', groups: [], permission: 'read', resource: 'logs', tenant: 'application', tenantID: 'application', token: '', extras: {} };

function tenantsFor(issuer: string): string {
  return `tenants:
  - name: application
    id: application
    oidc:
      issuerURL: ${issuer}
      clientID: ${CLIENT.client_id}
      clientSecret: ${CLIENT.client_secret}
      usernameClaim: preferred_username
      groupClaim: groups
      audiences: [lokistack-authz]
      userinfoOpaqueTokens: true
`;
}

describe('faults: the OIDC provider (dynamic mode, --oidc.timeout=1s)', function () {
  this.timeout(60_000);
  let provider: OidcProvider;
  const services: TestService[] = [];

  beforeEach(async () => {
    provider = await startOidcProvider({ accounts: ACCOUNTS, clients: [CLIENT] });
  });
  afterEach(async () => {
    for (const s of services.splice(0)) await s.stop();
    await provider.stop();
  });

  async function dynamicService(extra: string[] = []): Promise<TestService> {
    const tenants = writeTempFile('tenants.yaml', tenantsFor(provider.issuer));
    const s = await startTestService({
      rbac: DYNAMIC_RBAC,
      flags: ['--mode=dynamic', `--tenants.config=${tenants}`, '--oidc.allow-insecure-issuers', '--oidc.timeout=1s', '--log.level=error', ...extra],
    });
    services.push(s);
    return s;
  }

  async function decide(s: TestService, token: string): Promise<Answer> {
    return postDecision(s.publicUrl, { input: READ, token });
  }

  it('down before the first request (no discovery yet): false for a JWT and an opaque token; true once it is back, from calls it answers', async () => {
    const s = await dynamicService(['--oidc.discovery-backoff=100ms']);
    const jwt = await provider.jwtAccessToken('alice', { clientId: CLIENT.client_id });
    const opaque = await provider.opaqueAccessToken('alice', { clientId: CLIENT.client_id });
    await provider.stop();
    assert.equal(resultOf(await decide(s, jwt)), false, 'a JWT with no keys to check it: deny');
    assert.equal(resultOf(await decide(s, opaque)), false, 'an opaque token with no userinfo: deny');
    await provider.restart();
    provider.requests.reset();
    // Discovery backs off after the failure (--oidc.discovery-backoff): the JWT passes once it retries.
    assert.ok(await eventually(async () => resultOf(await decide(s, jwt)) === true, 50, 50), 'the same JWT once the provider is back');
    assert.ok(
      provider.requests.count('discovery') > 0 && provider.requests.count('jwks') > 0,
      `discovery and keys fetched again: ${JSON.stringify(provider.requests.log)}`,
    );
    assert.equal(resultOf(await decide(s, opaque)), true, 'the same opaque token once the provider is back');
    assert.ok(provider.requests.count('userinfo') > 0, 'userinfo asked: the failure was not cached');
  });

  it('down after discovery: an opaque token (userinfo needed) is denied, then allowed once it is back; cached keys keep JWTs verifiable', async () => {
    const s = await dynamicService();
    const first = await provider.jwtAccessToken('alice', { clientId: CLIENT.client_id });
    assert.equal(resultOf(await decide(s, first)), true);
    const opaque = await provider.opaqueAccessToken('alice', { clientId: CLIENT.client_id });
    const jwt = await provider.jwtAccessToken('alice', { clientId: CLIENT.client_id });
    const malloryJwt = await provider.jwtAccessToken('mallory', { clientId: CLIENT.client_id });
    await provider.stop();
    assert.equal(resultOf(await decide(s, opaque)), false, 'userinfo unreachable: deny');
    assert.equal(resultOf(await decide(s, jwt)), true, "a new JWT checks against the issuer's keys already fetched");
    assert.equal(resultOf(await decide(s, malloryJwt)), false, "and still only grants what the verified identity's roles grant");
    assert.equal(resultOf(await decide(s, 'not-a-token-at-all')), false);
    await provider.restart();
    provider.requests.reset();
    assert.equal(resultOf(await decide(s, opaque)), true, 'the same opaque token once the provider is back');
    assert.ok(provider.requests.count('userinfo') > 0, 'userinfo asked: the failure was not cached');
  });

  it('keys rotated: a token signed with the new key is allowed after one refetch of the keys', async () => {
    const s = await dynamicService(['--oidc.jwks-refresh-cooldown=0s']);
    assert.equal(resultOf(await decide(s, await provider.jwtAccessToken('alice', { clientId: CLIENT.client_id }))), true);
    const oldKid = provider.signingKid;
    await provider.rotateKeys();
    assert.notEqual(provider.signingKid, oldKid);
    provider.requests.reset();
    assert.equal(resultOf(await decide(s, await provider.jwtAccessToken('alice', { clientId: CLIENT.client_id }))), true);
    assert.equal(provider.requests.count('jwks'), 1, 'the keys were fetched once for the unknown key ID');
  });

  it('keys rotated within the refetch cooldown: denied while the new key is unknown, allowed once the cooldown lets the keys be fetched (no failure cached)', async () => {
    const s = await dynamicService(['--oidc.jwks-refresh-cooldown=5s']);
    assert.equal(resultOf(await decide(s, await provider.jwtAccessToken('alice', { clientId: CLIENT.client_id }))), true);
    await provider.rotateKeys();
    const token = await provider.jwtAccessToken('alice', { clientId: CLIENT.client_id });
    // Within the cooldown after the first fetch, the new key ID is refused without a refetch: a deny.
    assert.equal(resultOf(await decide(s, token)), false);
    // The same token, once a refetch is allowed: that deny was not remembered.
    const allowed = await eventually(async () => resultOf(await decide(s, token)) === true, 200, 100);
    assert.ok(allowed, 'the token signed with the new key is allowed once the keys are refetched');
  });

  it('old keys dropped: a token signed by a key the issuer no longer publishes is denied by a service that has not seen it', async () => {
    const old = await provider.jwtAccessToken('alice', { clientId: CLIENT.client_id });
    await provider.rotateKeys();
    await provider.dropOldKeys();
    const s = await dynamicService();
    assert.equal(resultOf(await decide(s, old)), false);
    assert.equal(resultOf(await decide(s, await provider.jwtAccessToken('alice', { clientId: CLIENT.client_id }))), true);
  });

  it('an expired token: false, and a fresh one for the same account: true', async () => {
    const s = await dynamicService();
    assert.equal(resultOf(await decide(s, await provider.expiredJwtAccessToken('alice', { clientId: CLIENT.client_id }))), false);
    assert.equal(resultOf(await decide(s, await provider.jwtAccessToken('alice', { clientId: CLIENT.client_id }))), true);
  });
});

// ---------------------------------------------------------------------------------------------
// memcached faults
// ---------------------------------------------------------------------------------------------

/** A real memcached this suite owns, so it can kill, stop and continue it. */
class Memcached {
  private child: ChildProcess | undefined;
  constructor(
    private readonly binary: string,
    readonly port: number,
  ) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const child = spawn(this.binary, ['-l', '127.0.0.1', '-p', String(this.port), '-U', '0', '-m', '16', '-u', 'root'], { stdio: 'ignore' });
    this.child = child;
    const up = await eventually(
      () =>
        new Promise<boolean>((resolve) => {
          const s = connect(this.port, '127.0.0.1', () => {
            s.destroy();
            resolve(true);
          });
          s.on('error', () => resolve(false));
        }),
      200,
      25,
    );
    if (!up) throw new Error(`memcached did not listen on ${this.port}`);
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }

  signal(sig: NodeJS.Signals): void {
    this.child?.kill(sig);
  }

  /**
   * SIGSTOP, returning once the kernel shows the process stopped: kill() only queues the signal,
   * and a request sent meanwhile could still be answered by a memcached thread on the other core.
   */
  async stop(): Promise<void> {
    const pid = this.child?.pid;
    if (pid === undefined) throw new Error('memcached is not running');
    this.signal('SIGSTOP');
    const stopped = await eventually(
      () => {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'T';
      },
      200,
      5,
    );
    if (!stopped) throw new Error(`memcached (pid ${pid}) did not stop`);
  }
}

describe('faults: memcached gone mid-run (openshift-logging with --memcached, --memcached.timeout=300ms)', function () {
  this.timeout(30_000);
  const binary = memcachedBinary();
  let fake: FakeKube;
  let memcached: Memcached;
  let authz: RunningAuthz;

  before(async function () {
    if (!binary) this.skip();
    fake = await startFakeKube(lokistackFakeKubeOptions());
    memcached = new Memcached(binary!, await freePort());
    await memcached.start();
    authz = await startAuthz(
      [
        ...OPERATOR_ARGS,
        `--memcached=${memcached.address}`,
        `--memcached.hmac-key-file=${memcachedKeyFile()}`,
        '--memcached.timeout=300ms',
        '--memcached.interval=0',
      ],
      { kubeconfig: kubeconfigVia(fake.port) },
    );
  });
  after(async () => {
    await authz?.stop();
    memcached?.signal('SIGCONT');
    await memcached?.kill();
    await fake?.close();
  });
  beforeEach(() => {
    fake.requests.length = 0;
  });

  const BOB = { extras: selecting(['log-test-0']) };
  const CAROL = { extras: selecting(['log-test-2']) };

  /** One request: its namespaces, and whether it reached the fake. */
  async function decideBob(input = BOB): Promise<{ namespaces: string[]; upstream: boolean }> {
    fake.requests.length = 0;
    const who: Who = input === CAROL ? 'carol' : 'bob';
    const namespaces = namespacesOf(resultOf(await ask(authz, who, input)));
    return { namespaces, upstream: fake.requests.length > 0 };
  }

  it('with memcached up: a miss goes upstream, the next identical request is a hit', async () => {
    assert.deepEqual(await decideBob(), { namespaces: ['log-test-0'], upstream: true });
    assert.deepEqual(await decideBob(), { namespaces: ['log-test-0'], upstream: false });
  });

  it('memcached killed: every decision is still made (as a miss, upstream) and counted as a cache error', async () => {
    const errorsBefore = await metric(authz.internalUrl, 'decision_cache_errors_total');
    await memcached.kill();
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(await decideBob(), { namespaces: ['log-test-0'], upstream: true }, `request ${i} while memcached is gone`);
    }
    assert.deepEqual(await decideBob(CAROL), { namespaces: ['log-test-2'], upstream: true });
    assert.ok((await metric(authz.internalUrl, 'decision_cache_errors_total')) > errorsBefore, 'the failures were counted');
  });

  it('memcached restarted on its port: caching resumes (a decision stored after the restart is a hit)', async () => {
    await memcached.start();
    const resumed = await eventually(
      async () => {
        await decideBob(CAROL);
        return !(await decideBob(CAROL)).upstream;
      },
      50,
      100,
    );
    assert.ok(resumed, 'a decision was stored and then served from the restarted memcached');
    assert.deepEqual(await decideBob(CAROL), { namespaces: ['log-test-2'], upstream: false });
  });

  it('memcached hung (SIGSTOP): decisions come back within --memcached.timeout, decided upstream; after SIGCONT the cache serves again', async () => {
    assert.deepEqual(await decideBob(), { namespaces: ['log-test-0'], upstream: true }, 'the restarted memcached had no entry for bob yet');
    await memcached.stop();
    try {
      // The connection stays open and silent: only the service's deadline ends these lookups.
      for (let i = 0; i < 2; i++)
        assert.deepEqual(await decideBob(), { namespaces: ['log-test-0'], upstream: true }, `request ${i} while memcached is stopped`);
    } finally {
      memcached.signal('SIGCONT');
    }
    const resumed = await eventually(
      async () => {
        await decideBob();
        return !(await decideBob()).upstream;
      },
      50,
      100,
    );
    assert.ok(resumed, 'hits again once memcached answers');
  });

  it('a Kubernetes failure is never stored in memcached: after it clears, the request is decided upstream', async () => {
    fake.setFaults({ endpoint: 'subjectaccessreviews', status: 500 });
    const input = { extras: selecting(['log-test-1']) };
    assert.match(errorOf(await ask(authz, 'bob', input), 401), /^cluster-wide SAR failed: /);
    fake.clearFaults();
    fake.requests.length = 0;
    assert.deepEqual(namespacesOf(resultOf(await ask(authz, 'bob', input))), ['log-test-1']);
    assert.ok(fake.requests.some(isClusterReview), 'decided upstream');
  });
});
