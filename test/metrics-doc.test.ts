/**
 * docs/metrics.md is generated from the Metrics class (scripts/metrics-doc.ts) and is the only
 * metric table. CI fails here when a metric was added or changed without regenerating it, when the
 * page misses a metric the running service really exports (scraped from /metrics, not read from the
 * class), when a note outlives its metric or label, or when a hand-written metric table comes back
 * into another page.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { METRICS_DOC, metricsMarkdown, NOTES, registeredMetrics } from '../scripts/metrics-doc.js';
import { ALLOWED_INPUT, startTestService, type TestService } from './support/service.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const read = (path: string) => readFileSync(`${ROOT}${path}`, 'utf8');

/** The rows of docs/metrics.md: metric name → its type cell's first word and its labels cell. */
function documented(text: string): Map<string, { type: string; labels: string }> {
  const rows = new Map<string, { type: string; labels: string }>();
  for (const line of text.split('\n')) {
    const m = /^\| `([a-z_:][a-z0-9_:]*)` \| ([a-z]+)[^|]* \| ((?:[^|\\]|\\.)*) \|/.exec(line);
    if (!m) continue;
    assert.ok(!rows.has(m[1]!), `${m[1]} listed twice`);
    rows.set(m[1]!, { type: m[2]!, labels: m[3]! });
  }
  return rows;
}

describe('docs/metrics.md (generated from the Metrics class)', () => {
  it('is up to date with the Metrics class', () => {
    assert.ok(readFileSync(METRICS_DOC, 'utf8') === metricsMarkdown(), 'docs/metrics.md is stale: run `npm run docs:metrics` and commit docs/metrics.md');
  });

  it('`npm run docs:metrics -- --check` is the command that checks it, and passes', () => {
    const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
    assert.match(pkg.scripts['docs:metrics'] ?? '', /scripts\/metrics-doc\.ts/);
    // Throws (exit 1) when stale; an unknown argument is exit 2 rather than a rewrite.
    execFileSync(process.execPath, ['--import', 'tsx', 'scripts/metrics-doc.ts', '--check'], { cwd: ROOT, stdio: 'pipe' });
    assert.throws(
      () => execFileSync(process.execPath, ['--import', 'tsx', 'scripts/metrics-doc.ts', '--chek'], { cwd: ROOT, stdio: 'pipe' }),
      (err: { status?: number }) => err.status === 2,
    );
  });

  describe('against what a running service exports', () => {
    let svc: TestService;
    let exposition = '';
    before(async () => {
      svc = await startTestService();
      // One decision, so that the labelled request and decision metrics carry samples too.
      const answer = await fetch(`${svc.publicUrl}/v1/data/lokistack/allow`, { method: 'POST', body: JSON.stringify({ input: ALLOWED_INPUT }) });
      assert.equal(answer.status, 200);
      exposition = await (await fetch(`${svc.internalUrl}/metrics`)).text();
    });
    // Its temporary files go at process exit: removeTempDirs() here would delete the files of
    // every other suite in this mocha process too.
    after(async () => {
      await svc?.stop();
    });

    it('lists every metric /metrics declares, with the type it declares, and nothing it does not', () => {
      const exported = new Map<string, string>();
      for (const m of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
        if (/^(process|nodejs)_/.test(m[1]!)) continue;
        exported.set(m[1]!, m[2]!);
      }
      assert.ok(exported.has('decisions_total') && exported.has('http_requests_total'), `scrape looks wrong:\n${exposition.slice(0, 500)}`);
      const rows = documented(read('docs/metrics.md'));
      const missing = [...exported.keys()].filter((n) => !rows.has(n));
      assert.deepEqual(missing, [], 'exported but not in docs/metrics.md');
      const extra = [...rows.keys()].filter((n) => !exported.has(n));
      assert.deepEqual(extra, [], 'in docs/metrics.md but not exported');
      for (const [name, type] of exported) assert.equal(rows.get(name)!.type, type, `${name}: documented type`);
    });

    it('names every process_* and nodejs_* metric the scrape declares', () => {
      const page = read('docs/metrics.md');
      const declared = [...exposition.matchAll(/^# TYPE ((?:process|nodejs)_\S+) /gm)].map((m) => m[1]!);
      assert.ok(declared.includes('process_resident_memory_bytes'), 'the scrape has process metrics');
      assert.deepEqual(
        declared.filter((n) => !page.includes(`\`${n}\``) && !page.includes(`\`${n}{`)),
        [],
      );
    });

    it('names every label a sample of the scrape carries', () => {
      const rows = documented(read('docs/metrics.md'));
      const unlisted: string[] = [];
      for (const m of exposition.matchAll(/^([a-z_:][a-z0-9_:]*)\{([^}]*)\} /gm)) {
        const base = m[1]!.replace(/_(bucket|sum|count)$/, '');
        const row = rows.get(m[1]!) ?? rows.get(base);
        if (!row) continue; // process_* and nodejs_*
        for (const l of m[2]!.matchAll(/([a-zA-Z_]\w*)="/g)) {
          if (l[1] === 'le' || l[1] === 'quantile') continue;
          if (!row.labels.includes(`\`${l[1]}\``)) unlisted.push(`${m[1]}: ${l[1]}`);
        }
      }
      assert.deepEqual([...new Set(unlisted)], []);
    });
  });

  it('every note names a metric the class registers, and labels that metric has', () => {
    const specs = new Map(registeredMetrics().map((m) => [m.name, m]));
    const stale: string[] = [];
    for (const [name, note] of Object.entries(NOTES)) {
      const spec = specs.get(name);
      if (!spec) {
        stale.push(`${name}: no such metric`);
        continue;
      }
      for (const label of Object.keys(note.labels ?? {})) if (!spec.labelNames.includes(label)) stale.push(`${name}: no label ${label}`);
    }
    assert.deepEqual(stale, [], 'notes in scripts/metrics-doc.ts for metrics or labels that are gone');
  });

  it('a help text with | cannot break the table', () => {
    const text = metricsMarkdown([{ name: 'x_total', type: 'counter', help: 'one | two', labelNames: ['a'] }], { x_total: { labels: { a: '`p|q`' } } });
    const row = text.split('\n').find((l) => l.startsWith('| `x_total`'))!;
    assert.equal(row.split(/(?<!\\)\|/).length, 7, row);
  });

  it('no other page keeps a metric table: they link to docs/metrics.md', () => {
    const pages = [
      'README.md',
      ...readdirSync(`${ROOT}docs`)
        .filter((f) => f.endsWith('.md') && f !== 'metrics.md')
        .map((f) => `docs/${f}`),
      ...readdirSync(`${ROOT}docs/forward-auth`)
        .filter((f) => f.endsWith('.md'))
        .map((f) => `docs/forward-auth/${f}`),
    ];
    const copies: string[] = [];
    for (const page of pages) {
      read(page)
        .split('\n')
        .forEach((line, i) => {
          if (/^\|\s*metric\s*\|/i.test(line)) copies.push(`${page}:${i + 1}: ${line}`);
        });
    }
    assert.deepEqual(copies, [], 'metric tables belong in docs/metrics.md (generated); link to it instead');
    assert.match(read('docs/operations.md'), /\]\(metrics\.md\)/);
  });
});
