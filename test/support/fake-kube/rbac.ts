/**
 * RBAC objects and an authorizer with upstream Kubernetes RBAC semantics, for the fake Kubernetes API.
 *
 * The evaluation is a port of kubernetes/kubernetes plugin/pkg/auth/authorizer/rbac/rbac.go,
 * pkg/registry/rbac/validation/rule.go (binding walk, subject matching, reasons) and
 * pkg/apis/rbac/v1/evaluation_helpers.go (rule matching), plus the privileged-group authorizer
 * (system:masters) that kube-apiserver puts in front of RBAC. Matching the upstream order and
 * wording matters: tests assert reasons, and production code must not depend on a behaviour a real
 * cluster would not have.
 */
import { parseAllDocuments } from 'yaml';

export interface PolicyRule {
  verbs: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
}

export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export interface Role {
  kind: 'Role';
  metadata: ObjectMeta & { namespace: string };
  rules: PolicyRule[];
}

export interface ClusterRole {
  kind: 'ClusterRole';
  metadata: ObjectMeta;
  rules: PolicyRule[];
  aggregationRule?: { clusterRoleSelectors?: LabelSelector[] };
}

export interface Subject {
  kind: 'User' | 'Group' | 'ServiceAccount';
  name: string;
  namespace?: string;
  apiGroup?: string;
}

export interface RoleRef {
  apiGroup?: string;
  kind: string; // 'Role' | 'ClusterRole'; anything else is an evaluation error, as upstream
  name: string;
}

export interface RoleBinding {
  kind: 'RoleBinding';
  metadata: ObjectMeta & { namespace: string };
  subjects: Subject[];
  roleRef: RoleRef;
}

export interface ClusterRoleBinding {
  kind: 'ClusterRoleBinding';
  metadata: ObjectMeta;
  subjects: Subject[];
  roleRef: RoleRef;
}

export interface Namespace {
  kind: 'Namespace';
  metadata: ObjectMeta;
}

export type RbacObject = Role | ClusterRole | RoleBinding | ClusterRoleBinding | Namespace;

/** Who a request is evaluated for (authenticated caller, or a SubjectAccessReview spec). */
export interface UserInfo {
  name: string;
  groups: readonly string[];
  uid?: string;
  /** A token's extra attributes; OpenShift's OAuth scopes are under SCOPES_KEY. */
  extra?: Readonly<Record<string, readonly string[]>>;
}

export const SCOPES_KEY = 'scopes.authorization.openshift.io';

/**
 * What OpenShift's scope authorizer lets each user:* scope do (openshift/apiserver-library-go,
 * scopeauthorizer and the scope converter): a token carrying scopes can do only what one of them
 * covers, whatever RBAC grants its user; `user:full` covers everything. `role:<name>:<namespace>`
 * scopes are not modelled: here they cover nothing, which is never wider than the real authorizer.
 */
const USER_SCOPE_RULES: Readonly<Record<string, readonly PolicyRule[]>> = {
  'user:info': [{ verbs: ['get'], apiGroups: ['user.openshift.io', ''], resources: ['users'], resourceNames: ['~'] }],
  'user:check-access': [
    { verbs: ['create'], apiGroups: ['authorization.k8s.io'], resources: ['selfsubjectaccessreviews'] },
    { verbs: ['create'], apiGroups: ['authorization.openshift.io', ''], resources: ['selfsubjectrulesreviews'] },
  ],
  'user:list-projects': [{ verbs: ['list', 'watch'], apiGroups: ['project.openshift.io', ''], resources: ['projects'] }],
  'user:list-scoped-projects': [{ verbs: ['list', 'watch'], apiGroups: ['project.openshift.io', ''], resources: ['projects'] }],
};

/** The scopes' verdict: undefined when the user carries no scopes (RBAC alone decides). */
function scopeDenial(user: UserInfo, attrs: Attributes): Decision | undefined {
  const scopes = user.extra?.[SCOPES_KEY];
  if (!scopes || scopes.length === 0 || scopes.includes('user:full')) return undefined;
  const covered = scopes.some((s) => (USER_SCOPE_RULES[s] ?? []).some((r) => ruleAllows(attrs, r)));
  return covered ? undefined : { allowed: false, reason: `scopes [${scopes.join(' ')}] prevent this action` };
}

export interface ResourceAttributes {
  namespace?: string; // '' or absent: cluster scope, only ClusterRoleBindings apply
  verb: string;
  group?: string;
  resource: string;
  subresource?: string;
  name?: string;
}

export interface NonResourceAttributes {
  path: string;
  verb: string;
}

