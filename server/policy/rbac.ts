import { isMap, isScalar, isSeq } from 'yaml';
import { ConfigError } from '../errors.js';
import { isRecord, parseOperatorYaml, Validator } from '../file-format.js';
import { LabelPolicyError, MAX_SELECTORS_PER_ROLE, parseSelector } from './label-policy.js';

/** Roles and role bindings: the static policy's data, in observatorium/api's rbac.yaml shape. */
export interface Rbac {
  roles: Role[];
  roleBindings: RoleBinding[];
  /** Dynamic mode only: roles bound by a verified claim's value. */
  claimRoleBindings?: ClaimRoleBinding[];
  /** Dynamic mode only: claims whose value names the tenant. */
  tenantClaims?: TenantClaim[];
}
export interface ClaimRoleBinding {
  name: string;
  claim: string;
  values: string[];
  roles: string[];
}
export interface TenantClaim {
  claim: string;
  prefix: string;
  /** What the claim names: the tenant's ID (X-Scope-OrgID, the default) or its name. */
  field: 'tenantID' | 'tenant';
  resources: string[];
  permissions: Permission[];
}
export interface Role {
  name: string;
  resources: string[];
  tenants: string[];
  permissions: Permission[];
  /**
   * LogQL stream selectors limiting the role's reads of logs to the streams one of them matches;
   * absent: the whole tenant. Never empty (an empty list is refused at load).
   */
  selectors?: string[];
}
export interface RoleBinding {
  name: string;
  roles: string[];
  subjects: Subject[];
}
export interface Subject {
  kind: 'user' | 'group';
  name: string;
}
export type Permission = 'read' | 'write';

export interface ParsedRbac {
  rbac: Rbac;
  /** Faults that do not stop serving (a binding to a role that does not exist grants nothing). */
  warnings: string[];
}

/**
 * Parses and validates an rbac file: observatorium/api's `{roles, roleBindings}`, or a LokiStack
 * resource whose `spec.tenants.authorization` holds them. Every fault names the file, the field
 * and what is wrong; unknown fields are faults, since a misspelt key would silently grant nothing.
 */
