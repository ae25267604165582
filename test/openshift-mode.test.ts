/**
 * The openshift modes beyond single decisions: which upstream calls a decision makes and as whom,
 * the decision cache (in memory and in a real memcached shared by two instances), upstream faults
 * and timeouts, bounded review concurrency, namespace escaping, match-all for cluster readers,
 * plain Kubernetes, the Loki Operator's exact arguments, the internal endpoints and tokens in logs.
 *
 * Everything runs over real HTTP: the service in-process (startService + loadConfig), the fake
 * Kubernetes API (test/support/fake-kube) reached through the real @kubernetes/client-node, and
 * memcached as a real process. Upstream calls are read from the fake's request log.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LOKISTACK_CLUSTER_YAML, LOKISTACK_IDENTITIES, LOKISTACK_TOKENS, lokistackFakeKubeOptions } from './support/fake-kube/fixtures.js';
import { SCOPES_KEY } from './support/fake-kube/rbac.js';
import { startFakeKube, type FakeKube, type FakeKubeOptions, type RecordedRequest } from './support/fake-kube/server.js';
import { freePort, memcachedKeyFile, memcachedPerTest, type MemcachedServer } from './support/memcached.js';
import { loadOpenShiftSet, OPENSHIFT_FIXTURES } from './support/openshift-fixtures.js';
import {
  KUBECONFIG_PLACEHOLDER,
  OPERATOR_LOGGING_ARGS,
  OPERATOR_NETWORK_ARGS,
  gatewayGroups,
  gatewayInput,
  matcherValues,
  postDecision,
  selecting,
  sharedFakeKube,
  type Answer,
  type RunningAuthz,
  type Who,
} from './support/openshift.js';
import { captureLogger, eventually, makeTempDir, metricValue } from './support/service.js';
import { DecisionError } from '../server/errors.js';
import { parseGatewayInput } from '../server/decision/openshift-input.js';
import { KubeClient } from '../server/kube/client.js';
import { parseKubeconfig } from '../server/kube/kubeconfig.js';
import { Limiter } from '../server/kube/limiter.js';

const GATEWAY_SA = LOKISTACK_IDENTITIES.gateway.username;

/** The review a recorded access-review request asked about. */
interface Reviewed {
  namespace: string;
  verb: string;
  resource: string;
  name: string;
  group: string;
  /** SubjectAccessReview only: the subject under review. */
  user?: string;
  groups?: string[];
}

function reviewed(r: RecordedRequest): Reviewed {
  const spec = (r.body as { spec: { user?: string; groups?: string[]; resourceAttributes: Record<string, string | undefined> } }).spec;
  const a = spec.resourceAttributes;
  return {
    namespace: a.namespace ?? '',
    verb: a.verb ?? '',
    resource: a.resource ?? '',
    name: a.name ?? '',
    group: a.group ?? '',
    ...(spec.user !== undefined ? { user: spec.user } : {}),
    ...(spec.groups !== undefined ? { groups: spec.groups } : {}),
  };
}

const isReview = (r: RecordedRequest) => r.endpoint === 'subjectaccessreviews' || r.endpoint === 'selfsubjectaccessreviews';
const isClusterReview = (r: RecordedRequest) => isReview(r) && reviewed(r).namespace === '';
const isNamespacedReview = (r: RecordedRequest) => isReview(r) && reviewed(r).namespace !== '';

/**
 * Calls that decide (reviews, project and namespace lists). API discovery (`GET /apis`, made once
 * per process to tell OpenShift from plain Kubernetes) is left out, so counts are per decision.
 */
function decisionCalls(fake: FakeKube): RecordedRequest[] {
  return fake.requests.filter((r) => r.endpoint !== 'discovery');
}

/** One line per call, `<endpoint> <as user> <namespace?>`, for readable assertion failures. */
function describeCalls(calls: RecordedRequest[]): string[] {
  return calls.map((r) => `${r.endpoint ?? r.path} as ${r.user ?? '?'}${isReview(r) && reviewed(r).namespace ? ` in ${reviewed(r).namespace}` : ''}`);
}

/** The gateway's request for `who`, with the user's token in X-Forwarded-Access-Token. */
type AskOptions = NonNullable<Parameters<typeof gatewayInput>[1]> & { token?: string };

function ask(authz: RunningAuthz, who: Who, options: AskOptions = {}): Promise<Answer> {
  const { token, ...input } = options;
  return postDecision(authz.url, { input: gatewayInput(who, input), token: token ?? LOKISTACK_TOKENS[who] });
}

async function scrape(authz: RunningAuthz): Promise<string> {
  const res = await fetch(`${authz.internalUrl}/metrics`);
  assert.equal(res.status, 200);
  return res.text();
}

async function metric(authz: RunningAuthz, name: string, labels: Record<string, string> = {}): Promise<number> {
  return metricValue(await scrape(authz), name, labels) ?? 0;
}

function assertStatus(answer: Answer, status: number): void {
  assert.equal(answer.status, status, answer.text);
}

function resultOf(answer: Answer): unknown {
  assertStatus(answer, 200);
  return (answer.body as { result: unknown }).result;
}

function errorMessage(answer: Answer, status: number): string {
  assertStatus(answer, status);
  return (answer.body as { message: string }).message;
}

/** Tracks how many requests matching `filter` the fake holds unanswered at once (its peak). */
function trackInFlight(fake: FakeKube, filter: (r: RecordedRequest) => boolean): { peak(): number; stop(): void } {
  let peak = 0;
  const log = fake.requests;
  // The fake records a request on arrival and sets its status when it answers, so at each arrival
  // the matching entries without a status are the ones in flight. Wrapping push on this one array
  // instance instruments the fake without changing it.
  Object.defineProperty(log, 'push', {
    configurable: true,
    value(...items: RecordedRequest[]): number {
      for (const item of items) {
        if (!filter(item)) continue;
        const open = log.filter((r) => filter(r) && r.status === undefined).length + 1;
        peak = Math.max(peak, open);
      }
      return Array.prototype.push.apply(log, items);
    },
  });
  return {
    peak: () => peak,
    stop: () => void delete (log as { push?: unknown }).push,
  };
}

const IN_LOG_TEST_0 = { extras: selecting(['log-test-0']) };

