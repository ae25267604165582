// Forward-auth in the openshift modes and on plain Kubernetes, through the ForwardAuthorizer
// interface: the real @kubernetes/client-node against the fake Kubernetes API (real HTTP, RBAC
// semantics, test/support/fake-kube), TokenReview for who the caller is, access reviews for what
// they may read. Upstream calls are counted from the fake's request log (no review cache here, so
// every review is a call). The oracles are the fixture cluster's RBAC (its header says who may do
// what) and Loki's reading of a selector: a regex matcher is anchored.
import assert from 'node:assert/strict';
import { parser } from '@grafana/lezer-logql';
import { FORWARD_AUTH_MODES_FLAGS, parseForwardAuthModes, resourceAttributes, type KubeTenancyConfig } from '../server/config/forward-auth-modes.js';
import { loadConfig } from '../server/config/config.js';
import { parseFlags } from '../server/config/flags.js';
import { DecisionError } from '../server/errors.js';
import { namespaceSelectors } from '../server/forward-auth/kube-namespaces.js';
import { makeOpenShiftForwardAuthorizer, type OpenShiftForwardAuthorizer } from '../server/forward-auth/openshift.js';
import type { ForwardAuthRequest, ForwardAuthResult, Scope } from '../server/forward-auth/types.js';
import { KubeClient, type NamespaceSource } from '../server/kube/client.js';
import { parseKubeconfig } from '../server/kube/kubeconfig.js';
import { Limiter } from '../server/kube/limiter.js';
import { ReviewCache } from '../server/kube/review-cache.js';
import type { AccessReview, KubeAuthz } from '../server/kube/types.js';
import { LOKISTACK_CLUSTER_YAML, LOKISTACK_TOKENS as T, lokistackFakeKubeOptions } from './support/fake-kube/fixtures.js';
import { startFakeKube, type FakeKube, type FakeKubeEndpoint } from './support/fake-kube/server.js';
import { captureLogger, eventually, type CapturedLogger } from './support/service.js';

const LOGGING = {
  mappings: new Map([
    ['application', 'loki.grafana.com'],
    ['infrastructure', 'loki.grafana.com'],
    ['audit', 'loki.grafana.com'],
  ]),
  matcherKeys: ['kubernetes_namespace_name', 'k8s_namespace_name'],
  matcherOp: '' as const,
  skipTenants: new Set(['audit', 'infrastructure']),
  adminGroups: new Set(['system:cluster-admins', 'cluster-admin', 'dedicated-admin']),
  matchAllForClusterReaders: false,
  maxNamespaces: 10,
  reviewConcurrency: 4,
};
const POD_LOGS = { verb: 'get', group: '', resource: 'pods', subresource: 'log' };
const NAMESPACES: KubeTenancyConfig = { kind: 'namespaces', tenant: 'shared', namespaceLabel: 'namespace', read: POD_LOGS };

function request(token: string | undefined, opts: { scope?: Scope; requested?: string[]; signal?: AbortSignal } = {}): ForwardAuthRequest {
  return {
    scope: opts.scope ?? 'logs:read',
    method: 'GET',
    path: '/loki/api/v1/query_range',
    requestedTenants: opts.requested ?? [],
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    remoteAddress: '127.0.0.1',
    signal: opts.signal ?? new AbortController().signal,
  };
}

function pick(r: ForwardAuthResult): { kind: string; code?: string } {
  return r.kind === 'granted' ? { kind: r.kind } : { kind: r.kind, code: r.code };
}

