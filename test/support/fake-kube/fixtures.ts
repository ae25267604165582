/**
 * The LokiStack cluster fixture: RBAC objects from fixtures/lokistack-cluster.yaml (its header says
 * who may do what) and the bearer tokens of its identities. Tokens live here, typed, so suites refer
 * to LOKISTACK_TOKENS.bob rather than repeating strings.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FakeKubeOptions, Identity } from './server.js';

export const LOKISTACK_CLUSTER_PATH = fileURLToPath(new URL('./fixtures/lokistack-cluster.yaml', import.meta.url));
export const LOKISTACK_CLUSTER_YAML = readFileSync(LOKISTACK_CLUSTER_PATH, 'utf8');

/** Service-account tokens carry these groups, as the apiserver's SA authenticator reports them. */
export function serviceAccountIdentity(namespace: string, name: string): Identity {
  return {
    username: `system:serviceaccount:${namespace}:${name}`,
    groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`],
  };
}

const OAUTH = 'system:authenticated:oauth';

export const LOKISTACK_TOKENS = {
  gateway: 'token-gateway',
  collector: 'token-collector',
  alice: 'token-alice',
  bob: 'token-bob',
  carol: 'token-carol',
  dave: 'token-dave',
  admin: 'token-admin',
  master: 'token-master',
} as const;

export const LOKISTACK_IDENTITIES: Record<keyof typeof LOKISTACK_TOKENS, Identity> = {
  gateway: serviceAccountIdentity('openshift-logging', 'lokistack-dev-gateway'),
  collector: serviceAccountIdentity('openshift-logging', 'logcollector'),
  alice: { username: 'alice', uid: 'uid-alice', groups: [OAUTH] },
  bob: { username: 'bob', uid: 'uid-bob', groups: [OAUTH] },
  carol: { username: 'carol', uid: 'uid-carol', groups: ['log-readers', OAUTH] },
  dave: { username: 'dave', uid: 'uid-dave', groups: [OAUTH] },
  admin: { username: 'kube:admin', groups: ['system:cluster-admins', OAUTH] },
  master: { username: 'system:admin', groups: ['system:masters'] },
};

/** Options for startFakeKube with this fixture; `overrides` can flip openshift, add tokens, etc. */
export function lokistackFakeKubeOptions(overrides: Partial<FakeKubeOptions> = {}): FakeKubeOptions {
  const tokens: Record<string, Identity> = {};
  for (const [who, token] of Object.entries(LOKISTACK_TOKENS)) {
    tokens[token] = LOKISTACK_IDENTITIES[who as keyof typeof LOKISTACK_TOKENS];
  }
  return { objects: LOKISTACK_CLUSTER_YAML, tokens, serviceIdentityToken: LOKISTACK_TOKENS.gateway, ...overrides };
}
