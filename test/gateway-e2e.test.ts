/**
 * The real LokiStack gateway (observatorium/api) end to end, with the Loki Operator's arguments, in
 * front of a recording Loki stand-in, with this service as every tenant's opa.url and, for the same
 * requests, real opa-openshift: the client's status, the tenant header and the query that reached
 * Loki must be what the fixture's RBAC says and the same with either authorizer, and a denial must
 * reach Loki not at all. The gateway needs an in-cluster look, so everything runs in a private
 * mount and network namespace (test/support/gateway/namespace.ts; root). Outside CI a missing peer
 * or no namespace skips the suite with one loud line; under CI it fails.
 */
import assert from 'node:assert/strict';
import { requirePeer } from './support/peers.js';
import { LOGGING_CASES, NETWORK_CASES, OIDC_CASES, type GatewayCase, type TenantKind } from './support/gateway/cases.js';
import { requireNamespace, runInNamespace } from './support/gateway/namespace.js';
import type { DriverReport, Outcome } from './support/gateway/run.js';

const NAMESPACE_LABELS = /\b(kubernetes_namespace_name|k8s_namespace_name|SrcK8S_Namespace|DstK8S_Namespace)\s*(=~|=)\s*"([^"]*)"/g;

/** Every namespace a LogQL query selects by the operator's namespace labels (regex alternatives split). */
function selectedNamespaces(query: string): string[] {
  return [...query.matchAll(NAMESPACE_LABELS)].flatMap((m) => m[3]!.split('|'));
}

/** What is compared between authorizers: a regex's alternatives come in Go map order there, sorted here. */
function comparable(o: Outcome): unknown {
  const sortAlternatives = (q: string | undefined) => q?.replace(/=~\s*"([^"]*)"/g, (_all, alts: string) => `=~"${alts.split('|').sort().join('|')}"`);
  return { status: o.status, hits: o.hits.map((h) => ({ method: h.method, path: h.path, orgId: h.orgId, query: sortAlternatives(h.params.query) })) };
}

function describeKind(kind: TenantKind, cases: GatewayCase[], title: string, reference: string): void {
  describe(`real gateway, ${title}`, function () {
    this.timeout(150_000);
    let report: DriverReport;

    before(async function () {
      const env: Record<string, string> = { OBSERVATORIUM_API_BIN: requirePeer(this, 'observatorium-api') };
      if (kind !== 'oidc') env.OPA_OPENSHIFT_BIN = requirePeer(this, 'opa-openshift');
      requireNamespace(this);
      report = await runInNamespace<DriverReport>(kind, env);
      assert.equal(report.results.ours?.length, cases.length, 'one outcome per case through this service');
      assert.equal(report.results.reference?.length, cases.length, `one outcome per case through ${reference}`);
    });

    cases.forEach((c, i) => {
      it(`${c.name}: ${c.status}`, () => {
        const ours = report.results.ours[i]!;
        const theirs = report.results.reference[i]!;
        assert.equal(ours.name, c.name, 'outcomes are in case order');
        assert.equal(ours.status, c.status, `gateway status with this service (hits: ${JSON.stringify(ours.hits)})`);
        if (c.status >= 300) {
          assert.deepEqual(ours.hits, [], 'a refused request reaches Loki not at all');
        } else {
          assert.equal(ours.hits.length, 1, `exactly one request reached Loki: ${JSON.stringify(ours.hits)}`);
          const [hit] = ours.hits;
          assert.equal(hit!.orgId, c.tenant, 'X-Scope-OrgID is the tenant');
          assert.equal(hit!.path, c.path, 'the Loki path behind the tenant prefix');
          if (c.method === 'GET') {
            const forwarded = hit!.params.query ?? '';
            if (c.namespaces) {
              const selected = selectedNamespaces(forwarded);
              assert.ok(selected.length > 0, `the forwarded query still selects namespaces: ${forwarded}`);
              for (const ns of selected) assert.ok(c.namespaces.includes(ns), `forwarded query selects ${ns}, not readable here: ${forwarded}`);
            } else {
              assert.equal(forwarded, c.params?.query, "an unrestricted reader's query reaches Loki unchanged");
            }
          }
        }
        assert.deepEqual(
          comparable(ours),
          comparable(theirs),
          `same outcome as with ${reference}: ours ${JSON.stringify(ours)} theirs ${JSON.stringify(theirs)}`,
        );
      });
    });
  });
}

describeKind('logging', LOGGING_CASES, 'openshift-logging tenants: this service and real opa-openshift as opa.url', 'real opa-openshift');
describeKind('network', NETWORK_CASES, 'openshift-network tenant: this service and real opa-openshift as opa.url', 'real opa-openshift');
// The operator's dynamic shape (opa.url, no token forwarded) against its static shape (in-process
// OPA); both evaluate policies/lokistack.rego, this project's port of the operator's Rego.
describeKind('oidc', OIDC_CASES, "OIDC tenants (real oidc-provider): this service as opa.url and the gateway's in-process OPA", "the gateway's in-process OPA");
