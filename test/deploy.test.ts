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
  resources?: { limits?: { memory?: string } };
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
            if (/(^|\/)lokistack-authz(:|@|$)/.test(c.image)) out.push({ where: `${p.slice(EXPECTED.length)}: ${obj!.kind}/${obj!.metadata?.name} container ${c.name}`, c });
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
    assert.ok(all.some((x) => x.c.name === 'opa'), 'a sidecar');
    assert.ok(all.some((x) => x.c.name === 'lokistack-authz'), 'a standalone container');
  });

  it('every lokistack-authz container has a memory limit, sidecars included', () => {
    for (const { where, c } of all) assert.match(String(c.resources?.limits?.memory), /^\d+(Mi|Gi)$/, `${where}: no memory limit`);
  });

  it('a sidecar serves decisions on loopback only (its gateway is its one client)', () => {
    for (const { where, c } of all.filter((x) => x.c.name === 'opa')) {
      const listen = c.args?.find((a) => a.startsWith('--web.listen='));
      assert.match(String(listen), /^--web\.listen=(127\.0\.0\.1|localhost|\[::1\]):\d+$/, where);
    }
  });
});