export type Attributes = ({ kind: 'resource' } & ResourceAttributes) | ({ kind: 'nonResource' } & NonResourceAttributes);

/** The SubjectAccessReviewStatus the apiserver would write (denied is never set: RBAC has no deny). */
export interface Decision {
  allowed: boolean;
  reason: string;
  evaluationError?: string;
}

export interface AuthorizerOptions {
  /**
   * Upstream RBAC never sets status.evaluationError: resolution errors (a missing role) only show up
   * in the reason of a denial and are dropped on an allow. The brief for this fake asks for
   * evaluationError whenever a referenced role cannot be resolved, so that is the default; pass
   * false to get exactly upstream's status.
   */
  evaluationErrorInStatus?: boolean;
}

const KNOWN_KINDS = new Set(['Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding', 'Namespace']);
// Realistic manifests carry these too; they grant nothing, so they are accepted and ignored.
const IGNORED_KINDS = new Set(['ServiceAccount']);

/**
 * Parses RBAC objects from multi-document YAML (or already parsed objects; `kind: List` is
 * flattened). Unknown kinds and missing required fields throw, so a typo in a fixture fails loudly
 * instead of silently granting nothing.
 */
export function parseRbacObjects(source: string | readonly unknown[]): RbacObject[] {
  const raw: unknown[] = [];
  if (typeof source === 'string') {
    for (const doc of parseAllDocuments(source)) {
      if (doc.errors.length > 0) throw new Error(`fake-kube: invalid YAML: ${doc.errors[0]?.message}`);
      const value: unknown = doc.toJS();
      if (value !== null && value !== undefined) raw.push(value);
    }
  } else {
    raw.push(...source);
  }
  const out: RbacObject[] = [];
  const visit = (value: unknown): void => {
    if (!isRecord(value)) throw new Error(`fake-kube: object expected, got ${JSON.stringify(value)}`);
    if (value.kind === 'List' && Array.isArray(value.items)) {
      value.items.forEach(visit);
      return;
    }
    const kind = String(value.kind);
    if (IGNORED_KINDS.has(kind)) return;
    if (!KNOWN_KINDS.has(kind)) throw new Error(`fake-kube: unsupported kind ${JSON.stringify(value.kind)}`);
    out.push(validateObject(kind, value));
  };
  raw.forEach(visit);
  return out;
}

function validateObject(kind: string, value: Record<string, unknown>): RbacObject {
  const meta = value.metadata;
  if (!isRecord(meta) || typeof meta.name !== 'string' || meta.name === '') {
    throw new Error(`fake-kube: ${kind} without metadata.name`);
  }
  const where = `${kind} ${meta.name}`;
  const namespaced = kind === 'Role' || kind === 'RoleBinding';
  if (namespaced && (typeof meta.namespace !== 'string' || meta.namespace === '')) {
    throw new Error(`fake-kube: ${where} needs metadata.namespace`);
  }
  if (kind === 'RoleBinding' || kind === 'ClusterRoleBinding') {
    const ref = value.roleRef;
    if (!isRecord(ref) || typeof ref.kind !== 'string' || typeof ref.name !== 'string') {
      throw new Error(`fake-kube: ${where} needs roleRef {kind, name}`);
    }
    if (value.subjects !== undefined && !Array.isArray(value.subjects)) {
      throw new Error(`fake-kube: ${where}: subjects must be a list`);
    }
    return { ...value, subjects: (value.subjects as Subject[] | undefined) ?? [] } as unknown as RbacObject;
  }
  if (kind === 'Role' || kind === 'ClusterRole') {
    const rules = value.rules ?? [];
    if (!Array.isArray(rules) || !rules.every((r) => isRecord(r) && Array.isArray(r.verbs))) {
      throw new Error(`fake-kube: ${where}: every rule needs verbs`);
    }
    return { ...value, rules } as unknown as RbacObject;
  }
  return value as unknown as RbacObject;
}

/** Indexed RBAC state with aggregated ClusterRoles already resolved, as the aggregation controller would. */
export class RbacStore {
  readonly namespaces: readonly Namespace[];
  private readonly roles = new Map<string, Role>(); // key `${namespace}/${name}`
  private readonly clusterRoles = new Map<string, ClusterRole>();
  private readonly roleBindings: readonly RoleBinding[];
  private readonly clusterRoleBindings: readonly ClusterRoleBinding[];

