import bcrypt from 'bcryptjs';
import { lokistackFakeKubeOptions } from '../../test/support/fake-kube/fixtures.js';
import { startFakeKube } from '../../test/support/fake-kube/server.js';
import { runAll, startDynamicDemo } from './dynamic.js';
import { repoPath, scratch, shown, startDemoService } from './service.js';
import type { DemoExample, DemoMode, DemoOptions } from './types.js';

/**
 * The forward-auth demos: the service as a proxy's auth service (docs/forward-auth.md). Each example
 * asks /forward-auth as nginx's auth_request does (the original method and URI in X-Original-*),
 * and shows what the proxy would act on: the status, and the tenant and label-policy headers it
 * would hand Loki (empty for a denial or a whole-tenant read).
 */
const ANSWER = ['-o', '/dev/null', '-w', 'status=%{http_code} tenant=%header{x-scope-orgid} policy=%header{x-prom-label-policy}\\n'];
const QUERY = '/loki/api/v1/query_range?query={app="api"}';

function ask(
  title: string,
  method: 'GET' | 'POST',
  uri: string,
  headers: Array<[string, string]>,
  answer: string,
  extra: string[] = [],
  note?: string,
): DemoExample {
  return {
    title,
    method: 'GET',
    path: '/forward-auth',
    headers: [['X-Original-Method', method], ['X-Original-URI', uri], ...headers],
    curlArgs: [...ANSWER, ...extra],
    answer,
    ...(note ? { note } : {}),
  };
}

/** The demo's own passwords, printed on purpose: the htpasswd file is written from them at start. */
const PASSWORDS: Record<string, string> = { 'team-a-user': 'team-a-password', 'gel-reader': 'gel-password', collector: 'collector-password' };
const basic = (user: string): string[] => ['-u', `${user}:${PASSWORDS[user]}`];

export const FORWARD_AUTH_STATIC_EXAMPLES: readonly DemoExample[] = [
  ask('team-a-user (basic auth) queries: tenant team-a, whole', 'GET', QUERY, [], 'status=200 tenant=team-a policy=', basic('team-a-user')),
  ask(
    'gel-reader holds GEL\'s example policy: tenant team-b, {secret!="true", env="prod"} OR {env="dev"}, for Loki to enforce',
    'GET',
    QUERY,
    [],
    'status=200 tenant=team-b policy=team-b:%7Benv%3D%22dev%22%7D,team-b:%7Bsecret%21%3D%22true%22%2C%20env%3D%22prod%22%7D',
    basic('gel-reader'),
  ),
  ask(
    'team-a-user asks for team-b in X-Scope-OrgID: 403, nothing reaches Loki',
    'GET',
    QUERY,
    [['X-Scope-OrgID', 'team-b']],
    'status=403 tenant= policy=',
    basic('team-a-user'),
  ),
  ask('a wrong password: 401', 'GET', QUERY, [], 'status=401 tenant= policy=', ['-u', 'team-a-user:guess']),
  ask(
    'the collector pushes to team-a (writes are never label-restricted)',
    'POST',
    '/loki/api/v1/push',
    [['X-Scope-OrgID', 'team-a']],
    'status=200 tenant=team-a policy=',
    basic('collector'),
  ),
];

export const forwardAuthStaticMode: DemoMode = {
  name: 'forward-auth-static',
  summary: 'forward-auth with HTTP basic auth (htpasswd, bcrypt) and label policies; no upstream',
  async start(options) {
    noFixtures(options, 'forward-auth-static');
    const files = scratch();
    const stops: Array<() => Promise<void>> = [async () => files.remove()];
    try {
      const htpasswd = files.write(
        'htpasswd',
        `${Object.entries(PASSWORDS)
          .map(([u, p]) => `${u}:${bcrypt.hashSync(p, 10)}`)
          .join('\n')}\n`,
      );
      const svc = await startDemoService(
        [`--rbac.config=${shown(repoPath('docs/forward-auth/demo-rbac.yaml'))}`, '--forward-auth.enabled', `--forward-auth.htpasswd-file=${htpasswd}`],
        options,
        options.log,
      );
      stops.unshift(() => svc.service.shutdown());
      return {
        url: svc.url,
        upstreams: [],
        command: svc.command,
        variables: [],
        examples: [...FORWARD_AUTH_STATIC_EXAMPLES],
        notes: [
          `Users and passwords: ${Object.entries(PASSWORDS)
            .map(([u, p]) => `${u}/${p}`)
            .join(', ')} (an htpasswd file written from them; roles in docs/forward-auth/demo-rbac.yaml).`,
        ],
        stop: () => runAll(stops),
      };
    } catch (err) {
      await runAll(stops);
      throw err;
    }
  },
};

