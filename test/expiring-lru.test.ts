/**
 * The review and token-review caches' bounded map (server/kube/expiring-lru.ts) against the
 * lru-cache it replaces, as the caches configured it (`{max, ttl}`): any sequence of reads, writes
 * and clock steps must give the same answers, so no verdict lives longer than its TTL and the
 * least recently used goes first. The clock is the test's (no timers).
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LRUCache } from 'lru-cache';
import { ExpiringLru } from '../server/kube/expiring-lru.js';

type Op = { kind: 'get'; key: number } | { kind: 'set'; key: number; value: number } | { kind: 'tick'; ms: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('get' as const), key: fc.nat(7) }),
  fc.record({ kind: fc.constant('set' as const), key: fc.nat(7), value: fc.nat(3) }),
  fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 40 }) }),
);

describe('ExpiringLru: the same answers as lru-cache {max, ttl}', () => {
  it('any sequence of gets, sets and clock steps', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 60 }), fc.array(op, { maxLength: 200 }), (max, ttl, ops) => {
        let now = 1_000; // lru-cache takes a start time of 0 as "never stale"
        const oracle = new LRUCache<string, number>({ max, ttl, perf: { now: () => now }, ttlResolution: 0 });
        const ours = new ExpiringLru<number>(max, ttl, () => now);
        for (const o of ops) {
          if (o.kind === 'tick') now += o.ms;
          else if (o.kind === 'set') {
            oracle.set(String(o.key), o.value);
            ours.set(String(o.key), o.value);
          } else assert.equal(ours.get(String(o.key)), oracle.get(String(o.key)), JSON.stringify(o));
          assert.ok(ours.size <= max);
        }
      }),
      { numRuns: 2_000 },
    );
  });

  it('a verdict is not served once its TTL has passed, however often it is read', () => {
    let now = 0;
    const lru = new ExpiringLru<boolean>(10, 100, () => now);
    lru.set('bob may read log-test-0', true);
    for (; now <= 100; now += 10) assert.equal(lru.get('bob may read log-test-0'), true);
    assert.equal(lru.get('bob may read log-test-0'), undefined);
  });

  it('holds no more than maxEntries, whatever is written (a flood of distinct keys)', () => {
    const lru = new ExpiringLru<number>(1_000, 60_000);
    for (let i = 0; i < 50_000; i++) lru.set(`k${i}`, i);
    assert.equal(lru.size, 1_000);
    assert.equal(lru.get('k49999'), 49_999);
    assert.equal(lru.get('k48999'), undefined);
    assert.equal(lru.get('k0'), undefined);
  });
});
