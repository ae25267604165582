/**
 * Differential conformance (issue 11 item 3): every openshift fixture and a few thousand generated
 * gateway-shaped requests, sent to this service and to real opa-openshift, both started with the
 * Loki Operator's arguments against the same fake Kubernetes API over HTTPS. The peer's answer is
 * the oracle. Each difference must be one of KNOWN below (deliberate, listed with its reason in
 * docs/migrating-from-opa-openshift.md); anything else fails the suite with both answers.
 *
 *   npx mocha test/peer-conformance.test.ts                 # the CI count
 *   PEER_CASES=5000 PEER_SEED=7 npx mocha test/peer-conformance.test.ts
 */
import assert from 'node:assert/strict';
import { LOKISTACK_CLUSTER_YAML, lokistackFakeKubeOptions } from './support/fake-kube/fixtures.js';
import { startFakeKube, type FakeKube, type Identity } from './support/fake-kube/server.js';
import { loadOpenShiftSets, OPENSHIFT_FIXTURES, type OpenShiftCase, type OpenShiftSet } from './support/openshift-fixtures.js';
import { KUBECONFIG_PLACEHOLDER, OPERATOR_LOGGING_ARGS, OPERATOR_NETWORK_ARGS, fakeKubeconfigFile, startAuthz } from './support/openshift.js';
import { requirePeer, startOpaOpenshift, type RunningPeer } from './support/peers.js';
import { generateCase, normalize, same, sendWire, type GeneratedCase, type Normalized, type WireAnswer, type WireRequest } from './support/conformance.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Our flags opa-openshift does not have: a case using one runs the peer without it. */
const OURS_ONLY_FLAG =
  /^--(memcached\.insecure-no-hmac|memcached\.hmac-key-file|openshift\.verify-token|openshift\.max-namespaces|opa\.escape-namespaces|opa\.match-all-for-cluster-readers|kube\.|cache\.|web\.decision-timeout|web\.max)/;

const NETWORK_CLUSTER = () => readFileSync(join(OPENSHIFT_FIXTURES, 'lokistack-network', 'cluster.yaml'), 'utf8');

function fixtureRequest(c: OpenShiftCase): WireRequest {
  return { path: c.path, body: c.rawBody ?? JSON.stringify({ input: c.input }), headers: { ...c.headers } };
}

interface Difference {
  id: string;
  shape: string;
  ours: WireAnswer;
  theirs: WireAnswer;
}

function show(d: Difference): string {
  return `${d.id} [${d.shape}]\n    ours:   ${d.ours.status} ${d.ours.text.trim().slice(0, 400)}\n    theirs: ${d.theirs.status} ${d.theirs.text.trim().slice(0, 400)}`;
}

/**
 * The deliberate differences, each listed with its reason in docs/migrating-from-opa-openshift.md
 * ("What differs, and why" and "Response by response"). A difference matches one only by both
 * answers' exact shape, so a new difference can never hide under an old name.
 */
interface Known {
  name: string;
  matches(ours: Normalized, theirs: Normalized, request: WireRequest): boolean;
}
const msg = (n: Normalized): string | undefined => ('message' in n ? n.message : undefined);
const KNOWN: readonly Known[] = [
  {
    // Data API: a body that is not a JSON object with an input is the caller's fault, as OPA answers.
    name: 'malformed body: 400 invalid_parameter, not 500',
    matches: (ours, theirs) =>
      theirs.status === 500 &&
      msg(theirs) === 'failed to unmarshal JSON' &&
      ours.status === 400 &&
      (msg(ours) ?? '').startsWith('body contains malformed input document'),
  },
  {
    // OPA's Data API: a path with no document is an undefined result (200, no "result", maybe
    // OPA's warning), a body that is not JSON a 400 as on the decision path; there, a 404.
    name: "another path under /v1/data: OPA's Data API (200 without result, or 400 for a malformed body), not 404",
    matches: (ours, theirs, req) =>
      req.path !== 'lokistack/allow' &&
      theirs.status === 404 &&
      msg(theirs) === '404 page not found' &&
      ((ours.status === 200 && 'other' in ours && !/"result"/.test(ours.other)) ||
        (ours.status === 400 && (msg(ours) ?? '').startsWith('body contains malformed input document'))),
  },
  {
    // Deliberate (migration page): the same status, another message. An empty body is OPA's request
    // without an input, so the decision fails on the missing tenant; opa-openshift fails to decode it.
    name: 'empty body: 500 "unknown tenant", opa-openshift 500 "failed to unmarshal JSON"',
    matches: (ours, theirs, req) =>
      req.body === '' && theirs.status === 500 && msg(theirs) === 'failed to unmarshal JSON' && ours.status === 500 && msg(ours) === 'unknown tenant',
  },
];

interface Tally {
  compared: number;
  known: Map<string, number>;
  unexplained: Difference[];
}
const newTally = (): Tally => ({ compared: 0, known: new Map(), unexplained: [] });