export function parseRbac(source: string, text: string, options: { claims?: boolean; reload?: boolean } = {}): ParsedRbac {
  // Duplicate keys are found by our own walk, which can name the field they repeat.
  const doc = parseOperatorYaml(source, text, { uniqueKeys: false });
  rejectDuplicateKeys(source, doc.contents, '', lineOf(text));
  const root: unknown = doc.toJS({ maxAliasCount: 100 });
  // Roles and bindings hold no secret: a fault may quote what it found.
  const v = new Validator(source, { quoteValues: true });
  if (root === null || root === undefined) {
    if (options.reload) throw emptyOnReload(source);
    return { rbac: { roles: [], roleBindings: [] }, warnings: [`${source}: the file is empty: no request will be allowed`] };
  }
  const { block, path } = authorizationBlock(v, root);
  const at = path ? `${path}.` : '';
  // A file that names no roles and no bindings at all is what a truncated or half-written file
  // looks like, so a reload refuses it; an explicit `roles: []` still denies everything.
  if (options.reload && isRecord(block) && RBAC_KEYS.every((k) => block[k] === undefined || block[k] === null)) throw emptyOnReload(source);
  const obj = v.object(block, path, ['roles', 'roleBindings', 'claimRoleBindings', 'tenantClaims', ...(path ? ['opa'] : [])]);
  const roles = v.list(obj.roles, `${at}roles`, (item, path) => parseRole(v, item, path));
  const roleBindings = v.list(obj.roleBindings, `${at}roleBindings`, (item, path) => parseBinding(v, item, path));
  for (const key of ['claimRoleBindings', 'tenantClaims'] as const) {
    if (obj[key] !== undefined && !options.claims) v.fail(`${at}${key}`, 'binds on verified token claims, which only --mode=dynamic has');
  }
  const claimRoleBindings = v.list(obj.claimRoleBindings, `${at}claimRoleBindings`, (item, p) => parseClaimBinding(v, item, p));
  const tenantClaims = v.list(obj.tenantClaims, `${at}tenantClaims`, (item, p) => parseTenantClaim(v, item, p));

  const warnings: string[] = [];
  const known = new Set(roles.map((r) => r.name));
  const checkRoles = (list: ReadonlyArray<{ roles: string[] }>, key: string) =>
    list.forEach((b, i) =>
      b.roles.forEach((r, j) => {
        if (!known.has(r)) warnings.push(`${source}: ${at}${key}[${i}].roles[${j}]: role "${r}" does not exist; the binding grants nothing through it`);
      }),
    );
  // The gateway and the operator's policy accept two roles of one name, and a binding gets both:
  // almost never what the author meant, so it is said.
  const firstIndex = new Map<string, number>();
  roles.forEach((r, i) => {
    const first = firstIndex.get(r.name);
    if (first === undefined) firstIndex.set(r.name, i);
    else warnings.push(`${source}: ${at}roles[${i}].name: role "${r.name}" is also defined at ${at}roles[${first}]; a binding to "${r.name}" gets both`);
  });
  checkRoles(roleBindings, 'roleBindings');
  checkRoles(claimRoleBindings, 'claimRoleBindings');
  if (roleBindings.length + claimRoleBindings.length + tenantClaims.length === 0) warnings.push(`${source}: no roleBindings: no request will be allowed`);
  const rbac: Rbac = { roles, roleBindings };
  if (obj.claimRoleBindings !== undefined) rbac.claimRoleBindings = claimRoleBindings;
  if (obj.tenantClaims !== undefined) rbac.tenantClaims = tenantClaims;
  return { rbac, warnings };
}

const RBAC_KEYS = ['roles', 'roleBindings', 'claimRoleBindings', 'tenantClaims'] as const;

function emptyOnReload(source: string): ConfigError {
  return new ConfigError(
    source,
    '',
    'names no roles and no roleBindings: refused on reload, the previous ones keep serving (write `roles: []` to deny every request)',
  );
}

/** The object that holds roles and roleBindings, and the path prefix that names it in errors. */
function authorizationBlock(v: Validator, root: unknown): { block: unknown; path: string } {
  if (isRecord(root) && root.kind === 'LokiStack') {
    const spec = isRecord(root.spec) ? root.spec : v.fail('spec', 'a LokiStack needs spec.tenants.authorization');
    const tenants = isRecord(spec.tenants) ? spec.tenants : v.fail('spec.tenants', 'missing: a LokiStack needs spec.tenants.authorization');
    if (!isRecord(tenants.authorization)) v.fail('spec.tenants.authorization', 'missing: nothing to authorize with');
    return { block: tenants.authorization, path: 'spec.tenants.authorization' };
  }
  return { block: root, path: '' };
}

function parseRole(v: Validator, item: unknown, path: string): Role {
  const o = v.object(item, path, ['name', 'resources', 'tenants', 'permissions', 'selectors']);
  const role: Role = {
    name: v.name(o.name, `${path}.name`),
    resources: v.strings(o.resources, `${path}.resources`),
    tenants: v.strings(o.tenants, `${path}.tenants`),
    permissions: permissions(v, o.permissions, `${path}.permissions`),
  };
  if (o.selectors !== undefined) role.selectors = selectors(v, o.selectors, `${path}.selectors`);
  return role;
}

/**
 * A role's LogQL stream selectors, each parsed as Loki would; an empty list is refused, since a
 * reader could not tell it from "no restriction" (leave the field out for the whole tenant).
 */
