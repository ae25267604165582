/**
 * docs/flags.md is generated from FLAGS (scripts/flags-doc.ts) and is the only flag table: CI fails
 * here when a flag was added or changed without regenerating it, or when a hand-written copy of
 * the table comes back into another page.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { FLAGS } from '../server/config/config.js';
import { parseFlags } from '../server/config/flags.js';
import { FLAGS_DOC, flagsMarkdown } from '../scripts/flags-doc.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const read = (path: string) => readFileSync(`${ROOT}${path}`, 'utf8');

describe('docs/flags.md (generated from FLAGS)', () => {
  it('is up to date with the flag definitions', () => {
    const committed = readFileSync(FLAGS_DOC, 'utf8');
    assert.ok(committed === flagsMarkdown(), 'docs/flags.md is stale: run `npm run docs:flags` and commit docs/flags.md');
  });

  it('`npm run docs:flags` is the command that writes it', () => {
    const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
    assert.match(pkg.scripts['docs:flags'] ?? '', /scripts\/flags-doc\.ts/);
  });

  it('lists every visible flag once, under its modes, with a default the flag takes back as its default', () => {
    const text = read('docs/flags.md');
    const seen = new Map<string, string>();
    let heading = '';
    for (const line of text.split('\n')) {
      if (line.startsWith('## ')) heading = line.slice(3);
      const m = /^\| `--([^`]+)` \| (`([^`]*)`|\(empty\)) \|/.exec(line);
      if (!m) continue;
      const name = m[1]!;
      assert.ok(!seen.has(name), `--${name} listed twice`);
      seen.set(name, heading);
      const shown = m[3] ?? '';
      const spec = FLAGS.find((s) => s.name === name);
      assert.ok(spec, `--${name} is not a flag`);
      assert.deepEqual(parseFlags([`--${name}=${shown}`], FLAGS).values[name], spec.default, `--${name}: documented default ${JSON.stringify(shown)}`);
    }
    for (const s of FLAGS) {
      if (s.hidden) assert.ok(!seen.has(s.name), `hidden --${s.name} is documented`);
      else assert.ok(seen.has(s.name), `--${s.name} is missing`);
    }
    assert.equal(seen.get('web.listen'), 'Flags for all modes');
    assert.equal(seen.get('tenants.config'), 'Flags for dynamic mode');
    assert.equal(seen.get('openshift.mappings'), 'Flags for openshift-logging and openshift-network modes');
  });

  it('a help text with | or < cannot break the table', () => {
    const text = flagsMarkdown([{ name: 'x', type: 'string', default: 'a', help: 'one | two <b>bold</b>' }]);
    const row = text.split('\n').find((l) => l.startsWith('| `--x`'))!;
    assert.equal(row.split(/(?<!\\)\|/).length, 6, row);
    assert.ok(!/(?<!\\)<b>/.test(row), row);
  });

  it('no other page keeps a hand-written flag table: README.md and docs/*.md link to docs/flags.md', () => {
    const pages = [
      'README.md',
      ...readdirSync(`${ROOT}docs`)
        .filter((f) => f.endsWith('.md') && f !== 'flags.md')
        .map((f) => `docs/${f}`),
    ];
    const copies: string[] = [];
    for (const page of pages) {
      read(page)
        .split('\n')
        .forEach((line, i) => {
          if (/^\|\s*flag\s*\|\s*default\s*\|/i.test(line)) copies.push(`${page}:${i + 1}: ${line}`);
        });
    }
    assert.deepEqual(copies, [], 'flag tables belong in docs/flags.md (generated); link to it instead');
    assert.match(read('README.md'), /docs\/flags\.md/);
  });

  it('every link into docs/flags.md names a heading it has', () => {
    const anchors = new Set(
      read('docs/flags.md')
        .split('\n')
        .filter((l) => l.startsWith('#'))
        .map((l) =>
          l
            .replace(/^#+ /, '')
            .toLowerCase()
            .replace(/[^\w\- ]/g, '')
            .replace(/ /g, '-'),
        ),
    );
    const pages = [
      'README.md',
      ...readdirSync(`${ROOT}docs`)
        .filter((f) => f.endsWith('.md'))
        .map((f) => `docs/${f}`),
    ];
    const broken: string[] = [];
    for (const page of pages) {
      for (const m of read(page).matchAll(/\]\((?:docs\/)?flags\.md#([^)\s]+)\)/g)) if (!anchors.has(m[1]!)) broken.push(`${page}: #${m[1]}`);
    }
    assert.deepEqual(broken, []);
  });
});