  constructor(objects: readonly RbacObject[]) {
    const namespaces: Namespace[] = [];
    const roleBindings: RoleBinding[] = [];
    const clusterRoleBindings: ClusterRoleBinding[] = [];
    for (const o of objects) {
      switch (o.kind) {
        case 'Role':
          this.roles.set(`${o.metadata.namespace}/${o.metadata.name}`, o);
          break;
        case 'ClusterRole':
          this.clusterRoles.set(o.metadata.name, o);
          break;
        case 'RoleBinding':
          roleBindings.push(o);
          break;
        case 'ClusterRoleBinding':
          clusterRoleBindings.push(o);
          break;
        case 'Namespace':
          namespaces.push(o);
          break;
      }
    }
    this.namespaces = namespaces.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    this.roleBindings = roleBindings;
    this.clusterRoleBindings = clusterRoleBindings;
    this.aggregate();
  }

  static from(source: string | readonly unknown[]): RbacStore {
    return new RbacStore(parseRbacObjects(source));
  }

  listClusterRoleBindings(): readonly ClusterRoleBinding[] {
    return this.clusterRoleBindings;
  }

  listRoleBindings(namespace: string): RoleBinding[] {
    return this.roleBindings.filter((rb) => rb.metadata.namespace === namespace);
  }

  getClusterRole(name: string): ClusterRole | undefined {
    return this.clusterRoles.get(name);
  }

  getRole(namespace: string, name: string): Role | undefined {
    return this.roles.get(`${namespace}/${name}`);
  }

  /**
   * The clusterrole-aggregation controller overwrites an aggregated role's rules with the
   * de-duplicated rules of every other ClusterRole its selectors match, in name order. It keeps
   * reconciling, so aggregations of aggregations settle: iterate to a fixed point.
   */
  private aggregate(): void {
    const targets = [...this.clusterRoles.values()].filter((r) => r.aggregationRule?.clusterRoleSelectors).map((r) => r.metadata.name);
    for (let round = 0; round <= targets.length; round++) {
      let changed = false;
      for (const name of targets) {
        const target = this.clusterRoles.get(name)!;
        const selectors = target.aggregationRule?.clusterRoleSelectors ?? [];
        const sources = [...this.clusterRoles.values()]
          .filter((r) => r.metadata.name !== name && selectors.some((s) => selectorMatches(s, r.metadata.labels ?? {})))
          .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
        const seen = new Set<string>();
        const rules = sources
          .flatMap((s) => s.rules)
          .filter((rule) => {
            const key = JSON.stringify(rule);
            return seen.has(key) ? false : (seen.add(key), true);
          });
        if (JSON.stringify(rules) !== JSON.stringify(target.rules)) {
          this.clusterRoles.set(name, { ...target, rules });
          changed = true;
        }
      }
      if (!changed) return;
    }
  }
}

