import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Counter, Histogram, Registry, Summary } from 'prom-client';
import { HotCounter, HotHistogram, HotSummary } from '../server/observability/hot-metrics.js';

// The oracle is prom-client itself: the same observations through its own metrics must expose the
// same text, whatever mix of remembered (frozen) and fresh label objects, equal label sets made by
// different objects, out-of-range values and resets the callers make.

const LABELS = ['code', 'method', 'handler'] as const;
const BOUNDS = [0.001, 0.01, 0.1, 1, 10];

type Op =
  | { kind: 'observe'; labels: number; fresh: boolean; value: number }
  | { kind: 'inc'; labels: number; fresh: boolean; by: number | undefined }
  | { kind: 'reset' };

const LABEL_SETS = [
  { code: '200', method: 'post', handler: 'data' },
  { code: '200', method: 'get', handler: 'health' },
  { code: '400', method: 'post', handler: 'data' },
  { code: '499', method: 'post', handler: 'data' },
];

function pair(hot: boolean) {
  const registry = new Registry();
  const labelNames = [...LABELS];
  const registers = [registry];
  return {
    registry,
    counter: hot ? new HotCounter({ name: 'c_total', help: 'c', labelNames, registers }) : new Counter({ name: 'c_total', help: 'c', labelNames, registers }),
    histogram: hot
      ? new HotHistogram({ name: 'h_seconds', help: 'h', labelNames, buckets: BOUNDS, registers })
      : new Histogram({ name: 'h_seconds', help: 'h', labelNames, buckets: BOUNDS, registers }),
    summary: hot
      ? new HotSummary({ name: 's_bytes', help: 's', labelNames, percentiles: [], registers })
      : new Summary({ name: 's_bytes', help: 's', labelNames, percentiles: [], registers }),
  };
}

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record({ kind: fc.constant('observe' as const), labels: fc.nat(3), fresh: fc.boolean(), value: fc.double({ min: 0, max: 20, noNaN: true }) }),
  },
  {
    weight: 10,
    arbitrary: fc.record({ kind: fc.constant('inc' as const), labels: fc.nat(3), fresh: fc.boolean(), by: fc.option(fc.nat(5), { nil: undefined }) }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'reset' as const }) },
);

describe('hot metrics (prom-client series entries kept per label object)', () => {
  it('expose exactly what prom-client exposes for the same observations', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 200 }), async (ops) => {
        const hot = pair(true);
        const plain = pair(false);
        // The hot path's label objects: made once, frozen; `fresh` ones are new each call.
        const frozen = LABEL_SETS.map((l) => Object.freeze({ ...l }));
        for (const op of ops) {
          for (const m of [hot, plain]) {
            if (op.kind === 'reset') {
              m.counter.reset();
              m.histogram.reset();
              m.summary.reset();
              continue;
            }
            const labels = op.fresh ? { ...LABEL_SETS[op.labels]! } : frozen[op.labels]!;
            if (op.kind === 'observe') {
              m.histogram.observe(labels, op.value);
              m.summary.observe(labels, op.value);
            } else if (op.by === undefined) m.counter.inc(labels);
            else m.counter.inc(labels, op.by);
          }
        }
        assert.equal(await hot.registry.metrics(), await plain.registry.metrics());
      }),
      { numRuns: 150 },
    );
  });

  it('refuse what prom-client refuses: unknown labels, a negative increment, a non-finite value', () => {
    const { counter, histogram } = pair(true);
    const known = Object.freeze({ code: '200', method: 'get', handler: 'x' });
    counter.inc(known);
    assert.throws(() => counter.inc(known, -1), /decrease/);
    assert.throws(() => counter.inc(Object.freeze({ nope: 'x' }) as never), /label/i);
    histogram.observe(known, 1);
    assert.throws(() => histogram.observe(known, Number.NaN), /valid number/);
  });

  it('keep counting into the new series after a reset', async () => {
    const { registry, counter } = pair(true);
    const labels = Object.freeze({ code: '200', method: 'get', handler: 'x' });
    counter.inc(labels);
    counter.inc(labels);
    counter.reset();
    counter.inc(labels);
    assert.match(await registry.metrics(), /c_total\{code="200",method="get",handler="x"\} 1\n/);
  });
});
