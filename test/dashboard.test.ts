/**
 * The Grafana dashboard (deploy/dashboards/lokistack-authz.json) and the alerts
 * (deploy/components/monitoring/prometheusrule.yaml) against what the service really exports: the
 * service runs in each mode (static; dynamic with the real OIDC provider; openshift-logging with
 * the fake Kubernetes API), makes a few decisions, and its /metrics is scraped. Every metric a
 * query names must be there, and every label it matches on must be one that metric carries. A
 * panel or an alert over a misspelled metric or label would otherwise show nothing, or never fire,
 * and look healthy.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { LOKISTACK_TOKENS, lokistackFakeKubeOptions } from './support/fake-kube/fixtures.js';
import { startFakeKube, type FakeKube } from './support/fake-kube/server.js';
import { startOidcProvider, type OidcProvider } from './support/oidc.js';
import { gatewayInput, OPERATOR_LOGGING_ARGS, postDecision, selecting, startAuthzOn, type RunningAuthz } from './support/openshift.js';
import { ALLOWED_INPUT, DENIED_INPUT, startTestService, writeTempFile, type TestService } from './support/service.js';

const DASHBOARD = fileURLToPath(new URL('../deploy/dashboards/lokistack-authz.json', import.meta.url));
const RULES = fileURLToPath(new URL('../deploy/components/monitoring/prometheusrule.yaml', import.meta.url));
const PACKAGE_VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Labels Prometheus adds to every series of a target (the ServiceMonitor's), not the service. */
const TARGET_LABELS = new Set(['job', 'namespace', 'pod', 'instance', 'service', 'container', 'endpoint']);
/** Series Prometheus makes for each target itself. */
const SYNTHETIC_SERIES = new Set(['up']);
/**
 * Metrics with labels that only get a sample on an attack or a fault the suites elsewhere drive
 * (test/cache.test.ts: forged memcached entries): declared (# TYPE) here, their labels unchecked.
 */
const FAULT_ONLY = new Set(['decision_cache_rejected_entries_total']);

// PromQL keywords that read like identifiers (aggregation modifiers, set and comparison operators, literals).
const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'atan2', 'inf', 'nan']);

interface Selector {
  metric: string;
  labels: string[];
}

/**
 * The metric selectors of a PromQL expression (Grafana's variables allowed): each metric name with
 * the label names its matchers use. Functions and aggregations are told apart by the `(` after them.
 */
function selectorsIn(expr: string): Selector[] {
  let s = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\$\{[^}]*\}|\$\w+/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  // Grafana's label_values(<selector>, <label>): the second argument is a label, not a metric.
  s = s.replace(/\blabel_values\s*\(([^,()]*),\s*\w+\s*\)/g, ' $1 ');
  const out: Selector[] = [];
  for (const m of s.matchAll(/(?<![\w:.])([a-zA-Z_:][\w:]*)(?![\w:])\s*(\{[^}]*\})?(?!\s*\()/g)) {
    if (KEYWORDS.has(m[1]!)) continue;
    const labels = [...(m[2] ?? '').matchAll(/(\w+)\s*(?:=~|!~|!=|=)/g)].map((l) => l[1]!);
    out.push({ metric: m[1]!, labels });
  }
  return out;
}

/** Every query of the dashboard (panels, rows' panels, template variables), with where it is. */
function dashboardQueries(): Array<{ where: string; expr: string }> {
  const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels?: unknown[]; templating?: { list?: Array<Record<string, unknown>> } };
  const out: Array<{ where: string; expr: string }> = [];
  const walk = (panels: unknown[] | undefined) => {
    for (const p of (panels ?? []) as Array<{ title?: string; targets?: Array<{ expr?: string }>; panels?: unknown[] }>) {
      for (const t of p.targets ?? []) if (t.expr) out.push({ where: `dashboard panel "${p.title}"`, expr: t.expr });
      walk(p.panels);
    }
  };
  walk(dash.panels);
  for (const v of dash.templating?.list ?? []) {
    const q = v.query as { query?: string } | string | undefined;
    const text = typeof q === 'string' ? q : q?.query;
    if (v.type === 'query' && text) out.push({ where: `dashboard variable $${String(v.name)}`, expr: text });
  }
  return out;
}

function ruleQueries(): Array<{ where: string; expr: string }> {
  const rule = parseYaml(readFileSync(RULES, 'utf8')) as {
    kind: string;
    spec: { groups: Array<{ rules: Array<{ alert?: string; record?: string; expr: string }> }> };
  };
  assert.equal(rule.kind, 'PrometheusRule');
  return rule.spec.groups.flatMap((g) => g.rules.map((r) => ({ where: `alert ${r.alert ?? r.record}`, expr: String(r.expr) })));
}

