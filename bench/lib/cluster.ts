/**
 * Generated clusters for the scaling scenarios, as parsed RBAC objects for the fake Kubernetes API
 * (building YAML text for 10,000 namespaces only to parse it again would cost seconds).
 *
 * A generated cluster has N namespaces bench-ns-00000 .. and two users:
 *   ns-reader       reads application logs in every namespace through one RoleBinding per
 *                   namespace (to the ClusterRole cluster-logging-application-view), nothing
 *                   cluster-wide: the gateway's namespaced user; a query naming k namespaces costs
 *                   one cluster-wide review and k namespaced reviews.
 *   cluster-reader  reads application logs cluster-wide and may list namespaces, so its OpenShift
 *                   projects are all N namespaces: with no namespace in the query the answer is a
 *                   regex of all N.
 * plus the gateway service account allowed to create SubjectAccessReviews (the service's identity).
 */

export type ClusterSpec = { kind: 'fixture' } | { kind: 'generated'; namespaces: number };

export const NS_READER = { username: 'ns-reader', groups: ['system:authenticated:oauth'] };
export const CLUSTER_READER = { username: 'cluster-reader', groups: ['system:authenticated:oauth'] };

export function namespaceName(i: number): string {
  return `bench-ns-${String(i).padStart(5, '0')}`;
}

const RBAC = 'rbac.authorization.k8s.io/v1';

export function generatedCluster(namespaces: number): unknown[] {
  const objects: unknown[] = [
    {
      apiVersion: RBAC,
      kind: 'ClusterRole',
      metadata: { name: 'cluster-logging-application-view' },
      rules: [{ apiGroups: ['loki.grafana.com'], resources: ['application'], resourceNames: ['logs'], verbs: ['get'] }],
    },
    {
      apiVersion: RBAC,
      kind: 'ClusterRole',
      metadata: { name: 'namespace-reader' },
      rules: [{ apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list', 'watch'] }],
    },
    {
      apiVersion: RBAC,
      kind: 'ClusterRole',
      metadata: { name: 'lokistack-dev-gateway' },
      rules: [
        { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
        { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
      ],
    },
    {
      apiVersion: RBAC,
      kind: 'ClusterRoleBinding',
      metadata: { name: 'lokistack-dev-gateway' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'lokistack-dev-gateway' },
      subjects: [{ kind: 'ServiceAccount', name: 'lokistack-dev-gateway', namespace: 'openshift-logging' }],
    },
    {
      apiVersion: RBAC,
      kind: 'ClusterRoleBinding',
      metadata: { name: 'cluster-reader-logs' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-logging-application-view' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: CLUSTER_READER.username }],
    },
    {
      apiVersion: RBAC,
      kind: 'ClusterRoleBinding',
      metadata: { name: 'cluster-reader-namespaces' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'namespace-reader' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: CLUSTER_READER.username }],
    },
  ];
  for (let i = 0; i < namespaces; i++) {
    const ns = namespaceName(i);
    objects.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    objects.push({
      apiVersion: RBAC,
      kind: 'RoleBinding',
      metadata: { name: 'ns-reader-logs', namespace: ns },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-logging-application-view' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: NS_READER.username }],
    });
  }
  return objects;
}