describe('openshift mode', () => {
  // The fixture's tokens and a second token of bob's, to tell tokens apart in cache keys.
  const tokens = { ...lokistackFakeKubeOptions().tokens, 'token-bob-2': LOKISTACK_IDENTITIES.bob };
  const apiServer = sharedFakeKube(lokistackFakeKubeOptions({ tokens }));

  describe('upstream calls per decision', () => {
    it('a namespaced reader: the cluster-wide SAR first, then one SAR per query namespace, all made as the service', async () => {
      const authz = await apiServer.authz(OPERATOR_LOGGING_ARGS);
      const result = resultOf(await ask(authz, 'bob', { extras: selecting(['log-test-2', 'log-test-0', 'log-test-1']) }));
      assert.deepEqual(matcherValues(result).values, { kubernetes_namespace_name: 'log-test-0|log-test-1' });

      const calls = decisionCalls(apiServer.fake);
      assert.equal(calls.length, 4, describeCalls(calls).join('\n'));
      assert.ok(
        calls.every((r) => r.endpoint === 'subjectaccessreviews' && r.user === GATEWAY_SA),
        describeCalls(calls).join('\n'),
      );
      assert.equal(reviewed(calls[0]!).namespace, '', 'the cluster-wide review comes first');
      assert.deepEqual(
        calls
          .slice(1)
          .map((r) => reviewed(r).namespace)
          .sort(),
        ['log-test-0', 'log-test-1', 'log-test-2'],
      );
      for (const r of calls) {
        assert.deepEqual(
          { ...reviewed(r), namespace: '' },
          {
            namespace: '',
            verb: 'get',
            resource: 'application',
            name: 'logs',
            group: 'loki.grafana.com',
            user: 'bob',
            groups: ['system:authenticated:oauth', 'system:authenticated'],
          },
        );
      }
    });

    it('a write stops after the cluster-wide SAR, selectors or not', async () => {
      const authz = await apiServer.authz(OPERATOR_LOGGING_ARGS);
      assert.equal(resultOf(await ask(authz, 'collector', { permission: 'write', tenant: 'infrastructure', extras: selecting(['log-test-0']) })), true);
      assert.equal(resultOf(await ask(authz, 'bob', { permission: 'write', extras: selecting(['log-test-0']) })), false);
      const calls = decisionCalls(apiServer.fake);
      assert.deepEqual(
        calls.map((r) => [r.endpoint, r.user, reviewed(r).verb, reviewed(r).namespace, reviewed(r).user]),
        [
          ['subjectaccessreviews', GATEWAY_SA, 'create', '', 'system:serviceaccount:openshift-logging:logcollector'],
          ['subjectaccessreviews', GATEWAY_SA, 'create', '', 'bob'],
        ],
      );
    });

    it("a cluster-wide reader: one SAR, then the project list with the user's own token; no namespaced SAR", async () => {
      const authz = await apiServer.authz(OPERATOR_LOGGING_ARGS);
      resultOf(await ask(authz, 'alice'));
      resultOf(await ask(authz, 'carol', { extras: selecting(['log-test-2', 'log-test-0']) }));
      assert.deepEqual(describeCalls(decisionCalls(apiServer.fake)), [
        `subjectaccessreviews as ${GATEWAY_SA}`,
        'projects as alice',
        `subjectaccessreviews as ${GATEWAY_SA}`,
        'projects as carol',
      ]);
    });

    it('an admin-group member: the cluster-wide SAR and nothing else', async () => {
      const authz = await apiServer.authz(OPERATOR_LOGGING_ARGS);
      assert.equal(resultOf(await ask(authz, 'admin', { extras: { metadataOnly: true } })), true);
      assert.equal(resultOf(await ask(authz, 'admin', { tenant: 'audit', extras: selecting(['kube-system']) })), true);
      assert.deepEqual(describeCalls(decisionCalls(apiServer.fake)), [`subjectaccessreviews as ${GATEWAY_SA}`, `subjectaccessreviews as ${GATEWAY_SA}`]);
    });

    it('a metadata request of a namespaced reader: SAR, project list as the user, then one SAR per project', async () => {
      const authz = await apiServer.authz(OPERATOR_LOGGING_ARGS);
      const result = resultOf(await ask(authz, 'bob', { extras: { metadataOnly: true } }));
      assert.deepEqual(matcherValues(result).values, { kubernetes_namespace_name: 'log-test-0|log-test-1' });
      assert.deepEqual(describeCalls(decisionCalls(apiServer.fake)), [
        `subjectaccessreviews as ${GATEWAY_SA}`,
        'projects as bob',
        `subjectaccessreviews as ${GATEWAY_SA} in log-test-0`,
        `subjectaccessreviews as ${GATEWAY_SA} in log-test-1`,
      ]);
    });

    it("--opa.ssar: every review is a SelfSubjectAccessReview made with the user's token, naming no subject", async () => {
      const authz = await apiServer.authz([...OPERATOR_LOGGING_ARGS, '--opa.ssar']);
      const result = resultOf(await ask(authz, 'bob', { extras: selecting(['log-test-0', 'log-test-2']) }));
      assert.deepEqual(matcherValues(result).values, { kubernetes_namespace_name: 'log-test-0' });
      resultOf(await ask(authz, 'alice'));
      const calls = decisionCalls(apiServer.fake);
      assert.deepEqual(describeCalls(calls), [
        'selfsubjectaccessreviews as bob',
        'selfsubjectaccessreviews as bob in log-test-0',
        'selfsubjectaccessreviews as bob in log-test-2',
        'selfsubjectaccessreviews as alice',
        'projects as alice',
      ]);
      for (const r of calls.filter(isReview)) assert.equal(reviewed(r).user, undefined, 'an SSAR spec names no user');
    });
  });

  describe('decision cache', () => {
    it('answers a second identical request from the cache, with no upstream call; counts hits, misses and inserts', async () => {
      const authz = await apiServer.authz(OPERATOR_LOGGING_ARGS);
      const first = await ask(authz, 'bob', IN_LOG_TEST_0);
      assert.ok(decisionCalls(apiServer.fake).length > 0);
      apiServer.fake.requests.length = 0;
      const second = await ask(authz, 'bob', IN_LOG_TEST_0);
      assert.deepEqual(second.body, first.body);
      assert.deepEqual(apiServer.fake.requests, [], 'the hit made no upstream call');
      assert.equal(await metric(authz, 'opa_openshift_cache_requests_total', { result: 'miss' }), 1);
      assert.equal(await metric(authz, 'opa_openshift_cache_requests_total', { result: 'hit' }), 1);
      assert.equal(await metric(authz, 'opa_openshift_cache_inserts_total'), 1);
    });

    it('the order of namespaces in the selectors does not change the key', async () => {
      const authz = await apiServer.authz(OPERATOR_LOGGING_ARGS);
      const first = await ask(authz, 'bob', { extras: selecting(['log-test-0', 'log-test-2', 'log-test-1']) });
      apiServer.fake.requests.length = 0;
      const second = await ask(authz, 'bob', { extras: selecting(['log-test-1', 'log-test-0', 'log-test-2', 'log-test-0']) });
      assert.deepEqual(second.body, first.body);
      assert.deepEqual(apiServer.fake.requests, [], 'a hit');
      assert.equal(await metric(authz, 'opa_openshift_cache_requests_total', { result: 'hit' }), 1);
    });

    it('a different token, user, group set, tenant, verb or matcher key set is a miss', async () => {
      // The review cache off: a decision-cache miss then shows as upstream calls.
      const authz = await apiServer.authz([...OPERATOR_LOGGING_ARGS, '--kube.review-cache-ttl=0']);
      resultOf(await ask(authz, 'bob', IN_LOG_TEST_0));
      const variants: Array<[string, () => Promise<Answer>, (result: unknown) => void]> = [
        ['another token of the same user', () => ask(authz, 'bob', { ...IN_LOG_TEST_0, token: 'token-bob-2' }), () => {}],
        ['another user', () => ask(authz, 'bob', { ...IN_LOG_TEST_0, subject: 'dave' }), (r) => assert.equal(r, false)],
        // log-readers grants cluster-wide read: sharing bob's cached answer would be wrong both ways.
        ['another group set', () => ask(authz, 'bob', { ...IN_LOG_TEST_0, groups: ['log-readers', 'system:authenticated'] }), () => {}],
        ['another tenant', () => ask(authz, 'bob', { ...IN_LOG_TEST_0, tenant: 'infrastructure' }), (r) => assert.equal(r, false)],
        ['another verb', () => ask(authz, 'bob', { ...IN_LOG_TEST_0, permission: 'write' }), (r) => assert.equal(r, false)],
        [
          'the same namespace under the OTel label (another matcher key)',
          () => ask(authz, 'bob', { extras: selecting(['log-test-0'], 'k8s_namespace_name') }),
          (r) => assert.deepEqual(matcherValues(r).values, { k8s_namespace_name: 'log-test-0' }),
        ],
      ];
      for (const [what, send, check] of variants) {
        apiServer.fake.requests.length = 0;
        check(resultOf(await send()));
        assert.ok(decisionCalls(apiServer.fake).length > 0, `${what}: a miss, decided upstream`);
      }
      apiServer.fake.requests.length = 0;
      resultOf(await ask(authz, 'bob', IN_LOG_TEST_0));
      assert.deepEqual(apiServer.fake.requests, [], 'the first request is still a hit');
      assert.equal(await metric(authz, 'opa_openshift_cache_requests_total', { result: 'miss' }), 1 + variants.length);
    });

    it('never caches an error: a failed review answers 401, the next request is decided upstream and succeeds', async () => {
      const authz = await apiServer.authz(OPERATOR_LOGGING_ARGS);
      apiServer.fake.setFaults({ endpoint: 'subjectaccessreviews', status: 500, message: 'etcdserver: request timed out', times: 1 });
      assert.match(errorMessage(await ask(authz, 'bob', IN_LOG_TEST_0), 401), /^cluster-wide SAR failed: /);
      apiServer.fake.requests.length = 0;
      const ok = resultOf(await ask(authz, 'bob', IN_LOG_TEST_0));
      assert.deepEqual(matcherValues(ok).values, { kubernetes_namespace_name: 'log-test-0' });
      assert.ok(decisionCalls(apiServer.fake).length > 0, 'decided upstream, not from the cache');
      assert.equal(await metric(authz, 'opa_openshift_cache_inserts_total'), 1, 'only the answer was stored');
    });

    it('--cache.deny-ttl shorter than --cache.allow-ttl: the deny expires, the allow stays', async () => {
      const authz = await apiServer.authz([...OPERATOR_LOGGING_ARGS, '--cache.allow-ttl=1h', '--cache.deny-ttl=500ms', '--kube.review-cache-ttl=0']);
      assert.equal(resultOf(await ask(authz, 'dave', IN_LOG_TEST_0)), false);
      resultOf(await ask(authz, 'bob', IN_LOG_TEST_0));
      apiServer.fake.requests.length = 0;
      // The deny is decided upstream again once its TTL has passed ...
      const expired = await eventually(
        async () => {
          apiServer.fake.requests.length = 0;
          assert.equal(resultOf(await ask(authz, 'dave', IN_LOG_TEST_0)), false);
          return decisionCalls(apiServer.fake).length > 0;
        },
        100,
        100,
      );
      assert.ok(expired, 'the deny left the cache');
      // ... while the allow, cached at the same moment, is still a hit.
      apiServer.fake.requests.length = 0;
      resultOf(await ask(authz, 'bob', IN_LOG_TEST_0));
      assert.deepEqual(apiServer.fake.requests, [], 'the allow is still cached');
    });

    it('200 concurrent identical cold requests make one cluster-wide SAR; 199 share it', async () => {
      const authz = await apiServer.authz(OPERATOR_LOGGING_ARGS);
      // Hold the cluster-wide review until every request has joined the one lookup in flight.
      apiServer.fake.setFaults({ endpoint: 'subjectaccessreviews', hang: true });
      const answers = Promise.all(Array.from({ length: 200 }, () => ask(authz, 'bob', IN_LOG_TEST_0)));
      const joined = await eventually(async () => (await metric(authz, 'decision_cache_shared_total')) === 199, 400, 10);
      apiServer.fake.clearFaults();
      const all = await answers;
      assert.ok(joined, `decision_cache_shared_total reached 199 (is ${await metric(authz, 'decision_cache_shared_total')})`);
      for (const a of all) assert.deepEqual(matcherValues(resultOf(a)).values, { kubernetes_namespace_name: 'log-test-0' });
      assert.equal(apiServer.fake.requests.filter(isClusterReview).length, 1, 'one cluster-wide SAR');
      assert.equal(apiServer.fake.requests.filter(isNamespacedReview).length, 1, 'one namespaced SAR');
      assert.equal(await metric(authz, 'opa_openshift_cache_requests_total', { result: 'miss' }), 1);
    });
  });

  describe('memcached shared by two instances', () => {
    const memcacheds = memcachedPerTest();

    // The review cache off: what the decision cache misses then shows as upstream calls.
    // Replicas share the entry key (one Secret), or none could verify another's entries.
    const sharedKeyFile = memcachedKeyFile();
    const flagsFor = (m: MemcachedServer) => [
      ...OPERATOR_LOGGING_ARGS,
      `--memcached=${m.address}`,
      `--memcached.hmac-key-file=${sharedKeyFile}`,
      '--memcached.interval=0',
      '--memcached.timeout=300ms',
      '--kube.review-cache-ttl=0',
    ];

    it('a decision made by instance A is a hit on instance B, which makes no upstream call', async () => {
      const memcached = await memcacheds.start();
      const a = await apiServer.authz(flagsFor(memcached));
      const b = await apiServer.authz(flagsFor(memcached));
      const fromA = await ask(a, 'bob', { extras: { metadataOnly: true } });
      assert.ok(decisionCalls(apiServer.fake).length > 0);
      apiServer.fake.requests.length = 0;
      const fromB = await ask(b, 'bob', { extras: { metadataOnly: true } });
      assert.deepEqual(fromB.body, fromA.body);
      assert.deepEqual(apiServer.fake.requests, [], 'B answered from memcached');
      assert.equal(await metric(b, 'opa_openshift_cache_requests_total', { result: 'hit' }), 1);
      assert.equal(await metric(b, 'opa_openshift_cache_requests_total', { result: 'miss' }), 0);
    });

    it('memcached killed mid-run: decisions are still answered (as misses); after a restart the cache is shared again', async () => {
      const memcached = await memcacheds.start();
      const port = memcached.port;
      const a = await apiServer.authz(flagsFor(memcached));
      const b = await apiServer.authz(flagsFor(memcached));
      resultOf(await ask(a, 'bob', IN_LOG_TEST_0));

      await memcached.stop();
      for (const authz of [a, b, a]) {
        apiServer.fake.requests.length = 0;
        const result = resultOf(await ask(authz, 'bob', IN_LOG_TEST_0));
        assert.deepEqual(matcherValues(result).values, { kubernetes_namespace_name: 'log-test-0' });
        assert.ok(decisionCalls(apiServer.fake).length > 0, 'decided upstream while memcached is down');
      }
      assert.ok((await metric(a, 'decision_cache_errors_total')) > 0, 'the failures were counted');

      await memcacheds.start(port);
      apiServer.fake.requests.length = 0;
      resultOf(await ask(a, 'carol', { extras: { metadataOnly: true } }));
      assert.ok(decisionCalls(apiServer.fake).length > 0, 'a miss on the empty restarted memcached');
      apiServer.fake.requests.length = 0;
      resultOf(await ask(b, 'carol', { extras: { metadataOnly: true } }));
      assert.deepEqual(apiServer.fake.requests, [], 'B hits what A stored after the restart');
    });
  });

  describe('upstream faults and timeouts', () => {
    const faults: Array<[string, Parameters<FakeKube['setFaults']>[0]]> = [
      ['hang (past --kube.timeout)', { endpoint: 'subjectaccessreviews', hang: true }],
      ['connection reset', { endpoint: 'subjectaccessreviews', reset: true }],
      ['status 500', { endpoint: 'subjectaccessreviews', status: 500 }],
    ];
    for (const [name, fault] of faults) {
      it(`cluster-wide SAR ${name}: 401 "cluster-wide SAR failed: ..."; nothing cached`, async () => {
        const authz = await apiServer.authz([...OPERATOR_LOGGING_ARGS, '--kube.timeout=200ms']);
        apiServer.fake.setFaults(fault);
        // For the hang, the answer arrives while the fake still holds the review: the timeout, not
        // the fault clearing, ended it.
        assert.match(errorMessage(await ask(authz, 'bob', IN_LOG_TEST_0), 401), /^cluster-wide SAR failed: /);
        apiServer.fake.clearFaults();
        apiServer.fake.requests.length = 0;
        assert.deepEqual(matcherValues(resultOf(await ask(authz, 'bob', IN_LOG_TEST_0))).values, { kubernetes_namespace_name: 'log-test-0' });
        assert.ok(decisionCalls(apiServer.fake).some(isClusterReview), 'decided upstream again: the failure was not cached');
        assert.equal(await metric(authz, 'opa_openshift_cache_inserts_total'), 1);
      });
    }

    it('a hanging project list: 401 "failed to access api server: ..."', async () => {
      const authz = await apiServer.authz([...OPERATOR_LOGGING_ARGS, '--kube.timeout=200ms']);
      apiServer.fake.setFaults({ endpoint: 'projects', hang: true });
      assert.match(errorMessage(await ask(authz, 'alice'), 401), /^failed to access api server: /);
    });

    it('a hanging namespaced SAR: 401 "namespaced SAR failed: ..."', async () => {
      const authz = await apiServer.authz([...OPERATOR_LOGGING_ARGS, '--kube.timeout=200ms']);
      apiServer.fake.setFaults({ endpoint: 'subjectaccessreviews', times: 1 }, { endpoint: 'subjectaccessreviews', hang: true });
      assert.match(errorMessage(await ask(authz, 'bob', { extras: selecting(['log-test-0', 'log-test-1']) }), 401), /^namespaced SAR failed: /);
    });
  });

  describe('bounded review concurrency', () => {
    const tenNamespaces = Array.from({ length: 10 }, (_, i) => `team-${i}`);

    async function peakNamespacedReviews(flags: string[]): Promise<number> {
      const authz = await apiServer.authz([...OPERATOR_LOGGING_ARGS, ...flags]);
      // Latency keeps each review in flight long enough for overlaps to show at the fake.
      apiServer.fake.setFaults({ endpoint: 'subjectaccessreviews', latencyMs: 40 });
      const tracker = trackInFlight(apiServer.fake, isNamespacedReview);
      try {
        assert.equal(resultOf(await ask(authz, 'dave', { extras: selecting(tenNamespaces) })), false);
      } finally {
        tracker.stop();
      }
      assert.deepEqual(
        apiServer.fake.requests
          .filter(isNamespacedReview)
          .map((r) => reviewed(r).namespace)
          .sort(),
        tenNamespaces,
      );
      return tracker.peak();
    }

    it('--opa.review-concurrency=2: a query with 10 namespaces never has more than 2 namespaced SARs in flight', async () => {
      assert.equal(await peakNamespacedReviews(['--opa.review-concurrency=2']), 2);
    });

    it('--kube.max-concurrent-calls=1 bounds them for the whole process', async () => {
      assert.equal(await peakNamespacedReviews(['--opa.review-concurrency=16', '--kube.max-concurrent-calls=1']), 1);
    });

    it('the measure sees overlap: with the default concurrency more than 2 run at once', async () => {
      assert.ok((await peakNamespacedReviews([])) > 2);
    });
  });

  describe('namespace names in matchers', () => {
    // Kubernetes names are DNS labels ([a-z0-9-]), none a regex metacharacter, so no allowed
    // namespace can carry one; query namespaces can, and reviews deny them.
    it('names that look like patterns are reviewed as names and denied; real names pass unescaped, escaping on or off', async () => {
      const query = selecting(['log-test-.*', 'a.b', 'log-test-1', 'log-test-0', '.+']);
      const values: unknown[] = [];
      for (const flags of [[], ['--opa.escape-namespaces=false']]) {
        const authz = await apiServer.authz([...OPERATOR_LOGGING_ARGS, ...flags]);
        apiServer.fake.requests.length = 0;
        values.push(matcherValues(resultOf(await ask(authz, 'bob', { extras: query }))).values);
        assert.deepEqual(
          apiServer.fake.requests
            .filter(isNamespacedReview)
            .map((r) => reviewed(r).namespace)
            .sort(),
          ['.+', 'a.b', 'log-test-.*', 'log-test-0', 'log-test-1'],
          'every query namespace was reviewed by name',
        );
      }
      assert.deepEqual(values, [{ kubernetes_namespace_name: 'log-test-0|log-test-1' }, { kubernetes_namespace_name: 'log-test-0|log-test-1' }]);
    });

    it("a cluster-wide reader's pattern-like names are dropped by the project list, not matched", async () => {
      const authz = await apiServer.authz(OPERATOR_LOGGING_ARGS);
      const result = resultOf(await ask(authz, 'alice', { extras: selecting(['log-test-.*', 'a.b', 'log-test-2']) }));
      assert.deepEqual(matcherValues(result), { allowed: 'true', values: { kubernetes_namespace_name: 'log-test-2' } });
      const none = resultOf(await ask(authz, 'alice', { extras: selecting(['log-.*']) }));
      assert.deepEqual(matcherValues(none), { allowed: 'false', values: { kubernetes_namespace_name: '' } });
    });
  });

  describe('--opa.match-all-for-cluster-readers', () => {
    it('a cluster-wide reader with no namespace in the query gets a match-all matcher and no project list call', async () => {
      const authz = await apiServer.authz([...OPERATOR_LOGGING_ARGS, '--opa.match-all-for-cluster-readers']);
      const result = resultOf(await ask(authz, 'alice'));
      assert.deepEqual(JSON.parse((result as { data: string }).data), { matchers: [{ Type: 2, Name: 'kubernetes_namespace_name', Value: '.+' }] });
      assert.equal((result as { allowed: string }).allowed, 'true');
      assert.deepEqual(describeCalls(decisionCalls(apiServer.fake)), [`subjectaccessreviews as ${GATEWAY_SA}`]);
    });

    it('with namespaces in the query, or for a namespaced reader, nothing changes', async () => {
      const authz = await apiServer.authz([...OPERATOR_LOGGING_ARGS, '--opa.match-all-for-cluster-readers']);
      assert.deepEqual(matcherValues(resultOf(await ask(authz, 'carol', { extras: selecting(['log-test-0', 'log-test-2']) }))).values, {
        kubernetes_namespace_name: 'log-test-2',
      });
      assert.deepEqual(matcherValues(resultOf(await ask(authz, 'bob', { extras: { metadataOnly: true } }))).values, {
        kubernetes_namespace_name: 'log-test-0|log-test-1',
      });
      assert.equal(decisionCalls(apiServer.fake).filter((r) => r.endpoint === 'projects').length, 2);
    });

    it('without the flag, the regex of every listed project', async () => {
      const authz = await apiServer.authz(OPERATOR_LOGGING_ARGS);
      assert.deepEqual(matcherValues(resultOf(await ask(authz, 'alice'))).values, {
        kubernetes_namespace_name: 'kube-system|log-test-0|log-test-1|log-test-2|openshift-logging',
      });
      assert.deepEqual(describeCalls(decisionCalls(apiServer.fake)), [`subjectaccessreviews as ${GATEWAY_SA}`, 'projects as alice']);
    });
  });

  describe('plain Kubernetes (no project.openshift.io)', () => {
    // What deploy/overlays/openshift-sidecar/rbac.yaml asks for on plain Kubernetes: the service lists namespaces itself.
    const GATEWAY_LISTS_NAMESPACES = `
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: lokistack-dev-gateway-namespaces}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: namespace-reader}
subjects:
  - {kind: ServiceAccount, name: lokistack-dev-gateway, namespace: openshift-logging}
`;
    let vanilla: FakeKube;
    before(async () => {
      vanilla = await startFakeKube(lokistackFakeKubeOptions({ openshift: false, objects: LOKISTACK_CLUSTER_YAML + GATEWAY_LISTS_NAMESPACES }));
    });
    after(async () => {
      await vanilla.close();
    });
    beforeEach(() => {
      vanilla.requests.length = 0;
    });

    for (const source of ['auto', 'namespaces'] as const) {
      it(`--kube.namespace-source=${source}: bob's metadata request lists namespaces as the service and reviews bob in each`, async () => {
        const authz = await apiServer.authz([...OPERATOR_LOGGING_ARGS, `--kube.namespace-source=${source}`], undefined, vanilla);
        const result = resultOf(await ask(authz, 'bob', { extras: { metadataOnly: true } }));
        assert.deepEqual(matcherValues(result).values, { kubernetes_namespace_name: 'log-test-0|log-test-1' });
        const discovery = vanilla.requests.filter((r) => r.endpoint === 'discovery');
        assert.equal(discovery.length, source === 'auto' ? 1 : 0, 'API discovery only when asked to detect');
        assert.ok(discovery.every((r) => r.user === GATEWAY_SA));
        const calls = decisionCalls(vanilla);
        assert.deepEqual(
          calls.filter((r) => !isNamespacedReview(r)).map((r) => `${r.endpoint} as ${r.user}`),
          [`subjectaccessreviews as ${GATEWAY_SA}`, `namespaces as ${GATEWAY_SA}`],
        );
        assert.deepEqual(
          calls
            .filter(isNamespacedReview)
            .map((r) => reviewed(r).namespace)
            .sort(),
          ['kube-system', 'log-test-0', 'log-test-1', 'log-test-2', 'openshift-logging'],
        );
        assert.ok(calls.filter(isNamespacedReview).every((r) => reviewed(r).user === 'bob'));

        // The detection is made once per process.
        vanilla.requests.length = 0;
        resultOf(await ask(authz, 'dave', { extras: { metadataOnly: true } }));
        assert.equal(vanilla.requests.filter((r) => r.endpoint === 'discovery').length, 0);
      });
    }

    it("on OpenShift with auto, projects are listed with the user's token", async () => {
      const authz = await apiServer.authz([...OPERATOR_LOGGING_ARGS, '--kube.namespace-source=auto']);
      resultOf(await ask(authz, 'bob', { extras: { metadataOnly: true } }));
      assert.deepEqual(
        apiServer.fake.requests.filter((r) => !isReview(r)).map((r) => `${r.endpoint} as ${r.user}`),
        [`discovery as ${GATEWAY_SA}`, 'projects as bob'],
      );
    });

    it('a service account that may not list namespaces answers 401 "failed to access api server: ..."', async () => {
      const locked = await startFakeKube(lokistackFakeKubeOptions({ openshift: false }));
      try {
        const authz = await apiServer.authz([...OPERATOR_LOGGING_ARGS, '--kube.namespace-source=namespaces'], undefined, locked);
        assert.match(errorMessage(await ask(authz, 'bob', { extras: { metadataOnly: true } }), 401), /^failed to access api server: /);
      } finally {
        await locked.close();
      }
    });
  });

  describe("the Loki Operator's exact arguments", () => {
    it('the fixture sets run with them (kept in step with reference §3)', () => {
      const kubeconfig = `--openshift.kubeconfig=${KUBECONFIG_PLACEHOLDER}`;
      assert.deepEqual(loadOpenShiftSet(join(OPENSHIFT_FIXTURES, 'lokistack-logging'), 'lokistack-logging').flags, [...OPERATOR_LOGGING_ARGS, kubeconfig]);
      assert.deepEqual(loadOpenShiftSet(join(OPENSHIFT_FIXTURES, 'lokistack-network'), 'lokistack-network').flags, [...OPERATOR_NETWORK_ARGS, kubeconfig]);
    });

    it("openshift-logging: no --mode needed; opa-openshift's answers", async () => {
      const authz = await apiServer.authz(OPERATOR_LOGGING_ARGS);
      assert.equal(authz.config.mode, 'openshift-logging');
      assert.deepEqual(authz.config.decisionPath, ['lokistack', 'allow']);
      assert.equal(
        (resultOf(await ask(authz, 'bob', { extras: { metadataOnly: true } })) as { data: string }).data,
        '{"matchers":[{"Type":2,"Name":"kubernetes_namespace_name","Value":"log-test-0|log-test-1"}]}',
      );
      assert.equal(resultOf(await ask(authz, 'admin', IN_LOG_TEST_0)), true);
      assert.equal(resultOf(await ask(authz, 'alice', { tenant: 'audit' })), true);
      assert.equal(resultOf(await ask(authz, 'collector', { permission: 'write', tenant: 'infrastructure' })), true);
      assert.equal(resultOf(await ask(authz, 'dave', IN_LOG_TEST_0)), false);
      assert.equal(
        errorMessage(await ask(authz, 'bob', { extras: { ...selecting(['x']), wildcardSelectors: true } }), 400),
        'wildcard in query namespaces not allowed',
      );
      assert.equal(errorMessage(await ask(authz, 'bob', { tenant: 'network' }), 500), 'unknown tenant');
    });

    it("openshift-network: no --mode needed; opa-openshift's answers", async () => {
      const networkCluster = readFileSync(join(OPENSHIFT_FIXTURES, 'lokistack-network', 'cluster.yaml'), 'utf8');
      const options: FakeKubeOptions = lokistackFakeKubeOptions({ objects: `${LOKISTACK_CLUSTER_YAML}\n---\n${networkCluster}` });
      const netFake = await startFakeKube(options);
      try {
        const authz = await apiServer.authz(OPERATOR_NETWORK_ARGS, undefined, netFake);
        assert.equal(authz.config.mode, 'openshift-network');
        assert.equal(
          (resultOf(await ask(authz, 'bob', { tenant: 'network', extras: selecting(['log-test-0', 'log-test-1'], 'SrcK8S_Namespace') })) as { data: string })
            .data,
          '{"matchers":[{"Type":2,"Name":"SrcK8S_Namespace","Value":"log-test-0"},{"Type":2,"Name":"DstK8S_Namespace","Value":"log-test-0"}],"matcherOp":"or"}',
        );
        assert.equal(resultOf(await ask(authz, 'admin', { tenant: 'network' })), true);
        assert.equal(errorMessage(await ask(authz, 'bob', IN_LOG_TEST_0), 500), 'unknown tenant');
      } finally {
        await netFake.close();
      }
    });
  });

  describe('internal endpoints', () => {
    it('/live GETs --web.healthchecks.url on the public listener and expects 404: {"http": "OK"}', async () => {
      const port = await freePort();
      const authz = await apiServer.authz([...OPERATOR_LOGGING_ARGS, `--web.listen=127.0.0.1:${port}`, `--web.healthchecks.url=http://127.0.0.1:${port}`]);
      const live = await fetch(`${authz.internalUrl}/live`);
      assert.equal(live.status, 200);
      assert.equal(await live.text(), '{\n    "http": "OK"\n}\n');
      const ready = await fetch(`${authz.internalUrl}/ready`);
      assert.equal(ready.status, 200);
      assert.equal((JSON.parse(await ready.text()) as Record<string, string>).http, 'OK');
      assert.equal(await metric(authz, 'healthcheck', { name: 'http', check: 'live' }), 1);
    });

    it('/live and /ready answer 503 when the health URL does not answer 404', async () => {
      // The fake API answers 401 to a request without a token.
      const authz = await apiServer.authz([...OPERATOR_LOGGING_ARGS, `--web.healthchecks.url=${apiServer.fake.url}/apis`]);
      for (const path of ['/live', '/ready']) {
        const res = await fetch(`${authz.internalUrl}${path}`);
        assert.equal(res.status, 503, path);
        assert.match((JSON.parse(await res.text()) as Record<string, string>).http!, /401/);
      }
    });

    it('/metrics: client_api_requests_total{client="openshift"} and request_duration_seconds by method', async () => {
      const authz = await apiServer.authz(OPERATOR_LOGGING_ARGS);
      resultOf(await ask(authz, 'bob', { extras: { metadataOnly: true } })); // SAR, projects, 2 SARs
      apiServer.fake.setFaults({ endpoint: 'subjectaccessreviews', status: 500 });
      errorMessage(await ask(authz, 'alice'), 401);
      const text = await scrape(authz);
      assert.equal(metricValue(text, 'client_api_requests_total', { client: 'openshift', method: 'post', code: '201' }), 3);
      assert.equal(metricValue(text, 'client_api_requests_total', { client: 'openshift', method: 'get', code: '200' }), 2, 'discovery and projects');
      assert.equal(metricValue(text, 'client_api_requests_total', { client: 'openshift', method: 'post', code: '500' }), 1);
      assert.equal(metricValue(text, 'request_duration_seconds_count', { client: 'openshift', method: 'post' }), 4);
      assert.equal(metricValue(text, 'request_duration_seconds_count', { client: 'openshift', method: 'get' }), 2);
      assert.ok(metricValue(text, 'request_duration_seconds_bucket', { client: 'openshift', method: 'post', le: '+Inf' }) === 4);
    });
  });

  describe('tokens stay out of logs', () => {
    it('at --log.level=debug, no token (valid, unknown, failing, in any header or the body) appears in any log line or answer', async () => {
      const secrets = {
        bob: 'sha256~SECRET-bob-7f3a9c',
        alice: 'sha256~SECRET-alice-91c2e4',
        expired: 'sha256~SECRET-expired-55aa01',
        header: 'sha256~SECRET-authorization-3b8d',
        body: 'sha256~SECRET-in-body-0c6e',
      };
      apiServer.fake.setTokens({
        ...tokens,
        [secrets.bob]: LOKISTACK_IDENTITIES.bob,
        [secrets.alice]: LOKISTACK_IDENTITIES.alice,
        [secrets.header]: LOKISTACK_IDENTITIES.bob,
      });
      const log = captureLogger('debug', 'logfmt');
      try {
        // Decision logs are logs too: the gateway's input carries a `token` field.
        const decisionLogFile = join(makeTempDir(), 'decisions.log');
        const sar = await apiServer.authz([...OPERATOR_LOGGING_ARGS, '--log.level=debug', `--decision-log.output=${decisionLogFile}`], log);
        const ssar = await apiServer.authz(
          [...OPERATOR_LOGGING_ARGS, '--log.level=debug', '--opa.ssar', '--memcached=127.0.0.1:1', `--memcached.hmac-key-file=${memcachedKeyFile()}`],
          log,
        );
        const answers: Answer[] = [];
        for (const authz of [sar, ssar]) {
          answers.push(await ask(authz, 'bob', { extras: { metadataOnly: true }, token: secrets.bob }));
          answers.push(await ask(authz, 'alice', { token: secrets.alice }));
          answers.push(await ask(authz, 'alice', { token: secrets.expired }));
          answers.push(await ask(authz, 'bob', { ...IN_LOG_TEST_0, token: secrets.expired }));
          answers.push(
            await postDecision(authz.url, {
              input: gatewayInput('bob', { extras: { metadataOnly: true } }),
              headers: { Authorization: `Bearer ${secrets.header}` },
            }),
          );
          answers.push(await postDecision(authz.url, { input: { ...gatewayInput('bob'), token: secrets.body }, token: secrets.bob }));
          answers.push(await postDecision(authz.url, { rawBody: `{"input":{"token":"${secrets.body}",`, token: secrets.bob }));
          answers.push(await postDecision(authz.url, { input: { ...gatewayInput('bob'), tenant: 'nowhere' }, token: secrets.bob }));
          apiServer.fake.setFaults({ endpoint: '*', status: 500, message: 'upstream down' });
          answers.push(await ask(authz, 'carol', { token: secrets.alice }));
          apiServer.fake.clearFaults();
        }
        assert.ok(answers.some((a) => a.status === 200) && answers.some((a) => a.status === 401) && answers.some((a) => a.status >= 400 && a.status !== 401));
        assert.match(log.text(), /cluster-scoped AccessReview/, 'debug lines were written');
        const tokenCores = Object.values(secrets).map((t) => t.replace('sha256~', ''));
        await sar.stop(); // flushes and closes the decision log
        const decisions = readFileSync(decisionLogFile, 'utf8')
          .split('\n')
          .filter((l) => l !== '');
        assert.ok(decisions.length >= 8, 'decisions were logged');
        for (const line of [...log.lines, ...decisions]) {
          for (const t of tokenCores) assert.ok(!line.includes(t), `a log line holds a token: ${line}`);
        }
        for (const a of answers) {
          for (const t of tokenCores) assert.ok(!a.text.includes(t), `an answer holds a token: ${a.text}`);
        }
      } finally {
        apiServer.fake.setTokens(tokens);
      }
    });
  });
});

