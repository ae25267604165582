import assert from 'node:assert/strict';
import { DecisionCache, cacheKey, hashToken, type CacheEvents } from '../server/cache/decision-cache.js';
import { MemcachedStore } from '../server/cache/memcached-store.js';
import { MemoryStore } from '../server/cache/memory-store.js';
import type { CacheStore } from '../server/cache/store.js';
import { memcachedBinary, startMemcached, type MemcachedServer } from './support/memcached.js';

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

  describe('MemcachedStore against a real memcached', function () {
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
});
