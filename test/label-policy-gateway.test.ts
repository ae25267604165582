/**
 * Label policies through the real LokiStack gateway (observatorium/api), OIDC tenants, this service
 * as opa.url (static mode), a recording Loki stand-in (test/label-policy-gateway.driver.ts, run in a
 * private mount and network namespace as test/gateway-e2e.test.ts runs its driver).
 *
 * 1. This service: a label-restricted reader is refused and nothing reaches Loki; an unrestricted
 *    reader of the same tenant reads as before; writes are not label-restricted.
 * 2. Why it refuses: the same gateway with an authorizer answering the matchers a one-selector
 *    policy would become. Which streams each forwarded query can select is computed over a sample of
 *    streams with Prometheus matcher semantics (written here, independent of the service's parser):
 *    ordinary queries are narrowed to the policy, but a negative matcher on the policy's label, or a
 *    widened regex, passes unchanged and reads streams outside it. Should a gateway release stop
 *    doing so, part 2 fails, and answering matchers (LabelGatewayDeps.answerMatchers) can be revisited.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { parseSelector } from '../server/policy/label-policy.js';
import { requirePeer } from './support/peers.js';
import { requireNamespace, runScriptInNamespace } from './support/gateway/namespace.js';
import { LABEL_CASES, MATCHER_POLICIES, type LabelOutcome, type LabelReport } from './label-policy-gateway.driver.js';

type Stream = Record<string, string>;

/** Streams the tenant holds, for deciding which of them a forwarded query selects. */
const STREAMS: Stream[] = [
  { env: 'dev', team: 'a' },
  { env: 'dev', team: 'payments' },
  { env: 'prod', team: 'a' },
  { env: 'prod', team: 'payments' },
  { env: 'prod', team: 'billing' },
  { env: 'prod', team: 'a', secret: 'true' },
  { env: 'staging', team: 'b' },
  { team: 'b' },
];

/** What each reader's label policy admits (LABEL_RBAC in the driver). */
const ADMITS: Record<string, (s: Stream) => boolean> = {
  dan: (s) => s.env === 'dev',
  pat: (s) => /^(?:pay.*)$/.test(s.team ?? '') && s.env === 'prod',
};

/** Prometheus matcher semantics: a missing label is the empty value; regexes are anchored. */
function matches(stream: Stream, name: string, op: string, value: string): boolean {
  const v = stream[name] ?? '';
  switch (op) {
    case '=':
      return v === value;
    case '!=':
      return v !== value;
    case '=~':
      return new RegExp(`^(?:${value})$`).test(v);
    case '!~':
      return !new RegExp(`^(?:${value})$`).test(v);
    default:
      throw new Error(`unknown operator ${op}`);
  }
}

/** The streams a LogQL query selects: those any of its stream selectors matches in full. */
function selected(query: string): Stream[] {
  const selectors = [...query.matchAll(/\{([^{}]*)\}/g)].map((m) =>
    [...m[1]!.matchAll(/(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1]!, x[2]!, JSON.parse(`"${x[3]!}"`) as string] as const),
  );
  assert.ok(selectors.length > 0 && selectors.every((s) => s.length > 0), `no stream selector read from ${query}`);
  return STREAMS.filter((s) => selectors.some((sel) => sel.every(([n, op, v]) => matches(s, n, op, v))));
}

const BYPASSES = new Set(['dan asks for every env but dev', 'pat asks for his regex widened']);

describe('label policies through the real LokiStack gateway', function () {
  this.timeout(150_000);
  let report: LabelReport;

  before(async function () {
    const bin = requirePeer(this, 'observatorium-api');
    requireNamespace(this);
    report = await runDriver({ OBSERVATORIUM_API_BIN: bin });
    assert.equal(report.ours.length, LABEL_CASES.length);
  });

  const outcome = (list: LabelOutcome[], name: string) => list.find((o) => o.name === name) ?? assert.fail(`no outcome for ${name}`);

  describe('this service as opa.url', () => {
    for (const c of LABEL_CASES.filter((k) => k.account in ADMITS || k.account === 'gail')) {
      it(`${c.name}: refused, nothing reaches Loki`, () => {
        const o = outcome(report.ours, c.name);
        assert.equal(o.status, 403);
        assert.deepEqual(o.hits, []);
      });
    }

    it('an unrestricted reader of the same tenant: the query reaches Loki unchanged', () => {
      const o = outcome(report.ours, 'ada reads the whole tenant');
      assert.equal(o.status, 200);
      assert.equal(o.hits.length, 1);
      assert.equal(o.hits[0]!.orgId, 'application');
      assert.equal(o.hits[0]!.params.query, '{env="prod", secret="true"}');
    });

    it('a role with selectors that grants only writes: its reads are refused, its pushes pass', () => {
      assert.equal(outcome(report.ours, 'the writer reads nothing').status, 403);
      const push = outcome(report.ours, 'the writer pushes any stream (writes are not label-restricted)');
      assert.equal(push.status, 204);
      assert.equal(push.hits.length, 1);
      assert.equal(push.hits[0]!.path, '/loki/api/v1/push');
    });
  });

  describe('why: the gateway given the matchers of a one-selector policy', () => {
    for (const c of LABEL_CASES.filter((k) => k.account in MATCHER_POLICIES && !BYPASSES.has(k.name))) {
      it(`${c.name}: narrowed to ${MATCHER_POLICIES[c.account]}`, () => {
        const o = outcome(report.matchers, c.name);
        assert.equal(o.status, 200);
        assert.equal(o.hits.length, 1);
        const outside = selected(o.hits[0]!.params.query ?? '').filter((s) => !ADMITS[c.account]!(s));
        assert.deepEqual(outside, [], `forwarded ${o.hits[0]!.params.query}`);
      });
    }

    for (const name of BYPASSES) {
      it(`${name}: passes unchanged and reads streams outside the policy`, () => {
        const c = LABEL_CASES.find((k) => k.name === name)!;
        const o = outcome(report.matchers, name);
        assert.equal(o.status, 200);
        // The gateway re-prints the selector (matcher order may change): compare the matchers.
        assert.deepEqual(matchersOf(o.hits[0]!.params.query!), matchersOf(c.params.query!), 'the query reached Loki as the client wrote it');
        const outside = selected(o.hits[0]!.params.query!).filter((s) => !ADMITS[c.account]!(s));
        assert.ok(outside.length > 0, 'the forwarded query selects streams outside the policy');
      });
    }
  });
});

/** Runs the driver in a fresh mount and network namespace; its JSON report. */
function runDriver(env: Record<string, string>): Promise<LabelReport> {
  const script = fileURLToPath(new URL('./label-policy-gateway.driver.ts', import.meta.url));
  return runScriptInNamespace<LabelReport>(script, [], 'label-policy gateway driver', env);
}

/** A selector's matchers in a canonical order, to compare queries the gateway may re-print. */
function matchersOf(query: string): string[] {
  return parseSelector(query)
    .map((m) => `${m.name}${m.op}${JSON.stringify(m.value)}`)
    .sort();
}
