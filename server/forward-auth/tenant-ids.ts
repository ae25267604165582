import { ConfigError } from '../errors.js';
import { parseOperatorYaml } from '../file-format.js';
import { isLokiTenantId } from './contracts.js';

/**
 * Tenant names to IDs from a file in observatorium/api's tenants.yaml format (`tenants: [{name,
 * id, ...}]`; the other fields, OIDC and the gateway's, are not read here: static mode needs no
 * identity provider). Roles name tenants; X-Scope-OrgID carries IDs, what Loki stores under. An
 * ID Loki would read differently (`a|b` is two tenants to Loki) is a fault, as is a name or an ID
 * listed twice (either would make the mapping ambiguous).
 */
export function parseTenantIds(source: string, text: string): ReadonlyMap<string, string> {
  const root = parseOperatorYaml(source, text, { uniqueKeys: true }).toJS({ maxAliasCount: 100 }) as unknown;
  const tenants = root !== null && typeof root === 'object' && !Array.isArray(root) ? (root as Record<string, unknown>).tenants : undefined;
  if (!Array.isArray(tenants) || tenants.length === 0) throw new ConfigError(source, 'tenants', 'must be a non-empty list of tenants');
  const byName = new Map<string, string>();
  const ids = new Set<string>();
  tenants.forEach((t: unknown, i) => {
    const at = `tenants[${i}]`;
    if (t === null || typeof t !== 'object' || Array.isArray(t)) throw new ConfigError(source, at, 'must be a mapping');
    const { name, id } = t as Record<string, unknown>;
    if (typeof name !== 'string' || name === '') throw new ConfigError(source, `${at}.name`, 'must be a non-empty string');
    if (typeof id !== 'string' || !isLokiTenantId(id))
      throw new ConfigError(source, `${at}.id`, "must be a Loki tenant ID (letters, digits and !-_.*'(), at most 150)");
    if (byName.has(name)) throw new ConfigError(source, `${at}.name`, `tenant "${name}" is listed twice`);
    if (ids.has(id)) throw new ConfigError(source, `${at}.id`, `tenant ID "${id}" is listed twice`);
    byName.set(name, id);
    ids.add(id);
  });
  return byName;
}
