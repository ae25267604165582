/**
 * Tests of the fake Kubernetes authn/authz API (test/support/fake-kube) through the real
 * @kubernetes/client-node, so the fake is proven against the client production code will use:
 * upstream RBAC semantics, the endpoints' shapes and errors, and each injectable fault.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import {
  ApiException,
  ApisApi,
  AuthenticationV1Api,
  AuthorizationV1Api,
  CoreApi,
  CoreV1Api,
  CustomObjectsApi,
  FetchError,
  KubeConfig,
  Observable,
  setHeaderOptions,
  type ConfigurationOptions,
  type ObservableMiddleware,
  type V1ResourceAttributes,
  type V1SubjectAccessReviewSpec,
} from '@kubernetes/client-node';
import { startFakeKube, type FakeKube, type Identity } from './support/fake-kube/server.js';
import { LOKISTACK_TOKENS as T, lokistackFakeKubeOptions, serviceAccountIdentity } from './support/fake-kube/fixtures.js';
import { KUBE_PROTOBUF, encodeKubeProtobuf } from './support/fake-kube/protobuf.js';
import type { KubeStatus } from './support/fake-kube/status.js';
import { LOKISTACK_IDENTITIES } from './support/fake-kube/fixtures.js';
import { OPERATOR_LOGGING_ARGS, gatewayInput, matcherValues, postDecision, selecting, startAuthzOn, type Who } from './support/openshift.js';
import { requirePeer, startOpaOpenshift, type RunningPeer } from './support/peers.js';
import { writeTempFile } from './support/service.js';
import { ROOT } from './support/tools.js';

const LOKI = 'loki.grafana.com';
const NAMESPACES = ['kube-system', 'log-test-0', 'log-test-1', 'log-test-2', 'openshift-logging'];

/** The resource attributes opa-openshift sends: get/create <tenant> named "logs" in loki.grafana.com (null: no name). */
function logs(tenant: string, namespace?: string, verb = 'get', name: string | null = 'logs'): V1ResourceAttributes {
  const attrs: V1ResourceAttributes = { verb, group: LOKI, resource: tenant };
  if (namespace !== undefined) attrs.namespace = namespace;
  if (name !== null) attrs.name = name;
  return attrs;
}

function sarClient(kc: KubeConfig) {
  const api = kc.makeApiClient(AuthorizationV1Api);
  return (spec: V1SubjectAccessReviewSpec) =>
    api.createSubjectAccessReview({ body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec } });
}

/** Awaits a rejection that must be an ApiException with `code`; returns the Status it carried, if any. */
async function apiError(promise: Promise<unknown>, code: number): Promise<KubeStatus | undefined> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ApiException, `expected ApiException, got ${String(err)}`);
    assert.equal(err.code, code);
    // The client hands the body over as the raw response text (a JSON string), not a parsed object.
    if (err.body === undefined) return undefined;
    assert.equal(typeof err.body, 'string');
    return JSON.parse(err.body as string) as KubeStatus;
  }
  assert.fail(`expected ApiException ${code}, got a result`);
}

/** Per-call options that abort the request after `ms`, through the client's observable middleware. */
function abortAfter(ms: number): ConfigurationOptions<ObservableMiddleware> {
  const middleware: ObservableMiddleware = {
    pre: (ctx) => {
      ctx.setSignal(AbortSignal.timeout(ms));
      return new Observable(Promise.resolve(ctx));
    },
    post: (res) => new Observable(Promise.resolve(res)),
  };
  return { middleware: [middleware], middlewareMergeStrategy: 'append' };
}

async function withFake<T>(yaml: string, tokens: Record<string, Identity>, fn: (fake: FakeKube) => Promise<T>): Promise<T> {
  const fake = await startFakeKube({
    objects: yaml,
    tokens: { ...tokens, 'token-root': { username: 'root', groups: ['system:masters'] } },
    serviceIdentityToken: 'token-root',
  });
  try {
    return await fn(fake);
  } finally {
    await fake.close();
  }
}

/** Model instances as plain JSON data, for deepStrictEqual (which compares prototypes). */
const plain = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

const isPending = async (p: Promise<unknown>, ms: number): Promise<boolean> =>
  Promise.race([
    p.then(
      () => false,
      () => false,
    ),
    new Promise<boolean>((r) => setTimeout(() => r(true), ms)),
  ]);

