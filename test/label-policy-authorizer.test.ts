/**
 * server/decision/label-gateway.ts: what the Data API answers the LokiStack gateway when roles carry
 * selectors. Through the real service (static mode, the compiled policy): a label-restricted read of
 * logs at lokistack/allow is denied and logged with a code, never allowed; reloading the rbac file
 * into or out of selectors changes that. Around a recording policy: label_policy is evaluated only
 * for an allowed read of logs at the gateway path while the data has selectors (the common decision
 * pays one evaluation), and every malformed or failing label policy denies or fails, never allows.
 */
import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import request from 'supertest';
import { LabelGatewayAuthorizer, dataHasSelectors } from '../server/decision/label-gateway.js';
import { defined, UNDEFINED, type Authorizer, type Decision, type DecisionRequest } from '../server/decision/types.js';
import { captureLogger, eventually, startTestService, type TestService } from './support/service.js';

const RBAC = (devSelectors: string) => `roles:
  - {name: dev-only, resources: [logs], tenants: [application], permissions: [read]${devSelectors}}
  - {name: all, resources: [logs], tenants: [application], permissions: [read, write]}
  - {name: gel-prod, resources: [logs], tenants: [application], permissions: [read], selectors: ['{secret!="true", env="prod"}']}
roleBindings:
  - {name: dev, roles: [dev-only], subjects: [{kind: user, name: dan}]}
  - {name: admins, roles: [all], subjects: [{kind: user, name: ada}]}
  - {name: gel, roles: [dev-only, gel-prod], subjects: [{kind: user, name: gail}]}
`;
const WITH_SELECTORS = RBAC(`, selectors: ['{env="dev"}']`);
const WITHOUT_SELECTORS = RBAC('');

const input = (subject: string, extra: Record<string, unknown> = {}) => ({
  groups: [],
  permission: 'read',
  resource: 'logs',
  subject,
  tenant: 'application',
  tenantID: 'application',
  token: 'gateway-forwarded-secret-token',
  extras: {},
  ...extra,
});

describe('label policies at the gateway path: the service', function () {
  this.timeout(30_000);
  let svc: TestService;

  before(async () => {
    svc = await startTestService({ rbac: WITH_SELECTORS });
  });
  after(async () => svc.stop());

  const allow = async (body: unknown) => {
    const res = await request(svc.publicUrl).post('/v1/data/lokistack/allow').send({ input: body });
    assert.equal(res.status, 200);
    return (res.body as { result?: unknown }).result;
  };

  it('a label-restricted reader is denied, and the log says why with a code, never the token', async () => {
    svc.log.lines.length = 0;
    assert.equal(await allow(input('dan')), false);
    const records = svc.log.records().filter((r) => r.code === 'label_policy_unenforceable');
    assert.equal(records.length, 1, svc.log.text());
    assert.equal(records[0]!.level, 'info');
    assert.equal(records[0]!.tenant, 'application');
    assert.ok(!svc.log.text().includes('gateway-forwarded-secret-token'), 'the token is never logged');
  });

  it("GEL's two policies: denied as inexpressible", async () => {
    svc.log.lines.length = 0;
    assert.equal(await allow(input('gail')), false);
    assert.equal(svc.log.records().filter((r) => r.code === 'label_policy_inexpressible').length, 1, svc.log.text());
  });

  it('unrestricted readers, writes and other resources keep the policy answer', async () => {
    assert.equal(await allow(input('ada')), true);
    assert.equal(await allow(input('ada', { permission: 'write' })), true);
    assert.equal(await allow(input('dan', { tenant: 'other' })), false);
  });

  it('other paths are not rewritten: the rule itself, and the package document', async () => {
    const rule = await request(svc.publicUrl)
      .post('/v1/data/lokistack/label_policy')
      .send({ input: input('dan') });
    assert.deepEqual(rule.body, { result: { restricted: true, selectors: ['{env="dev"}'] } });
    const pkg = await request(svc.publicUrl)
      .post('/v1/data/lokistack')
      .send({ input: input('dan') });
    assert.equal((pkg.body as { result: { allow: unknown } }).result.allow, true);
  });

  it('an input large enough for the evaluation workers is decided the same', async () => {
    const big = { padding: 'x'.repeat(20_000) };
    assert.equal(await allow(input('dan', { extras: big })), false);
    assert.equal(await allow(input('ada', { extras: big })), true);
    const rule = await request(svc.publicUrl)
      .post('/v1/data/lokistack/label_policy')
      .send({ input: input('dan', { extras: big }) });
    assert.deepEqual(rule.body, { result: { restricted: true, selectors: ['{env="dev"}'] } });
  });

  it('a reload that removes the selectors allows the reader again, and one that adds them denies', async () => {
    writeFileSync(svc.rbacFile, WITHOUT_SELECTORS);
    await svc.service.reload();
    assert.ok(await eventually(async () => (await allow(input('dan'))) === true), 'allowed once the selectors are gone');
    writeFileSync(svc.rbacFile, WITH_SELECTORS);
    await svc.service.reload();
    assert.ok(await eventually(async () => (await allow(input('dan'))) === false), 'denied once the selectors are back');
  });
});

/** A policy that answers from a table by path, and records every path it was asked. */
function recordingPolicy(answers: Record<string, Decision | Error>): Authorizer & { asked: string[] } {
  const asked: string[] = [];
  return {
    mode: 'static',
    asked,
    ready: () => true,
    async decide(req: DecisionRequest) {
      const path = req.path.join('/');
      asked.push(path);
      const a = answers[path] ?? UNDEFINED;
      if (a instanceof Error) throw a;
      return a;
    },
  };
}

const req = (path: string, body: unknown): DecisionRequest => ({ path: path.split('/'), input: body, signal: new AbortController().signal });
const READ = { subject: 'dan', groups: [], permission: 'read', resource: 'logs', tenant: 'application' };

