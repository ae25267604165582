import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { AuthenticatedStore, type RejectReason } from '../server/cache/authenticated-store.js';
import { CacheKeyShape, DecisionCache, cacheKey, hashToken, type CacheEvents } from '../server/cache/decision-cache.js';
import { parseKeyring, type Keyring } from '../server/cache/hmac-keys.js';
import { KeyringFile } from '../server/config/keyring-file.js';
import { MemcachedStore } from '../server/cache/memcached-store.js';
import { MemoryStore } from '../server/cache/memory-store.js';
import type { CacheStore } from '../server/cache/store.js';
import { loadConfig } from '../server/config/config.js';
import { openShiftResultCodec, type OpenShiftResult } from '../server/decision/openshift-result.js';
import { ConfigError } from '../server/errors.js';
import { lokistackFakeKubeOptions, LOKISTACK_TOKENS } from './support/fake-kube/fixtures.js';
import { startFakeKube, type FakeKube } from './support/fake-kube/server.js';
import { memcachedBinary, startMemcached, type MemcachedServer } from './support/memcached.js';
import { gatewayInput, OPERATOR_LOGGING_ARGS, postDecision, selecting, startAuthzOn, type RunningAuthz } from './support/openshift.js';
import { metricValue, writeTempFile } from './support/service.js';

type Counts = Record<keyof CacheEvents, number>;

function counting(): { events: CacheEvents; counts: Counts } {
  const counts: Counts = { hit: 0, miss: 0, insert: 0, storeError: 0, shared: 0 };
  const events = {
    hit: () => void counts.hit++,
    miss: () => void counts.miss++,
    insert: () => void counts.insert++,
    storeError: () => void counts.storeError++,
    shared: () => void counts.shared++,
  };
  return { events, counts };
}

const boolCodec = {
  encode: (v: boolean) => JSON.stringify(v),
  decode: (s: string) => JSON.parse(s) as boolean,
  allows: (v: boolean) => v,
};