function selectors(v: Validator, x: unknown, path: string): string[] {
  if (x === null) v.fail(path, 'must be a list of LogQL stream selectors (leave the field out for the whole tenant)');
  const list = v.strings(x, path);
  if (list.length === 0) v.fail(path, 'must not be empty: a role with no selector would read nothing (leave the field out for the whole tenant)');
  if (list.length > MAX_SELECTORS_PER_ROLE) v.fail(path, `more than ${MAX_SELECTORS_PER_ROLE} selectors`);
  list.forEach((s, i) => {
    try {
      parseSelector(s);
    } catch (err) {
      if (err instanceof LabelPolicyError)
        v.fail(`${path}[${i}]`, `invalid LogQL stream selector ${JSON.stringify(s.slice(0, 80))}${s.length > 80 ? '…' : ''}: ${err.message}`);
      throw err;
    }
  });
  return list;
}

function parseClaimBinding(v: Validator, item: unknown, path: string): ClaimRoleBinding {
  const o = v.object(item, path, ['name', 'claim', 'values', 'roles']);
  return {
    name: v.name(o.name, `${path}.name`),
    claim: v.name(o.claim, `${path}.claim`),
    values: v.strings(o.values, `${path}.values`),
    roles: v.strings(o.roles, `${path}.roles`),
  };
}

function parseTenantClaim(v: Validator, item: unknown, path: string): TenantClaim {
  const o = v.object(item, path, ['claim', 'prefix', 'field', 'resources', 'permissions']);
  if (o.prefix !== undefined && typeof o.prefix !== 'string') v.fail(`${path}.prefix`, 'must be a string');
  if (o.field !== undefined && o.field !== 'tenantID' && o.field !== 'tenant')
    v.fail(`${path}.field`, `must be "tenantID" or "tenant", got ${JSON.stringify(o.field)}`);
  return {
    claim: v.name(o.claim, `${path}.claim`),
    prefix: (o.prefix as string | undefined) ?? '',
    field: (o.field as 'tenantID' | 'tenant' | undefined) ?? 'tenantID',
    resources: v.strings(o.resources, `${path}.resources`),
    permissions: permissions(v, o.permissions, `${path}.permissions`),
  };
}

function permissions(v: Validator, x: unknown, path: string): Permission[] {
  return v.strings(x, path).map((p, i) => {
    if (p !== 'read' && p !== 'write') v.fail(`${path}[${i}]`, `must be "read" or "write", got ${JSON.stringify(p)}`);
    return p;
  });
}

function parseBinding(v: Validator, item: unknown, path: string): RoleBinding {
  const o = v.object(item, path, ['name', 'roles', 'subjects']);
  return {
    name: v.name(o.name, `${path}.name`),
    roles: v.strings(o.roles, `${path}.roles`),
    subjects: v.list(o.subjects, `${path}.subjects`, (s, sp) => {
      const so = v.object(s, sp, ['kind', 'name']);
      const kind = v.name(so.kind, `${sp}.kind`);
      if (kind !== 'user' && kind !== 'group') v.fail(`${sp}.kind`, `must be "user" or "group", got ${JSON.stringify(kind)}`);
      return { kind, name: v.name(so.name, `${sp}.name`) };
    }),
  };
}

/** Refuses a mapping that repeats a key, naming the repeated field and the line of its second use. */
function rejectDuplicateKeys(source: string, node: unknown, path: string, line: (offset: number) => number): void {
  if (isMap(node)) {
    const seen = new Set<string>();
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      const field = path ? `${path}.${key}` : key;
      if (seen.has(key)) {
        const offset = isScalar(pair.key) && pair.key.range ? pair.key.range[0] : undefined;
        throw new ConfigError(source, field, `duplicate key${offset === undefined ? '' : ` (again at line ${line(offset)})`}`);
      }
      seen.add(key);
      rejectDuplicateKeys(source, pair.value, field, line);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => rejectDuplicateKeys(source, item, `${path}[${i}]`, line));
  }
}

function lineOf(text: string): (offset: number) => number {
  return (offset) => text.slice(0, offset).split('\n').length;
}
