/**
 * Flags of forward-auth in the dynamic and openshift modes (docs/forward-auth-modes.md). Joined
 * into flag-table.ts's FLAGS beside the core's forward-auth flags; parsed here into typed options that
 * the mode factories take (makeDynamicForwardAuthorizer, makeOpenShiftForwardAuthorizer).
 */
import { FlagError, type FlagSpec, type FlagValues } from './flags.js';
import { DYNAMIC_MODE, OPENSHIFT_MODES } from './mode.js';

/** A Prometheus/Loki label name: what a selector may name. */
export const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** One access review's resource attributes, as kube-rbac-proxy configures them. */
export interface ResourceAttributes {
  verb: string;
  /** API group; '' is the core group. */
  group: string;
  resource: string;
  subresource?: string;
  name?: string;
}

export const FORWARD_AUTH_MODES_FLAGS: readonly FlagSpec[] = [
  {
    name: 'forward-auth.opaque-token-max-tenants',
    type: 'int',
    default: 1,
    help: 'Dynamic mode: most tenants an opaque (non-JWT) token is verified for in one forward-auth request, each one call to a provider. When more tenants accept opaque tokens, the client must name its tenant in X-Scope-OrgID.',
    modes: DYNAMIC_MODE,
  },
  {
    name: 'forward-auth.kube-tenancy',
    type: 'string',
    default: 'mappings',
    choices: ['mappings', 'namespaces'],
    help: 'Openshift modes: how forward-auth maps callers to tenants. mappings: the LokiStack tenants of --openshift.mappings, with their access reviews; namespaces: one shared tenant (--forward-auth.namespace-tenant) split by namespace, reviewed with --forward-auth.namespace-read.',
    modes: OPENSHIFT_MODES,
  },
  {
    name: 'forward-auth.namespace-tenant',
    type: 'string',
    default: '',
    help: 'Namespace tenancy: the tenant ID (X-Scope-OrgID) every namespace shares.',
    modes: OPENSHIFT_MODES,
  },
  {
    name: 'forward-auth.namespace-label',
    type: 'string',
    default: 'namespace',
    help: 'Namespace tenancy: the stream label holding the namespace; a reader gets {<label>=~"ns1|ns2"}.',
    modes: OPENSHIFT_MODES,
  },
  {
    name: 'forward-auth.namespace-read',
    type: 'string',
    default: 'verb=get,resource=pods,subresource=log',
    help: "Namespace tenancy: the access review that lets a caller read a namespace's logs, as verb=,group=,resource=,subresource=,name= (group empty: the core group). Allowed cluster-wide: the whole tenant.",
    modes: OPENSHIFT_MODES,
  },
  {
    name: 'forward-auth.namespace-write',
    type: 'string',
    default: '',
    help: 'Namespace tenancy: the access review, made cluster-wide, that lets a caller push logs (e.g. verb=create,group=loki.grafana.com,resource=application,name=logs). Empty: every write is refused.',
    modes: OPENSHIFT_MODES,
  },
  {
    name: 'forward-auth.max-concurrent-token-reviews',
    type: 'int',
    default: 16,
    help: "Openshift modes: TokenReviews forward-auth has in flight at once (cached answers included); beyond it 503 + Retry-After. Tokens never seen cost one review each: this keeps a flood of made-up tokens from taking the Kubernetes calls the gateway's decisions need (--kube.max-concurrent-calls).",
    modes: OPENSHIFT_MODES,
  },
];

export type KubeTenancyConfig =
  | { kind: 'mappings' }
  | { kind: 'namespaces'; tenant: string; namespaceLabel: string; read: ResourceAttributes; write?: ResourceAttributes };

export interface ForwardAuthModesConfig {
  dynamic: { maxOpaqueTenants: number };
  kube: KubeTenancyConfig;
  /** Forward-auth's TokenReviews in flight at once (openshift modes). */
  maxConcurrentTokenReviews: number;
}