/** Compares one exchange into the tally. */
function record(tally: Tally, id: string, shape: string, request: WireRequest, ours: WireAnswer, theirs: WireAnswer, fixture?: OpenShiftCase): void {
  tally.compared++;
  const [o, t] = [normalize(ours), normalize(theirs)];
  if (same(o, t)) return;
  const known =
    KNOWN.find((k) => k.matches(o, t, request)) ?? (fixture?.differs ? { name: `fixture "${fixture.note}": ${fixture.differs.slice(0, 60)}…` } : undefined);
  if (known) tally.known.set(known.name, (tally.known.get(known.name) ?? 0) + 1);
  else tally.unexplained.push({ id, shape, ours, theirs });
}

function report(what: string, tally: Tally, ms: number): void {
  const known = [...tally.known].map(([k, n]) => `${n} × ${k}`).join('; ') || 'none';
  process.stderr.write(
    `    ${what}: ${tally.compared} compared in ${(ms / 1000).toFixed(1)} s; known differences: ${known}; unexplained: ${tally.unexplained.length}\n`,
  );
}

/** The comparison itself, without the peer: it must be able to fail, and KNOWN must not swallow a decision. */
describe('differential conformance: the comparison', () => {
  const ok = (data: unknown, allowed = 'true'): WireAnswer => ({ status: 200, text: JSON.stringify({ result: { allowed, data: JSON.stringify(data) } }) });
  const m = (value: string, op?: string) => ({ matchers: [{ Type: 2, Name: 'kubernetes_namespace_name', Value: value }], ...(op ? { matcherOp: op } : {}) });
  const post: WireRequest = { path: 'lokistack/allow', body: '{"input":{}}', headers: {} };
  const differs = (ours: WireAnswer, theirs: WireAnswer): number => {
    const t = newTally();
    record(t, 'x', 'x', post, ours, theirs);
    return t.unexplained.length;
  };

  it('namespace order and the error envelope are not differences', () => {
    assert.equal(differs(ok(m('log-test-1|log-test-0')), ok(m('log-test-0|log-test-1'))), 0, 'order of alternatives');
    assert.equal(
      differs({ status: 400, text: '{"code":"invalid_parameter","message":"unknown permission"}' }, { status: 400, text: 'unknown permission\n' }),
      0,
      'envelope',
    );
    assert.equal(
      differs(
        { status: 401, text: '{"code":"unauthorized","message":"namespaced SAR failed: 500"}' },
        { status: 401, text: 'namespaced SAR failed: Internal error' },
      ),
      0,
      '401 prefix',
    );
  });

  it('another namespace, allowed, operator, status or message is an unexplained difference', () => {
    assert.equal(differs(ok(m('log-test-0|log-test-2')), ok(m('log-test-0|log-test-1'))), 1, 'one more namespace');
    assert.equal(differs(ok(m('log-test-0'), 'false'), ok(m('log-test-0'))), 1, 'allowed');
    assert.equal(differs(ok(m('log-test-0', 'or')), ok(m('log-test-0'))), 1, 'matcherOp');
    assert.equal(differs({ status: 200, text: '{"result":true}' }, ok(m('log-test-0'))), 1, 'true for a matcher');
    assert.equal(differs({ status: 200, text: '{"result":false}' }, { status: 400, text: 'unknown permission' }), 1, 'status');
    assert.equal(differs({ status: 400, text: '{"message":"unknown resource"}' }, { status: 400, text: 'unknown permission' }), 1, 'message');
    assert.equal(differs({ status: 401, text: '{"message":"cluster-wide SAR failed: x"}' }, { status: 401, text: 'namespaced SAR failed: x' }), 1, '401 step');
    assert.equal(
      differs({ status: 400, text: '{"message":"body contains malformed input document: x"}' }, { status: 200, text: '{"result":false}' }),
      1,
      'a known class needs both sides',
    );
  });
});