describe('fake-kube (through @kubernetes/client-node)', () => {
  let fake: FakeKube;
  let sar: ReturnType<typeof sarClient>;

  before(async () => {
    fake = await startFakeKube(lokistackFakeKubeOptions());
    sar = sarClient(fake.kubeConfig());
  });
  after(async () => fake?.close());
  afterEach(() => {
    fake.clearFaults();
    fake.requests.length = 0;
  });

  describe('RBAC semantics (SubjectAccessReview as the service identity)', () => {
    it('denies by default, with an empty reason', async () => {
      const r = await sar({
        user: 'dave',
        groups: ['system:authenticated:oauth', 'system:authenticated'],
        resourceAttributes: logs('application', 'log-test-0'),
      });
      assert.equal(r.status?.allowed, false);
      assert.equal(r.status?.reason, undefined);
      assert.equal(r.status?.evaluationError, undefined);
    });

    it('a ClusterRoleBinding allows cluster-wide and in every namespace, with the upstream reason', async () => {
      for (const namespace of [undefined, ...NAMESPACES]) {
        const r = await sar({ user: 'alice', groups: ['system:authenticated'], resourceAttributes: logs('application', namespace) });
        assert.equal(r.status?.allowed, true, `namespace ${namespace}`);
        assert.equal(
          r.status?.reason,
          'RBAC: allowed by ClusterRoleBinding "alice-application-logs" of ClusterRole "cluster-logging-application-view" to User "alice"',
        );
      }
      for (const tenant of ['infrastructure', 'audit']) {
        assert.equal((await sar({ user: 'alice', resourceAttributes: logs(tenant) })).status?.allowed, true);
      }
      assert.equal((await sar({ user: 'alice', resourceAttributes: logs('network') })).status?.allowed, false);
    });

    it('a RoleBinding to a ClusterRole is limited to its namespace', async () => {
      const bob = (namespace?: string) => sar({ user: 'bob', groups: ['system:authenticated'], resourceAttributes: logs('application', namespace) });
      const r0 = await bob('log-test-0');
      assert.equal(r0.status?.allowed, true);
      assert.equal(
        r0.status?.reason,
        'RBAC: allowed by RoleBinding "bob-application-logs/log-test-0" of ClusterRole "cluster-logging-application-view" to User "bob"',
      );
      assert.equal((await bob('log-test-1')).status?.allowed, true);
      assert.equal((await bob('log-test-2')).status?.allowed, false);
      assert.equal((await bob(undefined)).status?.allowed, false, 'cluster scope uses ClusterRoleBindings only');
      assert.equal((await bob('')).status?.allowed, false);
    });

    it('resourceNames: another name or no name does not match a rule with names', async () => {
      assert.equal((await sar({ user: 'alice', resourceAttributes: logs('application', 'log-test-0', 'get', 'other') })).status?.allowed, false);
      assert.equal((await sar({ user: 'alice', resourceAttributes: logs('application', 'log-test-0', 'get', null) })).status?.allowed, false);
      const sa = 'system:serviceaccount:openshift-logging:logcollector';
      assert.equal((await sar({ user: sa, resourceAttributes: logs('audit', undefined, 'create') })).status?.allowed, true);
      assert.equal((await sar({ user: sa, resourceAttributes: logs('audit', undefined, 'create', null) })).status?.allowed, false);
      assert.equal((await sar({ user: sa, resourceAttributes: logs('audit', undefined, 'get') })).status?.allowed, false, 'write does not imply read');
    });

    it('a ServiceAccount subject matches system:serviceaccount:<ns>:<name>, not its groups', async () => {
      const r = await sar({
        user: 'system:serviceaccount:openshift-logging:logcollector',
        groups: ['system:serviceaccounts', 'system:serviceaccounts:openshift-logging', 'system:authenticated'],
        resourceAttributes: logs('application', 'log-test-1', 'create'),
      });
      assert.equal(r.status?.allowed, true);
      assert.equal(
        r.status?.reason,
        'RBAC: allowed by ClusterRoleBinding "logging-collector-logs-writer" of ClusterRole "logging-collector-logs-writer" to ServiceAccount "logcollector/openshift-logging"',
      );
      const other = await sar({
        user: 'system:serviceaccount:log-test-0:logcollector',
        groups: ['system:serviceaccounts'],
        resourceAttributes: logs('application', undefined, 'create'),
      });
      assert.equal(other.status?.allowed, false, 'same name in another namespace');
      const groupsOnly = await sar({ groups: ['system:serviceaccounts:openshift-logging'], resourceAttributes: logs('application', undefined, 'create') });
      assert.equal(groupsOnly.status?.allowed, false);
    });

    it('a Group subject matches the groups given in the review (none are added)', async () => {
      const r = await sar({ user: 'carol', groups: ['log-readers'], resourceAttributes: logs('application') });
      assert.equal(r.status?.allowed, true);
      assert.equal(
        r.status?.reason,
        'RBAC: allowed by ClusterRoleBinding "log-readers-application-logs" of ClusterRole "cluster-logging-application-view" to Group "log-readers"',
      );
      assert.equal((await sar({ user: 'carol', resourceAttributes: logs('application') })).status?.allowed, false);
      assert.equal(
        (await sar({ groups: ['log-readers'], resourceAttributes: logs('application', 'log-test-2') })).status?.allowed,
        true,
        'groups alone are a subject',
      );
    });

    it('system:masters is allowed everything with an empty reason', async () => {
      const r = await sar({
        user: 'nobody',
        groups: ['system:masters'],
        resourceAttributes: { verb: 'delete', group: 'apps', resource: 'deployments', namespace: 'kube-system' },
      });
      assert.equal(r.status?.allowed, true);
      assert.equal(r.status?.reason, undefined);
      assert.equal((await sar({ user: 'nobody', groups: ['system:masters'], nonResourceAttributes: { path: '/metrics', verb: 'get' } })).status?.allowed, true);
    });

    it('an aggregated ClusterRole carries the rules of the roles its selector picks', async () => {
      const r = await sar({
        user: 'bob',
        resourceAttributes: { verb: 'get', group: '', resource: 'pods', subresource: 'log', namespace: 'log-test-0', name: 'p' },
      });
      assert.equal(r.status?.allowed, true);
      assert.equal(r.status?.reason, 'RBAC: allowed by RoleBinding "bob-view/log-test-0" of ClusterRole "view" to User "bob"');
    });

    it('cluster-admin (wildcards) allows resource and non-resource requests', async () => {
      const admin = { user: 'kube:admin', groups: ['system:cluster-admins'] };
      assert.equal((await sar({ ...admin, resourceAttributes: logs('audit') })).status?.allowed, true);
      assert.equal((await sar({ ...admin, nonResourceAttributes: { path: '/healthz', verb: 'get' } })).status?.allowed, true);
    });
  });

  describe('RBAC semantics on inline objects', () => {
    const YAML = `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: log-reader}
rules:
  - {apiGroups: [""], resources: ["*/log"], verbs: [get]}
---
kind: ClusterRole
metadata: {name: anything-on-widgets}
rules:
  - {apiGroups: [example.com], resources: [widgets], verbs: ["*"]}
---
kind: ClusterRole
metadata: {name: any-group-gadgets}
rules:
  - {apiGroups: ["*"], resources: [gadgets], verbs: [list]}
---
kind: ClusterRole
metadata: {name: top}
aggregationRule:
  clusterRoleSelectors: [{matchLabels: {agg: top}}]
---
kind: ClusterRole
metadata: {name: middle, labels: {agg: top}}
aggregationRule:
  clusterRoleSelectors: [{matchExpressions: [{key: agg, operator: In, values: [middle]}]}]
---
kind: ClusterRole
metadata: {name: leaf, labels: {agg: middle}}
rules:
  - {apiGroups: [example.com], resources: [leaves], verbs: [get]}
---
kind: ClusterRole
metadata: {name: probes}
rules:
  - {nonResourceURLs: [/healthz, "/debug/*"], verbs: [get]}
---
kind: Role
metadata: {name: configmap-reader, namespace: ns1}
rules:
  - {apiGroups: [""], resources: [configmaps], verbs: [get]}
---
# First, so the walk meets the missing role before the binding that allows.
kind: ClusterRoleBinding
metadata: {name: a-missing}
roleRef: {kind: ClusterRole, name: does-not-exist}
subjects: [{kind: User, name: u}]
---
kind: ClusterRoleBinding
metadata: {name: u-log-reader}
roleRef: {kind: ClusterRole, name: log-reader}
subjects: [{kind: User, name: u}]
---
kind: ClusterRoleBinding
metadata: {name: u-widgets}
roleRef: {kind: ClusterRole, name: anything-on-widgets}
subjects: [{kind: User, name: u}]
---
kind: ClusterRoleBinding
metadata: {name: u-gadgets}
roleRef: {kind: ClusterRole, name: any-group-gadgets}
subjects: [{kind: User, name: u}]
---
kind: ClusterRoleBinding
metadata: {name: u-top}
roleRef: {kind: ClusterRole, name: top}
subjects: [{kind: User, name: u}]
---
kind: ClusterRoleBinding
metadata: {name: u-probes}
roleRef: {kind: ClusterRole, name: probes}
subjects: [{kind: User, name: u}]
---
kind: RoleBinding
metadata: {name: rb-probes, namespace: ns1}
roleRef: {kind: ClusterRole, name: probes}
subjects: [{kind: User, name: v}]
---
kind: RoleBinding
metadata: {name: rb-cm, namespace: ns1}
roleRef: {kind: Role, name: configmap-reader}
subjects: [{kind: ServiceAccount, name: builder}]
---
kind: RoleBinding
metadata: {name: rb-gone, namespace: ns1}
roleRef: {kind: Role, name: gone}
subjects: [{kind: User, name: w}]
---
kind: ClusterRoleBinding
metadata: {name: everyone-widgets}
roleRef: {kind: ClusterRole, name: anything-on-widgets}
subjects: [{kind: Group, name: system:authenticated}]
`;
    let inline: FakeKube;
    let review: ReturnType<typeof sarClient>;
    before(async () => {
      inline = await startFakeKube({
        objects: YAML,
        tokens: { 'token-root': { username: 'root', groups: ['system:masters'] }, 'token-x': { username: 'x' } },
        serviceIdentityToken: 'token-root',
      });
      review = sarClient(inline.kubeConfig());
    });
    after(async () => inline?.close());
    const allowed = async (spec: V1SubjectAccessReviewSpec) => (await review(spec)).status?.allowed;

    it('*/subresource matches that subresource of any resource, not the resource itself', async () => {
      assert.equal(await allowed({ user: 'u', resourceAttributes: { verb: 'get', resource: 'pods', subresource: 'log', namespace: 'a' } }), true);
      assert.equal(await allowed({ user: 'u', resourceAttributes: { verb: 'get', resource: 'jobs', subresource: 'log' } }), true);
      assert.equal(await allowed({ user: 'u', resourceAttributes: { verb: 'get', resource: 'pods', namespace: 'a' } }), false);
      assert.equal(await allowed({ user: 'u', resourceAttributes: { verb: 'get', resource: 'pods', subresource: 'exec', namespace: 'a' } }), false);
    });

    it('wildcard verbs and apiGroups', async () => {
      for (const verb of ['get', 'delete', 'escalate']) {
        assert.equal(await allowed({ user: 'u', resourceAttributes: { verb, group: 'example.com', resource: 'widgets' } }), true, verb);
      }
      assert.equal(await allowed({ user: 'u', resourceAttributes: { verb: 'get', group: 'other.com', resource: 'widgets' } }), false);
      assert.equal(await allowed({ user: 'u', resourceAttributes: { verb: 'list', group: 'any.io', resource: 'gadgets' } }), true);
      assert.equal(await allowed({ user: 'u', resourceAttributes: { verb: 'get', group: 'any.io', resource: 'gadgets' } }), false);
    });

    it('nested aggregation (matchExpressions) settles, as the aggregation controller does', async () => {
      const r = await review({ user: 'u', resourceAttributes: { verb: 'get', group: 'example.com', resource: 'leaves', name: 'l' } });
      assert.equal(r.status?.allowed, true);
      assert.equal(r.status?.reason, 'RBAC: allowed by ClusterRoleBinding "u-top" of ClusterRole "top" to User "u"');
    });

    it('a missing role is an evaluationError, and another binding can still allow', async () => {
      const r = await review({ user: 'u', resourceAttributes: { verb: 'get', group: 'example.com', resource: 'widgets' } });
      assert.equal(r.status?.allowed, true);
      assert.equal(r.status?.evaluationError, 'clusterrole.rbac.authorization.k8s.io "does-not-exist" not found');
      const denied = await review({ user: 'w', resourceAttributes: { verb: 'get', resource: 'configmaps', namespace: 'ns1' } });
      assert.equal(denied.status?.allowed, false);
      assert.equal(denied.status?.reason, 'RBAC: role.rbac.authorization.k8s.io "gone" not found', 'upstream puts resolution errors in the reason of a denial');
      assert.equal(denied.status?.evaluationError, 'role.rbac.authorization.k8s.io "gone" not found');
    });

    it('nonResourceURLs: exact and trailing-* prefix, only through ClusterRoleBindings', async () => {
      const nr = (user: string, path: string, verb = 'get') => allowed({ user, nonResourceAttributes: { path, verb } });
      assert.equal(await nr('u', '/healthz'), true);
      assert.equal(await nr('u', '/healthz/ready'), false);
      assert.equal(await nr('u', '/debug/pprof/heap'), true);
      assert.equal(await nr('u', '/debug'), false);
      assert.equal(await nr('u', '/healthz', 'post'), false);
      assert.equal(await nr('v', '/healthz'), false, 'a RoleBinding never grants non-resource URLs');
    });

    it('a Role in the binding namespace, and a ServiceAccount subject defaulting to it', async () => {
      const r = await review({
        user: 'system:serviceaccount:ns1:builder',
        resourceAttributes: { verb: 'get', resource: 'configmaps', namespace: 'ns1', name: 'c' },
      });
      assert.equal(r.status?.allowed, true);
      assert.equal(r.status?.reason, 'RBAC: allowed by RoleBinding "rb-cm/ns1" of Role "configmap-reader" to ServiceAccount "builder/ns1"');
      assert.equal(
        await allowed({ user: 'system:serviceaccount:ns2:builder', resourceAttributes: { verb: 'get', resource: 'configmaps', namespace: 'ns2' } }),
        false,
      );
    });

    it('SelfSubjectAccessReview adds system:authenticated to the caller; SAR does not', async () => {
      const self = await inline
        .kubeConfig('token-x')
        .makeApiClient(AuthorizationV1Api)
        .createSelfSubjectAccessReview({
          body: {
            apiVersion: 'authorization.k8s.io/v1',
            kind: 'SelfSubjectAccessReview',
            spec: { resourceAttributes: { verb: 'get', group: 'example.com', resource: 'widgets' } },
          },
        });
      assert.equal(self.status?.allowed, true);
      assert.equal(
        self.status?.reason,
        'RBAC: allowed by ClusterRoleBinding "everyone-widgets" of ClusterRole "anything-on-widgets" to Group "system:authenticated"',
      );
      assert.equal(await allowed({ user: 'x', resourceAttributes: { verb: 'get', group: 'example.com', resource: 'widgets' } }), false);
    });

    it('evaluationErrorInStatus:false gives exactly upstream status (errors only in a denial reason)', async () => {
      const upstream = await startFakeKube({
        objects: YAML,
        tokens: { r: { username: 'root', groups: ['system:masters'] } },
        serviceIdentityToken: 'r',
        evaluationErrorInStatus: false,
      });
      try {
        const r = await sarClient(upstream.kubeConfig())({ user: 'u', resourceAttributes: { verb: 'get', group: 'example.com', resource: 'widgets' } });
        assert.equal(r.status?.allowed, true);
        assert.equal(r.status?.evaluationError, undefined);
      } finally {
        await upstream.close();
      }
    });
  });

  describe('endpoint contracts', () => {
    it('a SubjectAccessReview answers with the review echoed plus status', async () => {
      const api = fake.kubeConfig().makeApiClient(AuthorizationV1Api);
      const res = await api.createSubjectAccessReviewWithHttpInfo({
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: { user: 'bob', groups: ['g'], resourceAttributes: logs('application', 'log-test-0') },
        },
      });
      assert.equal(res.httpStatusCode, 201);
      assert.equal(res.data.kind, 'SubjectAccessReview');
      // The client deserialises into model classes (V1ResourceAttributes...): compare plain data.
      assert.deepEqual(plain(res.data.spec.resourceAttributes), logs('application', 'log-test-0'));
      assert.equal(res.data.status?.allowed, true);
    });

    it('422 Invalid for a bad spec (both or neither attributes, no user or groups)', async () => {
      const both = await apiError(sar({ user: 'u', resourceAttributes: logs('application'), nonResourceAttributes: { path: '/x', verb: 'get' } }), 422);
      assert.equal(both?.kind, 'Status');
      assert.equal(both?.reason, 'Invalid');
      assert.match(
        both!.message,
        /^SubjectAccessReview\.authorization\.k8s\.io "" is invalid: spec\.nonResourceAttributes: .*cannot be specified in combination with resourceAttributes$/,
      );
      const neither = await apiError(sar({ user: 'u' }), 422);
      assert.match(neither!.message, /exactly one of nonResourceAttributes or resourceAttributes must be specified/);
      const nobody = await apiError(sar({ resourceAttributes: logs('application') }), 422);
      assert.equal(
        nobody?.message,
        'SubjectAccessReview.authorization.k8s.io "" is invalid: spec.user: Invalid value: "": at least one of user or group must be specified',
      );
      assert.deepEqual(nobody?.details?.causes, [
        { reason: 'FieldValueInvalid', message: 'Invalid value: "": at least one of user or group must be specified', field: 'spec.user' },
      ]);
    });

    it('403 Forbidden when the caller may not create SubjectAccessReviews', async () => {
      const status = await apiError(sarClient(fake.kubeConfig(T.bob))({ user: 'bob', resourceAttributes: logs('application', 'log-test-0') }), 403);
      assert.equal(status?.reason, 'Forbidden');
      assert.equal(
        status?.message,
        'subjectaccessreviews.authorization.k8s.io is forbidden: User "bob" cannot create resource "subjectaccessreviews" in API group "authorization.k8s.io" at the cluster scope',
      );
      assert.deepEqual(status?.details, { group: 'authorization.k8s.io', kind: 'subjectaccessreviews' });
    });

    it('401 Unauthorized for an unknown or missing token (the client drops the 401 body)', async () => {
      assert.equal(await apiError(sarClient(fake.kubeConfig('no-such-token'))({ user: 'u', resourceAttributes: logs('application') }), 401), undefined);
      const anonymous = new KubeConfig();
      anonymous.loadFromOptions({
        clusters: [{ name: 'c', server: fake.url, skipTLSVerify: true }],
        users: [{ name: 'nobody' }],
        contexts: [{ name: 'c', cluster: 'c', user: 'nobody' }],
        currentContext: 'c',
      });
      await apiError(anonymous.makeApiClient(CoreV1Api).listNamespace(), 401);
      const raw = await fetch(`${fake.url}/api/v1/namespaces`);
      assert.equal(raw.status, 401);
      assert.deepEqual(await raw.json(), {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'Unauthorized',
        reason: 'Unauthorized',
        code: 401,
      });
    });

    it('SelfSubjectAccessReview evaluates the bearer identity (per-user KubeConfig or setHeaderOptions)', async () => {
      const body = { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: logs('application', 'log-test-0') } };
      const asBob = await fake.kubeConfig(T.bob).makeApiClient(AuthorizationV1Api).createSelfSubjectAccessReview({ body });
      assert.equal(asBob.status?.allowed, true);
      // setHeaderOptions runs after the KubeConfig's own token, so the user's token wins.
      const service = fake.kubeConfig().makeApiClient(AuthorizationV1Api);
      assert.equal((await service.createSelfSubjectAccessReview({ body }, setHeaderOptions('Authorization', `Bearer ${T.dave}`))).status?.allowed, false);
      assert.equal(fake.requests.at(-1)?.user, 'dave');
      assert.equal((await service.createSelfSubjectAccessReview({ body })).status?.allowed, false, 'the gateway SA itself may not read logs');
      await apiError(fake.kubeConfig('bogus').makeApiClient(AuthorizationV1Api).createSelfSubjectAccessReview({ body }), 401);
      const invalid = await apiError(service.createSelfSubjectAccessReview({ body: { spec: {} } }), 422);
      assert.equal(invalid?.details?.kind, 'SelfSubjectAccessReview');
    });

    it('LocalSubjectAccessReview: caller needs create in that namespace, and namespaces must match', async () => {
      const admin = fake.kubeConfig(T.admin).makeApiClient(AuthorizationV1Api);
      const lsar = (namespace: string, resourceNamespace: string, metadataNamespace?: string) =>
        admin.createNamespacedLocalSubjectAccessReview({
          namespace,
          body: {
            apiVersion: 'authorization.k8s.io/v1',
            kind: 'LocalSubjectAccessReview',
            metadata: metadataNamespace ? { namespace: metadataNamespace } : {},
            spec: { user: 'bob', resourceAttributes: logs('application', resourceNamespace) },
          },
        });
      const ok = await lsar('log-test-0', 'log-test-0');
      assert.equal(ok.status?.allowed, true);
      assert.equal(ok.metadata?.namespace, 'log-test-0');
      assert.equal((await lsar('log-test-2', 'log-test-2')).status?.allowed, false);
      const mismatch = await apiError(lsar('log-test-0', 'log-test-1'), 422);
      assert.match(mismatch!.message, /spec\.resourceAttributes\.namespace: Invalid value: "log-test-1": must match metadata\.namespace/);
      const metaMismatch = await apiError(lsar('log-test-0', 'log-test-0', 'log-test-1'), 400);
      assert.equal(metaMismatch?.reason, 'BadRequest');
      const forbidden = await apiError(
        fake
          .kubeConfig()
          .makeApiClient(AuthorizationV1Api)
          .createNamespacedLocalSubjectAccessReview({
            namespace: 'log-test-0',
            body: { spec: { user: 'bob', resourceAttributes: logs('application', 'log-test-0') } },
          }),
        403,
      );
      assert.match(forbidden!.message, /cannot create resource "localsubjectaccessreviews" in API group "authorization.k8s.io" in the namespace "log-test-0"$/);
    });

    it('TokenReview: known tokens authenticate with groups plus system:authenticated; unknown ones do not', async () => {
      const authn = fake.kubeConfig().makeApiClient(AuthenticationV1Api);
      const bob = await authn.createTokenReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: T.bob } } });
      assert.equal(bob.status?.authenticated, true);
      assert.deepEqual(plain(bob.status?.user), { username: 'bob', uid: 'uid-bob', groups: ['system:authenticated:oauth', 'system:authenticated'] });
      const sa = await authn.createTokenReview({ body: { spec: { token: T.collector, audiences: ['loki'] } } });
      assert.deepEqual(sa.status?.user?.groups, [...serviceAccountIdentity('openshift-logging', 'logcollector').groups!, 'system:authenticated']);
      assert.deepEqual(sa.status?.audiences, ['loki']);
      const unknown = await authn.createTokenReview({ body: { spec: { token: 'not-a-token' } } });
      assert.equal(unknown.status?.authenticated, false);
      await apiError(authn.createTokenReview({ body: { spec: {} } }), 400);
      const forbidden = await apiError(
        fake
          .kubeConfig(T.bob)
          .makeApiClient(AuthenticationV1Api)
          .createTokenReview({ body: { spec: { token: T.bob } } }),
        403,
      );
      assert.match(forbidden!.message, /^tokenreviews\.authentication\.k8s\.io is forbidden: User "bob" cannot create resource "tokenreviews"/);
    });

    it('projects: the namespaces each user may get, or all when they may list namespaces', async () => {
      const expected: Record<string, string[]> = {
        alice: NAMESPACES,
        bob: ['log-test-0', 'log-test-1'],
        carol: ['log-test-2'],
        dave: [],
        gateway: [],
        admin: NAMESPACES,
        master: NAMESPACES,
      };
      const custom = fake.kubeConfig().makeApiClient(CustomObjectsApi);
      for (const [who, names] of Object.entries(expected)) {
        const token = T[who as keyof typeof T];
        // The user's token through setHeaderOptions on the service's client, as opa-openshift does.
        const list = (await custom.listClusterCustomObject(
          { group: 'project.openshift.io', version: 'v1', plural: 'projects' },
          setHeaderOptions('Authorization', `Bearer ${token}`),
        )) as { apiVersion: string; kind: string; items: Array<{ metadata: { name: string } }> };
        assert.equal(list.apiVersion, 'project.openshift.io/v1');
        assert.equal(list.kind, 'ProjectList');
        assert.deepEqual(
          list.items.map((p) => p.metadata.name),
          names,
          who,
        );
      }
      const perUser = (await fake
        .kubeConfig(T.bob)
        .makeApiClient(CustomObjectsApi)
        .listClusterCustomObject({ group: 'project.openshift.io', version: 'v1', plural: 'projects' })) as {
        items: Array<{ metadata: { name: string } }>;
      };
      assert.deepEqual(
        perUser.items.map((p) => p.metadata.name),
        ['log-test-0', 'log-test-1'],
      );
    });

    it('namespaces: a NamespaceList for callers who may list namespaces, else 403', async () => {
      const list = await fake.kubeConfig(T.alice).makeApiClient(CoreV1Api).listNamespace();
      assert.deepEqual(
        list.items.map((n) => n.metadata?.name),
        NAMESPACES,
      );
      assert.equal(list.items.find((n) => n.metadata?.name === 'openshift-logging')?.metadata?.labels?.['openshift.io/cluster-monitoring'], 'true');
      const status = await apiError(fake.kubeConfig(T.bob).makeApiClient(CoreV1Api).listNamespace(), 403);
      assert.equal(status?.message, 'namespaces is forbidden: User "bob" cannot list resource "namespaces" in API group "" at the cluster scope');
    });

    it('discovery: /api and /apis, with project.openshift.io on OpenShift', async () => {
      const versions = await fake.kubeConfig().makeApiClient(CoreApi).getAPIVersions();
      assert.deepEqual(versions.versions, ['v1']);
      const groups = await fake.kubeConfig().makeApiClient(ApisApi).getAPIVersions();
      assert.ok(groups.groups.some((g) => g.name === 'project.openshift.io'));
      assert.ok(groups.groups.some((g) => g.name === 'authorization.k8s.io'));
    });

    it('vanilla mode (openshift:false): no project.openshift.io group, projects are 404 NotFound', async () => {
      const vanilla = await startFakeKube(lokistackFakeKubeOptions({ openshift: false }));
      try {
        const groups = await vanilla.kubeConfig().makeApiClient(ApisApi).getAPIVersions();
        assert.ok(!groups.groups.some((g) => g.name === 'project.openshift.io'));
        const status = await apiError(
          vanilla
            .kubeConfig(T.alice)
            .makeApiClient(CustomObjectsApi)
            .listClusterCustomObject({ group: 'project.openshift.io', version: 'v1', plural: 'projects' }),
          404,
        );
        assert.equal(status?.reason, 'NotFound');
        // Access reviews work the same on a vanilla cluster.
        assert.equal((await sarClient(vanilla.kubeConfig())({ user: 'alice', resourceAttributes: logs('audit') })).status?.allowed, true);
      } finally {
        await vanilla.close();
      }
    });

    it('unknown paths are a 404 Status; wrong methods a 405', async () => {
      const headers = { Authorization: `Bearer ${T.alice}` };
      const unknown = await fetch(`${fake.url}/apis/example.com/v1/things`, { headers });
      assert.equal(unknown.status, 404);
      assert.equal(((await unknown.json()) as KubeStatus).reason, 'NotFound');
      const wrong = await fetch(`${fake.url}/apis/authorization.k8s.io/v1/subjectaccessreviews`, { headers });
      assert.equal(wrong.status, 405);
    });

    it('records every request: method, path, endpoint, reviewed verb, caller and body', async () => {
      await sar({ user: 'bob', resourceAttributes: logs('application', 'log-test-0') });
      await fake
        .kubeConfig(T.carol)
        .makeApiClient(CustomObjectsApi)
        .listClusterCustomObject({ group: 'project.openshift.io', version: 'v1', plural: 'projects' });
      assert.equal(fake.requests.length, 2);
      const [review, projects] = fake.requests;
      assert.equal(review?.method, 'POST');
      assert.equal(review?.path, '/apis/authorization.k8s.io/v1/subjectaccessreviews');
      assert.equal(review?.endpoint, 'subjectaccessreviews');
      assert.equal(review?.verb, 'get');
      assert.equal(review?.user, 'system:serviceaccount:openshift-logging:lokistack-dev-gateway');
      assert.equal(review?.status, 201);
      assert.deepEqual((review?.body as { spec: unknown } | undefined)?.spec, { user: 'bob', resourceAttributes: logs('application', 'log-test-0') });
      assert.deepEqual(
        { method: projects?.method, path: projects?.path, endpoint: projects?.endpoint, user: projects?.user, verb: projects?.verb, status: projects?.status },
        { method: 'GET', path: '/apis/project.openshift.io/v1/projects', endpoint: 'projects', user: 'carol', verb: undefined, status: 200 },
      );
    });

    it('setObjects and setTokens change the answers of a running fake', async () => {
      await withFake('kind: Namespace\nmetadata: {name: a}\n', { t: { username: 'u' } }, async (f) => {
        const review = sarClient(f.kubeConfig());
        assert.equal((await review({ user: 'u', resourceAttributes: { verb: 'get', resource: 'pods', namespace: 'a' } })).status?.allowed, false);
        f.setObjects([
          { kind: 'ClusterRole', metadata: { name: 'r' }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }] },
          {
            kind: 'RoleBinding',
            metadata: { name: 'b', namespace: 'a' },
            roleRef: { kind: 'ClusterRole', name: 'r' },
            subjects: [{ kind: 'User', name: 'u' }],
          },
        ]);
        assert.equal((await review({ user: 'u', resourceAttributes: { verb: 'get', resource: 'pods', namespace: 'a' } })).status?.allowed, true);
        const self = () =>
          f
            .kubeConfig('t')
            .makeApiClient(AuthorizationV1Api)
            .createSelfSubjectAccessReview({ body: { spec: { resourceAttributes: { verb: 'get', resource: 'pods', namespace: 'a' } } } });
        assert.equal((await self()).status?.allowed, true);
        f.setTokens({});
        await apiError(self(), 401);
      });
    });

    it('rejects fixtures with unknown kinds or missing fields', async () => {
      await assert.rejects(startFakeKube({ objects: 'kind: Rolebinding\nmetadata: {name: x}\n', tokens: {} }), /unsupported kind "Rolebinding"/);
      await assert.rejects(
        startFakeKube({ objects: 'kind: RoleBinding\nmetadata: {name: x}\nroleRef: {kind: Role, name: r}\n', tokens: {} }),
        /needs metadata.namespace/,
      );
    });
  });

  describe('faults', () => {
    const spec: V1SubjectAccessReviewSpec = { user: 'alice', resourceAttributes: logs('application') };

    it('status faults surface as ApiException with that code and a Status body (401 without one)', async () => {
      fake.setFaults({ endpoint: 'subjectaccessreviews', status: 500 });
      const internal = await apiError(sar(spec), 500);
      assert.equal(internal?.reason, 'InternalError');
      assert.equal(internal?.code, 500);
      fake.setFaults({ endpoint: 'subjectaccessreviews', status: 403, message: 'nope' });
      assert.deepEqual(await apiError(sar(spec), 403), {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'nope',
        reason: 'Forbidden',
        code: 403,
      });
      fake.setFaults({ endpoint: 'subjectaccessreviews', status: 401 });
      assert.equal(await apiError(sar(spec), 401), undefined);
    });

    it('a fault on one endpoint leaves the others alone; "*" hits every endpoint', async () => {
      fake.setFaults({ endpoint: 'projects', status: 500 });
      assert.equal((await sar(spec)).status?.allowed, true);
      await apiError(
        fake.kubeConfig(T.alice).makeApiClient(CustomObjectsApi).listClusterCustomObject({ group: 'project.openshift.io', version: 'v1', plural: 'projects' }),
        500,
      );
      fake.setFaults({ endpoint: '*', status: 500 });
      await apiError(sar(spec), 500);
      await apiError(
        fake
          .kubeConfig()
          .makeApiClient(AuthenticationV1Api)
          .createTokenReview({ body: { spec: { token: T.bob } } }),
        500,
      );
      await apiError(fake.kubeConfig().makeApiClient(ApisApi).getAPIVersions(), 500);
    });

    it('a reset surfaces as a node-fetch FetchError (ECONNRESET), not an ApiException', async () => {
      fake.setFaults({ endpoint: 'subjectaccessreviews', reset: true });
      await assert.rejects(sar(spec), (err: unknown) => {
        assert.ok(err instanceof FetchError, String(err));
        assert.ok(!(err instanceof ApiException));
        assert.equal(err.code, 'ECONNRESET');
        assert.equal(err.type, 'system');
        return true;
      });
    });

    it('latency delays the answer', async () => {
      fake.setFaults({ endpoint: 'subjectaccessreviews', latencyMs: 300 });
      const started = performance.now();
      assert.equal((await sar(spec)).status?.allowed, true);
      assert.ok(performance.now() - started >= 290, `took ${performance.now() - started}ms`);
      fake.clearFaults();
      const again = performance.now();
      await sar(spec);
      assert.ok(performance.now() - again < 250);
    });

    it('latency combines with a status', async () => {
      fake.setFaults({ latencyMs: 150, status: 500 });
      const started = performance.now();
      await apiError(sar(spec), 500);
      assert.ok(performance.now() - started >= 140);
    });

    it('a hang never answers; the client has no timeout of its own; clearFaults serves the held request', async () => {
      fake.setFaults({ endpoint: 'subjectaccessreviews', hang: true });
      const pending = sar(spec);
      assert.equal(await isPending(pending, 300), true);
      assert.equal(fake.requests.length, 1);
      assert.equal(fake.requests[0]?.status, undefined);
      fake.clearFaults();
      assert.equal((await pending).status?.allowed, true);
      assert.equal(fake.requests[0]?.status, 201);
    });

    it('a hung request is cut by an AbortSignal set through middleware (AbortError)', async () => {
      fake.setFaults({ hang: true });
      const api = fake.kubeConfig().makeApiClient(AuthorizationV1Api);
      await assert.rejects(api.createSubjectAccessReview({ body: { spec } }, abortAfter(150)), (err: unknown) => (err as Error).name === 'AbortError');
    });

    it('close() drops held requests: the client sees a reset', async () => {
      const f = await startFakeKube(lokistackFakeKubeOptions());
      f.setFaults({ hang: true });
      const pending = sarClient(f.kubeConfig())(spec);
      assert.equal(await isPending(pending, 100), true);
      await f.close();
      await assert.rejects(pending, (err: unknown) => err instanceof FetchError);
    });

    it('times limits a fault to the next N requests; clearing faults resumes service', async () => {
      fake.setFaults({ endpoint: 'subjectaccessreviews', status: 500, times: 2 });
      await apiError(sar(spec), 500);
      await apiError(sar(spec), 500);
      assert.equal((await sar(spec)).status?.allowed, true);
      fake.setFaults([{ endpoint: 'tokenreviews', status: 503 }, { status: 500 }]);
      await apiError(
        fake
          .kubeConfig()
          .makeApiClient(AuthenticationV1Api)
          .createTokenReview({ body: { spec: { token: T.bob } } }),
        503,
      );
      await apiError(sar(spec), 500);
      fake.clearFaults();
      assert.equal((await sar(spec)).status?.allowed, true);
      assert.equal(
        (
          await fake
            .kubeConfig()
            .makeApiClient(AuthenticationV1Api)
            .createTokenReview({ body: { spec: { token: T.bob } } })
        ).status?.authenticated,
        true,
      );
    });

    it('faults apply before authentication (they model the network, not policy)', async () => {
      fake.setFaults({ status: 500 });
      await apiError(sarClient(fake.kubeConfig('bogus'))(spec), 500);
    });
  });
});

