/**
 * Reasons in dynamic mode (a real OIDC provider on loopback: the claim binding that granted, the
 * identity check that failed) and in the openshift modes (the fake Kubernetes API: the access
 * reviews the reason lists are the ones the API received, with the API's verdicts). No reason ever
 * carries the caller's token.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify as stringifyYaml } from 'yaml';
import type { RecordedRequest } from './support/fake-kube/server.js';
import { LOKISTACK_TOKENS } from './support/fake-kube/fixtures.js';
import { startOidcProvider, type OidcProvider } from './support/oidc.js';
import { gatewayInput, OPERATOR_LOGGING_ARGS, postDecision, selecting, sharedFakeKube, type Answer, type RunningAuthz } from './support/openshift.js';
import { eventually, makeTempDir, startTestService, writeTempFile, type TestService } from './support/service.js';

type Reason = {
  code: string;
  message: string;
  grants?: Array<Record<string, unknown>>;
  identity_check?: string;
  reviews?: Array<Record<string, unknown>>;
  cached?: boolean;
  matcher?: string;
};
const reasonOf = (a: Answer) => (a.body as { reason: Reason }).reason;

describe('reasons: dynamic mode', () => {
  const CLIENT = { client_id: 'gateway', client_secret: 'gateway-secret' };
  let idp: OidcProvider;
  let svc: TestService;
  before(async () => {
    idp = await startOidcProvider({
      accounts: {
        dave: { claims: { preferred_username: 'dave', groups: [], organization: 'acme' } },
        erin: { claims: { preferred_username: 'erin', groups: ['guests'] } },
      },
      clients: [CLIENT],
    });
    const tenants = writeTempFile(
      'tenants.yaml',
      stringifyYaml({
        tenants: [
          {
            name: 'application',
            id: 'application',
            oidc: {
              clientID: CLIENT.client_id,
              clientSecret: CLIENT.client_secret,
              issuerURL: idp.issuer,
              usernameClaim: 'preferred_username',
              groupClaim: 'groups',
              audiences: ['lokistack-authz'],
            },
          },
        ],
      }),
    );
    const rbac = `roles:
  - name: application-read
    resources: [logs]
    tenants: [application]
    permissions: [read]
roleBindings: []
claimRoleBindings:
  - name: acme
    claim: organization
    values: [acme]
    roles: [application-read]
`;
    svc = await startTestService({ rbac, flags: ['--mode=dynamic', `--tenants.config=${tenants}`, '--oidc.allow-insecure-issuers', '--web.reasons'] });
  });
  after(async () => {
    await svc?.stop();
    await idp?.stop();
  });

  const input = { groups: [], permission: 'read', resource: 'logs', subject: '', tenant: 'application', tenantID: 'application', token: '' };

  it('names the claim role binding and the verified claim value that granted', async () => {
    const token = await idp.jwtAccessToken('dave', { clientId: CLIENT.client_id });
    const a = await postDecision(svc.publicUrl, { path: 'lokistack/allow?reasons=true', input, token });
    assert.equal((a.body as { result: unknown }).result, true, a.text);
    const r = reasonOf(a);
    assert.equal(r.code, 'granted');
    assert.deepEqual(r.grants, [{ kind: 'claim_role_binding', index: 0, binding: 'acme', claim: 'organization', value: 'acme', role: 'application-read' }]);
    assert.ok(!a.text.includes(token));
  });

  it('a caller the token does not prove: the identity check and its code, not the policy', async () => {
    const none = await postDecision(svc.publicUrl, { path: 'lokistack/allow?reasons=true', input: { ...input, subject: 'dave' } });
    assert.equal((none.body as { result: unknown }).result, false);
    assert.deepEqual([reasonOf(none).code, reasonOf(none).identity_check], ['identity_check_failed', 'no_token']);
    const forged = 'garbage-not-a-token-3b9d';
    const bad = await postDecision(svc.publicUrl, { path: 'lokistack/allow?reasons=true', input, token: forged });
    assert.equal((bad.body as { result: unknown }).result, false);
    assert.equal(reasonOf(bad).code, 'identity_check_failed');
    assert.notEqual(reasonOf(bad).identity_check, 'ok');
    assert.ok(!bad.text.includes(forged));
  });

  it('a proven caller nothing binds: no binding matched', async () => {
    const token = await idp.jwtAccessToken('erin', { clientId: CLIENT.client_id });
    const a = await postDecision(svc.publicUrl, { path: 'lokistack/allow?reasons=true', input, token });
    assert.equal((a.body as { result: unknown }).result, false);
    assert.equal(reasonOf(a).code, 'no_binding_matched');
  });
});

describe('reasons: openshift-logging mode', () => {
  const apiServer = sharedFakeKube();
  const authz = (flags: readonly string[]): Promise<RunningAuthz> => apiServer.authz([...OPERATOR_LOGGING_ARGS, '--web.reasons', ...flags]);

  /** What the fake API was asked, as the reason should list it: scope, verb and namespace. */
  function asked(): Array<[string, string, string]> {
    return apiServer.fake.requests
      .filter((r: RecordedRequest) => r.endpoint === 'subjectaccessreviews')
      .map((r) => {
        const a = (r.body as { spec: { resourceAttributes: Record<string, string | undefined> } }).spec.resourceAttributes;
        return [a.namespace ? 'namespace' : 'cluster', a.verb ?? '', a.namespace ?? ''];
      });
  }

  it('lists the cluster-wide review, then each namespaced review with the verdict that decided', async () => {
    const a = await authz(['--cache.enabled=false']);
    const answer = await postDecision(a.url, {
      path: 'lokistack/allow?reasons=true',
      input: gatewayInput('bob', { extras: selecting(['log-test-2', 'log-test-0', 'log-test-1']) }),
      token: LOKISTACK_TOKENS.bob,
    });
    assert.equal(answer.status, 200, answer.text);
    const r = reasonOf(answer);
    assert.equal(r.code, 'namespace_reviews_allowed');
    assert.equal(r.cached, false);
    const reviews = r.reviews!;
    // The reason lists exactly what the API was asked (order aside: namespaced reviews run at once).
    assert.deepEqual(reviews.map((v) => [v.scope, v.verb, v.namespace ?? '']).sort(), asked().sort());
    assert.deepEqual(reviews[0], { scope: 'cluster', verb: 'get', apiGroup: 'loki.grafana.com', resource: 'application', name: 'logs', allowed: false });
    // The answer is the oracle for the verdicts: its matcher holds the namespaces reviews allowed.
    const data = JSON.parse((answer.body as { result: { data: string } }).result.data) as { matchers: Array<{ Value: string }> };
    const allowedNs = reviews.filter((v) => v.allowed).map((v) => v.namespace);
    assert.deepEqual(allowedNs.sort(), data.matchers[0]!.Value.split('|').sort());
    assert.ok(!answer.text.includes(LOKISTACK_TOKENS.bob));
  });

  it('a write: the cluster-wide review alone', async () => {
    const a = await authz(['--cache.enabled=false']);
    const answer = await postDecision(a.url, {
      path: 'lokistack/allow?reasons=true',
      input: gatewayInput('bob', { permission: 'write' }),
      token: LOKISTACK_TOKENS.bob,
    });
    assert.equal((answer.body as { result: unknown }).result, false);
    const r = reasonOf(answer);
    assert.equal(r.code, 'cluster_review_denied');
    assert.deepEqual(
      r.reviews?.map((v) => [v.scope, v.verb, v.allowed]),
      [['cluster', 'create', false]],
    );
    assert.deepEqual(asked(), [['cluster', 'create', '']]);
  });

  it('a decision from the cache says so, and asks nothing', async () => {
    const a = await authz([]);
    const ask = () =>
      postDecision(a.url, {
        path: 'lokistack/allow?reasons=true',
        input: gatewayInput('bob', { extras: selecting(['log-test-0']) }),
        token: LOKISTACK_TOKENS.bob,
      });
    const first = await ask();
    assert.equal(reasonOf(first).cached, false);
    apiServer.fake.requests.length = 0;
    const second = await ask();
    assert.deepEqual((second.body as { result: unknown }).result, (first.body as { result: unknown }).result);
    assert.deepEqual([reasonOf(second).code, reasonOf(second).cached, reasonOf(second).reviews], ['cached', true, undefined]);
    assert.deepEqual(asked(), []);
  });

  it('an admin group gets no matcher, and the reason names the group', async () => {
    const a = await authz(['--cache.enabled=false']);
    const answer = await postDecision(a.url, { path: 'lokistack/allow?reasons=true', input: gatewayInput('admin'), token: LOKISTACK_TOKENS.admin });
    assert.equal((answer.body as { result: unknown }).result, true, answer.text);
    const r = reasonOf(answer);
    assert.equal(r.code, 'cluster_review_allowed');
    assert.match(r.matcher ?? '', /system:cluster-admins/);
  });

  it('a review that fails: the logged reason says the decision failed, not that the cache answered', async () => {
    const file = join(makeTempDir(), 'decisions.jsonl');
    const a = await authz([`--decision-log.output=${file}`]);
    apiServer.fake.setFaults({ endpoint: 'subjectaccessreviews', status: 500, message: 'etcdserver: request timed out', times: 1 });
    const answer = await postDecision(a.url, { input: gatewayInput('bob', { extras: selecting(['log-test-0']) }), token: LOKISTACK_TOKENS.bob });
    assert.equal(answer.status, 401, answer.text);
    assert.ok(await eventually(() => readFileSync(file, 'utf8').includes('"error"')));
    const event = JSON.parse(readFileSync(file, 'utf8').trim()) as { reason: Reason; error: unknown };
    assert.deepEqual([event.reason.code, event.reason.cached], ['reviews_incomplete', false]);
    assert.ok(!readFileSync(file, 'utf8').includes(LOKISTACK_TOKENS.bob));
  });
});