/**
 * What one scrape exports: each series name with the label names seen on its samples. A declared
 * (# TYPE) metric exports its name, and a histogram or summary its _bucket/_sum/_count too, with
 * or without samples yet.
 */
function exposition(text: string, into: Map<string, Set<string>>): void {
  const add = (name: string, labels: string[] = []) => {
    const set = into.get(name) ?? new Set<string>();
    for (const l of labels) set.add(l);
    into.set(name, set);
  };
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\w+)/.exec(line);
    if (type) {
      const [, name, kind] = type;
      add(name!);
      if (kind === 'histogram' || kind === 'summary')
        for (const suffix of ['_sum', '_count', ...(kind === 'histogram' ? ['_bucket'] : [])]) add(name! + suffix);
      continue;
    }
    if (line.startsWith('#') || line.trim() === '') continue;
    const sample = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s/.exec(line);
    if (sample)
      add(
        sample[1]!,
        [...(sample[2] ?? '').matchAll(/(\w+)="/g)].map((l) => l[1]!),
      );
  }
}

async function scrape(internalUrl: string): Promise<string> {
  const res = await fetch(`${internalUrl}/metrics`);
  assert.equal(res.status, 200);
  return res.text();
}

/** The build_info samples of a scrape, each as `version=… node_version=… mode=… <value>`. */
function buildInfo(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('lokistack_authz_build_info{'))
    .map((l) => {
      const labels = Object.fromEntries([...l.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
      return `version=${labels.version} node_version=${labels.node_version} mode=${labels.mode} ${l.split(' ').pop()}`;
    });
}

describe('dashboard and alerts: every query names what the service exports', function () {
  this.timeout(60_000);
  /** Series name -> label names, over the three modes' scrapes. */
  const exported = new Map<string, Set<string>>();
  const scrapes: Record<string, string> = {};
  let provider: OidcProvider | undefined;
  let fake: FakeKube | undefined;
  const running: Array<TestService | RunningAuthz> = [];

  before(async () => {
    // static: one allow, one deny, and the probes a kubelet makes.
    const stat = await startTestService();
    running.push(stat);
    for (const input of [ALLOWED_INPUT, DENIED_INPUT]) assert.equal((await postDecision(stat.publicUrl, { input })).status, 200);
    for (const probe of ['live', 'ready']) await fetch(`${stat.internalUrl}/${probe}`);
    scrapes.static = await scrape(stat.internalUrl);

    // dynamic: a token the real provider issued (allowed, then from the claims cache), and none (denied).
    provider = await startOidcProvider({
      accounts: { alice: { claims: { email: 'alice@example.com', groups: ['developers'] } } },
      clients: [{ client_id: 'gateway', client_secret: 'gateway-secret' }],
    });
    const tenants = writeTempFile(
      'tenants.yaml',
      stringifyYaml({
        tenants: [
          {
            name: 'application',
            id: 'application',
            oidc: {
              issuerURL: provider.issuer,
              clientID: 'gateway',
              clientSecret: 'gateway-secret',
              usernameClaim: 'email',
              groupClaim: 'groups',
              audiences: ['lokistack-authz'],
            },
          },
        ],
      }),
    );
    const dyn = await startTestService({ flags: ['--mode=dynamic', `--tenants.config=${tenants}`, '--oidc.allow-insecure-issuers'] });
    running.push(dyn);
    const token = await provider.jwtAccessToken('alice', { clientId: 'gateway' });
    const input = { groups: [], permission: 'read', resource: 'logs', subject: '', tenant: 'application', tenantID: 'application', token: '', extras: {} };
    for (let i = 0; i < 2; i++) assert.deepEqual((await postDecision(dyn.publicUrl, { input, token })).body, { result: true });
    assert.deepEqual((await postDecision(dyn.publicUrl, { input })).body, { result: false });
    await fetch(`${dyn.internalUrl}/live`);
    scrapes.dynamic = await scrape(dyn.internalUrl);

    // openshift-logging: the operator's arguments over the fake API; the same query twice (a cache hit).
    fake = await startFakeKube(lokistackFakeKubeOptions());
    const os = await startAuthzOn(fake, OPERATOR_LOGGING_ARGS);
    running.push(os);
    for (let i = 0; i < 2; i++) {
      const answer = await postDecision(os.url, { input: gatewayInput('bob', { extras: selecting(['log-test-0']) }), token: LOKISTACK_TOKENS.bob });
      assert.equal(answer.status, 200, answer.text);
    }
    await fetch(`${os.internalUrl}/live`);
    scrapes['openshift-logging'] = await scrape(os.internalUrl);

    for (const text of Object.values(scrapes)) exposition(text, exported);
  });

  after(async () => {
    await Promise.all(running.splice(0).map((r) => r.stop()));
    await provider?.stop();
    await fake?.close();
  });

  it('reads metric names and matcher labels out of PromQL as Prometheus would', () => {
    assert.deepEqual(
      selectorsIn('histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{job="$job", handler="data"}[$__rate_interval]))) > 2'),
      [{ metric: 'http_request_duration_seconds_bucket', labels: ['job', 'handler'] }],
    );
    assert.deepEqual(selectorsIn('sum(rate(a_total{x=~"b|c"}[5m])) / sum without (y) (rate(b_total[5m])) > bool 0.05 and on (z) time() - c'), [
      { metric: 'a_total', labels: ['x'] },
      { metric: 'b_total', labels: [] },
      { metric: 'c', labels: [] },
    ]);
    assert.deepEqual(selectorsIn('label_values(lokistack_authz_build_info{namespace="$namespace"}, job)'), [
      { metric: 'lokistack_authz_build_info', labels: ['namespace'] },
    ]);
    assert.deepEqual(selectorsIn('absent(up{job="x", le="}"} == 1)'), [{ metric: 'up', labels: ['job', 'le'] }]);
    assert.deepEqual(
      selectorsIn('a_total and b unless c'),
      ['a_total', 'b', 'c'].map((metric) => ({ metric, labels: [] })),
    );
  });

  it('every mode was scraped after deciding, and the scrapes hold what its decisions must have counted', () => {
    for (const [mode, text] of Object.entries(scrapes)) assert.match(text, new RegExp(`^decisions_total\\{mode="${mode}",result="allow"\\} [1-9]`, 'm'), mode);
    assert.match(scrapes.dynamic!, /^oidc_token_verifications_total\{result="ok"\} [1-9]/m);
    assert.match(scrapes['openshift-logging']!, /^client_api_requests_total\{[^}]*client="openshift"[^}]*\} [1-9]/m);
    assert.match(scrapes['openshift-logging']!, /^opa_openshift_cache_requests_total\{result="hit"\} [1-9]/m);
  });

  it('lokistack_authz_build_info is 1, labelled with the package version, the running Node.js and the mode', () => {
    for (const [mode, text] of Object.entries(scrapes)) {
      assert.deepEqual(buildInfo(text), [`version=${PACKAGE_VERSION} node_version=${process.version} mode=${mode} 1`], mode);
    }
  });

  for (const [what, queries] of [
    ['the dashboard', dashboardQueries],
    ['the PrometheusRule', ruleQueries],
  ] as const) {
    it(`${what}: every metric it queries is exported, with the labels it matches on`, () => {
      const all = queries();
      assert.ok(all.length >= 10, `${what}: only ${all.length} queries found`);
      const faults: string[] = [];
      let selectors = 0;
      for (const { where, expr } of all) {
        const found = selectorsIn(expr);
        if (found.length === 0) faults.push(`${where}: no metric in ${JSON.stringify(expr)}`);
        for (const { metric, labels } of found) {
          selectors++;
          if (SYNTHETIC_SERIES.has(metric)) continue;
          const have = exported.get(metric);
          if (!have) {
            faults.push(`${where}: ${metric} is not exported in any mode`);
            continue;
          }
          if (have.size === 0 && FAULT_ONLY.has(metric)) continue;
          for (const label of labels) {
            if (!TARGET_LABELS.has(label) && !have.has(label))
              faults.push(`${where}: ${metric} has no label ${label} (it has: ${[...have].join(', ') || 'none'})`);
          }
        }
      }
      assert.deepEqual(faults, []);
      assert.ok(selectors >= all.length);
    });
  }

  it('the check finds a misspelled metric or label (it is not vacuous)', () => {
    const wrong = [
      ...selectorsIn('sum(rate(decision_total{result="error"}[5m]))'),
      ...selectorsIn('sum(rate(decisions_total{outcome="error"}[5m]))'),
      ...selectorsIn('histogram_quantile(0.99, rate(http_request_duration_bucket[5m]))'),
    ];
    const missing = wrong.filter(({ metric, labels }) => !exported.has(metric) || labels.some((l) => !exported.get(metric)!.has(l)));
    assert.equal(missing.length, 3);
  });
});
