/**
 * docs/metrics.md says, per metric, how it differs from opa-openshift's; "same type" is a promise a
 * dashboard made for opa-openshift relies on. The oracle is the real opa-openshift's own /metrics:
 * both run with the Loki Operator's arguments against one fake Kubernetes API and answer the same
 * request, then each metric the page calls "same type" must have the peer's TYPE and the peer's
 * series (suffixes, and quantile labels or none).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { lokistackFakeKubeOptions } from './support/fake-kube/fixtures.js';
import { startFakeKube, type FakeKube } from './support/fake-kube/server.js';
import { fakeKubeconfigFile, OPERATOR_LOGGING_ARGS, startAuthzOn, type RunningAuthz } from './support/openshift.js';
import { requirePeer, startOpaOpenshift, type RunningPeer } from './support/peers.js';
import { ROOT } from './support/tools.js';

/** Metric name -> its TYPE and the shapes of its samples (`_sum`, `_count`, `{quantile}`, `_bucket`…). */
function shapes(exposition: string): Map<string, { type: string; series: Set<string> }> {
  const out = new Map<string, { type: string; series: Set<string> }>();
  for (const line of exposition.split('\n')) {
    const typed = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (typed) out.set(typed[1]!, { type: typed[2]!, series: new Set() });
  }
  for (const line of exposition.split('\n')) {
    if (line.startsWith('#') || line === '') continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s/.exec(line);
    if (!sample) continue;
    const name = sample[1]!;
    const base = [...out.keys()].find(
      (m) => name === m || (name.startsWith(`${m}_`) && ['_sum', '_count', '_bucket', '_total'].includes(name.slice(m.length))),
    );
    if (!base) continue;
    const quantile = /quantile="/.test(sample[2] ?? '') ? '{quantile}' : '';
    out.get(base)!.series.add(`${name.slice(base.length) || '(value)'}${quantile}`);
  }
  return out;
}

/** The metrics docs/metrics.md says opa-openshift exports with the same type. */
function sameTypeMetrics(): string[] {
  const page = readFileSync(join(ROOT, 'docs/metrics.md'), 'utf8');
  return page
    .split('\n')
    .filter((l) => /\|\s*same type\s*\|\s*$/.test(l))
    .map((l) => /^\| `([^`]+)`/.exec(l)?.[1])
    .filter((n): n is string => n !== undefined);
}

describe('metrics: what docs/metrics.md calls "same type" is what real opa-openshift exports', function () {
  this.timeout(60_000);
  let fake: FakeKube;
  let ours: RunningAuthz;
  let peer: RunningPeer;

  before(async function () {
    const bin = requirePeer(this, 'opa-openshift');
    fake = await startFakeKube(lokistackFakeKubeOptions());
    ours = await startAuthzOn(fake, OPERATOR_LOGGING_ARGS);
    peer = await startOpaOpenshift(bin, OPERATOR_LOGGING_ARGS, { kubeconfig: fakeKubeconfigFile(fake) });
  });

  after(async () => {
    await Promise.all([ours?.stop(), peer?.stop()]);
    await fake?.close();
  });

  it('has the peer type and series for each, after the same request to both', async () => {
    const body = JSON.stringify({ input: { tenant: 'application', resource: 'logs', permission: 'read', subject: 'bob', groups: [] } });
    for (const url of [ours.url, peer.url]) {
      const res = await fetch(`${url}/v1/data/lokistack/allow`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
      await res.arrayBuffer();
    }
    const [mine, theirs] = await Promise.all([ours.internalUrl, peer.internalUrl].map(async (u) => shapes(await (await fetch(`${u}/metrics`)).text())));
    const promised = sameTypeMetrics();
    assert.ok(promised.includes('http_request_size_bytes'), promised.join(', '));
    const compared: string[] = [];
    for (const name of promised) {
      const peerMetric = theirs!.get(name);
      if (!peerMetric || peerMetric.series.size === 0) continue; // the peer shows it only once observed
      const ourMetric = mine!.get(name);
      assert.ok(ourMetric, `${name}: opa-openshift exports it, this service does not`);
      assert.equal(ourMetric.type, peerMetric.type, `${name}: TYPE`);
      assert.deepEqual([...ourMetric.series].sort(), [...peerMetric.series].sort(), `${name}: the series`);
      compared.push(name);
    }
    assert.ok(compared.includes('http_request_size_bytes'), `compared: ${compared.join(', ')}`);
  });
});