/** The body with the one-byte user name (field 3, length 1, byte 0x01) turned into a lone 0xff. */
function withInvalidUtf8(body: Buffer): Buffer {
  const at = body.indexOf(Buffer.from([0x1a, 0x01, 0x01]));
  assert.ok(at > 0, 'the user name field is in the body');
  const out = Buffer.from(body);
  out[at + 2] = 0xff;
  return out;
}

/**
 * The wire a real apiserver speaks to Go programs: client-go (opa-openshift, the gateway) sends
 * reviews as application/vnd.kubernetes.protobuf and accepts JSON answers, over HTTPS with the
 * cluster's CA; OpenShift publishes its OAuth server metadata to anyone.
 */
describe('fake-kube speaks what kube-apiserver speaks to client-go', () => {
  let fake: FakeKube;
  before(async () => {
    fake = await startFakeKube({ ...lokistackFakeKubeOptions(), tls: true });
  });
  after(async () => fake?.close());
  afterEach(() => {
    fake.requests.length = 0;
  });

  const PB = { 'Content-Type': KUBE_PROTOBUF, Accept: `${KUBE_PROTOBUF}, application/json` };
  const postPb = (path: string, body: Buffer, token: string = T.gateway) =>
    fetch(`${fake.url}${path}`, { method: 'POST', headers: { ...PB, Authorization: `Bearer ${token}` }, body: new Uint8Array(body) });
  const sar = (f: FakeKube, kc: KubeConfig = f.kubeConfig()) => sarClient(kc);

  describe('protobuf request bodies (the k8s\\0 envelope around a runtime.Unknown)', () => {
    it('decodes a SubjectAccessReview as client-go writes it, byte for byte, and answers JSON', async () => {
      // Captured from real opa-openshift (client-go) reviewing alice: get loki.grafana.com/application "logs" cluster-wide.
      const captured = Buffer.from(
        '6b3873000a2e0a17617574686f72697a6174696f6e2e6b38732e696f2f763112135375626a656374416363657373526576696577126f0a100a00' +
          '12001a0022002a0032003800420012510a300a0012036765741a106c6f6b692e67726166616e612e636f6d22002a0b6170706c69636174696f' +
          '6e32003a046c6f67731a05616c696365221473797374656d3a61757468656e7469636174656432001a08080012001a0020001a002200',
        'hex',
      );
      const res = await postPb('/apis/authorization.k8s.io/v1/subjectaccessreviews', captured);
      assert.equal(res.status, 201);
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
      const review = (await res.json()) as { kind: string; status: { allowed: boolean; reason?: string } };
      assert.equal(review.kind, 'SubjectAccessReview');
      // The fixture's ClusterRoleBinding lets alice read application logs everywhere.
      assert.equal(review.status.allowed, true);
      assert.match(review.status.reason ?? '', /alice-application-logs/);
      const [seen] = fake.requests;
      assert.equal(seen?.encoding, 'protobuf');
      assert.equal(seen?.verb, 'get');
      assert.deepEqual(seen?.body, {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        metadata: {},
        spec: {
          resourceAttributes: { verb: 'get', group: 'loki.grafana.com', resource: 'application', name: 'logs' },
          user: 'alice',
          groups: ['system:authenticated'],
        },
      });
    });

    it('a protobuf review decides as the same review in JSON does (namespaced, groups, extra, uid)', async () => {
      const spec = {
        resourceAttributes: { namespace: 'log-test-2', verb: 'get', group: 'loki.grafana.com', resource: 'application', name: 'logs' },
        user: 'carol',
        groups: ['log-readers', 'system:authenticated'],
        extra: { 'scopes.authorization.openshift.io': ['user:full'] },
        uid: 'uid-carol',
      };
      const pb = await postPb(
        '/apis/authorization.k8s.io/v1/subjectaccessreviews',
        encodeKubeProtobuf('authorization.k8s.io/v1', 'SubjectAccessReview', { metadata: {}, spec }),
      );
      const json = await sar(fake)({ ...spec });
      assert.equal(pb.status, 201);
      const body = (await pb.json()) as { spec: unknown; status: unknown };
      assert.deepEqual(body.status, plain(json.status));
      assert.deepEqual(body.spec, spec);
      const denied = await postPb(
        '/apis/authorization.k8s.io/v1/subjectaccessreviews',
        encodeKubeProtobuf('authorization.k8s.io/v1', 'SubjectAccessReview', {
          spec: { ...spec, user: 'dave', groups: ['system:authenticated'], uid: 'uid-dave' },
        }),
      );
      assert.equal(((await denied.json()) as { status: { allowed: boolean } }).status.allowed, false);
    });

    it('SelfSubjectAccessReview and TokenReview in protobuf', async () => {
      const ssar = await postPb(
        '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
        encodeKubeProtobuf('authorization.k8s.io/v1', 'SelfSubjectAccessReview', {
          spec: { resourceAttributes: { namespace: 'log-test-0', verb: 'get', group: 'loki.grafana.com', resource: 'application', name: 'logs' } },
        }),
        T.bob,
      );
      assert.equal(((await ssar.json()) as { status: { allowed: boolean } }).status.allowed, true);
      const tr = await postPb(
        '/apis/authentication.k8s.io/v1/tokenreviews',
        encodeKubeProtobuf('authentication.k8s.io/v1', 'TokenReview', { spec: { token: T.carol } }),
      );
      const status = ((await tr.json()) as { status: { authenticated: boolean; user: { username: string; groups: string[] } } }).status;
      assert.equal(status.authenticated, true);
      assert.equal(status.user.username, 'carol');
      assert.deepEqual(status.user.groups, ['log-readers', 'system:authenticated:oauth', 'system:authenticated']);
      const forged = await postPb(
        '/apis/authentication.k8s.io/v1/tokenreviews',
        encodeKubeProtobuf('authentication.k8s.io/v1', 'TokenReview', { spec: { token: 'token-forged' } }),
      );
      assert.equal(((await forged.json()) as { status: { authenticated: boolean } }).status.authenticated, false);
    });

    it('the envelope names the kind: a TokenReview sent to subjectaccessreviews is a 400', async () => {
      const res = await postPb(
        '/apis/authorization.k8s.io/v1/subjectaccessreviews',
        encodeKubeProtobuf('authentication.k8s.io/v1', 'TokenReview', { spec: { token: T.alice } }),
      );
      assert.equal(res.status, 400);
    });

    for (const [what, body] of [
      ['no k8s\\0 magic', Buffer.from('0a00', 'hex')],
      ['a length past the end', Buffer.from('6b387300' + '0aff01', 'hex')],
      ['a truncated varint', Buffer.from('6b387300' + '08ff', 'hex')],
      ['invalid UTF-8 in a string', withInvalidUtf8(encodeKubeProtobuf('authorization.k8s.io/v1', 'SubjectAccessReview', { spec: { user: '\u0001' } }))],
      ['an unknown kind', encodeKubeProtobuf('authorization.k8s.io/v1', 'SubjectAccessReview', { spec: {} }).fill(0x5a, 10, 12)],
    ] as const) {
      it(`a malformed protobuf body (${what}) is a 400 Status, never an allow`, async () => {
        const res = await postPb('/apis/authorization.k8s.io/v1/subjectaccessreviews', body);
        assert.equal(res.status, 400);
        const status = (await res.json()) as KubeStatus;
        assert.equal(status.kind, 'Status');
        assert.equal(status.reason, 'BadRequest');
      });
    }
  });

  describe('HTTPS with a CA of its own', () => {
    it('the client verifies the serving certificate against certificate-authority-data', async () => {
      assert.match(fake.httpsUrl ?? '', /^https:\/\/127\.0\.0\.1:\d+$/);
      const kc = fake.kubeConfig(undefined, { https: true });
      assert.equal(kc.getCurrentCluster()?.skipTLSVerify, false);
      const r = await sar(fake, kc)({ user: 'bob', resourceAttributes: logs('application', 'log-test-0') });
      assert.equal(r.status?.allowed, true);
      assert.equal(fake.requests.at(-1)?.tls, true);
      assert.match(fake.kubeconfigText(undefined, { https: true }), /certificate-authority-data/);
    });

    it('a client that does not trust the CA is refused by TLS', async () => {
      const kc = new KubeConfig();
      kc.loadFromOptions({
        clusters: [{ name: 'c', server: fake.httpsUrl!, skipTLSVerify: false }],
        users: [{ name: 'u', token: T.gateway }],
        contexts: [{ name: 'c', cluster: 'c', user: 'u' }],
        currentContext: 'c',
      });
      await assert.rejects(sar(fake, kc)({ user: 'bob', resourceAttributes: logs('application', 'log-test-0') }));
      assert.deepEqual(fake.requests, []);
    });
  });

  describe('OAuth server metadata', () => {
    it('/.well-known/oauth-authorization-server answers anyone with endpoints on the fake', async () => {
      const res = await fetch(`${fake.url}/.well-known/oauth-authorization-server`);
      assert.equal(res.status, 200);
      const meta = (await res.json()) as Record<string, string>;
      // RFC 8414: issuer, authorization_endpoint and token_endpoint, all https URLs of the issuer's host.
      assert.equal(meta.issuer, fake.httpsUrl);
      assert.ok(meta.authorization_endpoint?.startsWith(`${fake.httpsUrl}/`), meta.authorization_endpoint);
      assert.ok(meta.token_endpoint?.startsWith(`${fake.httpsUrl}/`), meta.token_endpoint);
      assert.equal(fake.requests[0]?.user, undefined);
    });
  });
});

