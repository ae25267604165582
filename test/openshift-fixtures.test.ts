// The openshift-mode decision fixtures (fixtures/openshift/<set>/cases.yaml) over real HTTP: each
// case gets the service started in-process from its set's flags (plus the case's), talking through
// the real @kubernetes/client-node to the fake Kubernetes API loaded with the shared cluster
// fixture and the set's cluster.yaml. A service per case keeps every case's decision cache cold,
// so no case can pass on an answer another one left behind.
import assert from 'node:assert/strict';
import { LOKISTACK_CLUSTER_YAML, lokistackFakeKubeOptions } from './support/fake-kube/fixtures.js';
import { startFakeKube, type FakeKube } from './support/fake-kube/server.js';
import { assertOpenShiftAnswer, loadOpenShiftSets, type OpenShiftCase } from './support/openshift-fixtures.js';
import { fakeKubeconfigFile, postDecision, startAuthz, type Answer } from './support/openshift.js';

async function send(url: string, c: OpenShiftCase): Promise<Answer> {
  return postDecision(url, {
    path: c.path,
    headers: c.headers,
    ...(c.rawBody !== undefined ? { rawBody: c.rawBody } : { input: c.input }),
  });
}

describe('openshift decision fixtures: HTTP service against the fake Kubernetes API', () => {
  for (const set of loadOpenShiftSets()) {
    describe(`set ${set.name}`, () => {
      let fake: FakeKube | undefined;
      let kubeconfig = '';

      before(async () => {
        const base = lokistackFakeKubeOptions();
        fake = await startFakeKube({
          ...base,
          objects: set.extraCluster ? `${LOKISTACK_CLUSTER_YAML}\n---\n${set.extraCluster}` : LOKISTACK_CLUSTER_YAML,
          tokens: { ...base.tokens, ...set.tokens },
          openshift: set.openshift,
        });
        kubeconfig = fakeKubeconfigFile(fake);
      });
      after(async () => {
        await fake?.close();
      });

      for (const c of set.cases) {
        const title = `${set.name}: ${c.note}${c.differs ? ' (differs from opa-openshift)' : ''}`;
        it(title, async () => {
          const kube = fake!;
          kube.requests.length = 0;
          kube.setFaults(c.faults);
          const authz = await startAuthz([...set.flags, ...c.flags], { kubeconfig });
          try {
            assertOpenShiftAnswer(await send(authz.url, c), c);
            if (c.replayWithUpstreamDown) {
              // Any call upstream now fails: the same answer can only come from the cache.
              kube.setFaults({ endpoint: '*', status: 500, message: 'fake-kube: down for the replay' });
              kube.requests.length = 0;
              assertOpenShiftAnswer(await send(authz.url, c), c, 'replayed with the API down');
              assert.deepEqual(
                kube.requests.map((r) => `${r.method} ${r.path}`),
                [],
                'the replay made no upstream call',
              );
            }
          } finally {
            kube.clearFaults();
            await authz.stop();
          }
        });
      }
    });
  }
});
