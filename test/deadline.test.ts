import assert from 'node:assert/strict';
import { deadline } from '../server/deadline.js';

describe('deadline', () => {
  it('a decision signal shared by a fan-out (16 reviews in flight, as many waiting) warns of no listener leak', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    try {
      const decision = deadline(10_000);
      const calls = Array.from({ length: 32 }, () => deadline(5_000, decision.signal));
      // Warnings are emitted on the next tick.
      await new Promise((r) => setImmediate(r));
      for (const c of calls) c.release();
      decision.release();
      assert.deepEqual(
        warnings.filter((w) => w.startsWith('MaxListenersExceededWarning')),
        [],
        'no MaxListenersExceededWarning',
      );
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('a child aborts with its parent, and on its own time limit says so', async () => {
    const parent = deadline(10_000);
    const child = deadline(10_000, parent.signal);
    parent.release();
    const ac = new AbortController();
    const linked = deadline(10_000, ac.signal);
    ac.abort(new Error('client gone'));
    assert.equal(linked.signal.aborted, true, 'aborted with its parent');
    assert.equal(linked.timedOut(), false, 'not by its own limit');
    const short = deadline(1);
    await new Promise((r) => short.signal.addEventListener('abort', r, { once: true }));
    assert.equal(short.timedOut(), true, 'its own limit');
    child.release();
  });
});
