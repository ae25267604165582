/**
 * How every fixture runner finds its sets (test/support/fixtures.ts loadSetsUnder): a directory
 * each, in name order, and a root with none is a fault rather than a suite that runs nothing.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSetsUnder } from './support/fixtures.js';
import { makeTempDir } from './support/service.js';

describe('fixture sets under a root', () => {
  it('one per directory, in name order; files beside them are not sets', () => {
    const root = makeTempDir();
    for (const name of ['b-set', 'a-set']) mkdirSync(join(root, name));
    writeFileSync(join(root, 'README.md'), 'not a set');
    assert.deepEqual(
      loadSetsUnder(root, (dir, name) => ({ name, dir })),
      [
        { name: 'a-set', dir: join(root, 'a-set') },
        { name: 'b-set', dir: join(root, 'b-set') },
      ],
    );
  });

  it('a root with no set is a fault naming it: a moved root must not pass with nothing run', () => {
    const root = makeTempDir();
    assert.throws(() => loadSetsUnder(root, (_dir, name) => ({ name })), new Error(`${root}: no fixture sets`));
  });
});
