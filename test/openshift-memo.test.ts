/**
 * The openshift modes remember an answer by the exact request and the token's hash
 * (server/decision/memo.ts, --cache.memo-bytes) for as long as the decision cache holds the
 * decision. The attacker's goals here: be answered with a decision made for another token, keep
 * reading after a grant or a token is revoked, or hide requests from the cache metrics.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { LOKISTACK_CLUSTER_YAML, LOKISTACK_TOKENS, lokistackFakeKubeOptions } from './support/fake-kube/fixtures.js';
import type { RecordedRequest } from './support/fake-kube/server.js';
import { memcachedKeyFile, memcachedPerTest } from './support/memcached.js';
import {
  gatewayInput,
  matcherValues,
  OPERATOR_LOGGING_ARGS,
  postDecision,
  selecting,
  sharedFakeKube,
  type Answer,
  type RunningAuthz,
  type Who,
} from './support/openshift.js';
import { eventually, metricValue } from './support/service.js';

type AskOptions = NonNullable<Parameters<typeof gatewayInput>[1]> & { token?: string };

function ask(authz: RunningAuthz, who: Who, options: AskOptions = {}): Promise<Answer> {
  const { token, ...input } = options;
  return postDecision(authz.url, { input: gatewayInput(who, input), token: token ?? LOKISTACK_TOKENS[who] });
}

const upstream = (requests: RecordedRequest[]) => requests.filter((r) => r.endpoint !== 'discovery');

async function cacheLookups(authz: RunningAuthz): Promise<{ hit: number; miss: number }> {
  const text = await (await fetch(`${authz.internalUrl}/metrics`)).text();
  return {
    hit: metricValue(text, 'opa_openshift_cache_requests_total', { result: 'hit' }) ?? 0,
    miss: metricValue(text, 'opa_openshift_cache_requests_total', { result: 'miss' }) ?? 0,
  };
}

/** The cluster fixture without one of its objects (by kind, name and namespace). */
function withoutObject(kind: string, name: string, namespace: string): string {
  const docs = LOKISTACK_CLUSTER_YAML.split(/\n---\n/);
  const kept = docs.filter((d) => !(d.includes(`kind: ${kind}\n`) && d.includes(`name: ${name}, namespace: ${namespace}`)));
  assert.equal(kept.length, docs.length - 1, `exactly one ${kind} ${namespace}/${name} in the fixture`);
  return kept.join('\n---\n');
}

