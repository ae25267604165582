/**
 * Data files are refused before they are parsed when the parse would outgrow the loading thread's
 * heap (server/policy/parse-heap.ts): on Node 24 the thread's heap bound alone let such a parse abort
 * the whole process (test/policy-load.test.ts, "a load that needs more heap than its bound", died
 * with "FATAL ERROR: Reached heap limit" there). The estimate must bound what V8 really builds, and
 * must not refuse an ordinary file at the size --policy.max-data-bytes admits.
 */
import assert from 'node:assert/strict';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { loadHeapMb, runPolicyLoad } from '../server/policy/load-runner.js';
import { jsonHeapEstimate } from '../server/policy/parse-heap.js';
import { stubModule } from './support/wasm-stub.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** The heap JSON.parse(text) leaves live, as V8 counts it, with garbage collected before and after. */
function measuredHeap(text: string): number {
  gc();
  const before = getHeapStatistics().used_heap_size;
  const value: unknown = JSON.parse(text);
  gc();
  const after = getHeapStatistics().used_heap_size;
  assert.ok(value !== undefined);
  return after - before + text.length;
}

const N = 100_000;
const SHAPES: Record<string, () => string> = {
  'objects with one shared key': () => `[${Array.from({ length: N }, (_, i) => `{"a":${i}}`).join(',')}]`,
  'empty objects': () => `[${Array(N).fill('{}').join(',')}]`,
  'empty arrays': () => `[${Array(N).fill('[]').join(',')}]`,
  'objects each with its own key': () => `[${Array.from({ length: N }, (_, i) => `{"k${i}":0}`).join(',')}]`,
  'one object with many keys': () => `{${Array.from({ length: N }, (_, i) => `"key-${i}":${i}`).join(',')}}`,
  'distinct short strings': () => `[${Array.from({ length: N }, (_, i) => `"s${i}"`).join(',')}]`,
  'non-ASCII strings': () => `[${Array.from({ length: N }, (_, i) => `"é${i}ü"`).join(',')}]`,
  doubles: () => `[${Array.from({ length: N }, (_, i) => `${i}.5`).join(',')}]`,
  'rows as a role table holds them': () =>
    `{"bindings":[${Array.from({ length: N }, (_, i) => `{"name":"binding-${i}","subjects":[{"kind":"group","name":"team-${i % 500}"}],"roles":["read-${i % 50}"]}`).join(',')}]}`,
};

describe('data files: the heap a parse needs is estimated before parsing', function () {
  this.timeout(120_000);

  for (const [shape, make] of Object.entries(SHAPES)) {
    it(`the estimate bounds what V8 builds: ${shape}`, () => {
      const text = make();
      const measured = measuredHeap(text);
      const estimate = jsonHeapEstimate(text);
      assert.ok(estimate >= measured, `estimate ${estimate} below the measured ${measured}`);
    });
  }

  // What happens after the parse (the data copied into a policy instance, bounded by its own flags)
  // is not this check's: only a refusal for the parse's heap fails this.
  it('a data file of ordinary rows at the --policy.max-data-bytes bound is not refused for the heap load-runner gives it', async () => {
    const maxDataBytes = 16 << 20;
    const row = (i: number) => `{"name":"binding-${i}","subjects":[{"kind":"group","name":"team-${i % 500}"}],"roles":["read-${i % 50}"]}`;
    const rows: string[] = [];
    let size = 20;
    for (let i = 0; size + row(i).length + 1 < maxDataBytes; i++) {
      rows.push(row(i));
      size += row(i).length + 1;
    }
    const data = `{"bindings":[${rows.join(',')}]}`;
    assert.ok(data.length > maxDataBytes * 0.99 && data.length <= maxDataBytes);
    const files = new Map([
      ['policy.wasm', new Uint8Array(await stubModule())],
      ['data.json', new Uint8Array(Buffer.from(data))],
    ]);
    const spec = {
      entrypoint: 'lokistack/allow',
      policyFile: 'policy.wasm',
      dataFile: 'data.json',
      claims: false,
      reload: true,
      maxMemoryBytes: 256 << 20,
      instanceMaxBytes: 128 << 20,
      maxBundleBytes: 64 << 20,
      maxDataBytes,
    };
    const outcome = await runPolicyLoad(spec, files as Map<string, Uint8Array<ArrayBuffer>>, { timeoutMs: 60_000, maxHeapMb: loadHeapMb(maxDataBytes) }).then(
      () => 'loaded',
      (err: Error) => err.message,
    );
    assert.doesNotMatch(outcome, /heap/);
  });
});