export const FORWARD_AUTH_DYNAMIC_EXAMPLES: readonly DemoExample[] = [
  ask(
    "alice's token (group developers) queries: tenant application",
    'GET',
    QUERY,
    [['Authorization', 'Bearer $ALICE']],
    'status=200 tenant=application policy=',
  ),
  ask("bob's token (group qa, no role): 403", 'GET', QUERY, [['Authorization', 'Bearer $BOB']], 'status=403 tenant= policy='),
  ask("alice's token may not push: 403", 'POST', '/loki/api/v1/push', [['Authorization', 'Bearer $ALICE']], 'status=403 tenant= policy='),
  ask('no token: 401 (WWW-Authenticate: Bearer)', 'GET', QUERY, [], 'status=401 tenant= policy='),
];

export const forwardAuthDynamicMode: DemoMode = {
  name: 'forward-auth-dynamic',
  summary: 'forward-auth with OIDC bearer tokens from a real provider on loopback',
  start(options) {
    noFixtures(options, 'forward-auth-dynamic');
    return startDynamicDemo(options, ['--forward-auth.enabled'], FORWARD_AUTH_DYNAMIC_EXAMPLES);
  },
};

export const FORWARD_AUTH_OPENSHIFT_EXAMPLES: readonly DemoExample[] = [
  ask(
    'bob may read application logs in log-test-0 and log-test-1 only: the tenant, limited to those namespaces',
    'GET',
    QUERY,
    [['Authorization', 'Bearer token-bob']],
    'status=200 tenant=application policy=application:%7Bkubernetes_namespace_name%3D~%22log-test-0%7Clog-test-1%22%7D',
    [],
    'one TokenReview, a cluster-wide SubjectAccessReview per tenant (denied), one per project of his (allowed)',
  ),
  ask(
    'alice reads every tenant cluster-wide (a multi-tenant read): application limited to the projects she can list, as the gateway answers; audit and infrastructure whole',
    'GET',
    QUERY,
    [['Authorization', 'Bearer token-alice']],
    'status=200 tenant=application|audit|infrastructure policy=application:%7Bkubernetes_namespace_name%3D~%22kube-system%7Clog-test-0%7Clog-test-1%7Clog-test-2%7Copenshift-logging%22%7D',
  ),
  ask(
    'the collector pushes to application',
    'POST',
    '/loki/api/v1/push',
    [
      ['Authorization', 'Bearer token-collector'],
      ['X-Scope-OrgID', 'application'],
    ],
    'status=200 tenant=application policy=',
  ),
  ask(
    'a token the cluster does not know (TokenReview: not authenticated): 401',
    'GET',
    QUERY,
    [['Authorization', 'Bearer forged']],
    'status=401 tenant= policy=',
  ),
  ask('dave may read nothing: 403', 'GET', QUERY, [['Authorization', 'Bearer token-dave']], 'status=403 tenant= policy='),
];

export const forwardAuthOpenShiftMode: DemoMode = {
  name: 'forward-auth-openshift',
  summary: 'forward-auth by TokenReview and access reviews (LokiStack tenants), against a fake Kubernetes API',
  async start(options) {
    noFixtures(options, 'forward-auth-openshift');
    const files = scratch();
    const stops: Array<() => Promise<void>> = [async () => files.remove()];
    try {
      const fake = await startFakeKube(lokistackFakeKubeOptions());
      stops.unshift(() => fake.close());
      const kubeconfig = files.write('kubeconfig', fake.kubeconfigText());
      const svc = await startDemoService(
        [
          '--mode=openshift-logging',
          `--openshift.kubeconfig=${kubeconfig}`,
          '--openshift.mappings=application=loki.grafana.com,infrastructure=loki.grafana.com,audit=loki.grafana.com',
          '--opa.matcher=kubernetes_namespace_name',
          '--opa.skip-tenants=audit,infrastructure',
          '--forward-auth.enabled',
        ],
        options,
        options.log,
      );
      stops.unshift(() => svc.service.shutdown());
      return {
        url: svc.url,
        upstreams: [
          `kube API  ${fake.url}  (fake; cluster test/support/fake-kube/fixtures/lokistack-cluster.yaml; tokens token-alice, token-bob, token-carol, token-dave, token-collector, token-admin)`,
        ],
        command: svc.command,
        variables: [],
        examples: [...FORWARD_AUTH_OPENSHIFT_EXAMPLES],
        notes: [
          'Namespace tenancy (kube-rbac-proxy style): add --forward-auth.kube-tenancy=namespaces --forward-auth.namespace-tenant=<tenant> (docs/forward-auth-modes.md).',
        ],
        stop: () => runAll(stops),
      };
    } catch (err) {
      await runAll(stops);
      throw err;
    }
  },
};

function noFixtures(options: DemoOptions, mode: string): void {
  if (options.fixtures !== undefined) throw new Error(`${mode} runs its own example; --fixtures is for the static, dynamic and openshift demos`);
}