/**
 * Real opa-openshift (client-go) against the fake over HTTPS, with the Loki Operator's arguments:
 * its reviews arrive in protobuf and its decisions follow the fixture's RBAC.
 */
describe('fake-kube serves the real opa-openshift', function () {
  this.timeout(30_000);
  let fake: FakeKube;
  let peer: RunningPeer | undefined;

  before(async function () {
    const bin = requirePeer(this, 'opa-openshift');
    fake = await startFakeKube({ ...lokistackFakeKubeOptions(), tls: true });
    const kubeconfig = writeTempFile('kubeconfig', fake.kubeconfigText(T.gateway, { https: true }));
    peer = await startOpaOpenshift(bin, OPERATOR_LOGGING_ARGS, { kubeconfig });
  });
  after(async () => {
    await peer?.stop();
    await fake?.close();
  });
  afterEach(() => {
    if (fake) fake.requests.length = 0;
  });

  // Each test asks with inputs of its own: opa-openshift caches decisions per token and input.
  const decide = async (who: Who, extras: Record<string, unknown> = {}) => {
    const res = await postDecision(peer!.url, { input: gatewayInput(who, { extras }), token: T[who] });
    return res;
  };

  it('an allowed user gets 200 with namespace matchers; the fake recorded the reviews it decoded', async () => {
    const res = await decide('bob', selecting(['log-test-0']));
    assert.equal(res.status, 200, res.text);
    const answer = matcherValues((res.body as { result: unknown }).result);
    assert.equal(answer.allowed, 'true');
    assert.equal(answer.values.kubernetes_namespace_name, 'log-test-0');
    const reviews = fake.requests.filter((r) => r.endpoint === 'subjectaccessreviews');
    assert.ok(reviews.length >= 2, 'a cluster-wide review, then one for the namespace');
    for (const r of reviews) {
      assert.equal(r.encoding, 'protobuf');
      assert.equal(r.tls, true);
      assert.equal(r.status, 201);
      assert.equal(r.user, LOKISTACK_IDENTITIES.gateway.username);
      assert.match(r.accept ?? '', /application\/json/);
    }
    const specs = reviews.map((r) => (r.body as { spec: { user: string; groups: string[]; resourceAttributes: Record<string, string> } }).spec);
    assert.deepEqual(specs[0]!.resourceAttributes, { verb: 'get', group: 'loki.grafana.com', resource: 'application', name: 'logs' });
    assert.ok(
      specs.every((s) => s.user === 'bob' && s.groups.includes('system:authenticated:oauth')),
      'every review is for bob with his groups',
    );
    assert.ok(
      specs.some((s) => s.resourceAttributes.namespace === 'log-test-0'),
      'a review for log-test-0',
    );
  });

  it('a denied user gets {"result":false}', async () => {
    const res = await decide('dave', selecting(['log-test-1']));
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, { result: false });
    assert.ok(
      fake.requests.some(
        (r) => r.endpoint === 'subjectaccessreviews' && r.encoding === 'protobuf' && (r.body as { spec: { user: string } }).spec.user === 'dave',
      ),
      "dave's reviews reached the fake in protobuf",
    );
  });

  it('this service, on the same fake over HTTPS with the same arguments, answers as opa-openshift does', async () => {
    const authz = await startAuthzOn(fake, OPERATOR_LOGGING_ARGS, undefined, { https: true });
    try {
      // Namespace order inside a matcher is Go map order there, sorted here: compare the sets.
      const normal = (res: { status: number; body: unknown }) => {
        const result = (res.body as { result?: unknown } | undefined)?.result;
        if (typeof result !== 'object' || result === null) return { status: res.status, result };
        const m = matcherValues(result);
        return { status: res.status, allowed: m.allowed, values: Object.fromEntries(Object.entries(m.values).map(([k, v]) => [k, v.split('|').sort()])) };
      };
      for (const who of ['alice', 'bob', 'carol', 'dave', 'admin'] as const) {
        for (const extras of [{}, selecting(['log-test-2']), selecting(['log-test-0', 'kube-system'])]) {
          const input = gatewayInput(who, { extras });
          const theirs = await postDecision(peer!.url, { input, token: T[who] });
          const ours = await postDecision(authz.url, { input, token: T[who] });
          assert.deepEqual(normal(ours), normal(theirs), `${who} ${JSON.stringify(extras)}: ours ${ours.text} theirs ${theirs.text}`);
        }
      }
      assert.ok(
        fake.requests.some((r) => r.tls && r.encoding === 'json'),
        'this service reached the fake over HTTPS too',
      );
    } finally {
      await authz.stop();
    }
  });
});

/** scripts/peers.sh: the environment variables win, and a bad one is an error, never a silent fallback. */
describe('scripts/peers.sh (finding the real peers)', () => {
  const run = (env: Record<string, string>, ...args: string[]) =>
    spawnSync('bash', ['scripts/peers.sh', ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env } });

  it('OPA_OPENSHIFT_BIN / OBSERVATORIUM_API_BIN name the executables used', () => {
    const fakeBin = writeTempFile('peer', '#!/bin/sh\n');
    chmodSync(fakeBin, 0o755);
    const r = run({ OPA_OPENSHIFT_BIN: fakeBin, OBSERVATORIUM_API_BIN: fakeBin });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `opa-openshift=${fakeBin}\nobservatorium-api=${fakeBin}\n`);
  });

  it('a variable naming no executable fails with the variable named, rather than falling back', () => {
    const r = run({ OPA_OPENSHIFT_BIN: '/nonexistent/opa-openshift' }, 'opa-openshift');
    assert.equal(r.status, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /OPA_OPENSHIFT_BIN=\/nonexistent\/opa-openshift is not an executable/);
  });

  it('an unknown peer name is a usage error', () => {
    assert.equal(run({}, 'opa').status, 2);
  });
});