describe('forward-auth, openshift modes (TokenReview and access reviews on the fake Kubernetes API)', () => {
  let fake: FakeKube;
  let log: CapturedLogger;
  const clients: KubeClient[] = [];

  const client = (on: FakeKube, namespaceSource: NamespaceSource = 'projects', perCaller = 4) => {
    const c = new KubeClient(
      parseKubeconfig(on.kubeconfigText(), 'fake-kube.kubeconfig'),
      { ssar: false, timeoutMs: 5_000, namespaceSource },
      new Limiter(16, perCaller),
      { call() {} },
    );
    clients.push(c);
    return c;
  };
  const authorizer = (
    over: { tenancy?: KubeTenancyConfig; maxNamespaces?: number; on?: FakeKube; namespaceSource?: NamespaceSource; matchAll?: boolean } = {},
  ): OpenShiftForwardAuthorizer => {
    const c = client(over.on ?? fake, over.namespaceSource);
    return makeOpenShiftForwardAuthorizer({
      mode: 'openshift-logging',
      openshift: { ...LOGGING, maxNamespaces: over.maxNamespaces ?? LOGGING.maxNamespaces, matchAllForClusterReaders: over.matchAll ?? false },
      tenancy: over.tenancy ?? { kind: 'mappings' },
      kube: c,
      tokenReviewer: c,
      logger: log.logger,
    });
  };
  const count = (on: FakeKube, endpoint: FakeKubeEndpoint, namespaced?: boolean) =>
    on.requests.filter((r) => {
      if (r.endpoint !== endpoint) return false;
      if (namespaced === undefined) return true;
      const ns = (r.body as { spec?: { resourceAttributes?: { namespace?: string } } } | undefined)?.spec?.resourceAttributes?.namespace ?? '';
      return namespaced === (ns !== '');
    }).length;

  before(async () => {
    fake = await startFakeKube(lokistackFakeKubeOptions());
  });
  beforeEach(() => {
    log = captureLogger('debug');
    fake.requests.length = 0;
    fake.clearFaults();
  });
  afterEach(() => {
    for (const line of log.lines) for (const t of Object.values(T)) assert.ok(!line.includes(t), `a token reached the log: ${line}`);
  });
  after(async () => {
    for (const c of clients) c.close();
    await fake?.close();
  });

  describe('LokiStack mappings (the reviews opa-openshift makes)', () => {
    it('a cluster-wide reader gets the projects it can list, as the Data API answers it (never more than the gateway would give)', async () => {
      const all = 'kube-system|log-test-0|log-test-1|log-test-2|openshift-logging';
      const r = await authorizer().authorize(request(T.alice));
      assert.deepEqual(r, {
        kind: 'granted',
        subject: 'alice',
        grants: [
          { id: 'application', selectors: [`{k8s_namespace_name=~"${all}"}`, `{kubernetes_namespace_name=~"${all}"}`] },
          { id: 'infrastructure' },
          { id: 'audit' },
        ],
      });
      assert.equal(count(fake, 'projects'), 1, 'her projects, listed once');
      assert.equal(count(fake, 'subjectaccessreviews', true), 0, 'no namespaced review for a cluster-wide reader');
      // carol reads application cluster-wide through her group, but lists one project: that one only.
      assert.deepEqual(
        await authorizer().authorize(request(T.carol)),
        {
          kind: 'granted',
          subject: 'carol',
          grants: [{ id: 'application', selectors: ['{k8s_namespace_name=~"log-test-2"}', '{kubernetes_namespace_name=~"log-test-2"}'] }],
        },
        'carol, cluster-wide through her group',
      );
      // Rules and alerts cannot be narrowed to projects: refused, as to a namespaced reader.
      assert.deepEqual(pick(await authorizer().authorize(request(T.alice, { scope: 'rules:read', requested: ['application'] }))), {
        kind: 'forbidden',
        code: 'not_allowed',
      });
    });

    it('an --opa.admin-groups member (as the TokenReview says) or --opa.match-all-for-cluster-readers: the whole tenant, as the Data API', async () => {
      const whole = [{ id: 'application' }, { id: 'infrastructure' }, { id: 'audit' }];
      assert.deepEqual(await authorizer().authorize(request(T.admin)), { kind: 'granted', subject: 'kube:admin', grants: whole });
      assert.equal(count(fake, 'projects'), 0, 'no project list for an admin');
      assert.deepEqual(await authorizer({ matchAll: true }).authorize(request(T.alice)), { kind: 'granted', subject: 'alice', grants: whole });
      assert.equal(count(fake, 'projects'), 0, 'nor with --opa.match-all-for-cluster-readers');
      assert.equal((await authorizer({ matchAll: true }).authorize(request(T.alice, { scope: 'rules:read' }))).kind, 'granted');
    });

    it("a namespaced reader gets the application tenant limited to the namespaces it may read, on both namespace labels (ViaQ's or OTel's)", async () => {
      const r = await authorizer().authorize(request(T.bob));
      assert.deepEqual(r, {
        kind: 'granted',
        subject: 'bob',
        grants: [{ id: 'application', selectors: ['{k8s_namespace_name=~"log-test-0|log-test-1"}', '{kubernetes_namespace_name=~"log-test-0|log-test-1"}'] }],
      });
      // One TokenReview; application, infrastructure, audit cluster-wide; his two projects once each.
      assert.equal(count(fake, 'tokenreviews'), 1);
      assert.equal(count(fake, 'subjectaccessreviews', false), 3);
      assert.equal(count(fake, 'subjectaccessreviews', true), 2);
      assert.equal(count(fake, 'projects'), 1);
      // Skipped tenants (no namespace label) are not granted through namespaces, nor rules or alerts.
      assert.deepEqual(pick(await authorizer().authorize(request(T.bob, { requested: ['infrastructure'] }))), { kind: 'forbidden', code: 'not_allowed' });
      assert.deepEqual(pick(await authorizer().authorize(request(T.bob, { scope: 'rules:read' }))), { kind: 'forbidden', code: 'not_allowed' });
      assert.equal((await authorizer().authorize(request(T.admin, { scope: 'rules:read' }))).kind, 'granted');
    });

    it("writes: the collector's create review, cluster-wide; a reader may not write; delete is refused", async () => {
      assert.deepEqual(await authorizer().authorize(request(T.collector, { scope: 'logs:write', requested: ['application'] })), {
        kind: 'granted',
        subject: 'system:serviceaccount:openshift-logging:logcollector',
        grants: [{ id: 'application' }],
      });
      fake.requests.length = 0;
      assert.deepEqual(pick(await authorizer().authorize(request(T.bob, { scope: 'logs:write' }))), { kind: 'forbidden', code: 'not_allowed' });
      assert.equal(count(fake, 'subjectaccessreviews', true), 0, 'writes are never reviewed per namespace');
      assert.equal(count(fake, 'projects'), 0);
      assert.deepEqual(pick(await authorizer().authorize(request(T.alice, { scope: 'logs:delete' }))), { kind: 'forbidden', code: 'scope_not_supported' });
    });

    it('dave, who may read nothing, is forbidden (and named)', async () => {
      const r = await authorizer().authorize(request(T.dave));
      assert.deepEqual(pick(r), { kind: 'forbidden', code: 'not_allowed' });
      assert.equal((r as { subject?: string }).subject, 'dave');
    });

    it('a forged token is unauthenticated: no access review is made, and an unknown tenant asked with it tells nothing (401, not 403)', async () => {
      for (const requested of [[], ['application'], ['no-such-tenant']]) {
        fake.requests.length = 0;
        const r = await authorizer().authorize(request('forged-token-value', { requested }));
        assert.deepEqual(pick(r), { kind: 'unauthenticated', code: 'token_review_failed' });
        assert.equal(count(fake, 'tokenreviews'), 1);
        assert.equal(count(fake, 'subjectaccessreviews'), 0);
      }
      // Authenticated, the unknown tenant is a 403 with no review.
      fake.requests.length = 0;
      assert.deepEqual(pick(await authorizer().authorize(request(T.alice, { requested: ['no-such-tenant'] }))), { kind: 'forbidden', code: 'unknown_tenant' });
      assert.equal(count(fake, 'subjectaccessreviews'), 0);
    });

    it("every review carries the token's uid and extra (OpenShift's OAuth scopes), so a scoped token is judged as the token, not as its user", async () => {
      const scopes = { 'scopes.authorization.openshift.io': ['user:info'] };
      fake.setTokens({
        ...lokistackFakeKubeOptions().tokens,
        'token-bob-scoped': { username: 'bob', uid: 'uid-bob', groups: ['system:authenticated:oauth'], extra: scopes },
      });
      try {
        await authorizer().authorize(request('token-bob-scoped'));
        const specs = fake.requests
          .filter((q) => q.endpoint === 'subjectaccessreviews')
          .map((q) => (q.body as { spec: { uid?: string; extra?: unknown; user?: string } }).spec);
        assert.ok(specs.length >= 3);
        for (const spec of specs) {
          assert.equal(spec.user, 'bob');
          assert.equal(spec.uid, 'uid-bob');
          assert.deepEqual(spec.extra, scopes);
        }
      } finally {
        fake.setTokens(lokistackFakeKubeOptions().tokens);
      }
    });

    it('no token, or a malformed one: 401 before any call', async () => {
      assert.deepEqual(pick(await authorizer().authorize(request(undefined))), { kind: 'unauthenticated', code: 'no_token' });
      const r = await authorizer().authorize({ ...request(undefined), headers: { authorization: `Bearer ${T.alice}, ${T.bob}` } });
      assert.deepEqual(pick(r), { kind: 'unauthenticated', code: 'malformed_token' });
      assert.equal(fake.requests.length, 0);
    });

    it('the Kubernetes API failing is no decision: an error (5xx), never a grant or a 401', async () => {
      fake.setFaults({ endpoint: 'tokenreviews', status: 500 });
      await assert.rejects(authorizer().authorize(request(T.alice)), (e: unknown) => e instanceof DecisionError && e.status === 503);
      fake.setFaults({ endpoint: 'subjectaccessreviews', status: 500 });
      await assert.rejects(
        authorizer().authorize(request(T.bob)),
        (e: unknown) => e instanceof DecisionError && e.status === 503 && !e.message.includes(T.bob),
      );
    });
  });

  describe('namespace tenancy (kube-rbac-proxy style: get pods/log in the namespace)', () => {
    it('a reader gets the shared tenant with the namespaces where it may read pod logs, and the reviews name the subresource', async () => {
      const r = await authorizer({ tenancy: NAMESPACES }).authorize(request(T.bob));
      assert.deepEqual(r, { kind: 'granted', subject: 'bob', grants: [{ id: 'shared', selectors: ['{namespace=~"log-test-0|log-test-1"}'] }] });
      const reviews = fake.requests
        .filter((q) => q.endpoint === 'subjectaccessreviews')
        .map((q) => (q.body as { spec: { resourceAttributes: Record<string, string> } }).spec.resourceAttributes);
      assert.ok(reviews.length === 3 && reviews.every((a) => a.resource === 'pods' && a.subresource === 'log' && a.verb === 'get'), JSON.stringify(reviews));
      assert.deepEqual(reviews.map((a) => a.namespace ?? '').sort(), ['', 'log-test-0', 'log-test-1']);
    });

    it('a cluster-wide reader gets the whole tenant; a caller with no namespace is forbidden', async () => {
      assert.deepEqual(await authorizer({ tenancy: NAMESPACES }).authorize(request(T.admin)), {
        kind: 'granted',
        subject: 'kube:admin',
        grants: [{ id: 'shared' }],
      });
      fake.requests.length = 0;
      assert.deepEqual(pick(await authorizer({ tenancy: NAMESPACES }).authorize(request(T.dave))), { kind: 'forbidden', code: 'not_allowed' });
      assert.equal(count(fake, 'subjectaccessreviews', true), 0, 'dave sees no project: nothing to review');
      // alice sees every project but may read no pod logs: each reviewed, none granted.
      assert.deepEqual(pick(await authorizer({ tenancy: NAMESPACES }).authorize(request(T.alice))), { kind: 'forbidden', code: 'not_allowed' });
    });

    it('writes are refused unless a write review is configured; then only who passes it writes, to the whole tenant', async () => {
      fake.requests.length = 0;
      assert.deepEqual(pick(await authorizer({ tenancy: NAMESPACES }).authorize(request(T.collector, { scope: 'logs:write' }))), {
        kind: 'forbidden',
        code: 'writes_not_configured',
      });
      assert.equal(count(fake, 'subjectaccessreviews'), 0);
      const withWrite: KubeTenancyConfig = {
        ...NAMESPACES,
        write: resourceAttributes('w', 'verb=create,group=loki.grafana.com,resource=application,name=logs'),
      };
      assert.deepEqual(await authorizer({ tenancy: withWrite }).authorize(request(T.collector, { scope: 'logs:write' })), {
        kind: 'granted',
        subject: 'system:serviceaccount:openshift-logging:logcollector',
        grants: [{ id: 'shared' }],
      });
      assert.deepEqual(pick(await authorizer({ tenancy: withWrite }).authorize(request(T.bob, { scope: 'logs:write' }))), {
        kind: 'forbidden',
        code: 'not_allowed',
      });
    });

    it('plain Kubernetes: the namespaces are listed as the service, one review each, bounded by --openshift.max-namespaces before any is made', async () => {
      const names = Array.from({ length: 12 }, (_, i) => `team-${String(i).padStart(2, '0')}`);
      const extra = [
        ...names.map((n) => `---\napiVersion: v1\nkind: Namespace\nmetadata: {name: ${n}}\n`),
        ...names.map(
          (n) =>
            `---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: many-view, namespace: ${n}}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}\nsubjects:\n  - {apiGroup: rbac.authorization.k8s.io, kind: User, name: many}\n`,
        ),
        '---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: gateway-lists-namespaces}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: namespace-reader}\nsubjects:\n  - {kind: ServiceAccount, name: lokistack-dev-gateway, namespace: openshift-logging}\n',
      ].join('');
      const options = lokistackFakeKubeOptions({ openshift: false });
      const vanilla = await startFakeKube({
        ...options,
        objects: LOKISTACK_CLUSTER_YAML + extra,
        tokens: { ...options.tokens, 'token-many': { username: 'many', groups: [] } },
      });
      try {
        // 17 namespaces in the cluster, more than 10: refused before a single namespaced review.
        const bounded = await authorizer({ tenancy: NAMESPACES, on: vanilla, namespaceSource: 'namespaces', maxNamespaces: 10 }).authorize(
          request('token-many'),
        );
        assert.deepEqual(pick(bounded), { kind: 'forbidden', code: 'too_many_namespaces' });
        assert.equal(count(vanilla, 'subjectaccessreviews', true), 0);
        assert.equal(count(vanilla, 'namespaces'), 1);

        vanilla.requests.length = 0;
        const r = await authorizer({ tenancy: NAMESPACES, on: vanilla, namespaceSource: 'namespaces', maxNamespaces: 20 }).authorize(request('token-many'));
        assert.deepEqual(r, { kind: 'granted', subject: 'many', grants: [{ id: 'shared', selectors: [`{namespace=~"${names.join('|')}"}`] }] });
        assert.equal(count(vanilla, 'subjectaccessreviews', true), 17, 'one review per namespace listed, no more');
        assert.equal(count(vanilla, 'subjectaccessreviews', false), 1);
        assert.equal(count(vanilla, 'tokenreviews'), 1);
      } finally {
        await vanilla.close();
      }
    });

    it('cancellation: the client going away ends the decision and no further review is started', async () => {
      fake.setFaults({ endpoint: 'subjectaccessreviews', hang: true });
      const ac = new AbortController();
      const pending = authorizer({ tenancy: NAMESPACES }).authorize(request(T.bob, { signal: ac.signal }));
      assert.ok(await eventually(() => count(fake, 'subjectaccessreviews') === 1), 'the cluster-wide review reached the API');
      ac.abort(new Error('client gone'));
      await assert.rejects(pending, (e: unknown) => e instanceof DecisionError && e.status === 503);
      // authorize settles only once every review it started has settled: nothing of it runs on.
      fake.clearFaults();
      assert.equal(count(fake, 'subjectaccessreviews'), 1, 'no review after the request ended');
      assert.equal(count(fake, 'projects'), 0);
    });
  });

  describe('selectors and flags', () => {
    it("the review cache keeps a scoped token's verdicts apart from its user's", async () => {
      const asked: AccessReview[] = [];
      const inner: KubeAuthz = { review: async (req) => (asked.push(req), req.extra === undefined), listNamespaces: async () => [] };
      const cache = new ReviewCache(inner, { ttlMs: 60_000, maxEntries: 100, ssar: false });
      const base = {
        user: 'bob',
        groups: ['g'],
        token: 'full',
        verb: 'get',
        apiGroup: 'loki.grafana.com',
        resource: 'application',
        name: 'logs',
        namespace: '',
      };
      assert.equal(await cache.review(base, new AbortController().signal), true);
      assert.equal(
        await cache.review({ ...base, token: 'scoped', extra: { 'scopes.authorization.openshift.io': ['user:info'] } }, new AbortController().signal),
        false,
      );
      assert.equal(asked.length, 2);
    });

    it('the review cache tells pods from pods/log: a verdict on one never answers the other', async () => {
      // A user may get pods but not their logs (a common split): the cached "yes" for pods must
      // not answer pods/log.
      const asked: AccessReview[] = [];
      const inner: KubeAuthz = {
        review: async (req) => (asked.push(req), req.subresource === undefined),
        listNamespaces: async () => [],
      };
      const cache = new ReviewCache(inner, { ttlMs: 60_000, maxEntries: 100, ssar: false });
      const base = { user: 'u', groups: [], token: 't', verb: 'get', apiGroup: '', resource: 'pods', name: '', namespace: 'n' };
      assert.equal(await cache.review(base, new AbortController().signal), true);
      assert.equal(await cache.review({ ...base, subresource: 'log' }, new AbortController().signal), false);
      assert.equal(asked.length, 2);
    });

    it('namespace names are regex-escaped for an anchored regex, and the selector parses as LogQL', () => {
      const [sel] = namespaceSelectors(['namespace'], '', ['a.b', 'c|d', 'e"f\\g']);
      assert.ok(sel);
      const tree = parser.parse(sel);
      let errors = 0;
      tree.iterate({ enter: (n) => void (n.type.isError && errors++) });
      assert.equal(errors, 0, sel);
      // The value as Loki reads it (a Go string literal, which JSON reads the same for these),
      // used as Loki uses a regex matcher: anchored at both ends.
      const value = JSON.parse(sel.slice(sel.indexOf('=~') + 2, -1)) as string;
      const re = new RegExp(`^(?:${value})$`);
      for (const ok of ['a.b', 'c|d', 'e"f\\g']) assert.ok(re.test(ok), ok);
      for (const no of ['axb', 'c', 'd', 'a.bc', 'xa.b']) assert.ok(!re.test(no), no);
      assert.deepEqual(namespaceSelectors(['x', 'y'], 'and', ['n']), ['{x=~"n", y=~"n"}']);
      // openshift-network (--opa.matcher-op=or): a flow is readable when its source or its destination namespace is.
      assert.deepEqual(namespaceSelectors(['SrcK8S_Namespace', 'DstK8S_Namespace'], 'or', ['b', 'a']), [
        '{DstK8S_Namespace=~"a|b"}',
        '{SrcK8S_Namespace=~"a|b"}',
      ]);
    });

    it('namespace tenancy starts without --openshift.mappings; every other openshift setup still needs them', () => {
      const base = ['--mode=openshift-logging', '--forward-auth.enabled'];
      const tenancy = ['--forward-auth.kube-tenancy=namespaces', '--forward-auth.namespace-tenant=shared'];
      const loaded = loadConfig([...base, ...tenancy]);
      assert.ok(!loaded.help && loaded.config.openshift?.decision.mappings.size === 0);
      assert.throws(() => loadConfig(base), /needs --openshift\.mappings/);
      assert.throws(
        () => loadConfig(['--mode=openshift-logging', ...tenancy]),
        /needs --openshift\.mappings/,
        'forward-auth off: the Data API alone needs mappings',
      );
    });

    it('flags: namespace tenancy needs a valid tenant ID and label; review attributes are checked', () => {
      const parse = (argv: string[]) => parseForwardAuthModes(parseFlags(argv, FORWARD_AUTH_MODES_FLAGS).values);
      assert.deepEqual(parse([]).kube, { kind: 'mappings' });
      assert.deepEqual(parse(['--forward-auth.kube-tenancy=namespaces', '--forward-auth.namespace-tenant=shared']).kube, {
        kind: 'namespaces',
        tenant: 'shared',
        namespaceLabel: 'namespace',
        read: POD_LOGS,
      });
      assert.throws(() => parse(['--forward-auth.kube-tenancy=namespaces']), /needs --forward-auth.namespace-tenant/);
      for (const bad of ['a|b', 'a:b', 'a,b', '..'])
        assert.throws(() => parse(['--forward-auth.kube-tenancy=namespaces', `--forward-auth.namespace-tenant=${bad}`]), /not a Loki tenant ID/);
      assert.throws(
        () => parse(['--forward-auth.kube-tenancy=namespaces', '--forward-auth.namespace-tenant=s', '--forward-auth.namespace-label=k8s.namespace']),
        /not a label name/,
      );
      assert.throws(() => resourceAttributes('f', 'verb=get,resource=pods,namespace=x'), /unknown attribute "namespace"/);
      assert.throws(() => resourceAttributes('f', 'verb=get'), /at least verb= and resource=/);
      assert.throws(() => resourceAttributes('f', 'verb=get,verb=list,resource=pods'), /twice/);
      assert.throws(() => resourceAttributes('f', 'verb=*,resource=pods'), /not a valid verb/);
      assert.throws(
        () =>
          makeOpenShiftForwardAuthorizer({
            mode: 'm',
            openshift: { ...LOGGING, matcherKeys: ['bad-key'] },
            tenancy: { kind: 'mappings' },
            kube: {} as never,
            tokenReviewer: {} as never,
            logger: log.logger,
          }),
        /not a label name/,
      );
    });
  });
});