/** bob's openshift request whose key earlier versions wrote (cf537b…), the parts by name. */
function earlierVersionsRequest() {
  return {
    verb: 'get',
    metadataOnly: false,
    apiGroup: 'loki.grafana.com',
    name: 'logs',
    tenant: 'application',
    namespaces: ['ns-a', 'ns-b'],
    user: 'bob',
    groups: ['system:authenticated', 'developers'],
    token: hashToken('token-bob'),
    matcherKeys: ['kubernetes_namespace_name'],
    matcherOp: 'or',
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('decision cache', () => {
  describe('cacheKey', () => {
    it('is the same whatever the order of namespaces and groups', () => {
      const a = cacheKey({ user: 'u', namespaces: ['b', 'a'], groups: ['g2', 'g1'], verb: 'get' });
      const b = cacheKey({ verb: 'get', groups: ['g1', 'g2'], namespaces: ['a', 'b'], user: 'u' });
      assert.equal(a, b);
    });

    it('differs when any part that changes the answer differs', () => {
      const base = { user: 'u', namespaces: ['a'], groups: ['g'], verb: 'get', token: hashToken('t'), metadataOnly: false, matcherKeys: ['k'] };
      const key = cacheKey(base);
      for (const change of [
        { user: 'v' },
        { namespaces: ['a', 'b'] },
        { groups: [] },
        { verb: 'create' },
        { token: hashToken('t2') },
        { metadataOnly: true },
        { matcherKeys: [] },
      ]) {
        assert.notEqual(cacheKey({ ...base, ...change }), key, JSON.stringify(change));
      }
    });

    it('is the key earlier versions wrote (replicas of two versions share memcached during a rollout)', () => {
      // sha256 of "token-bob" (sha256sum), and the key the version before the one-shot hash gave this request.
      assert.equal(hashToken('token-bob'), '1ccf8933062b5a156c5f57ad39314916ec1cbf46db164a70721323b8523c7068');
      const key = cacheKey(earlierVersionsRequest());
      assert.equal(key, 'cf537b008b826e0cf4d0f47a412ad50f189506d8683a080a237d87e6e777203e');
    });

    it("a fixed shape of parts (the openshift modes ask one per request) gives the same keys, earlier versions' included", () => {
      const parts = earlierVersionsRequest();
      const shape = new CacheKeyShape(Object.keys(parts) as Array<keyof typeof parts>);
      assert.equal(shape.key(parts), 'cf537b008b826e0cf4d0f47a412ad50f189506d8683a080a237d87e6e777203e');
      for (const change of [
        { groups: ['developers', 'system:authenticated'] },
        { namespaces: ['ns-b', 'ns-a'] },
        { user: 'b,ob' },
        { matcherKeys: [] },
        { matcherOp: undefined },
      ]) {
        assert.equal(shape.key({ ...parts, ...change }), cacheKey({ ...parts, ...change }), JSON.stringify(change));
      }
    });

    it('cannot be forged by moving characters between parts', () => {
      assert.notEqual(cacheKey({ user: 'a,b', tenant: 'c' }), cacheKey({ user: 'a', tenant: 'b,c' }));
      assert.notEqual(cacheKey({ namespaces: ['a:b'] }), cacheKey({ namespaces: ['a', 'b'] }));
    });

    it('holds no token in clear and fits memcached keys', () => {
      const token = 'sha256~very-secret-token-value';
      const key = cacheKey({ token: hashToken(token), user: 'u' });
      assert.ok(!key.includes('secret'));
      assert.match(key, /^[0-9a-f]{64}$/);
    });
  });

  describe('DecisionCache over memory', () => {
    it('computes on a miss, answers from the cache on a hit', async () => {
      const { events, counts } = counting();
      const cache = new DecisionCache(new MemoryStore({ maxEntries: 10, maxBytes: 1 << 20 }), { allowTtlMs: 60_000, denyTtlMs: 60_000 }, events, boolCodec);
      let calls = 0;
      const compute = async () => {
        calls++;
        return true;
      };
      assert.equal(await cache.get('k', compute), true);
      assert.equal(await cache.get('k', compute), true);
      assert.equal(calls, 1);
      assert.deepEqual([counts.miss, counts.hit, counts.insert], [1, 1, 1]);
    });

    it('shares one computation among concurrent identical misses', async () => {
      const { events, counts } = counting();
      const cache = new DecisionCache(new MemoryStore({ maxEntries: 10, maxBytes: 1 << 20 }), { allowTtlMs: 60_000, denyTtlMs: 60_000 }, events, boolCodec);
      let calls = 0;
      const compute = async () => {
        calls++;
        await sleep(20);
        return false;
      };
      const answers = await Promise.all(Array.from({ length: 50 }, () => cache.get('same', compute)));
      assert.equal(calls, 1);
      assert.ok(answers.every((a) => a === false));
      assert.equal(counts.shared, 49);
    });

    it('never caches an error: the next request computes again', async () => {
      const { events } = counting();
      const cache = new DecisionCache(new MemoryStore({ maxEntries: 10, maxBytes: 1 << 20 }), { allowTtlMs: 60_000, denyTtlMs: 60_000 }, events, boolCodec);
      let calls = 0;
      await assert.rejects(
        cache.get('k', async () => {
          calls++;
          throw new Error('upstream down');
        }),
        /upstream down/,
      );
      assert.equal(
        await cache.get('k', async () => {
          calls++;
          return true;
        }),
        true,
      );
      assert.equal(calls, 2);
    });

    it('keeps allows and denies for their own TTLs', async () => {
      const { events } = counting();
      const cache = new DecisionCache(new MemoryStore({ maxEntries: 10, maxBytes: 1 << 20 }), { allowTtlMs: 60_000, denyTtlMs: 30 }, events, boolCodec);
      let calls = 0;
      const answer = (v: boolean) => async () => {
        calls++;
        return v;
      };
      await cache.get('allow', answer(true));
      await cache.get('deny', answer(false));
      await sleep(60);
      await cache.get('allow', answer(true));
      await cache.get('deny', answer(false));
      assert.equal(calls, 3, 'the deny expired and was computed again; the allow was still cached');
    });

    it('decodes a stored answer once: later hits return the same frozen value', async () => {
      const { events } = counting();
      const objectCodec = {
        encode: (v: { allowed: string; data: string }) => JSON.stringify(v),
        decode: (s: string) => JSON.parse(s) as { allowed: string; data: string },
        allows: (v: { allowed: string }) => v.allowed === 'true',
      };
      const cache = new DecisionCache(new MemoryStore({ maxEntries: 10, maxBytes: 1 << 20 }), { allowTtlMs: 60_000, denyTtlMs: 60_000 }, events, objectCodec);
      const answer = { allowed: 'true', data: '{"matchers":[{"Type":2,"Name":"ns","Value":"a|b"}]}' };
      const computed = await cache.get('k', async () => answer);
      const first = await cache.get('k', async () => assert.fail('a hit computes nothing'));
      const second = await cache.get('k', async () => assert.fail('a hit computes nothing'));
      assert.deepEqual(computed, answer);
      assert.deepEqual(first, answer);
      assert.equal(second, first, 'the same decoded value serves every hit');
      assert.ok(Object.isFrozen(first), 'shared between requests, so nothing may change it');
    });

    it('stays within its entry bound, evicting the least recently used', async () => {
      let evictions = 0;
      const store = new MemoryStore({ maxEntries: 100, maxBytes: 1 << 20, onEvict: () => evictions++ });
      for (let i = 0; i < 1000; i++) await store.set(`k${i}`, 'true', 60_000);
      assert.equal(store.size(), 100);
      assert.equal(evictions, 900);
      assert.equal(await store.get('k999'), 'true');
      assert.equal(await store.get('k0'), undefined);
    });

    it('stays within its byte bound', async () => {
      const store = new MemoryStore({ maxEntries: 1_000_000, maxBytes: 10_000 });
      for (let i = 0; i < 1000; i++) await store.set(`key-${i}`, 'x'.repeat(100), 60_000);
      assert.ok(store.size() * 2 * 108 <= 10_000, `holds ${store.size()} entries`);
    });

    it('answers every key with its own value when many keys store equal answers (shared copies, issue 14)', async () => {
      const store = new MemoryStore({ maxEntries: 10_000, maxBytes: 64 << 20 });
      // Fresh strings, as the encoder makes them: equal answers for many tokens, a few distinct
      // ones among them, more distinct values than any sharing keeps, and answers too large to share.
      const answerFor = (i: number) =>
        i % 7 === 0
          ? JSON.stringify({ allowed: false, n: i })
          : i % 3 === 0
            ? `{"allowed":true,"data":"${'ns-'.repeat(6000)}${i % 2}"}`
            : JSON.stringify({ allowed: true, user: `u${i % 2}` });
      for (let i = 0; i < 5000; i++) await store.set(`key-${i}`, answerFor(i), 60_000);
      for (let i = 0; i < 5000; i++) assert.equal(await store.get(`key-${i}`), answerFor(i), `key-${i}`);
      // An entry rewritten with another answer gives the new one; the others keep theirs.
      await store.set('key-1', answerFor(7), 60_000);
      assert.equal(await store.get('key-1'), answerFor(7));
      assert.equal(await store.get('key-2'), answerFor(2));
      assert.equal(store.size(), 5000);
    });

    it('treats a corrupt entry as a miss and a failing store as no cache', async () => {
      const { events, counts } = counting();
      const broken: CacheStore = {
        kind: 'memcached',
        get: async () => {
          throw new Error('connection refused');
        },
        set: async () => {
          throw new Error('connection refused');
        },
        size: () => undefined,
        close: async () => {},
      };
      const cache = new DecisionCache(broken, { allowTtlMs: 60_000, denyTtlMs: 60_000 }, events, boolCodec);
      assert.equal(await cache.get('k', async () => false), false);
      assert.equal(counts.storeError, 2);

      const mem = new MemoryStore({ maxEntries: 10, maxBytes: 1 << 20 });
      await mem.set('k', 'not json', 60_000);
      const strict = new DecisionCache(mem, { allowTtlMs: 60_000, denyTtlMs: 60_000 }, counting().events, boolCodec);
      assert.equal(await strict.get('k', async () => true), true);
    });
  });

  describe('the openshift result in the cache', () => {
    // opa-openshift's answers (reference/opa-openshift-protocol.md §2.2): true, false, or
    // {"allowed":"true"|"false","data":"<JSON string of matchers>"} with allowed a string.
    const MATCHERS = { allowed: 'true', data: '{"matchers":[{"Type":2,"Name":"kubernetes_namespace_name","Value":"ns1"}]}' } as const;

    it('reads back every answer opa-openshift gives, as written', () => {
      for (const v of [true, false, MATCHERS, { allowed: 'false', data: '' }] as const) {
        assert.deepEqual(openShiftResultCodec.decode(openShiftResultCodec.encode(v)), v);
      }
    });

    it('an entry of any other shape is refused, so it is a miss and never decides', async () => {
      const foreign = [
        '{"allowed":true,"data":""}',
        '{"allowed":"yes","data":""}',
        '{"allowed":"true"}',
        '{"allowed":"true","data":{}}',
        'null',
        '1',
        '"true"',
        '[true]',
        'not json',
      ];
      for (const text of foreign) {
        const mem = new MemoryStore({ maxEntries: 10, maxBytes: 1 << 20 });
        await mem.set('k', text, 60_000);
        const { events, counts } = counting();
        const cache = new DecisionCache<OpenShiftResult>(mem, { allowTtlMs: 60_000, denyTtlMs: 60_000 }, events, openShiftResultCodec);
        assert.equal(await cache.get('k', async () => false), false, text);
        assert.deepEqual([counts.hit, counts.miss, counts.storeError], [0, 1, 1], text);
      }
    });

    it('allows keep for the allow TTL, denials (false, allowed "false") for the deny TTL', async () => {
      const ttls: number[] = [];
      const store: CacheStore = {
        kind: 'memory',
        get: async () => undefined,
        set: async (_k, _v, ttl) => void ttls.push(ttl),
        size: () => 0,
        close: async () => {},
      };
      const cache = new DecisionCache<OpenShiftResult>(store, { allowTtlMs: 111, denyTtlMs: 222 }, counting().events, openShiftResultCodec);
      for (const [i, v] of ([true, MATCHERS, false, { allowed: 'false', data: '' }] as const).entries()) await cache.get(`k${i}`, async () => v);
      assert.deepEqual(ttls, [111, 111, 222, 222]);
    });
  });

  describe('MemcachedStore against a real memcached', () => {
    const binary = memcachedBinary();
    let server: MemcachedServer;
    before(async function () {
      if (!binary) {
        if (process.env.CI) throw new Error('memcached is not installed (.ci/run installs Debian memcached)');
        this.skip();
      }
      server = await startMemcached(binary);
    });
    after(async () => server?.stop());

    it('stores and reads values, and misses unknown keys', async () => {
      const store = new MemcachedStore({ servers: [server.address], timeoutMs: 1000, dnsIntervalMs: 0 });
      try {
        const value = JSON.stringify({ allowed: 'true', data: '{"matchers":[{"Type":2,"Name":"ns","Value":"a|b"}]}' });
        await store.set('a'.repeat(64), value, 60_000);
        assert.equal(await store.get('a'.repeat(64)), value);
        assert.equal(await store.get('b'.repeat(64)), undefined);
        // many requests pipelined on one connection come back to the right callers
        await Promise.all(Array.from({ length: 100 }, (_, i) => store.set(`key${i}`, `value${i}`, 60_000)));
        const got = await Promise.all(Array.from({ length: 100 }, (_, i) => store.get(`key${i}`)));
        assert.deepEqual(
          got,
          Array.from({ length: 100 }, (_, i) => `value${i}`),
        );
      } finally {
        await store.close();
      }
    });

    it('expires entries after their TTL', async function () {
      this.timeout(5000);
      const store = new MemcachedStore({ servers: [server.address], timeoutMs: 1000, dnsIntervalMs: 0 });
      try {
        await store.set('short', 'v', 1000);
        assert.equal(await store.get('short'), 'v');
        await sleep(2100);
        assert.equal(await store.get('short'), undefined);
      } finally {
        await store.close();
      }
    });

    it('shares decisions between two caches, as replicas share them', async () => {
      const a = new MemcachedStore({ servers: [server.address], timeoutMs: 1000, dnsIntervalMs: 0 });
      const b = new MemcachedStore({ servers: [server.address], timeoutMs: 1000, dnsIntervalMs: 0 });
      try {
        let calls = 0;
        const compute = async () => {
          calls++;
          return true;
        };
        const replica1 = new DecisionCache(a, { allowTtlMs: 60_000, denyTtlMs: 60_000 }, counting().events, boolCodec);
        const replica2 = new DecisionCache(b, { allowTtlMs: 60_000, denyTtlMs: 60_000 }, counting().events, boolCodec);
        await replica1.get('shared-key', compute);
        assert.equal(await replica2.get('shared-key', compute), true);
        assert.equal(calls, 1);
      } finally {
        await a.close();
        await b.close();
      }
    });

    it('fails fast when memcached goes away, and recovers when it is back', async function () {
      this.timeout(10_000);
      const port = server.port;
      const store = new MemcachedStore({ servers: [server.address], timeoutMs: 500, dnsIntervalMs: 0 });
      try {
        await store.set('before', 'v', 60_000);
        await server.stop();
        await assert.rejects(store.get('before'), /memcached/);
        await assert.rejects(store.set('x', 'v', 60_000), /memcached/);
        server = await startMemcached(binary!, port);
        await store.set('after', 'w', 60_000);
        assert.equal(await store.get('after'), 'w');
      } finally {
        await store.close();
      }
    });

    it('times out a server that accepts but never answers', async () => {
      const { createServer } = await import('node:net');
      const silent = createServer(() => {});
      await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
      const port = (silent.address() as { port: number }).port;
      const store = new MemcachedStore({ servers: [`127.0.0.1:${port}`], timeoutMs: 200, dnsIntervalMs: 0 });
      try {
        await assert.rejects(store.get('k'), /did not answer within 200ms/);
      } finally {
        await store.close();
        silent.close();
      }
    });
  });

  describe('AuthenticatedStore: memcached entries only this service can write (issue 9 item 3)', () => {
    const binary = memcachedBinary();
    let server: MemcachedServer;
    const open: CacheStore[] = [];
    before(async function () {
      if (!binary) {
        if (process.env.CI) throw new Error('memcached is not installed (.ci/run installs Debian memcached)');
        this.skip();
      }
      server = await startMemcached(binary);
    });
    after(async () => server?.stop());
    afterEach(async () => {
      for (const s of open.splice(0)) await s.close();
    });

    const secret = () => randomBytes(32).toString('base64');
    const ring = (...lines: string[]): Keyring => parseKeyring('keys', lines.join('\n'));
    const OLD = `old=${secret()}`;
    const NEW = `new=${secret()}`;

    /** What an attacker with network access to memcached has: a plain client. */
    const rawStore = () => {
      const s = new MemcachedStore({ servers: [server.address], timeoutMs: 1000, dnsIntervalMs: 0 });
      open.push(s);
      return s;
    };
    const clock = { t: Date.UTC(2026, 0, 1) };
    const signedStore = (keys: Keyring, rejected: RejectReason[] = []) => {
      const s = new AuthenticatedStore(rawStore(), { keyring: () => keys, now: () => clock.t, onReject: (r) => void rejected.push(r) });
      return s;
    };

    // The codec the openshift modes cache their answers with.
    type Answer = OpenShiftResult;
    const codec = openShiftResultCodec;
    const MATCH_ALL: Answer = { allowed: 'true', data: JSON.stringify({ matchers: [{ Type: 2, Name: 'kubernetes_namespace_name', Value: '.+' }] }) };
    const BOB: Answer = { allowed: 'true', data: JSON.stringify({ matchers: [{ Type: 2, Name: 'kubernetes_namespace_name', Value: 'log-test-0' }] }) };
    const DENY: Answer = { allowed: 'false', data: '' };
    const cacheOver = (store: CacheStore) => {
      const { events, counts } = counting();
      return { cache: new DecisionCache<Answer>(store, { allowTtlMs: 60_000, denyTtlMs: 60_000 }, events, codec), counts };
    };
    const upstream = (answer: Answer) => {
      const calls = { n: 0 };
      return { calls, compute: async () => (calls.n++, answer) };
    };
    const key = () => randomBytes(32).toString('hex');

    it('a forged allow written straight into memcached is a miss, counted, and decided upstream', async () => {
      const k = key();
      const attacker = rawStore();
      // The premise: without entry authentication (the code before this fix), the forgery is served.
      await attacker.set(k, JSON.stringify(MATCH_ALL), 3_600_000);
      const unprotected = upstream(DENY);
      assert.deepEqual(await cacheOver(rawStore()).cache.get(k, unprotected.compute), MATCH_ALL);
      assert.equal(unprotected.calls.n, 0);

      // Forgeries: the bare value, and envelopes with a made-up MAC, under a listed and an unknown key ID.
      const forgeries: Array<[string, RejectReason]> = [
        [JSON.stringify(MATCH_ALL), 'format'],
        [`lsa1.old.${clock.t + 3_600_000}.${randomBytes(32).toString('base64url')}.${JSON.stringify(MATCH_ALL)}`, 'mac'],
        [`lsa1.other.${clock.t + 3_600_000}.${randomBytes(32).toString('base64url')}.${JSON.stringify(MATCH_ALL)}`, 'key'],
      ];
      for (const [forged, reason] of forgeries) {
        await attacker.set(k, forged, 3_600_000);
        const rejected: RejectReason[] = [];
        const { cache, counts } = cacheOver(signedStore(ring(OLD), rejected));
        const up = upstream(DENY);
        assert.deepEqual(await cache.get(k, up.compute), DENY, forged.slice(0, 20));
        assert.equal(up.calls.n, 1, 'decided upstream');
        assert.deepEqual(rejected, [reason]);
        assert.deepEqual([counts.hit, counts.miss], [0, 1]);
      }
    });

    it("a genuine entry copied to another user's key is a miss", async () => {
      const keys = ring(OLD);
      const wide = key(); // a cluster reader's decision
      const mine = key(); // the attacker's own request
      const { cache } = cacheOver(signedStore(keys));
      await cache.get(wide, async () => MATCH_ALL);
      const attacker = rawStore();
      await attacker.set(mine, (await attacker.get(wide))!, 3_600_000);

      const rejected: RejectReason[] = [];
      const reader = cacheOver(signedStore(keys, rejected));
      const up = upstream(BOB);
      assert.deepEqual(await reader.cache.get(mine, up.compute), BOB);
      assert.equal(up.calls.n, 1);
      assert.deepEqual(rejected, ['mac']);
      // The entry where it belongs is still good.
      assert.deepEqual(await reader.cache.get(wide, async () => assert.fail('a hit')), MATCH_ALL);
    });

    it('a genuine entry replayed past its TTL (rewritten with a long memcached TTL) is a miss', async () => {
      const keys = ring(OLD);
      const k = key();
      const { cache } = cacheOver(signedStore(keys)); // allows live 60s
      await cache.get(k, async () => MATCH_ALL);
      const attacker = rawStore();
      const genuine = (await attacker.get(k))!;

      clock.t += 60_001; // the decision's TTL is over (memcached would have dropped it)
      try {
        await attacker.set(k, genuine, 3_600_000);
        const rejected: RejectReason[] = [];
        const reader = cacheOver(signedStore(keys, rejected));
        const up = upstream(DENY); // the access was revoked meanwhile
        assert.deepEqual(await reader.cache.get(k, up.compute), DENY);
        assert.equal(up.calls.n, 1);
        assert.deepEqual(rejected, ['expired']);
      } finally {
        clock.t -= 60_001;
      }
      // Within its TTL the same bytes are a hit: the expiry, not the bytes, made the difference.
      await attacker.set(k, genuine, 3_600_000);
      assert.deepEqual(await cacheOver(signedStore(keys)).cache.get(k, async () => assert.fail('a hit')), MATCH_ALL);
    });

    it('rotation: old entries stay valid while the old key is listed; new ones are signed with the first key', async () => {
      const before = key();
      await cacheOver(signedStore(ring(OLD))).cache.get(before, async () => BOB);

      // Step 1 of a rotation: the new key first (it signs), the old one still listed (it verifies).
      const rotated = cacheOver(signedStore(ring(NEW, OLD)));
      assert.deepEqual(await rotated.cache.get(before, async () => assert.fail('still a hit')), BOB);
      const after = key();
      await rotated.cache.get(after, async () => MATCH_ALL);
      const raw = (await rawStore().get(after))!;
      assert.match(raw, /^lsa1\.new\./);

      // Step 2: the old key dropped: what it signed no longer verifies.
      const rejected: RejectReason[] = [];
      const dropped = cacheOver(signedStore(ring(NEW), rejected));
      const up = upstream(BOB);
      assert.deepEqual(await dropped.cache.get(before, up.compute), BOB);
      assert.equal(up.calls.n, 1);
      assert.deepEqual(rejected, ['key']);
      assert.deepEqual(await dropped.cache.get(after, async () => assert.fail('a hit')), MATCH_ALL);
    });

    it('the key file is watched: a rotation applies without a restart; a bad file keeps the old keys', async () => {
      const file = writeTempFile('memcached-keys', `# rotated monthly\n${OLD}\n`);
      const events: string[] = [];
      const keys = await KeyringFile.open(file, {
        intervalMs: 0,
        settleMs: 1,
        onApplied: () => events.push('applied'),
        onRejected: (e) => events.push(String(e)),
      });
      try {
        assert.equal(keys.current().signer.id, 'old');
        writeFileSync(file, `${NEW}\n${OLD}\n`);
        await keys.check();
        assert.equal(keys.current().signer.id, 'new');
        assert.deepEqual([...keys.current().byId.keys()], ['new', 'old']);
        const short = randomBytes(16).toString('base64');
        writeFileSync(file, `new=${short}\n`);
        await keys.check();
        assert.equal(keys.current().signer.id, 'new');
        assert.equal(keys.current().byId.size, 2, 'the old keys keep serving');
        assert.match(events.at(-1)!, /line 1: key "new": the secret is 16 bytes; at least 32/);
        assert.ok(!events.join('\n').includes(short), 'the secret is never in a message');
      } finally {
        keys.stop();
      }
    });

    it('end to end: an attacker overwrites every memcached entry with a match-all allow; only --memcached.insecure-no-hmac serves it', async function () {
      this.timeout(20_000);
      const fake: FakeKube = await startFakeKube(lokistackFakeKubeOptions());
      const running: RunningAuthz[] = [];
      try {
        const keyFile = writeTempFile('memcached-keys', `${OLD}\n`);
        const base = [
          ...OPERATOR_LOGGING_ARGS,
          `--memcached=${server.address}`,
          '--memcached.interval=0',
          '--memcached.timeout=1s',
          '--kube.review-cache-ttl=0',
        ];
        // log-test-2 is not bob's: the genuine answer has no namespace in it.
        const ask = (authz: RunningAuthz) =>
          postDecision(authz.url, { input: gatewayInput('bob', { extras: selecting(['log-test-2']) }), token: LOKISTACK_TOKENS.bob });
        const forgeAll = async () => {
          for (const k of await memcachedKeys(server.port)) await rawStore().set(k, JSON.stringify(MATCH_ALL), 3_600_000);
        };

        for (const [flags, forgedServed] of [
          [['--memcached.insecure-no-hmac'], true],
          [[`--memcached.hmac-key-file=${keyFile}`], false],
        ] as const) {
          await memcachedCommand(server.port, 'flush_all');
          const authz = await startAuthzOn(fake, [...base, ...flags]);
          running.push(authz);
          const genuine = await ask(authz);
          assert.equal(genuine.status, 200, genuine.text);
          assert.equal((genuine.body as { result: unknown }).result, false);
          await forgeAll();
          fake.requests.length = 0;
          const after = await ask(authz);
          assert.equal(after.status, 200, after.text);
          const result = (after.body as { result: unknown }).result;
          const metrics = await (await fetch(`${authz.internalUrl}/metrics`)).text();
          if (forgedServed) {
            assert.deepEqual(result, MATCH_ALL, 'the premise: unauthenticated entries can be forged');
          } else {
            assert.equal(result, false, 'the forged match-all was served');
            assert.ok(
              fake.requests.some((r) => r.endpoint !== 'discovery'),
              'decided upstream',
            );
            assert.equal(metricValue(metrics, 'decision_cache_rejected_entries_total', { reason: 'format' }), 1);
          }
        }
      } finally {
        for (const a of running) await a.stop();
        await fake.close();
      }
    });
  });

  describe('memcached entry keys: flags and key files', () => {
    const OPENSHIFT = ['--openshift.mappings=application=loki.grafana.com', '--memcached=127.0.0.1:11211'];

    it('--memcached without a key file refuses to start; --memcached.insecure-no-hmac is the explicit way out', () => {
      assert.throws(() => loadConfig(OPENSHIFT), /--memcached needs --memcached.hmac-key-file/);
      const insecure = loadConfig([...OPENSHIFT, '--memcached.insecure-no-hmac']);
      assert.ok(!insecure.help && insecure.config.openshift!.cache.memcachedHmacKeyFile === undefined);
      const signed = loadConfig([...OPENSHIFT, '--memcached.hmac-key-file=/etc/keys']);
      assert.ok(!signed.help && signed.config.openshift!.cache.memcachedHmacKeyFile === '/etc/keys');
      assert.throws(() => loadConfig([...OPENSHIFT, '--memcached.hmac-key-file=/etc/keys', '--memcached.insecure-no-hmac']), /contradict/);
      // The in-memory cache needs no key: nothing outside the process can write to it.
      assert.doesNotThrow(() => loadConfig(['--openshift.mappings=application=loki.grafana.com']));
      assert.doesNotThrow(() => loadConfig([...OPENSHIFT, '--cache.enabled=false']));
    });

    it('a key file is refused when a key is short, malformed, repeated or missing, and no message holds a secret', () => {
      const short = randomBytes(31).toString('base64');
      const good = randomBytes(32).toString('base64');
      const cases: Array<[string, RegExp]> = [
        [`k1=${short}`, /line 1: key "k1": the secret is 31 bytes; at least 32/],
        [`k1=${good}\nk1=${good}`, /line 2: key ID "k1" is listed twice/],
        [`k1=${good.slice(0, 20)}!!${good.slice(20)}`, /line 1: .*not base64/],
        [good.replace(/=/g, ''), /line 1: not keyid=base64secret/],
        [`bad.id=${good}`, /line 1: the key ID/],
        ['# no keys yet\n', /no keys/],
        ['', /no keys/],
      ];
      for (const [text, fault] of cases) {
        assert.throws(
          () => parseKeyring('/etc/keys', text),
          (err: unknown) => err instanceof ConfigError && fault.test(err.message) && !err.message.includes(short) && !err.message.includes(good.slice(0, 16)),
          text.slice(0, 12),
        );
      }
      const keys = parseKeyring('/etc/keys', `# first signs\nb=${good}\n\na=${randomBytes(48).toString('base64url')}\n`);
      assert.equal(keys.signer.id, 'b');
      assert.deepEqual([...keys.byId.keys()], ['b', 'a']);
    });
  });
});

/** One command on memcached's text protocol, answered up to its END (or a one-line reply). */
async function memcachedCommand(port: number, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const s = connect(port, '127.0.0.1', () => s.write(`${command}\r\n`));
    s.setTimeout(5000, () => s.destroy(new Error(`memcached did not finish answering ${command}: ${JSON.stringify(text.slice(-100))}`)));
    s.on('data', (c: Buffer) => {
      text += c.toString('latin1');
      if (/(^|\n)(END|OK|ERROR[^\r]*)\r\n$/.test(text)) {
        s.destroy();
        resolve(text);
      }
    });
    s.on('error', reject);
  });
}

/** Every key memcached holds, as an attacker lists them (`lru_crawler metadump all`). */
async function memcachedKeys(port: number): Promise<string[]> {
  const dump = await memcachedCommand(port, 'lru_crawler metadump all');
  return [...dump.matchAll(/^key=(\S+)/gm)].map((m) => decodeURIComponent(m[1]!));
}
