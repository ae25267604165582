import assert from 'node:assert/strict';
import { InFlight } from '../server/cache/in-flight.js';
import { ReviewCache } from '../server/kube/review-cache.js';
import { TokenReviewCache } from '../server/kube/token-review-cache.js';
import { KubeError, type AccessReview, type KubeAuthz, type TokenReviewer, type TokenReviewResult } from '../server/kube/types.js';

/** A call the test settles by hand, so the order of joins and settlements is the test's, not the clock's. */
function gate<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

describe('in-flight sharing (cache/in-flight.ts)', () => {
  it('callers of one key while its call runs share it; after it settles the next caller starts anew', async () => {
    const flights = new InFlight<number>();
    let starts = 0;
    const g = gate<number>();
    let joins = 0;
    const callers = [1, 2, 3].map(() => flights.share('k', () => (starts++, g.promise), { onJoin: () => joins++ }));
    assert.equal(starts, 1);
    assert.equal(joins, 2);
    g.resolve(7);
    assert.deepEqual(await Promise.all(callers), [7, 7, 7]);
    assert.equal(flights.size, 0, 'nothing held once settled');
    assert.equal(await flights.share('k', async () => (starts++, 8)), 8);
    assert.equal(starts, 2);
  });

  it("a failure is shared by whoever joined, unless retryAfter says it was the starter's alone", async () => {
    const shared = new InFlight<number>();
    const g = gate<number>();
    const first = shared.share('k', () => g.promise);
    const joined = shared.share('k', async () => 1);
    g.reject(new Error('upstream down'));
    await assert.rejects(first, /upstream down/);
    await assert.rejects(joined, /upstream down/);

    const retrying = new InFlight<number>();
    const h = gate<number>();
    const starter = retrying.share('k', () => h.promise);
    const own = retrying.share('k', async () => 2, { retryAfter: (err) => (err as Error).message === 'starter gone' });
    h.reject(new Error('starter gone'));
    await assert.rejects(starter, /starter gone/);
    assert.equal(await own, 2, 'the joiner made its own call');
  });

  it('past its bound a call runs unshared: made-up keys cannot grow it', async () => {
    const flights = new InFlight<number>(2);
    const gates = [gate<number>(), gate<number>(), gate<number>()];
    const calls = gates.map((g, i) => flights.share(`k${i}`, () => g.promise));
    assert.equal(flights.size, 2);
    let starts = 0;
    const again = flights.share('k2', () => (starts++, Promise.resolve(9)));
    assert.equal(await again, 9);
    assert.equal(starts, 1, 'k2 was never shared, so a second caller starts its own');
    gates.forEach((g, i) => g.resolve(i));
    assert.deepEqual(await Promise.all(calls), [0, 1, 2]);
    assert.equal(flights.size, 0);
  });
});

describe('review caches: a joined review cancelled by its own caller is asked again by the one still waiting', () => {
  const aborted = () => new KubeError('kube_aborted', 0, 'the request ended');

  it('access reviews (review-cache.ts)', async () => {
    const calls: Array<ReturnType<typeof gate<boolean>>> = [];
    const inner: KubeAuthz = {
      review: (_req: AccessReview) => {
        const g = gate<boolean>();
        calls.push(g);
        return g.promise;
      },
      listNamespaces: async () => [],
    };
    const cache = new ReviewCache(inner, { ttlMs: 60_000, maxEntries: 100, ssar: false });
    const req = { user: 'bob', groups: [], token: 't', verb: 'get', apiGroup: 'loki.grafana.com', resource: 'application', name: 'logs', namespace: '' };
    const gone = new AbortController();
    const first = cache.review(req, gone.signal);
    const waiting = cache.review(req, new AbortController().signal);
    assert.equal(calls.length, 1, 'the second caller joined');
    gone.abort();
    calls[0]!.reject(aborted());
    await assert.rejects(first, (err: KubeError) => err.code === 'kube_aborted');
    await new Promise((r) => setImmediate(r));
    assert.equal(calls.length, 2, 'the caller still waiting asked for itself');
    calls[1]!.resolve(true);
    assert.equal(await waiting, true);

    // Any other failure is the answer for both: nothing is asked twice.
    const other = { ...req, namespace: 'ns' };
    const a = cache.review(other, new AbortController().signal);
    const b = cache.review(other, new AbortController().signal);
    calls[2]!.reject(new KubeError('kube_status', 500, 'internal error'));
    await assert.rejects(a, /internal error/);
    await assert.rejects(b, /internal error/);
    assert.equal(calls.length, 3);
  });

  it('token reviews (token-review-cache.ts)', async () => {
    const calls: Array<ReturnType<typeof gate<TokenReviewResult>>> = [];
    const inner: TokenReviewer = {
      reviewToken: () => {
        const g = gate<TokenReviewResult>();
        calls.push(g);
        return g.promise;
      },
    };
    const cache = new TokenReviewCache(inner, { ttlMs: 60_000, maxEntries: 100 });
    const gone = new AbortController();
    const first = cache.reviewToken('tok', gone.signal);
    const waiting = cache.reviewToken('tok', new AbortController().signal);
    assert.equal(calls.length, 1);
    gone.abort();
    calls[0]!.reject(aborted());
    await assert.rejects(first);
    await new Promise((r) => setImmediate(r));
    assert.equal(calls.length, 2);
    calls[1]!.resolve({ authenticated: true, user: 'bob', groups: [] });
    assert.deepEqual(await waiting, { authenticated: true, user: 'bob', groups: [] });
  });
});