/**
 * The input as Go's encoding/json decodes it into opa-openshift's struct, duplicate keys included.
 * The HTTP layer's decoder records an object's members in document order under
 * Symbol.for('lokistack-authz.entries') when it had duplicate keys; `doc` builds such an object the
 * way that decoder does (last value at the first key's position, plus the record).
 *
 * Oracle: the real opa-openshift binary (peers/opa-openshift), run with a kubeconfig for the fake
 * API behind a proxy adding the service's bearer token (its client sent none over http), with
 * --opa.matcher=kubernetes_namespace_name,k8s_namespace_name --opa.viaq-to-otel-migration=true.
 * Its client-go sends reviews as protobuf, which the fake answers 400 (so the peer answers 401
 * "cluster-wide SAR failed"); the subject and groups it decoded were read from the protobuf bytes
 * the fake recorded. What it answered:
 *   groups [a], Groups [b], groups [c]                       -> SAR groups [c]
 *   groups [a], groups null                                  -> SAR with no groups
 *   subject "bob", subject null                              -> SAR user "bob" (null leaves a string)
 *   tenant "application", tenant null                        -> SAR made (not 500 unknown tenant)
 *   subject "x", ſubject "mallory"                           -> SAR user "mallory" (ſ folds to s)
 *   permission "x", permıssion / permİssion "read"           -> 400 unknown permission (no fold)
 *   tenant "x", TENANT "application"                         -> SAR made
 *   groups 5, groups [a]  /  groups [a], groups 5            -> 500 failed to unmarshal JSON
 *   selectors {ns: 5}, selectors {ns: [a]}                   -> 500 failed to unmarshal JSON
 *   wildcardSelectors true, "x", false                       -> 500 failed to unmarshal JSON
 *   extras {wildcardSelectors: true}, extras {selectors: …}  -> 400 wildcard … (extras merge)
 *   extras {wildcardSelectors: true}, extras null            -> 400 wildcard … (null leaves extras)
 *   wildcardSelectors true, wildcardSelectors null           -> 400 wildcard … (null leaves a bool)
 *   selectors {kubernetes_…: [a]}, selectors {k8s_…: [b]}     -> 400 both selectors (maps merge)
 *   extras {selectors {kubernetes_…}}, extras {Selectors {k8s_…}} -> 400 both selectors
 *   selectors {kubernetes_…: [a]}, selectors {}, selectors {k8s_…: [b]} -> 400 both selectors
 *   selectors {kubernetes_…: [a]}, selectors null, selectors {k8s_…: [b]} -> SAR made (null empties the map)
 *   extras {selectors {kubernetes_…}}, extras {selectors null}, extras {selectors {k8s_…}} -> SAR made
 *   selectors {kubernetes_…: [a], kubernetes_…: null}, selectors {k8s_…: [b]} -> SAR made
 *   selectors {…, k8s_…: [b], k8s_…: []}                     -> SAR made (a repeated label's last list)
 */
