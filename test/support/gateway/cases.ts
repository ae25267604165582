/**
 * Requests sent through the real gateway, per tenant kind, with what the fixture's RBAC
 * (test/support/fake-kube/fixtures/lokistack-cluster.yaml, plus NETWORK_RBAC below) says must happen.
 * Ordinary queries only: the suite proves the forward path end to end, not the gateway's rewriting.
 */
import type { Who } from '../openshift.js';

export type TenantKind = 'logging' | 'network' | 'oidc';

export interface GatewayCase {
  name: string;
  /** Whose token is sent as `Authorization: Bearer` (each case gets a token of its own); 'forged': one the API does not know; undefined: none. */
  who?: Who | 'forged';
  /** OIDC tenants: the oidc-provider account whose JWT is sent (instead of `who`), and its audience (default: the gateway's clientID). */
  account?: string;
  audience?: string;
  tenant: string;
  method: 'GET' | 'POST';
  /** Loki path behind /api/logs/v1/<tenant>. */
  path: string;
  params?: Record<string, string>;
  body?: string;
  /** The gateway's status for the client. */
  status: number;
  /** The namespaces the query that reaches Loki may select: every one it names must be in this list. */
  namespaces?: string[];
}

const Q = '/loki/api/v1/query_range';
const read = (name: string, who: GatewayCase['who'], query: string, status: number, namespaces?: string[], tenant = 'application'): GatewayCase => ({
  name,
  who,
  tenant,
  method: 'GET',
  path: Q,
  params: { query, start: '1700000000000000000', end: '1700000300000000000', limit: '10' },
  status,
  ...(namespaces ? { namespaces } : {}),
});
const PUSH_BODY = JSON.stringify({ streams: [{ stream: { kubernetes_namespace_name: 'log-test-0' }, values: [['1700000000000000000', 'hello']] }] });

export const LOGGING_CASES: GatewayCase[] = [
  read('bob reads log-test-0 (RoleBinding there)', 'bob', '{kubernetes_namespace_name="log-test-0"}', 200, ['log-test-0']),
  read('bob reads both his namespaces by regex', 'bob', '{kubernetes_namespace_name=~"log-test-0|log-test-1"}', 200, ['log-test-0', 'log-test-1']),
  read('bob reads his namespace by the OTel label', 'bob', '{k8s_namespace_name="log-test-1"} |= "error"', 200, ['log-test-1']),
  read('bob reads log-test-2 (no binding there)', 'bob', '{kubernetes_namespace_name="log-test-2"}', 403),
  // Allowed for the namespaces he may read: the gateway narrows the regex to them before Loki.
  read('bob asks for one of his namespaces and one not his', 'bob', '{kubernetes_namespace_name=~"log-test-0|log-test-2"}', 200, ['log-test-0']),
  read('bob without a namespace selector (not cluster-wide)', 'bob', '{app="x"}', 403),
  read('carol reads log-test-2 through her group', 'carol', '{kubernetes_namespace_name="log-test-2"}', 200, ['log-test-2']),
  read('alice reads cluster-wide', 'alice', '{kubernetes_namespace_name="kube-system"}', 200, ['kube-system']),
  read('dave reads nothing', 'dave', '{kubernetes_namespace_name="log-test-0"}', 403),
  read('the cluster admin reads without a selector', 'admin', '{app="x"}', 200),
  read('alice reads infrastructure (ClusterRoleBinding)', 'alice', '{log_type="infrastructure"}', 200, undefined, 'infrastructure'),
  read('bob reads infrastructure (no binding)', 'bob', '{log_type="infrastructure"}', 403, undefined, 'infrastructure'),
  read('dave reads audit', 'dave', '{log_type="audit"}', 403, undefined, 'audit'),
  // The gateway's openshift authenticator sends an unauthenticated client to the OAuth login.
  read('a token the API does not know', 'forged', '{kubernetes_namespace_name="log-test-0"}', 302),
  {
    name: 'the collector pushes application logs',
    who: 'collector',
    tenant: 'application',
    method: 'POST',
    path: '/loki/api/v1/push',
    body: PUSH_BODY,
    status: 204,
  },
  { name: 'bob may not push', who: 'bob', tenant: 'application', method: 'POST', path: '/loki/api/v1/push', body: PUSH_BODY, status: 403 },
];