/** Loki's tenant ID rule (at most 150 of these characters, not "." or ".."): no `|`, `:` or `,`. */
const TENANT_ID = /^[A-Za-z0-9!\-_.*'()]{1,150}$/;

export function parseForwardAuthModes(v: FlagValues): ForwardAuthModesConfig {
  const maxOpaqueTenants = v['forward-auth.opaque-token-max-tenants'] as number;
  if (maxOpaqueTenants < 1) throw new FlagError(`--forward-auth.opaque-token-max-tenants must be at least 1, got ${maxOpaqueTenants}`);
  const dynamic = { maxOpaqueTenants };
  const maxConcurrentTokenReviews = v['forward-auth.max-concurrent-token-reviews'] as number;
  if (maxConcurrentTokenReviews < 1) throw new FlagError(`--forward-auth.max-concurrent-token-reviews must be at least 1, got ${maxConcurrentTokenReviews}`);
  if (v['forward-auth.kube-tenancy'] !== 'namespaces') return { dynamic, kube: { kind: 'mappings' }, maxConcurrentTokenReviews };

  const tenant = v['forward-auth.namespace-tenant'] as string;
  if (tenant === '') throw new FlagError('--forward-auth.kube-tenancy=namespaces needs --forward-auth.namespace-tenant: the tenant ID the namespaces share');
  if (!TENANT_ID.test(tenant) || tenant === '.' || tenant === '..') {
    throw new FlagError(`--forward-auth.namespace-tenant ${JSON.stringify(tenant)} is not a Loki tenant ID (at most 150 of A-Z a-z 0-9 ! - _ . * ' ( ))`);
  }
  const namespaceLabel = v['forward-auth.namespace-label'] as string;
  if (!LABEL_NAME.test(namespaceLabel)) throw new FlagError(`--forward-auth.namespace-label ${JSON.stringify(namespaceLabel)} is not a label name`);
  const read = resourceAttributes('forward-auth.namespace-read', v['forward-auth.namespace-read'] as string);
  const rawWrite = v['forward-auth.namespace-write'] as string;
  return {
    dynamic,
    maxConcurrentTokenReviews,
    kube: {
      kind: 'namespaces',
      tenant,
      namespaceLabel,
      read,
      ...(rawWrite !== '' ? { write: resourceAttributes('forward-auth.namespace-write', rawWrite) } : {}),
    },
  };
}

const ATTRIBUTE_KEYS = ['verb', 'group', 'resource', 'subresource', 'name'] as const;
type AttributeKey = (typeof ATTRIBUTE_KEYS)[number];
// Kubernetes' own shapes: a verb and a (sub)resource are lower-case words, a group a DNS subdomain.
const ATTRIBUTE_SYNTAX: Record<AttributeKey, RegExp> = {
  verb: /^[a-z]+$/,
  group: /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)?$/,
  resource: /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/,
  subresource: /^[a-z]+$/,
  name: /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/,
};

/** `verb=get,group=,resource=pods,subresource=log`: kube-rbac-proxy's resourceAttributes, without namespace (ours to set). */
export function resourceAttributes(flag: string, raw: string): ResourceAttributes {
  const seen = new Map<AttributeKey, string>();
  for (const part of raw.split(',')) {
    const eq = part.indexOf('=');
    const key = (eq < 0 ? part : part.slice(0, eq)).trim() as AttributeKey;
    if (!ATTRIBUTE_KEYS.includes(key))
      throw new FlagError(`--${flag}: unknown attribute ${JSON.stringify(key)} (want ${ATTRIBUTE_KEYS.join(', ')}; the namespace is set per review)`);
    if (eq < 0) throw new FlagError(`--${flag}: ${key} needs a value: ${key}=...`);
    if (seen.has(key)) throw new FlagError(`--${flag}: ${key} is given twice`);
    const value = part.slice(eq + 1).trim();
    if (!ATTRIBUTE_SYNTAX[key].test(value) || (key !== 'group' && value === ''))
      throw new FlagError(`--${flag}: ${key}=${JSON.stringify(value)} is not a valid ${key}`);
    seen.set(key, value);
  }
  const verb = seen.get('verb');
  const resource = seen.get('resource');
  if (!verb || !resource) throw new FlagError(`--${flag} needs at least verb= and resource=`);
  const subresource = seen.get('subresource');
  const name = seen.get('name');
  return { verb, group: seen.get('group') ?? '', resource, ...(subresource ? { subresource } : {}), ...(name ? { name } : {}) };
}
