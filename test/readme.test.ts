/**
 * The README is the way into the docs: its contents list links every page of docs/ (a page it does
 * not link is a page nobody finds), no link of the README or of a docs page points at a file or a
 * heading that is not there, its quick start is the one CI runs (.ci/run's "README quick start"
 * step), and it maps each of the Loki Operator's tenant modes to one of this service's.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEMO_MODES } from '../scripts/demo/modes.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

/** Every markdown page under docs/, as a path from the root. */
function docsPages(dir = 'docs'): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory()) out.push(...docsPages(p));
    else if (e.name.endsWith('.md')) out.push(p);
  }
  return out.sort();
}

/** The text outside fenced code blocks, line by line (a `# comment` in a shell block is no heading). */
function proseLines(text: string): string[] {
  let fenced = false;
  return text.split('\n').map((line) => {
    if (/^\s*(```|~~~)/.test(line)) {
      fenced = !fenced;
      return '';
    }
    return fenced ? '' : line;
  });
}

/** GitHub's heading anchors: lower case, inline code marks and punctuation but `-` and `_` dropped, spaces to `-`, repeats numbered. */
function anchorsOf(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const line of proseLines(text)) {
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const slug = m[1]!
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}_\- ]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.add(n === 0 ? slug : `${slug}-${n}`);
  }
  for (const m of text.matchAll(/<a\s+(?:name|id)="([^"]+)"/g)) out.add(m[1]!);
  return out;
}

/** The relative links of a page's prose: [text](target) with no scheme. */
function relativeLinks(text: string): { target: string; line: number }[] {
  const out: { target: string; line: number }[] = [];
  proseLines(text).forEach((line, i) => {
    // Inline code may show link syntax without being a link.
    const prose = line.replace(/`[^`]*`/g, '``');
    // Inline links and images, and reference definitions ([name]: target).
    const targets = [...prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g), ...prose.matchAll(/^\s{0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?/g)].map((m) => m[1]!);
    for (const target of targets) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
      out.push({ target, line: i + 1 });
    }
  });
  return out;
}

/** Where each link of a page goes wrong: a missing file, or a heading its target does not have. */
function brokenLinks(page: string): string[] {
  const broken: string[] = [];
  for (const { target, line } of relativeLinks(read(page))) {
    const [file, anchor] = target.split('#', 2) as [string, string | undefined];
    const path = file === '' ? page : normalize(join(dirname(page), decodeURIComponent(file)));
    const at = `${page}:${line}: ${target}`;
    if (path.startsWith('..') || !existsSync(join(ROOT, path))) {
      broken.push(`${at}: no file ${path}`);
      continue;
    }
    if (anchor === undefined || anchor === '') continue;
    if (!path.endsWith('.md') || statSync(join(ROOT, path)).isDirectory()) {
      broken.push(`${at}: an anchor into a file that has no headings`);
      continue;
    }
    if (!anchorsOf(read(path)).has(decodeURIComponent(anchor))) broken.push(`${at}: ${path} has no heading #${anchor}`);
  }
  return broken;
}

/** The lines of one `## heading` section of the README. */
function section(text: string, heading: string): string {
  const start = text.indexOf(`\n## ${heading}\n`);
  assert.ok(start >= 0, `README has no "## ${heading}" section`);
  const next = text.indexOf('\n## ', start + 1);
  return text.slice(start, next < 0 ? undefined : next);
}

describe('README.md', () => {
  const readme = read('README.md');

  it('its contents list links every page of docs/, one line each, and nothing missing', () => {
    const contents = section(readme, 'Documentation');
    const linked = [...contents.matchAll(/^- \[[^\]]*\]\((docs\/[^)#\s]+\.md)\)/gm)].map((m) => m[1]!);
    const missing = docsPages().filter((p) => !linked.includes(p));
    assert.deepEqual(missing, [], 'docs pages the README does not list under "## Documentation"');
    const twice = linked.filter((p, i) => linked.indexOf(p) !== i);
    assert.deepEqual(twice, [], 'pages listed twice');
  });

  it('no link of the README or of a docs page is broken (file or heading)', () => {
    const broken = ['README.md', ...docsPages()].flatMap(brokenLinks);
    assert.deepEqual(broken, []);
  });

  it('the anchor rule matches the headings the pages link to today', () => {
    // GitHub's slugs for headings with code, punctuation and repeats.
    const anchors = anchorsOf(
      '# A\n## Who the caller is (`--openshift.verify-token`)\n#### `oidc.userinfoOpaqueTokens`: what it gives away\n## Flags\n## Flags\n```sh\n# not a heading\n```\n',
    );
    assert.deepEqual([...anchors], ['a', 'who-the-caller-is---openshiftverify-token', 'oidcuserinfoopaquetokens-what-it-gives-away', 'flags', 'flags-1']);
  });

  it('a broken link is found: a missing page, a missing heading', () => {
    assert.ok(!anchorsOf(read('docs/static.md')).has('no-such-heading'));
    const links = relativeLinks(
      'see [x](docs/nope.md) and [y](docs/static.md#no-such-heading), not `[z](q.md)`\n```\n[w](code.md)\n```\n[ref]: docs/gone.md\n[web](https://example.com/x.md)\n',
    );
    assert.deepEqual(
      links.map((l) => l.target),
      ['docs/nope.md', 'docs/static.md#no-such-heading', 'docs/gone.md'],
    );
  });

  it('its quick start is what CI runs: `npm ci && npm start`, the same decision request and answer, then `npm test`', () => {
    const quick = section(readme, 'Quick start');
    const blocks = [...quick.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!.trim());
    assert.equal(blocks[0], 'npm ci && npm start');
    assert.ok(blocks.includes('npm test'), 'the quick start shows `npm test` on its own');
    // .ci/run starts `npm start` and sends one decision; the README shows that request and its answer.
    const ci = read('.ci/run');
    assert.match(ci, /setsid npm start\b/);
    const ciBody = /-d '(\{"input":[^']*\})'/.exec(ci.slice(ci.indexOf('readme_quick_start()')))?.[1];
    const ciAnswer = /\[ "\$answer" = '([^']*)' \]/.exec(ci)?.[1];
    assert.ok(ciBody && ciAnswer, '.ci/run no longer has the README quick start step this test reads');
    const curl = blocks.find((b) => b.startsWith('curl'));
    assert.ok(curl, 'the quick start shows the decision request');
    assert.ok(curl.includes(`-d '${ciBody}'`), `README's request body differs from .ci/run's: ${curl}`);
    assert.match(curl, /http:\/\/127\.0\.0\.1:8080\/v1\/data\/lokistack\/allow/);
    assert.ok(curl.includes(`# ${ciAnswer}`), `README's answer differs from .ci/run's ${ciAnswer}`);
    const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
    assert.match(pkg.scripts.start ?? '', /--web\.listen=127\.0\.0\.1:8080 .*--rbac\.config=deploy\/examples\/rbac\.yaml/);
    assert.ok(pkg.scripts.test, 'package.json has a test script');
  });

  it('names the demo of every mode `npm run demo` has', () => {
    const quick = section(readme, 'Quick start');
    const unnamed = DEMO_MODES.map((m) => m.name).filter((name) => !quick.includes(`-- ${name}\``));
    assert.deepEqual(unnamed, [], 'demo modes the README quick start does not name');
  });

  it('its first screen says what it is, why, and where it sits, before the quick start', () => {
    const first = readme.slice(0, readme.indexOf('\n## Quick start\n'));
    assert.ok(first.split('\n').length <= 60, `the quick start starts at line ${first.split('\n').length + 1}; keep the first screen short`);
    for (const link of ['bench/results/latest.md', 'docs/security.md', 'docs/migrating-from-opa-openshift.md', 'docs/forward-auth.md']) {
      assert.ok(first.includes(`](${link})`), `the "why" links ${link}`);
    }
    const diagram = /```\n([\s\S]*?)```/.exec(first)?.[1] ?? '';
    for (const part of ['LokiStack gateway', 'lokistack-authz', 'Loki', 'OIDC', 'Kubernetes API', '/forward-auth']) {
      assert.ok(diagram.includes(part), `the diagram shows ${part}`);
    }
  });

  it("its performance claims are the committed bench results' (bench/results/latest.md)", () => {
    // The Summary table: scenario, server, req/s, p50, p99, max, errors, upstream calls, peak RSS, CPU/request.
    const bench = read('bench/results/latest.md');
    const summary = bench.slice(bench.indexOf('## Summary'), bench.indexOf('\n## ', bench.indexOf('## Summary') + 1));
    const row = (scenario: string, server: string): string[] => {
      const line = summary.split('\n').find((l) => l.startsWith(`| ${scenario} | ${server} |`));
      assert.ok(line, `bench/results/latest.md has no summary row for ${scenario} / ${server}`);
      return line
        .split('|')
        .map((c) => c.trim())
        .slice(1, -1);
    };
    const num = (cell: string): number =>
      Number(
        cell
          .replace(/,/g, '')
          .replace(/\s*(ms|MiB)$/, '')
          .replace(/\s*\(.*$/, ''),
      );
    const ratio = (a: string, b: string): string => `${(num(a) / num(b)).toFixed(1)}×`;
    const why = readme.slice(0, readme.indexOf('\n## Quick start\n')).replace(/\s+/g, ' ');
    const hitOurs = row('openshift decision, cache hit', 'ours');
    const hitPeer = row('openshift decision, cache hit', 'opa-openshift');
    assert.ok(why.includes(`at ${ratio(hitOurs[2]!, hitPeer[2]!)} opa-openshift's requests per second`), 'cache-hit req/s ratio');
    assert.ok(why.includes(`and ${(num(hitOurs[4]!) / num(hitPeer[4]!)).toFixed(2)}× its p99`), 'cache-hit p99 ratio');
    const herdOurs = row('200 concurrent identical cold requests', 'ours');
    const herdPeer = row('200 concurrent identical cold requests', 'opa-openshift');
    assert.ok(
      why.includes(`cost ${herdOurs[7]!.replace(/\s*\(.*$/, '')} Kubernetes calls instead of ${herdPeer[7]!.replace(/\s*\(.*$/, '')}`),
      'herd upstream calls',
    );
    const nsOurs = row('namespaces per query: 100 cold', 'ours');
    const nsPeer = row('namespaces per query: 100 cold', 'opa-openshift');
    assert.ok(why.includes(`answers in ${nsOurs[3]} at the median instead of ${Math.round(num(nsPeer[3]!) / 1000)} s`), 'namespaces p50');
    assert.ok(why.includes(`peak RSS ${ratio(row('static decision', 'ours')[8]!, row('static decision', 'opa')[8]!)} the OPA server's`), 'static RSS ratio');
    assert.ok(why.includes(`and ${ratio(hitOurs[8]!, hitPeer[8]!)} opa-openshift's`), 'cache-hit RSS ratio');
  });

  it("maps each of the Loki Operator's tenants.mode values to a mode of this service", () => {
    // operator/api/loki/v1/lokistack_types.go: ModeType.
    const modes = ['static', 'dynamic', 'openshift-logging', 'openshift-network', 'passthrough'];
    const table = section(readme, 'Which mode for a LokiStack');
    for (const mode of modes) assert.match(table, new RegExp(`^\\| \`${mode}\`[ |(]`, 'm'), `no row for tenants.mode ${mode}`);
  });

  it('its Layout has one line per room of server/, and no room that is not there', () => {
    const block = /## Layout[\s\S]*?```\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    const named = new Set([...block.matchAll(/(?:^|\s)([a-z][a-z0-9-]*(?:\.ts|\/))(?=\s|$)/gm)].map((m) => m[1]!));
    const rooms = readdirSync(join(ROOT, 'server'), { withFileTypes: true }).map((e) => (e.isDirectory() ? `${e.name}/` : e.name));
    const missing = rooms.filter((r) => !named.has(r));
    assert.deepEqual(missing, [], `server/ has rooms the README's Layout does not name: ${missing.join(', ')}`);
    const topLevel = new Set(['server/', 'policies/', 'wasm/', 'fixtures/', 'test/', 'deploy/', 'bench/', 'docs/', 'scripts/']);
    const stale = [...named].filter((n) => !rooms.includes(n) && !topLevel.has(n));
    assert.deepEqual(stale, [], `the README's Layout names rooms server/ does not have: ${stale.join(', ')}`);
    for (const dir of topLevel) assert.ok(existsSync(join(ROOT, dir)), `${dir} is named but not there`);
  });

  it('is a front page, not a reference: no section longer than the page allows', () => {
    // Reference text belongs in docs/ (the contents list links it); the README keeps what a first
    // reader needs. 200 lines leaves room for this page's content with no copy of a docs page.
    assert.ok(readme.split('\n').length <= 200, `README.md is ${readme.split('\n').length} lines`);
  });
});
