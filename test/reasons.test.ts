/**
 * "Why was this decided" (issue 13): the reason with names, in the decision log and in the
 * ?reasons=true answer (behind --web.reasons), for static mode and the label-policy denials at the
 * gateway path. The oracle is the rbac data each test writes: the binding and role a reason names
 * are the ones that data says grant, and an attacker's goals (read the policy's structure without
 * the flag, find a token in a reason, grow an answer without bound) must fail.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runTestCommand } from '../server/cli/test-command.js';
import { ALLOWED_INPUT, DENIED_INPUT, EXAMPLE_RBAC, eventually, makeTempDir, startTestService, type TestService } from './support/service.js';

const TOKEN = 'sha256~reasons-secret-token-91c2';

interface Answer {
  status: number;
  body: Record<string, unknown>;
  text: string;
}

async function post(svc: TestService, input: unknown, path = 'lokistack/allow?reasons=true'): Promise<Answer> {
  const res = await fetch(`${svc.publicUrl}/v1/data/${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Forwarded-Access-Token': TOKEN },
    body: JSON.stringify({ input: { ...(input as object), token: TOKEN } }),
  });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as Record<string, unknown>, text };
}

async function get(svc: TestService, path: string): Promise<Answer> {
  const res = await fetch(`${svc.publicUrl}/v1/data${path}`);
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as Record<string, unknown>, text };
}

type Reason = {
  code: string;
  message: string;
  grants?: Array<Record<string, unknown>>;
  matched?: Array<Record<string, unknown>>;
  truncated?: Record<string, number>;
};
const reasonOf = (a: Answer) => a.body.reason as Reason;

describe('reasons: static mode with --web.reasons', () => {
  let svc: TestService;
  before(async () => {
    svc = await startTestService({ flags: ['--web.reasons'] });
  });
  after(() => svc.stop());

  it('names the binding, the subject that matched and the role that granted', async () => {
    const a = await post(svc, ALLOWED_INPUT);
    assert.equal(a.status, 200);
    assert.equal(a.body.result, true);
    const r = reasonOf(a);
    assert.equal(r.code, 'granted');
    // EXAMPLE_RBAC: developers-read-application binds the user alice@example.com to application-read.
    assert.deepEqual(r.grants, [
      {
        kind: 'role_binding',
        index: 0,
        binding: 'developers-read-application',
        subject: { kind: 'user', name: 'alice@example.com' },
        role: 'application-read',
      },
    ]);
    assert.match(r.message, /developers-read-application.*application-read/);
  });

  it('names the group when the group matched', async () => {
    const r = reasonOf(await post(svc, { ...ALLOWED_INPUT, subject: 'bob', groups: ['developers'] }));
    assert.equal(r.code, 'granted');
    assert.deepEqual(
      r.grants?.map((g) => g.subject),
      [{ kind: 'group', name: 'developers' }],
    );
  });

  it('a deny by role: the binding that named the caller, and no grant', async () => {
    const a = await post(svc, DENIED_INPUT);
    assert.equal(a.body.result, false);
    const r = reasonOf(a);
    assert.equal(r.code, 'no_role_grants');
    assert.deepEqual(r.grants, []);
    assert.deepEqual(r.matched, [{ kind: 'role_binding', index: 0, binding: 'developers-read-application', roles: ['application-read'] }]);
  });

  it('a deny for a stranger: no binding matched', async () => {
    const r = reasonOf(await post(svc, { ...ALLOWED_INPUT, subject: 'mallory', groups: ['guests'] }));
    assert.equal(r.code, 'no_binding_matched');
    assert.deepEqual(r.matched, []);
  });

  it('answers the reason beside an unchanged result, and never with the token', async () => {
    const plain = await post(svc, ALLOWED_INPUT, 'lokistack/allow');
    assert.deepEqual(plain.body, { result: true }, 'no reason unless asked');
    const asked = await post(svc, ALLOWED_INPUT, 'lokistack/allow?reasons=true');
    assert.equal(asked.body.result, true);
    assert.deepEqual(Object.keys(asked.body).sort(), ['reason', 'result']);
    assert.ok(!asked.text.includes(TOKEN));
  });

  it('keeps the reasons package out of every Data API document', async () => {
    // The attacker reads the role and binding names without the parameter: through the package.
    const why = await post(svc, ALLOWED_INPUT, 'lokistack_reasons/why');
    assert.equal(why.status, 200);
    assert.deepEqual(why.body, {});
    for (const path of ['lokistack_reasons', 'lokistack_reasons/grants', 'lokistack_reasons/matched', 'lokistack_reasons/why/grants']) {
      assert.deepEqual((await post(svc, ALLOWED_INPUT, `${path}?reasons=true`)).body.result, undefined, path);
    }
    const root = await get(svc, `?input=${encodeURIComponent(JSON.stringify(ALLOWED_INPUT))}`);
    assert.equal(root.status, 200);
    const doc = root.body.result as Record<string, unknown>;
    assert.ok('lokistack' in doc, root.text);
    assert.ok(!('lokistack_reasons' in doc), root.text);
    const pkg = (await post(svc, ALLOWED_INPUT, 'lokistack')).body.result as Record<string, unknown>;
    assert.ok(!JSON.stringify(pkg).includes('developers-read-application'), JSON.stringify(pkg));
  });

  it('explains a path the policy does not decide as no_reason', async () => {
    const a = await post(svc, ALLOWED_INPUT, 'no/such/rule?reasons=true');
    assert.ok(!('result' in a.body));
    assert.equal(reasonOf(a).code, 'no_reason', 'not the grant of lokistack/allow for the same input');
  });
});

describe('reasons: large inputs, evaluated on a worker', () => {
  let svc: TestService;
  before(async () => {
    svc = await startTestService({ flags: ['--web.reasons', '--policy.workers=1', '--policy.inline-max-input-bytes=200'] });
  });
  after(() => svc.stop());

  it('gives the same reason as inline: the reasons evaluation goes where the decision went', async () => {
    const a = await post(svc, { ...ALLOWED_INPUT, pad: 'x'.repeat(4000) });
    assert.equal(a.body.result, true, a.text);
    assert.equal(reasonOf(a).code, 'granted');
    assert.equal(reasonOf(a).grants?.[0]?.binding, 'developers-read-application');
  });
});

describe('reasons: off by default', () => {
  let svc: TestService;
  before(async () => {
    svc = await startTestService();
  });
  after(() => svc.stop());

  it('ignores ?reasons=true without --web.reasons: the answer is what OPA gives', async () => {
    const a = await post(svc, ALLOWED_INPUT);
    assert.equal(a.status, 200);
    assert.deepEqual(a.body, { result: true });
    assert.deepEqual((await post(svc, DENIED_INPUT)).body, { result: false });
  });
});

describe('reasons: bounded', () => {
  let svc: TestService;
  const BINDINGS = 100;
  before(async () => {
    // Many bindings naming one group: one caller would otherwise get a reason of every binding.
    const bindings = Array.from(
      { length: BINDINGS },
      (_, i) => `  - name: b${i}-${'x'.repeat(600)}\n    roles: [r]\n    subjects: [{kind: group, name: g}]\n`,
    ).join('');
    const rbac = `roles:\n  - name: r\n    resources: [logs]\n    tenants: [application]\n    permissions: [read]\nroleBindings:\n${bindings}`;
    svc = await startTestService({ rbac, flags: ['--web.reasons'] });
  });
  after(() => svc.stop());

  it('keeps 32 grants of 100, says how many were left out, and clips long names', async () => {
    const a = await post(svc, { ...ALLOWED_INPUT, subject: 'x', groups: ['g'] });
    assert.equal(a.body.result, true);
    const r = reasonOf(a);
    assert.equal(r.grants?.length, 32);
    assert.deepEqual(r.truncated, { grants: BINDINGS - 32 });
    for (const g of r.grants!) assert.ok(String(g.binding).length <= 257, String(g.binding).length.toString());
    assert.ok(a.text.length < 32 * 1024, `${a.text.length} bytes`);
  });
});

describe('reasons: label policies at the gateway path', () => {
  let svc: TestService;
  before(async () => {
    const rbac = `roles:
  - name: prod-reader
    resources: [logs]
    tenants: [application]
    permissions: [read]
    selectors: ['{env="prod"}']
roleBindings:
  - name: sre-prod
    roles: [prod-reader]
    subjects: [{kind: user, name: alice@example.com}]
`;
    svc = await startTestService({ rbac, flags: ['--web.reasons'] });
  });
  after(() => svc.stop());

  it('names the label-policy check that denied, and the role the policy granted', async () => {
    const a = await post(svc, ALLOWED_INPUT);
    assert.equal(a.body.result, false);
    const r = reasonOf(a);
    assert.equal(r.code, 'label_policy_unenforceable');
    assert.deepEqual(
      r.grants?.map((g) => [g.binding, g.role]),
      [['sre-prod', 'prod-reader']],
    );
    assert.match(r.message, /forward-auth/);
  });
});

describe('reasons: the decision log', () => {
  let svc: TestService;
  let file: string;
  before(async () => {
    file = join(makeTempDir(), 'decisions.jsonl');
    svc = await startTestService({ flags: [`--decision-log.output=${file}`] });
  });
  after(() => svc.stop());

  const events = () =>
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  it('carries the reason of each decision, without --web.reasons and without a token', async () => {
    const allowed = await post(svc, ALLOWED_INPUT);
    const denied = await post(svc, DENIED_INPUT);
    assert.ok(!('reason' in allowed.body), 'the answer has no reason without --web.reasons');
    assert.ok(await eventually(() => events().length >= 2));
    const byId = new Map(events().map((e) => [e.decision_id, e]));
    const a = byId.get(allowed.body.decision_id)!;
    const d = byId.get(denied.body.decision_id)!;
    assert.equal((a.reason as Reason).code, 'granted');
    assert.equal((a.reason as Reason).grants?.[0]?.binding, 'developers-read-application');
    assert.equal((d.reason as Reason).code, 'no_role_grants');
    assert.ok(!readFileSync(file, 'utf8').includes(TOKEN), 'no token in the log');
  });
});

describe('reasons: the decision log, with who-asked masked', () => {
  it('keeps binding and role names but not the subject, when the mask erases the input subject', async () => {
    const file = join(makeTempDir(), 'decisions.jsonl');
    const svc = await startTestService({ flags: [`--decision-log.output=${file}`, '--decision-log.mask=/input/token,/input/subject,/input/groups'] });
    try {
      const a = await post(svc, ALLOWED_INPUT);
      assert.ok(await eventually(() => readFileSync(file, 'utf8').includes(String(a.body.decision_id))));
      const text = readFileSync(file, 'utf8');
      const event = JSON.parse(text.trim()) as { reason: Reason };
      assert.deepEqual(event.reason.grants, [{ kind: 'role_binding', index: 0, binding: 'developers-read-application', role: 'application-read' }]);
      // The operator asked for who-did-what to stay out: the reason must not name alice again.
      assert.ok(!text.includes(ALLOWED_INPUT.subject), text);
    } finally {
      await svc.stop();
    }
  });
});

describe('reasons: the decision log, with --decision-log.reasons=false', () => {
  it('logs every decision without a reason (and so without the second evaluation)', async () => {
    const file = join(makeTempDir(), 'decisions.jsonl');
    const svc = await startTestService({ flags: [`--decision-log.output=${file}`, '--decision-log.reasons=false'] });
    try {
      const a = await post(svc, ALLOWED_INPUT);
      assert.equal(a.body.result, true);
      assert.ok(await eventually(() => readFileSync(file, 'utf8').includes(String(a.body.decision_id))));
      const event = JSON.parse(readFileSync(file, 'utf8').trim()) as Record<string, unknown>;
      assert.equal(event.decision_id, a.body.decision_id);
      assert.ok(!('reason' in event), JSON.stringify(event));
    } finally {
      await svc.stop();
    }
  });
});

describe('reasons: lokistack-authz test failures', () => {
  const ALICE = { subject: 'alice@example.com', groups: [], permission: 'read', resource: 'logs', tenant: 'application' };

  async function cli(argv: string[]): Promise<{ code: number; out: string }> {
    let out = '';
    const code = await runTestCommand(argv, { out: (t) => (out += t), err: (t) => (out += t) });
    return { code, out };
  }

  function fixtureDir(cases: Record<string, unknown>, rbac: string | null): string {
    const dir = join(makeTempDir(), 'mine');
    mkdirSync(dir);
    if (rbac !== null) writeFileSync(join(dir, 'rbac.yaml'), rbac);
    writeFileSync(join(dir, 'cases.yaml'), JSON.stringify({ cases }));
    return dir;
  }

  it('prints why the local evaluation decided, with the binding that named the caller', async () => {
    const dir = fixtureDir(
      {
        'alice reads audit (wrong)': { path: 'lokistack/allow', input: { ...ALICE, tenant: 'audit' }, want_result: true },
        'alice reads application': { path: 'lokistack/allow', input: ALICE, want_result: true },
      },
      EXAMPLE_RBAC,
    );
    const { code, out } = await cli([dir]);
    assert.equal(code, 1, out);
    assert.match(out, /FAIL mine: alice reads audit \(wrong\)[\s\S]*\n {2}reason: +no_role_grants: .*developers-read-application/);
    assert.match(out, /because: .*"matched":\[\{"binding":"developers-read-application",.*"roles":\["application-read"\]\}\]/);
    assert.equal(out.match(/reason: /g)?.length, 1, 'only failing cases are asked again');
  });

  it('--url: prints the running service reason, or says how to get one', async () => {
    const dir = fixtureDir({ 'stranger reads (wrong)': { path: 'lokistack/allow', input: { ...ALICE, subject: 'mallory' }, want_result: true } }, null);
    for (const [flags, want] of [
      [['--web.reasons'], /reason: +no_binding_matched: /],
      [[], /reason: +none given \(.*--web\.reasons\)/],
    ] as const) {
      const svc = await startTestService({ flags: [...flags] });
      try {
        const { code, out } = await cli([`--url=${svc.publicUrl}`, dir]);
        assert.equal(code, 1, out);
        assert.match(out, want);
      } finally {
        await svc.stop();
      }
    }
  });
});
