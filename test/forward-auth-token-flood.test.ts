/**
 * The attacker's goal: starve the gateway of Kubernetes calls by sending forward-auth a flood of
 * made-up bearer tokens, each of which costs one TokenReview. Forward-auth may hold at most
 * --forward-auth.max-concurrent-token-reviews of them; the rest are answered busy at once, and the
 * gateway's Data API decision still gets its access review while the flood's reviews hang.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startFakeKube, type FakeKube } from './support/fake-kube/server.js';
import { LOKISTACK_TOKENS as T, lokistackFakeKubeOptions } from './support/fake-kube/fixtures.js';
import { gatewayInput, OPERATOR_LOGGING_ARGS, postDecision, startAuthzOn, type RunningAuthz } from './support/openshift.js';
import { eventually } from './support/service.js';

describe('forward-auth: a flood of made-up tokens cannot take the Kubernetes calls the gateway needs', function () {
  this.timeout(60_000);
  let fake: FakeKube;
  let authz: RunningAuthz;

  before(async () => {
    fake = await startFakeKube(lokistackFakeKubeOptions());
    authz = await startAuthzOn(fake, [
      ...OPERATOR_LOGGING_ARGS,
      '--forward-auth.enabled',
      '--forward-auth.max-concurrent-token-reviews=3',
      // Small enough that an unbounded flood would fill it and queue the gateway behind it.
      '--kube.max-concurrent-calls=4',
      '--kube.review-cache-ttl=0',
    ]);
  });
  after(async () => {
    fake.clearFaults();
    await authz?.service.shutdown();
    await fake?.close();
  });

  const forwardAuth = (token: string, signal?: AbortSignal) =>
    fetch(`${authz.url}/forward-auth`, {
      headers: {
        Authorization: `Bearer ${token}`,
        'X-Original-Method': 'GET',
        'X-Original-URI': '/loki/api/v1/query?query=%7Bx%3D%22y%22%7D',
        'X-Scope-OrgID': 'application',
      },
      ...(signal ? { signal } : {}),
    });

  it('holds three reviews, sheds the rest with 503 + Retry-After, and the gateway still decides', async () => {
    fake.setFaults({ endpoint: 'tokenreviews', hang: true });
    const flood = new AbortController();
    const held = Array.from({ length: 3 }, () => forwardAuth(`made-up-${randomUUID()}`, flood.signal).catch(() => undefined));
    assert.ok(await eventually(() => fake.requests.filter((r) => r.path.endsWith('/tokenreviews')).length === 3), 'three reviews reach the API and hang');

    const shed = await Promise.all(Array.from({ length: 20 }, () => forwardAuth(`made-up-${randomUUID()}`)));
    for (const answer of shed) {
      assert.equal(answer.status, 503);
      assert.equal(answer.headers.get('retry-after'), '1');
      assert.notEqual(answer.status, 200);
    }
    assert.equal(fake.requests.filter((r) => r.path.endsWith('/tokenreviews')).length, 3, 'the shed requests made no call');

    // The gateway's decision needs a SubjectAccessReview: it is not queued behind the flood.
    const decision = await postDecision(authz.url, { input: gatewayInput('alice'), token: T.alice });
    assert.equal(decision.status, 200);
    assert.equal((decision.body as { result: { allowed: string } }).result.allowed, 'true', decision.text);

    flood.abort();
    fake.clearFaults();
    await Promise.all(held);
  });
});