/** Network tenant bindings added to the fixture: bob reads network flows in log-test-0, carol's group cluster-wide. */
export const NETWORK_RBAC = `
kind: ClusterRole
apiVersion: rbac.authorization.k8s.io/v1
metadata: {name: netobserv-reader}
rules:
  - {apiGroups: [loki.grafana.com], resources: [network], resourceNames: [logs], verbs: [get]}
---
kind: RoleBinding
apiVersion: rbac.authorization.k8s.io/v1
metadata: {name: bob-network, namespace: log-test-0}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: netobserv-reader}
subjects: [{kind: User, name: bob}]
---
kind: ClusterRoleBinding
apiVersion: rbac.authorization.k8s.io/v1
metadata: {name: log-readers-network}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: netobserv-reader}
subjects: [{kind: Group, name: log-readers}]
`;

const net = (name: string, who: GatewayCase['who'], query: string, status: number, namespaces?: string[]) =>
  read(name, who, query, status, namespaces, 'network');

export const NETWORK_CASES: GatewayCase[] = [
  net('bob reads flows from his namespace', 'bob', '{SrcK8S_Namespace="log-test-0"}', 200, ['log-test-0']),
  net('bob reads flows to his namespace', 'bob', '{DstK8S_Namespace="log-test-0"}', 200, ['log-test-0']),
  net('bob reads flows of a namespace not his', 'bob', '{SrcK8S_Namespace="log-test-1"}', 403),
  net('carol reads flows of the namespace she views (cluster-wide binding)', 'carol', '{SrcK8S_Namespace="log-test-2"}', 200, ['log-test-2']),
  net('carol reads flows of a namespace she cannot view', 'carol', '{SrcK8S_Namespace="kube-system"}', 403),
  net('dave reads no flows', 'dave', '{SrcK8S_Namespace="log-test-0"}', 403),
  net('the cluster admin reads flows without a selector', 'admin', '{app="netobserv-flowcollector"}', 200),
  net('a token the API does not know', 'forged', '{SrcK8S_Namespace="log-test-0"}', 302),
  net('no token at all', undefined, '{SrcK8S_Namespace="log-test-0"}', 302),
];

/** The OIDC accounts (test/support/oidc.ts provider) and the static roles the OIDC tenants decide with. */
export const OIDC_ACCOUNTS = {
  ann: { claims: { preferred_username: 'alice@example.com', groups: [] } },
  sam: { claims: { preferred_username: 'sam', groups: ['sre'] } },
  dev: { claims: { preferred_username: 'dev', groups: ['developers'] } },
  eve: { claims: { preferred_username: 'eve', groups: ['guests'] } },
  collector: { claims: { preferred_username: 'system:serviceaccount:openshift-logging:logcollector', groups: [] } },
};
export const OIDC_RBAC = `roles:
  - {name: application-read, resources: [logs], tenants: [application], permissions: [read]}
  - {name: cluster-reader, resources: [logs], tenants: [application, infrastructure, audit], permissions: [read]}
  - {name: collector-write, resources: [logs], tenants: [application, infrastructure, audit], permissions: [write]}
roleBindings:
  - name: developers-read-application
    roles: [application-read]
    subjects: [{kind: group, name: developers}, {kind: user, name: alice@example.com}]
  - name: sre-reads-everything
    roles: [cluster-reader]
    subjects: [{kind: group, name: sre}]
  - name: collector-writes
    roles: [collector-write]
    subjects: [{kind: user, name: "system:serviceaccount:openshift-logging:logcollector"}]
`;

const oidc = (name: string, account: string | undefined, tenant: string, status: number, extra: Partial<GatewayCase> = {}): GatewayCase => ({
  ...read(name, undefined, '{app="x"}', status, undefined, tenant),
  ...(account ? { account } : {}),
  ...extra,
});

export const OIDC_CASES: GatewayCase[] = [
  oidc('a user bound by name reads application', 'ann', 'application', 200),
  oidc('a user bound by name reads infrastructure (not bound)', 'ann', 'infrastructure', 403),
  oidc('a developer reads application by group', 'dev', 'application', 200),
  oidc('a developer reads audit (not bound)', 'dev', 'audit', 403),
  oidc('an SRE reads infrastructure by group', 'sam', 'infrastructure', 200),
  oidc('an SRE reads audit by group', 'sam', 'audit', 200),
  oidc('a guest reads nothing', 'eve', 'application', 403),
  // The gateway refuses a token its clientID is not the audience of with a 500, before any authorizer.
  oidc('a token for another audience', 'sam', 'application', 500, { audience: 'another-client' }),
  // Without a token the OIDC authenticator sends the client to the provider's login.
  oidc('no token at all', undefined, 'application', 302),
  oidc('the collector pushes', 'collector', 'application', 204, { method: 'POST', path: '/loki/api/v1/push', params: {}, body: PUSH_BODY }),
  oidc('an SRE may not push', 'sam', 'application', 403, { method: 'POST', path: '/loki/api/v1/push', params: {}, body: PUSH_BODY }),
];
