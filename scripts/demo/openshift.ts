import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { LOKISTACK_CLUSTER_YAML, lokistackFakeKubeOptions } from '../../test/support/fake-kube/fixtures.js';
import { startFakeKube, type Identity } from '../../test/support/fake-kube/server.js';
import { KUBECONFIG_PLACEHOLDER, OPERATOR_LOGGING_ARGS } from '../../test/support/openshift.js';
import { runAll } from './dynamic.js';
import { scratch, shown, startDemoService } from './service.js';
import type { DemoExample, DemoMode, DemoOptions, RunningDemo } from './types.js';

const ALLOW = '/v1/data/lokistack/allow';
const GATEWAY_GROUPS = '"groups":["system:authenticated:oauth","system:authenticated"]';
const bobReads = (extras: string) =>
  `{"input":{${GATEWAY_GROUPS},"permission":"read","resource":"logs","subject":"bob","tenant":"application","tenantID":"application","token":"","extras":${extras}}}`;

/**
 * Against test/support/fake-kube/fixtures/lokistack-cluster.yaml (its header says who may do what):
 * bob reads application in log-test-0 and log-test-1 only; alice reads it cluster-wide. The inputs
 * are what the LokiStack gateway sends; the tokens are ones the fake API accepts.
 */
export const OPENSHIFT_EXAMPLES: readonly DemoExample[] = [
  {
    title: 'bob queries three namespaces, two of them his: the matcher keeps those two',
    method: 'POST',
    path: ALLOW,
    headers: [['X-Forwarded-Access-Token', 'token-bob']],
    body: bobReads('{"selectors":{"kubernetes_namespace_name":["log-test-0","log-test-1","log-test-2"]}}'),
    answer:
      '{"result":{"allowed":"true","data":"{\\"matchers\\":[{\\"Type\\":2,\\"Name\\":\\"kubernetes_namespace_name\\",\\"Value\\":\\"log-test-0|log-test-1\\"}]}"}}',
    note: 'one cluster-wide SubjectAccessReview (denied), three namespaced ones (allowed in log-test-0 and log-test-1)',
  },
  {
    title: 'bob with no namespace selector (not a metadata request): denied',
    method: 'POST',
    path: ALLOW,
    headers: [['X-Forwarded-Access-Token', 'token-bob']],
    body: bobReads('{}'),
    answer: '{"result":false}',
  },
  {
    title: 'alice reads application cluster-wide: with no selector, a matcher over every project she can list',
    method: 'POST',
    path: ALLOW,
    headers: [['X-Forwarded-Access-Token', 'token-alice']],
    body: `{"input":{${GATEWAY_GROUPS},"permission":"read","resource":"logs","subject":"alice","tenant":"application","tenantID":"application","token":"","extras":{}}}`,
    answer:
      '{"result":{"allowed":"true","data":"{\\"matchers\\":[{\\"Type\\":2,\\"Name\\":\\"kubernetes_namespace_name\\",\\"Value\\":\\"kube-system|log-test-0|log-test-1|log-test-2|openshift-logging\\"}]}"}}',
  },
  {
    title: "no forwarded token: opa-openshift's 400",
    method: 'POST',
    path: ALLOW,
    headers: [],
    body: bobReads('{}'),
    // OPA's error envelope is indented, as OPA writes it.
    answer: '{\n  "code": "invalid_parameter",\n  "message": "missing forwarded access token"\n}',
  },
];

export const openshiftMode: DemoMode = {
  name: 'openshift',
  summary: "openshift-logging with the Loki Operator's arguments, against a fake Kubernetes API on loopback",
  start: (options) => startOpenShift(options),
};

interface SetConfig {
  flags: string[];
  tokens: Record<string, Identity>;
  openshift: boolean;
  cluster: string;
}

/** The Loki Operator's container arguments, or a fixture set's own (cases.yaml `flags`, `tokens`, cluster.yaml). */
function setConfig(dir: string | undefined): SetConfig {
  if (dir === undefined)
    return {
      flags: [...OPERATOR_LOGGING_ARGS, `--openshift.kubeconfig=${KUBECONFIG_PLACEHOLDER}`],
      tokens: {},
      openshift: true,
      cluster: LOKISTACK_CLUSTER_YAML,
    };
  const file = join(dir, 'cases.yaml');
  if (!existsSync(file)) throw new Error(`${shown(dir)} has no cases.yaml`);
  const doc = parseYaml(readFileSync(file, 'utf8')) as { flags?: unknown; tokens?: Record<string, Identity>; openshift?: boolean } | null;
  const flags = doc?.flags;
  if (!Array.isArray(flags) || !flags.includes(`--openshift.kubeconfig=${KUBECONFIG_PLACEHOLDER}`)) {
    throw new Error(`${shown(file)} is not an openshift fixture set: its flags do not name --openshift.kubeconfig=${KUBECONFIG_PLACEHOLDER}`);
  }
  const extra = join(dir, 'cluster.yaml');
  return {
    flags: flags as string[],
    tokens: doc?.tokens ?? {},
    openshift: doc?.openshift !== false,
    cluster: existsSync(extra) ? `${LOKISTACK_CLUSTER_YAML}\n---\n${readFileSync(extra, 'utf8')}` : LOKISTACK_CLUSTER_YAML,
  };
}

async function startOpenShift(options: DemoOptions): Promise<RunningDemo> {
  const set = setConfig(options.fixtures);
  const files = scratch();
  const stops: Array<() => Promise<void>> = [async () => files.remove()];
  try {
    const base = lokistackFakeKubeOptions();
    const fake = await startFakeKube({ ...base, objects: set.cluster, tokens: { ...base.tokens, ...set.tokens }, openshift: set.openshift });
    stops.unshift(() => fake.close());
    const kubeconfig = files.write('kubeconfig', fake.kubeconfigText());
    // The demo's listeners replace the set's (127.0.0.1:0 there); everything else is the set's command line.
    const flags = set.flags.filter((f) => !/^--web\.(internal\.)?listen(=|$)/.test(f)).map((f) => f.replaceAll(KUBECONFIG_PLACEHOLDER, kubeconfig));
    const svc = await startDemoService(flags, options, options.log);
    stops.unshift(() => svc.service.shutdown());
    return {
      url: svc.url,
      upstreams: [
        `kube API  ${fake.url}  (fake; cluster test/support/fake-kube/fixtures/lokistack-cluster.yaml; tokens token-alice, token-bob, token-carol, token-dave, token-admin)`,
      ],
      command: svc.command,
      variables: [],
      examples: options.fixtures ? [] : [...OPENSHIFT_EXAMPLES],
      notes: options.fixtures ? [`Run the set's cases:  npx lokistack-authz test --url=${svc.url} ${shown(options.fixtures)}`] : [],
      stop: () => runAll(stops),
    };
  } catch (err) {
    await runAll(stops);
    throw err;
  }
}
