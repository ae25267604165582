/**
 * The manifests as kustomize builds them (deploy/expected/, kept equal to the build by
 * scripts/check-deploy.sh): what every lokistack-authz container an operator deploys is bound by.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

const EXPECTED = fileURLToPath(new URL('../deploy/expected/', import.meta.url));

interface Container {
  name: string;
  image: string;
  args?: string[];
  resources?: { requests?: { memory?: string }; limits?: { memory?: string } };
}

function containers(): Array<{ where: string; c: Container }> {
  const out: Array<{ where: string; c: Container }> = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.yaml')) {
        for (const doc of parseAllDocuments(readFileSync(p, 'utf8'))) {
          const obj = doc.toJS() as { kind?: string; metadata?: { name?: string }; spec?: { template?: { spec?: { containers?: Container[] } } } } | null;
          for (const c of obj?.spec?.template?.spec?.containers ?? []) {
            if (/(^|\/)lokistack-authz(:|@|$)/.test(c.image))
              out.push({ where: `${p.slice(EXPECTED.length)}: ${obj!.kind}/${obj!.metadata?.name} container ${c.name}`, c });
          }
        }
      }
    }
  };
  walk(EXPECTED);
  return out;
}

describe('deploy manifests', () => {
  const all = containers();

  it('has lokistack-authz containers to check, standalone and sidecar', () => {
    assert.ok(
      all.some((x) => x.c.name === 'opa'),
      'a sidecar',
    );
    assert.ok(
      all.some((x) => x.c.name === 'lokistack-authz'),
      'a standalone container',
    );
  });

  it('every lokistack-authz container has a memory limit, sidecars included', () => {
    for (const { where, c } of all) assert.match(String(c.resources?.limits?.memory), /^\d+(Mi|Gi)$/, `${where}: no memory limit`);
  });

  it('every lokistack-authz container requests memory, and no more than its limit (the scheduler places it by the request)', () => {
    const mi = (q: string | undefined) => {
      const m = /^(\d+)(Mi|Gi)$/.exec(String(q));
      return m ? Number(m[1]) * (m[2] === 'Gi' ? 1024 : 1) : NaN;
    };
    for (const { where, c } of all) {
      const request = mi(c.resources?.requests?.memory);
      assert.ok(request > 0, `${where}: no memory request`);
      assert.ok(request <= mi(c.resources?.limits?.memory), `${where}: memory request above the limit`);
    }
  });

  it('a sidecar serves decisions on loopback only (its gateway is its one client)', () => {
    for (const { where, c } of all.filter((x) => x.c.name === 'opa')) {
      const listen = c.args?.find((a) => a.startsWith('--web.listen='));
      assert.match(String(listen), /^--web\.listen=(127\.0\.0\.1|localhost|\[::1\]):\d+$/, where);
    }
  });
});

/** The objects one built output (deploy/expected/<name>.yaml) holds. */
// biome-ignore lint/suspicious/noExplicitAny: a manifest's spec is whatever kind it is; the tests read paths they assert on.
function objectsOf(name: string): Array<{ apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; spec?: any }> {
  return parseAllDocuments(readFileSync(join(EXPECTED, `${name}.yaml`), 'utf8'))
    .map((d) => d.toJS())
    .filter(Boolean);
}

describe('deploy monitoring (ServiceMonitor and PrometheusRule, an optional component)', () => {
  it('the base and its overlays need no Prometheus Operator CRD: a cluster without them applies them unedited', () => {
    for (const name of ['static', 'dynamic']) {
      const kinds = objectsOf(name)
        .filter((o) => o.apiVersion.startsWith('monitoring.coreos.com/'))
        .map((o) => o.kind);
      assert.deepEqual(kinds, [], name);
    }
  });

  it('with the component, the ServiceMonitor selects the Service by its labels and scrapes a port the Service has, at /metrics', () => {
    const objs = objectsOf('static-with-monitoring');
    const monitors = objs.filter((o) => o.kind === 'ServiceMonitor');
    assert.equal(monitors.length, 1);
    const sm = monitors[0]!.spec as { selector: { matchLabels: Record<string, string> }; endpoints: Array<{ port: string; path?: string }> };
    // The Prometheus Operator's semantics: Services whose labels include matchLabels, endpoints by port name.
    const services = objs.filter((o) => o.kind === 'Service' && Object.entries(sm.selector.matchLabels).every(([k, v]) => o.metadata.labels?.[k] === v));
    assert.deepEqual(
      services.map((o) => o.metadata.name),
      ['lokistack-authz'],
    );
    const ports = (services[0]!.spec.ports as Array<{ name: string; targetPort: string }>).map((p) => p.name);
    for (const ep of sm.endpoints) {
      assert.ok(ports.includes(ep.port), `endpoint port ${ep.port} is not one of the Service's ${ports.join(', ')}`);
      assert.equal(ep.path ?? '/metrics', '/metrics');
    }
    // That port is the container's internal listener, where /metrics is served.
    const metricsPort = (services[0]!.spec.ports as Array<{ name: string; targetPort: string }>).find((p) => p.name === sm.endpoints[0]!.port)!.targetPort;
    const deployment = objs.find((o) => o.kind === 'Deployment')!;
    const container = (deployment.spec.template.spec.containers as Array<{ args: string[]; ports: Array<{ name: string; containerPort: number }> }>)[0]!;
    const port = container.ports.find((p) => p.name === metricsPort)!.containerPort;
    assert.ok(container.args.includes(`--web.internal.listen=:${port}`), `port ${port} is not --web.internal.listen`);
  });

  it('with the component, the alerts select the job that ServiceMonitor gives its targets (the Service name)', () => {
    const objs = objectsOf('static-with-monitoring');
    const rules = objs.filter((o) => o.kind === 'PrometheusRule');
    assert.equal(rules.length, 1);
    const exprs = (rules[0]!.spec.groups as Array<{ rules: Array<{ alert: string; expr: string }> }>).flatMap((g) => g.rules);
    assert.ok(exprs.length >= 9);
    for (const r of exprs) assert.match(r.expr, /job="lokistack-authz"/, `${r.alert} does not select the job`);
  });
});
