/**
 * The command line of the generated docs' scripts (scripts/lib/generated-doc.ts), which CI relies
 * on: `--check` fails on a doc that is not what the script writes, a missing one included, and a
 * mistyped argument fails rather than rewriting the doc.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { docFile, type GeneratedDoc, generatedDocCommand } from '../scripts/lib/generated-doc.js';
import { makeTempDir } from './support/service.js';

function harness(text = '# generated\n') {
  const file = join(makeTempDir(), 'thing.md');
  let renders = 0;
  const doc: GeneratedDoc = {
    topic: 'thing',
    file,
    render: () => {
      renders++;
      return { text, holds: '3 things' };
    },
  };
  const out = { stdout: '', stderr: '' };
  const run = (...args: string[]) => generatedDocCommand(doc, args, { stdout: (t) => void (out.stdout += t), stderr: (t) => void (out.stderr += t) });
  return { file, out, run, renders: () => renders };
}

describe("scripts/lib/generated-doc: the docs scripts' command line", () => {
  it('a topic names its doc in this repository: docs/<topic>.md', () => {
    assert.equal(docFile('flags'), fileURLToPath(new URL('../docs/flags.md', import.meta.url)));
  });

  it('with no argument writes the doc and says what it holds', () => {
    const h = harness();
    assert.equal(h.run(), 0);
    assert.equal(readFileSync(h.file, 'utf8'), '# generated\n');
    assert.equal(h.out.stdout, 'wrote docs/thing.md (3 things)\n');
  });

  it('--check passes on the doc as written, fails on a changed or missing one naming the command that fixes it', () => {
    const h = harness();
    assert.equal(h.run('--check'), 1, 'missing');
    assert.equal(h.out.stderr, 'docs/thing.md is stale: run `npm run docs:thing` and commit it\n');
    assert.ok(!existsSync(h.file), '--check never writes');
    writeFileSync(h.file, '# generated\nhand edit\n');
    assert.equal(h.run('--check'), 1, 'changed');
    assert.equal(readFileSync(h.file, 'utf8'), '# generated\nhand edit\n', '--check never writes');
    writeFileSync(h.file, '# generated\n');
    assert.equal(h.run('--check'), 0);
  });

  it('a mistyped argument is exit 2 before anything is generated or written', () => {
    const h = harness();
    assert.equal(h.run('--chek'), 2);
    assert.equal(h.out.stderr, 'thing-doc: unknown argument "--chek" (use --check or nothing)\n');
    assert.equal(h.renders(), 0);
    assert.ok(!existsSync(h.file));
  });
});