describe('openshift input decoding (as opa-openshift decodes it)', () => {
  const ENTRIES = Symbol.for('lokistack-authz.entries');
  function doc(...pairs: Array<[string, unknown]>): Record<string, unknown> {
    const obj: Record<string, unknown> = {};
    for (const [k, v] of pairs) obj[k] = v;
    if (new Set(pairs.map(([k]) => k)).size !== pairs.length) Object.defineProperty(obj, ENTRIES, { value: pairs, enumerable: false });
    return obj;
  }
  const base: Array<[string, unknown]> = [
    ['groups', ['g1']],
    ['permission', 'read'],
    ['resource', 'logs'],
    ['subject', 'bob'],
    ['tenant', 'application'],
  ];
  const parse = (...more: Array<[string, unknown]>) => parseGatewayInput(doc(...base, ...more));
  const failsToUnmarshal = (f: () => unknown) =>
    assert.throws(f, (e: unknown) => e instanceof DecisionError && e.status === 500 && e.message === 'failed to unmarshal JSON');
  const labels = (m: Map<string, string[]>) => Object.fromEntries(m);

  it('a repeated field: the last key in document order wins, case-insensitively (not the last distinct spelling)', () => {
    assert.deepEqual(parse(['groups', ['a']], ['Groups', ['b']], ['groups', ['c']]).groups, ['c']);
    assert.equal(parse(['tenant', 'x'], ['TENANT', 'application']).tenant, 'application');
  });

  it('null empties a list but leaves a string, a bool and the extras struct as they were', () => {
    assert.deepEqual(parse(['groups', ['a']], ['groups', null]).groups, []);
    assert.equal(parse(['subject', null]).subject, 'bob');
    assert.equal(parse(['tenant', null]).tenant, 'application');
    assert.equal(parse(['extras', doc(['wildcardSelectors', true], ['wildcardSelectors', null])]).extras.wildcardSelectors, true);
    assert.equal(parse(['extras', { wildcardSelectors: true }], ['extras', null]).extras.wildcardSelectors, true);
  });

  it("Go's case folding: ſ matches s; dotless and dotted i match nothing", () => {
    assert.equal(parse(['subject', 'x'], ['\u017fubject', 'mallory']).subject, 'mallory');
    assert.equal(parse(['permission', 'x'], ['perm\u0131ssion', 'read']).permission, 'x');
    assert.equal(parse(['permission', 'x'], ['perm\u0130ssion', 'read']).permission, 'x');
  });

  it('a wrong type anywhere fails the request, even when a later key would replace it', () => {
    failsToUnmarshal(() => parse(['groups', 5], ['groups', ['a']]));
    failsToUnmarshal(() => parse(['groups', ['a']], ['groups', 5]));
    failsToUnmarshal(() => parse(['extras', doc(['selectors', { kubernetes_namespace_name: 5 }], ['selectors', { kubernetes_namespace_name: ['a'] }])]));
    failsToUnmarshal(() => parse(['extras', doc(['wildcardSelectors', true], ['wildcardSelectors', 'x'], ['wildcardSelectors', false])]));
  });

  it('repeated extras merge; repeated selectors maps merge by label; null empties the map; a repeated label keeps its last list', () => {
    const merged = parse(['extras', { wildcardSelectors: true }], ['extras', { selectors: { kubernetes_namespace_name: ['a'] } }]).extras;
    assert.equal(merged.wildcardSelectors, true);
    assert.deepEqual(labels(merged.selectors), { kubernetes_namespace_name: ['a'] });
    const sel = (...maps: unknown[]) => parse(['extras', doc(...maps.map((m): [string, unknown] => ['selectors', m]))]).extras.selectors;
    assert.deepEqual(labels(sel({ kubernetes_namespace_name: ['a'] }, { k8s_namespace_name: ['b'] })), {
      kubernetes_namespace_name: ['a'],
      k8s_namespace_name: ['b'],
    });
    assert.deepEqual(labels(sel({ kubernetes_namespace_name: ['a'] }, {}, { k8s_namespace_name: ['b'] })), {
      kubernetes_namespace_name: ['a'],
      k8s_namespace_name: ['b'],
    });
    assert.deepEqual(labels(sel({ kubernetes_namespace_name: ['a'] }, null, { k8s_namespace_name: ['b'] })), { k8s_namespace_name: ['b'] });
    const acrossExtras = parse(
      ['extras', { selectors: { kubernetes_namespace_name: ['a'] } }],
      ['extras', { selectors: null }],
      ['extras', { Selectors: { k8s_namespace_name: ['b'] } }],
    );
    assert.deepEqual(labels(acrossExtras.extras.selectors), { k8s_namespace_name: ['b'] });
    const lastList = sel(doc(['kubernetes_namespace_name', ['a']], ['k8s_namespace_name', ['b']], ['k8s_namespace_name', []]));
    assert.deepEqual(labels(lastList), { kubernetes_namespace_name: ['a'], k8s_namespace_name: [] });
  });
});