describe('differential conformance with real opa-openshift', function () {
  this.timeout(600_000);
  let bin = '';
  before(function () {
    bin = requirePeer(this, 'opa-openshift');
  });

  describe('every openshift fixture', () => {
    for (const set of loadOpenShiftSets()) {
      it(`set ${set.name}`, async () => {
        const tally = newTally();
        const t0 = Date.now();
        const base = lokistackFakeKubeOptions();
        const fake = await startFakeKube({
          ...base,
          objects: set.extraCluster ? `${LOKISTACK_CLUSTER_YAML}\n---\n${set.extraCluster}` : LOKISTACK_CLUSTER_YAML,
          tokens: { ...base.tokens, ...set.tokens },
          openshift: set.openshift,
          tls: true,
        });
        const kubeconfig = fakeKubeconfigFile(fake, undefined, { https: true });
        try {
          for (const c of set.cases) await compareFixture(set, c, fake, kubeconfig, tally);
        } finally {
          await fake.close();
        }
        report(`fixtures ${set.name}`, tally, Date.now() - t0);
        assert.equal(tally.unexplained.length, 0, `unexplained differences:\n${tally.unexplained.map(show).join('\n')}`);
      });
    }

    /**
     * One fixture case: a fresh service and a fresh opa-openshift (both caches cold), the case's
     * faults set afresh for each side, and the replay with the API down where the case asks for it.
     */
    async function compareFixture(set: OpenShiftSet, c: OpenShiftCase, fake: FakeKube, kubeconfig: string, tally: Tally): Promise<void> {
      const flags = [...set.flags, ...c.flags];
      const peerFlags = flags.filter((f) => !OURS_ONLY_FLAG.test(f)).map((f) => f.replaceAll(KUBECONFIG_PLACEHOLDER, kubeconfig));
      const request = fixtureRequest(c);
      const shape = `${set.name}: ${c.note}${peerFlags.length < flags.length ? ' (with flags of ours only)' : ''}`;
      const [oursStarted, peerStarted] = await Promise.allSettled([startAuthz(flags, { kubeconfig }), startOpaOpenshift(bin, peerFlags, { kubeconfig })]);
      const ours = oursStarted.status === 'fulfilled' ? oursStarted.value : undefined;
      const peer: RunningPeer | undefined = peerStarted.status === 'fulfilled' ? peerStarted.value : undefined;
      try {
        if (!ours || !peer) {
          throw new Error(
            `${shape}: could not start ${!ours ? `this service (${String((oursStarted as PromiseRejectedResult).reason)})` : ''} ${!peer ? `opa-openshift (${String((peerStarted as PromiseRejectedResult).reason)})` : ''}`,
          );
        }
        const ask = async (url: string, faults: typeof c.faults): Promise<WireAnswer> => {
          fake.setFaults(faults);
          try {
            return await sendWire(url, request);
          } finally {
            fake.clearFaults();
          }
        };
        const [mine, theirs] = [await ask(ours.url, c.faults), await ask(peer.url, c.faults)];
        record(tally, `${set.name}/${c.note}`, shape, request, mine, theirs, c);
        if (c.replayWithUpstreamDown) {
          const down = [{ endpoint: '*' as const, status: 500, message: 'fake-kube: down for the replay' }];
          record(tally, `${set.name}/${c.note} (replayed, API down)`, shape, request, await ask(ours.url, down), await ask(peer.url, down), c);
        }
      } finally {
        await Promise.all([peer?.stop(), ours?.stop()]);
      }
    }
  });

  describe('generated gateway-shaped requests', () => {
    // logging-ssar: the operator's logging arguments plus --opa.ssar, where the forwarded token
    // (not the input's subject) is who is asked about: the unknown and repeated tokens matter most.
    const runs = [
      { name: 'logging', mode: 'logging', args: OPERATOR_LOGGING_ARGS, share: 1 },
      { name: 'network', mode: 'network', args: OPERATOR_NETWORK_ARGS, share: 1 },
      { name: 'logging-ssar', mode: 'logging', args: [...OPERATOR_LOGGING_ARGS, '--opa.ssar'], share: 0.5 },
    ] as const;
    for (const { name, mode, args, share } of runs) {
      it(`${name}`, async () => {
        const count = Math.ceil(Number(process.env.PEER_CASES ?? 1500) * share);
        const seed = Number(process.env.PEER_SEED ?? 1) + (name === 'logging-ssar' ? 1_000 : 0);
        const cases: GeneratedCase[] = [];
        for (let n = 0; n < count; n++) cases.push(generateCase({ mode }, seed, n));
        const base = lokistackFakeKubeOptions();
        const tokens: Record<string, Identity> = { ...base.tokens };
        for (const c of cases) Object.assign(tokens, c.tokens);
        const fake = await startFakeKube({ ...base, objects: `${LOKISTACK_CLUSTER_YAML}\n---\n${NETWORK_CLUSTER()}`, tokens, tls: true });
        const kubeconfig = fakeKubeconfigFile(fake, undefined, { https: true });
        const peer = await startOpaOpenshift(bin, args, { kubeconfig });
        const ours = await startAuthz([...args, `--openshift.kubeconfig=${KUBECONFIG_PLACEHOLDER}`], { kubeconfig });
        const tally = newTally();
        const t0 = Date.now();
        try {
          for (const c of cases) {
            const theirs = await sendWire(peer.url, c.request);
            const mine = await sendWire(ours.url, c.request);
            record(tally, c.id, c.shape, c.request, mine, theirs);
          }
        } finally {
          await peer.stop();
          await ours.stop();
          await fake.close();
        }
        report(`${name}, seed ${seed}`, tally, Date.now() - t0);
        assert.equal(tally.unexplained.length, 0, `unexplained differences:\n${tally.unexplained.map(show).join('\n')}`);
      });
    }
  });
});