export function selectorMatches(selector: LabelSelector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const req of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, req.key);
    const value = labels[req.key];
    const values = req.values ?? [];
    switch (req.operator) {
      case 'In':
        if (!has || !values.includes(value!)) return false;
        break;
      case 'NotIn':
        if (has && values.includes(value!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

/** kube-apiserver's privileged-group authorizer sits before RBAC and allows this group everything. */
export const SYSTEM_MASTERS = 'system:masters';

export class RbacAuthorizer {
  private readonly evaluationErrorInStatus: boolean;

  constructor(
    private readonly store: RbacStore,
    options: AuthorizerOptions = {},
  ) {
    this.evaluationErrorInStatus = options.evaluationErrorInStatus ?? true;
  }

  authorize(user: UserInfo, attrs: Attributes): Decision {
    // The privileged-group authorizer answers with an empty reason.
    if (user.groups.includes(SYSTEM_MASTERS)) return { allowed: true, reason: '' };
    const scoped = scopeDenial(user, attrs);
    if (scoped) return scoped;
    const errors: string[] = [];
    const namespace = attrs.kind === 'resource' ? (attrs.namespace ?? '') : '';

    for (const crb of this.store.listClusterRoleBindings()) {
      const subject = firstApplyingSubject(user, crb.subjects, '');
      if (!subject) continue;
      const rules = this.roleRefRules(crb.roleRef, '');
      if (typeof rules === 'string') {
        errors.push(rules);
        continue;
      }
      if (rules.some((r) => ruleAllows(attrs, r))) {
        return this.allow(
          `ClusterRoleBinding ${q(crb.metadata.name)} of ${crb.roleRef.kind} ${q(crb.roleRef.name)} to ${describeSubject(subject, '')}`,
          errors,
        );
      }
    }
    // Non-resource requests carry no namespace, so RoleBindings never grant them (as upstream).
    if (namespace !== '') {
      for (const rb of this.store.listRoleBindings(namespace)) {
        const subject = firstApplyingSubject(user, rb.subjects, namespace);
        if (!subject) continue;
        const rules = this.roleRefRules(rb.roleRef, namespace);
        if (typeof rules === 'string') {
          errors.push(rules);
          continue;
        }
        if (rules.some((r) => ruleAllows(attrs, r))) {
          return this.allow(
            `RoleBinding ${q(`${rb.metadata.name}/${namespace}`)} of ${rb.roleRef.kind} ${q(rb.roleRef.name)} to ${describeSubject(subject, namespace)}`,
            errors,
          );
        }
      }
    }
    // Upstream: no opinion, with the resolution errors as the reason (utilerrors.Aggregate format).
    const aggregate = errors.length === 0 ? '' : errors.length === 1 ? errors[0]! : `[${errors.join(', ')}]`;
    const decision: Decision = { allowed: false, reason: aggregate ? `RBAC: ${aggregate}` : '' };
    if (aggregate && this.evaluationErrorInStatus) decision.evaluationError = aggregate;
    return decision;
  }

  private allow(source: string, errors: string[]): Decision {
    const decision: Decision = { allowed: true, reason: `RBAC: allowed by ${source}` };
    if (errors.length > 0 && this.evaluationErrorInStatus) {
      decision.evaluationError = errors.length === 1 ? errors[0]! : `[${errors.join(', ')}]`;
    }
    return decision;
  }

  /** The rules a roleRef resolves to, or the upstream error message when it cannot be resolved. */
  private roleRefRules(ref: RoleRef, bindingNamespace: string): PolicyRule[] | string {
    if (ref.kind === 'ClusterRole') {
      return this.store.getClusterRole(ref.name)?.rules ?? `clusterrole.rbac.authorization.k8s.io ${q(ref.name)} not found`;
    }
    if (ref.kind === 'Role') {
      // A ClusterRoleBinding to a Role looks it up with namespace "", which never exists.
      return this.store.getRole(bindingNamespace, ref.name)?.rules ?? `role.rbac.authorization.k8s.io ${q(ref.name)} not found`;
    }
    return `unsupported role reference kind: ${q(ref.kind)}`;
  }
}

function firstApplyingSubject(user: UserInfo, subjects: readonly Subject[], namespace: string): Subject | undefined {
  return subjects.find((s) => appliesToUser(user, s, namespace));
}

function appliesToUser(user: UserInfo, subject: Subject, namespace: string): boolean {
  switch (subject.kind) {
    case 'User':
      return user.name === subject.name;
    case 'Group':
      return user.groups.includes(subject.name);
    case 'ServiceAccount': {
      // A RoleBinding may leave the namespace out to mean its own; a ClusterRoleBinding may not.
      const saNamespace = subject.namespace || namespace;
      if (!saNamespace) return false;
      return user.name === `system:serviceaccount:${saNamespace}:${subject.name}`;
    }
    default:
      return false;
  }
}

function describeSubject(subject: Subject, bindingNamespace: string): string {
  if (subject.kind === 'ServiceAccount') {
    return `${subject.kind} ${q(`${subject.name}/${subject.namespace || bindingNamespace}`)}`;
  }
  return `${subject.kind} ${q(subject.name)}`;
}

export function ruleAllows(attrs: Attributes, rule: PolicyRule): boolean {
  if (!hasOrStar(rule.verbs, attrs.verb)) return false;
  if (attrs.kind === 'nonResource') return nonResourceURLMatches(rule.nonResourceURLs ?? [], attrs.path);
  const combined = attrs.subresource ? `${attrs.resource}/${attrs.subresource}` : attrs.resource;
  return (
    hasOrStar(rule.apiGroups ?? [], attrs.group ?? '') &&
    resourceMatches(rule.resources ?? [], combined, attrs.subresource ?? '') &&
    resourceNameMatches(rule.resourceNames ?? [], attrs.name ?? '')
  );
}

function hasOrStar(values: readonly string[], wanted: string): boolean {
  return values.some((v) => v === '*' || v === wanted);
}

function resourceMatches(ruleResources: readonly string[], combined: string, subresource: string): boolean {
  return ruleResources.some((r) => r === '*' || r === combined || (subresource !== '' && r === `*/${subresource}`));
}

/** An empty list allows any name; otherwise the request must name one (so list/create never match). */
function resourceNameMatches(names: readonly string[], name: string): boolean {
  return names.length === 0 || names.includes(name);
}

function nonResourceURLMatches(urls: readonly string[], path: string): boolean {
  return urls.some((u) => u === '*' || u === path || (u.endsWith('*') && path.startsWith(u.replace(/\*+$/, ''))));
}

/** Go's %q for the plain ASCII names used here: JSON string quoting is the same. */
function q(s: string): string {
  return JSON.stringify(s);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