/**
 * Hardening of the openshift modes against a caller who read the source (issue 9): the namespace
 * bound, the review-level cache, the fair upstream budget, --openshift.verify-token and the warn
 * line of a failed Kubernetes call. Oracles: the fake API's request log (what reached Kubernetes,
 * as whom, in which order) and the attacker's goal (another user's logs, or their decisions stalled).
 */
describe('openshift hardening', () => {
  const scoped = (scopes: string[]) => ({ ...LOKISTACK_IDENTITIES.bob, uid: 'uid-bob', extra: { [SCOPES_KEY]: scopes } });
  const tokens = {
    ...lokistackFakeKubeOptions().tokens,
    'token-bob-2': LOKISTACK_IDENTITIES.bob,
    'token-bob-user-info': scoped(['user:info']),
    'token-bob-user-full': scoped(['user:full']),
  };
  const apiServer = sharedFakeKube(lokistackFakeKubeOptions({ tokens }));
  const reviewsOf = (requests: RecordedRequest[]) => requests.filter((r) => r.endpoint === 'subjectaccessreviews');
  const names = (n: number, prefix = 'ns') => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

  describe('namespaces per request', () => {
    it('by default a query naming 1001 namespaces is a 400 that says so, before any upstream call', async () => {
      const authz = await apiServer.authz(OPERATOR_LOGGING_ARGS);
      assert.equal(errorMessage(await ask(authz, 'dave', { extras: selecting(names(1001)) }), 400), 'too many namespaces in query: 1001, at most 1000');
      assert.deepEqual(decisionCalls(apiServer.fake), []);
    });

    it('--openshift.max-namespaces counts distinct names: at the bound decided, one more refused', async () => {
      const authz = await apiServer.authz([...OPERATOR_LOGGING_ARGS, '--openshift.max-namespaces=3']);
      const atBound = resultOf(await ask(authz, 'bob', { extras: selecting(['log-test-0', 'log-test-1', 'log-test-2', 'log-test-0', 'log-test-1']) }));
      assert.deepEqual(matcherValues(atBound).values, { kubernetes_namespace_name: 'log-test-0|log-test-1' });
      apiServer.fake.requests.length = 0;
      assert.match(
        errorMessage(await ask(authz, 'bob', { extras: selecting(['log-test-0', 'log-test-1', 'log-test-2', 'kube-system']) }), 400),
        /^too many namespaces in query: 4, at most 3$/,
      );
      assert.deepEqual(decisionCalls(apiServer.fake), []);
    });
  });

  describe('review-level cache', () => {
    it('a repeated fan-out makes no review: allow and deny verdicts are reused (decision cache off)', async () => {
      const authz = await apiServer.authz([...OPERATOR_LOGGING_ARGS, '--cache.enabled=false']);
      const query = { extras: selecting(['log-test-0', 'log-test-1', ...names(20)]) };
      const first = resultOf(await ask(authz, 'bob', query));
      assert.equal(reviewsOf(apiServer.fake.requests).length, 23, 'the cluster-wide review and one per namespace');
      apiServer.fake.requests.length = 0;
      const second = resultOf(await ask(authz, 'bob', query));
      assert.deepEqual(second, first);
      assert.deepEqual(decisionCalls(apiServer.fake), [], 'the same fan-out again: no upstream call');
    });

    it("another session of the same user (a decision-cache miss) reuses the user's verdicts", async () => {
      const authz = await apiServer.authz(OPERATOR_LOGGING_ARGS);
      const first = resultOf(await ask(authz, 'bob', { extras: selecting(names(10)) }));
      assert.equal(first, false);
      apiServer.fake.requests.length = 0;
      assert.equal(resultOf(await ask(authz, 'bob', { extras: selecting(names(10)), token: 'token-bob-2' })), false);
      assert.deepEqual(reviewsOf(apiServer.fake.requests), []);
    });

    it('verdicts are per subject and group set: another subject is reviewed, and gets its own answer', async () => {
      const authz = await apiServer.authz([...OPERATOR_LOGGING_ARGS, '--cache.enabled=false']);
      resultOf(await ask(authz, 'bob', IN_LOG_TEST_0));
      apiServer.fake.requests.length = 0;
      assert.equal(resultOf(await ask(authz, 'bob', { ...IN_LOG_TEST_0, subject: 'dave' })), false);
      assert.equal(reviewsOf(apiServer.fake.requests).length, 2);
      apiServer.fake.requests.length = 0;
      // log-readers grants cluster-wide read: another group set is another verdict.
      resultOf(await ask(authz, 'bob', { ...IN_LOG_TEST_0, groups: ['log-readers', 'system:authenticated'] }));
      assert.equal(reviewsOf(apiServer.fake.requests).length, 1);
    });
  });

  describe('the upstream budget is shared fairly between callers (keyed by token)', () => {
    // The client straight over the fake API, so the test decides when each call is queued.
    async function clientWith(limiter: Limiter): Promise<KubeClient> {
      return new KubeClient(
        parseKubeconfig(apiServer.fake.kubeconfigText(), 'fake-kube.kubeconfig'),
        { ssar: false, timeoutMs: 5_000, namespaceSource: 'projects' },
        limiter,
        { call() {} },
      );
    }
    const review = (user: string, token: string, namespace: string) =>
      ({ user, groups: ['system:authenticated'], token, verb: 'get', apiGroup: 'loki.grafana.com', resource: 'application', name: 'logs', namespace }) as const;
    const users = () => reviewsOf(apiServer.fake.requests).map((r) => (r.body as { spec: { user: string } }).spec.user);

    it("round-robin: another caller's review is served before a flooder's queue drains", async () => {
      const kube = await clientWith(new Limiter(1));
      const signal = new AbortController().signal;
      try {
        // All queued at once, the flooder's first: in arrival order the victim would be 21st.
        const flood = names(20).map((ns) => kube.review(review('flooder', LOKISTACK_TOKENS.dave, ns), signal));
        const victim = kube.review(review('bob', LOKISTACK_TOKENS.bob, 'log-test-0'), signal);
        await Promise.all([...flood, victim]);
        const order = users();
        assert.equal(order.length, 21);
        assert.ok(order.indexOf('bob') <= 2, `bob was served after ${order.indexOf('bob')} flooder calls: ${order.join(',')}`);
      } finally {
        kube.close();
      }
    });

    it('a per-caller cap: a flooder holding its calls leaves slots for another caller', async () => {
      const kube = await clientWith(new Limiter(4, 2));
      const signal = new AbortController().signal;
      apiServer.fake.setFaults({ endpoint: 'subjectaccessreviews', hang: true });
      try {
        const flood = names(10).map((ns) => kube.review(review('flooder', LOKISTACK_TOKENS.dave, ns), signal));
        const victim = kube.review(review('bob', LOKISTACK_TOKENS.bob, 'log-test-0'), signal);
        await eventually(async () => users().length === 3, 100, 20);
        assert.deepEqual(users(), ['flooder', 'flooder', 'bob'], "two of the flooder's calls hang; the victim's third call still goes out");
        apiServer.fake.clearFaults();
        await Promise.all([...flood, victim]);
      } finally {
        apiServer.fake.clearFaults();
        kube.close();
      }
    });
  });

  describe('--openshift.verify-token', () => {
    it('off by default: the asserted subject and groups decide, as in opa-openshift', async () => {
      const authz = await apiServer.authz(OPERATOR_LOGGING_ARGS);
      // dave's token, the admin's identity asserted: opa-openshift trusts the input.
      assert.equal(resultOf(await ask(authz, 'admin', { ...IN_LOG_TEST_0, token: LOKISTACK_TOKENS.dave })), true);
      assert.equal(apiServer.fake.requests.filter((r) => r.endpoint === 'tokenreviews').length, 0);
    });

    it("on: a forged subject and admin group decide nothing; the token's identity does, the mismatch is logged and audited", async () => {
      const log = captureLogger('info');
      const decisionLogFile = join(makeTempDir(), 'decisions.log');
      const authz = await apiServer.authz([...OPERATOR_LOGGING_ARGS, '--openshift.verify-token', `--decision-log.output=${decisionLogFile}`], log);
      const forged = await ask(authz, 'admin', { ...IN_LOG_TEST_0, token: LOKISTACK_TOKENS.dave });
      assert.equal(resultOf(forged), false, 'dave has no grant, whatever the input says');
      const sars = reviewsOf(apiServer.fake.requests).map((r) => reviewed(r));
      assert.ok(sars.length > 0 && sars.every((s) => s.user === 'dave' && !s.groups!.includes('system:cluster-admins')), JSON.stringify(sars));
      const warn = log.records().find((r) => r.level === 'warn' && String(r.msg).includes('differ'));
      assert.ok(warn, log.text());
      assert.equal(warn.asserted, 'kube:admin');
      assert.equal(warn.reviewed, 'dave');
      assert.ok(!log.text().includes(LOKISTACK_TOKENS.dave), 'no token in the log');
      await authz.stop();
      const event = JSON.parse(readFileSync(decisionLogFile, 'utf8').split('\n')[0]!) as { input: Record<string, unknown>; identity: Record<string, unknown> };
      assert.equal(event.input.subject, 'dave');
      assert.deepEqual(event.input.groups, gatewayGroups('dave'));
      assert.deepEqual(event.identity, { check: 'token_review_mismatch', asserted: { subject: 'kube:admin', groups: gatewayGroups('admin') } });
    });

    it("on: the gateway's own input (the same identity) decides as before, with one TokenReview per token per TTL", async () => {
      const authz = await apiServer.authz([...OPERATOR_LOGGING_ARGS, '--openshift.verify-token']);
      assert.deepEqual(matcherValues(resultOf(await ask(authz, 'bob', IN_LOG_TEST_0))).values, { kubernetes_namespace_name: 'log-test-0' });
      assert.deepEqual(matcherValues(resultOf(await ask(authz, 'bob', { extras: selecting(['log-test-1']) }))).values, {
        kubernetes_namespace_name: 'log-test-1',
      });
      assert.equal(apiServer.fake.requests.filter((r) => r.endpoint === 'tokenreviews').length, 1);
    });

    it('on: a token the cluster does not authenticate is a 401 and nothing is reviewed; a revoked token stops within the TTL', async () => {
      const authz = await apiServer.authz([
        ...OPERATOR_LOGGING_ARGS,
        '--openshift.verify-token',
        '--openshift.token-review-ttl=200ms',
        '--cache.enabled=false',
      ]);
      assert.equal(
        errorMessage(await ask(authz, 'bob', { ...IN_LOG_TEST_0, token: 'sha256~not-a-token' }), 401),
        'token review failed: the forwarded access token is not authenticated',
      );
      assert.deepEqual(reviewsOf(apiServer.fake.requests), []);
      resultOf(await ask(authz, 'bob', IN_LOG_TEST_0));
      apiServer.fake.setTokens(Object.fromEntries(Object.entries(tokens).filter(([t]) => t !== LOKISTACK_TOKENS.bob)));
      const stopped = await eventually(async () => (await ask(authz, 'bob', IN_LOG_TEST_0)).status === 401, 100, 50);
      assert.ok(stopped, 'the revoked token was refused once its answer expired');
    });

    it('on: a token scoped to user:info is judged as that token (its scopes and uid in every review), not as its user', async () => {
      // bob reads log-test-0; OpenShift's scope authorizer lets a user:info token do nothing of the kind.
      const authz = await apiServer.authz([...OPERATOR_LOGGING_ARGS, '--openshift.verify-token', '--cache.enabled=false']);
      assert.equal(resultOf(await ask(authz, 'bob', { ...IN_LOG_TEST_0, token: 'token-bob-user-info' })), false);
      const specs = reviewsOf(apiServer.fake.requests).map((r) => (r.body as { spec: { user?: string; uid?: string; extra?: unknown } }).spec);
      assert.ok(specs.length > 0);
      for (const spec of specs) assert.deepEqual([spec.user, spec.uid, spec.extra], ['bob', 'uid-bob', { [SCOPES_KEY]: ['user:info'] }]);
      // The same user with a user:full token reads what bob reads.
      assert.deepEqual(matcherValues(resultOf(await ask(authz, 'bob', { ...IN_LOG_TEST_0, token: 'token-bob-user-full' }))).values, {
        kubernetes_namespace_name: 'log-test-0',
      });
    });

    it('on: a failing TokenReview is a 401 naming the call, never an allow', async () => {
      const authz = await apiServer.authz([...OPERATOR_LOGGING_ARGS, '--openshift.verify-token']);
      apiServer.fake.setFaults({ endpoint: 'tokenreviews', status: 500, message: 'etcdserver: leader changed' });
      assert.match(
        errorMessage(await ask(authz, 'bob', IN_LOG_TEST_0), 401),
        /^token review failed: failed to create token review: 500 etcdserver: leader changed$/,
      );
      assert.deepEqual(reviewsOf(apiServer.fake.requests), []);
    });
  });

  it('a failed Kubernetes call leaves one warn line naming the call and the status, rate-limited, without the token', async () => {
    const log = captureLogger('info');
    const authz = await apiServer.authz(OPERATOR_LOGGING_ARGS, log);
    apiServer.fake.setFaults({ endpoint: 'subjectaccessreviews', status: 503, message: 'apiserver overloaded' });
    for (let i = 0; i < 3; i++) errorMessage(await ask(authz, 'bob', { extras: selecting([`log-test-${i}`]) }), 401);
    const warns = log.records().filter((r) => r.msg === 'upstream call failed');
    assert.equal(warns.length, 1, log.text());
    assert.equal(warns[0]!.upstream, 'kubernetes');
    assert.equal(warns[0]!.call, 'subjectaccessreviews');
    assert.equal(warns[0]!.status, '503');
    for (const t of Object.values(LOKISTACK_TOKENS)) assert.ok(!log.text().includes(t), 'no token in the log');
  });
});