describe('label policies at the gateway path: the wrapper', () => {
  const gateway = (answers: Record<string, Decision | Error>, opts: { hasSelectors?: boolean; answerMatchers?: boolean } = {}) => {
    const policy = recordingPolicy(answers);
    const log = captureLogger('info');
    const authz = new LabelGatewayAuthorizer({
      policy,
      hasSelectors: () => opts.hasSelectors ?? true,
      logger: log.logger,
      ...(opts.answerMatchers ? { answerMatchers: true } : {}),
    });
    return { policy, authz, log };
  };
  const restricted = (...selectors: string[]) => defined({ restricted: true, selectors });

  it('without selectors in the data, one evaluation: the policy answer as it is', async () => {
    const { policy, authz } = gateway({ 'lokistack/allow': defined(true) }, { hasSelectors: false });
    assert.deepEqual(await authz.decide(req('lokistack/allow', READ)), defined(true));
    assert.deepEqual(policy.asked, ['lokistack/allow']);
  });

  it('with selectors, label_policy only for an allowed read of logs at lokistack/allow', async () => {
    for (const [path, body, allowed] of [
      ['lokistack/allow', { ...READ, permission: 'write' }, true],
      ['lokistack/allow', { ...READ, resource: 'metrics' }, true],
      ['lokistack/allow', READ, false],
      ['lokistack', READ, true],
      ['other/allow', READ, true],
      ['lokistack/allow', 'not an object', true],
    ] as const) {
      const { policy, authz } = gateway({ [path]: defined(allowed) });
      assert.deepEqual(await authz.decide(req(path, body)), defined(allowed), `${path} ${JSON.stringify(body)}`);
      assert.deepEqual(policy.asked, [path], `${path} ${JSON.stringify(body)}`);
    }
    const { policy, authz } = gateway({ 'lokistack/allow': defined(true), 'lokistack/label_policy': defined({ restricted: false }) });
    assert.deepEqual(await authz.decide(req('lokistack/allow', READ)), defined(true));
    assert.deepEqual(policy.asked, ['lokistack/allow', 'lokistack/label_policy']);
  });

  it('every label policy that is not "the whole tenant" denies, with its code', async () => {
    for (const [value, code] of [
      [restricted('{env="dev"}'), 'label_policy_unenforceable'],
      [restricted('{env="dev"}', '{env="prod"}'), 'label_policy_inexpressible'],
      [restricted('{env!="secret"}'), 'label_policy_inexpressible'],
      [restricted('{env="dev"} |= "x"'), 'invalid_selector'],
      [defined({ restricted: 'no' }), 'malformed_label_policy'],
      [defined({ restricted: true, selectors: [] }), 'malformed_label_policy'],
      [UNDEFINED, 'label_policy_undefined'],
    ] as const) {
      const { authz, log } = gateway({ 'lokistack/allow': defined(true), 'lokistack/label_policy': value });
      assert.deepEqual(await authz.decide(req('lokistack/allow', READ)), defined(false), JSON.stringify(value));
      assert.deepEqual(
        log.records().map((r) => r.code),
        [code],
        JSON.stringify(value),
      );
    }
  });

  it('an evaluation error of label_policy fails the request instead of allowing', async () => {
    const { authz } = gateway({ 'lokistack/allow': defined(true), 'lokistack/label_policy': new Error('evaluation failed') });
    await assert.rejects(authz.decide(req('lokistack/allow', READ)), /evaluation failed/);
  });

  describe('answerMatchers (off by default)', () => {
    const answer = async (value: Decision) => {
      const { authz } = gateway({ 'lokistack/allow': defined(true), 'lokistack/label_policy': value }, { answerMatchers: true });
      return authz.decide(req('lokistack/allow', READ));
    };

    it("one selector of positive matchers: opa-openshift's answer shape, labels.MatchType numbers, matchers ANDed", async () => {
      assert.deepEqual(await answer(restricted('{env="prod"}')), defined({ allowed: 'true', data: '{"matchers":[{"Type":0,"Name":"env","Value":"prod"}]}' }));
      const got = (await answer(restricted('{team=~`pay.*`, env="a<b"}'))) as { value: { data: string } };
      assert.deepEqual(JSON.parse(got.value.data), {
        matchers: [
          { Type: 2, Name: 'team', Value: 'pay.*' },
          { Type: 0, Name: 'env', Value: 'a<b' },
        ],
      });
      assert.ok(!got.value.data.includes('matcherOp'), 'no matcherOp: the gateway ANDs');
      assert.ok(got.value.data.includes('a\\u003cb'), "Go's encoding/json escapes <");
    });

    it('negative matchers, several selectors, a label matched twice: still denied', async () => {
      for (const value of [restricted('{env!="prod"}'), restricted('{env!~"p.*"}'), restricted('{a="1"}', '{b="2"}'), restricted('{env=~"a.*", env="ab"}')]) {
        assert.deepEqual(await answer(value), defined(false), JSON.stringify(value));
      }
    });
  });

  it('the data has selectors when any role has a non-null selectors field (a malformed one included)', () => {
    assert.equal(dataHasSelectors(undefined), false);
    assert.equal(dataHasSelectors({}), false);
    assert.equal(dataHasSelectors({ roles: [{ name: 'a' }, { name: 'b', selectors: null }] }), false);
    assert.equal(dataHasSelectors({ roles: [{ name: 'a' }, { name: 'b', selectors: ['{a="b"}'] }] }), true);
    assert.equal(dataHasSelectors({ roles: [{ name: 'b', selectors: 'junk' }] }), true);
    assert.equal(dataHasSelectors({ roles: 'junk' }), false);
  });
});