describe('openshift modes: answers remembered by request and token', function () {
  this.timeout(60_000);
  const apiServer = sharedFakeKube();
  // The review cache off: every decision the cache (or the memo) does not answer shows upstream.
  const FLAGS = [...OPERATOR_LOGGING_ARGS, '--kube.review-cache-ttl=0'];

  it('every answer, asked three times, is byte for byte what a service that remembers nothing answers', async () => {
    const remembering = await apiServer.authz(FLAGS);
    const forgetting = await apiServer.authz([...FLAGS, '--cache.memo-bytes=0']);
    const asks: Array<[Who, AskOptions]> = [
      ['alice', {}],
      ['bob', { extras: selecting(['log-test-0', 'log-test-1']) }],
      ['bob', { extras: selecting(['log-test-2']) }],
      ['carol', { extras: { metadataOnly: true } }],
      ['dave', { extras: selecting(['log-test-0']) }],
      ['admin', { tenant: 'audit' }],
      ['collector', { permission: 'write' }],
      // Another token with the same body: its own projects, never the first token's.
      ['alice', { token: LOKISTACK_TOKENS.bob }],
      ['alice', { token: LOKISTACK_TOKENS.dave }],
    ];
    for (let round = 0; round < 3; round++) {
      for (const [who, options] of asks) {
        const want = await ask(forgetting, who, options);
        const got = await ask(remembering, who, options);
        assert.equal(`${got.status} ${got.text}`, `${want.status} ${want.text}`, `${who} ${JSON.stringify(options)}, round ${round}`);
      }
    }
    // The case the token decides: alice's body, her token lists five projects, bob's two.
    const own = matcherValues(((await ask(remembering, 'alice')).body as { result: unknown }).result);
    assert.equal(own.values.kubernetes_namespace_name?.split('|').length, 5);
    const other = (await ask(remembering, 'alice', { token: LOKISTACK_TOKENS.bob })).body as { result: unknown };
    assert.deepEqual(matcherValues(other.result).values, { kubernetes_namespace_name: 'log-test-0|log-test-1' });
  });

  it('a repeat makes no upstream call and counts as a decision cache hit', async () => {
    const authz = await apiServer.authz(FLAGS);
    const first = await ask(authz, 'bob', { extras: selecting(['log-test-0']) });
    assert.ok(upstream(apiServer.fake.requests).length > 0);
    apiServer.fake.requests.length = 0;
    for (let i = 0; i < 4; i++) assert.equal((await ask(authz, 'bob', { extras: selecting(['log-test-0']) })).text, first.text);
    assert.deepEqual(upstream(apiServer.fake.requests), []);
    assert.deepEqual(await cacheLookups(authz), { hit: 4, miss: 1 });
  });

  it('a revoked grant: the remembered allow ends with its cache entry, not later', async () => {
    const authz = await apiServer.authz([...FLAGS, '--cache.allow-ttl=400ms']);
    const query = { extras: selecting(['log-test-0']) };
    assert.deepEqual(matcherValues(((await ask(authz, 'bob', query)).body as { result: unknown }).result).values, {
      kubernetes_namespace_name: 'log-test-0',
    });
    apiServer.fake.setObjects(withoutObject('RoleBinding', 'bob-application-logs', 'log-test-0'));
    try {
      const denied = await eventually(async () => ((await ask(authz, 'bob', query)).body as { result: unknown }).result === false, 100, 50);
      assert.ok(denied, 'bob is denied once the cached allow expired');
    } finally {
      apiServer.fake.setObjects(LOKISTACK_CLUSTER_YAML);
    }
  });

  it('--openshift.verify-token: a revoked token is refused once its review expires, though the decision stays cached', async () => {
    const authz = await apiServer.authz([...FLAGS, '--openshift.verify-token', '--openshift.token-review-ttl=300ms', '--cache.allow-ttl=1h']);
    const query = { extras: selecting(['log-test-0']) };
    assert.equal((await ask(authz, 'bob', query)).status, 200);
    assert.equal((await ask(authz, 'bob', query)).status, 200);
    const tokens = lokistackFakeKubeOptions().tokens ?? {};
    apiServer.fake.setTokens(Object.fromEntries(Object.entries(tokens).filter(([t]) => t !== LOKISTACK_TOKENS.bob)));
    const refused = await eventually(async () => (await ask(authz, 'bob', query)).status === 401, 100, 50);
    assert.ok(refused, 'the revoked token was refused once its review expired');
  });

  it('--cache.enabled=false: nothing to rest on, nothing remembered', async () => {
    const authz = await apiServer.authz([...FLAGS, '--cache.enabled=false']);
    for (let i = 0; i < 3; i++) await ask(authz, 'bob', { extras: selecting(['log-test-0']) });
    assert.equal(upstream(apiServer.fake.requests).filter((r) => r.endpoint === 'subjectaccessreviews').length, 6, 'two reviews per request');
  });

  describe('with --memcached', () => {
    const memcacheds = memcachedPerTest();

    it('every request is looked up in memcached: an entry flushed there is decided again', async () => {
      const memcached = await memcacheds.start();
      const authz = await apiServer.authz([
        ...FLAGS,
        `--memcached=${memcached.address}`,
        `--memcached.hmac-key-file=${memcachedKeyFile()}`,
        '--memcached.interval=0',
      ]);
      const query = { extras: selecting(['log-test-0']) };
      await ask(authz, 'bob', query);
      await ask(authz, 'bob', query);
      assert.deepEqual(await cacheLookups(authz), { hit: 1, miss: 1 });
      await memcachedCommand(memcached.port, 'flush_all');
      apiServer.fake.requests.length = 0;
      await ask(authz, 'bob', query);
      assert.ok(upstream(apiServer.fake.requests).length > 0, 'decided upstream again after the flush');
      assert.deepEqual(await cacheLookups(authz), { hit: 1, miss: 2 });
    });
  });
});

/** One memcached text-protocol command on a fresh connection; resolves with its first reply line. */
async function memcachedCommand(port: number, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(`${command}\r\n`));
    let reply = '';
    socket.on('data', (d) => {
      reply += String(d);
      if (reply.includes('\r\n')) {
        socket.destroy();
        resolve(reply.split('\r\n')[0]!);
      }
    });
    socket.on('error', reject);
  });
}
