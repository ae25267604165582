/**
 * What the forward-auth suites share: users in an htpasswd file, a policy with the label-policy
 * rule compiled by the real OPA compiler, and a raw HTTP client that can send what fetch cannot
 * (repeated headers, a chosen source address).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { makeTempDir } from './service.js';
import { ROOT } from './tools.js';

/** Users and passwords, kubriX-style: one basic-auth user per tenant, plus a GEL-style restricted reader. */
export const USERS: Record<string, string> = {
  'team-a-user': 'pass-a',
  'team-b-user': 'pass-b',
  'gel-reader': 'pass-gel',
  'collector': 'pass-collector',
};

/** An htpasswd file of USERS (bcrypt, cost 4: tests need not be slow). */
export function writeHtpasswd(users: Record<string, string> = USERS, dir = makeTempDir()): string {
  const file = join(dir, 'htpasswd');
  writeFileSync(file, Object.entries(users).map(([u, p]) => `${u}:${bcrypt.hashSync(p, 4).replace(/^\$2b\$/, '$2y$')}`).join('\n') + '\n');
  return file;
}

export const basic = (user: string, password = USERS[user] ?? ''): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/**
 * GEL's example policies (Grafana Enterprise Logs docs, "label-based access control"): one access
 * policy that reads `{secret!="true", env="prod"}` OR `{env="dev"}`; plus whole-tenant readers
 * and a collector that writes everywhere.
 */
export const GEL_DATA = {
  roles: [
    { name: 'team-a-read', resources: ['logs'], tenants: ['team-a'], permissions: ['read'] },
    { name: 'team-b-read', resources: ['logs'], tenants: ['team-b'], permissions: ['read'] },
    { name: 'gel-prod-dev', resources: ['logs'], tenants: ['team-b'], permissions: ['read'], selectors: ['{secret!="true", env="prod"}', '{env="dev"}'] },
    { name: 'write-all', resources: ['logs'], tenants: ['team-a', 'team-b'], permissions: ['write'] },
    { name: 'team-a-delete', resources: ['logs'], tenants: ['team-a'], permissions: ['delete'] },
  ],
  roleBindings: [
    { name: 'a', roles: ['team-a-read', 'team-a-delete'], subjects: [{ kind: 'user', name: 'team-a-user' }] },
    { name: 'b', roles: ['team-b-read'], subjects: [{ kind: 'user', name: 'team-b-user' }] },
    { name: 'gel', roles: ['gel-prod-dev'], subjects: [{ kind: 'user', name: 'gel-reader' }, { kind: 'group', name: 'gel-readers' }] },
    { name: 'collector', roles: ['write-all'], subjects: [{ kind: 'user', name: 'collector' }] },
  ],
};

/**
 * A stand-in for the label-policy rule (server/policy/label-policy.ts documents its value) until the
 * real one is on main: the union of the selectors of every granting role, the whole tenant when
 * one granting role has none. Evaluated beside the project's own lokistack.rego.
 */
const LABEL_POLICY_REGO = `package lokistack

import rego.v1

granting_roles contains role if {
	some i in matched_role_binding
	some role_name in data.roleBindings[i].roles
	some role in data.roles
	role.name == role_name
	input.resource in role.resources
	input.permission in role.permissions
	input.tenant in role.tenants
}

label_policy := {"restricted": false} if {
	allow
	some role in granting_roles
	not role.selectors
}

label_policy := {"restricted": true, "selectors": sort({s | some role in granting_roles; some s in role.selectors})} if {
	allow
	count(granting_roles) > 0
	every role in granting_roles { role.selectors }
}
`;

/** An opa build -t wasm bundle of lokistack.rego and the label-policy rule, with `data`. */
export function buildLabelPolicyBundle(opa: string, data: unknown = GEL_DATA): string {
  const dir = makeTempDir();
  writeFileSync(join(dir, 'lokistack.rego'), readFileSync(join(ROOT, 'policies', 'lokistack.rego')));
  writeFileSync(join(dir, 'label_policy.rego'), LABEL_POLICY_REGO);
  writeFileSync(join(dir, 'data.json'), JSON.stringify(data));
  const out = join(dir, 'bundle.tar.gz');
  execFileSync(opa, ['build', '-t', 'wasm', '-e', 'lokistack/allow', '-e', 'lokistack/label_policy', '-o', out, join(dir, 'lokistack.rego'), join(dir, 'label_policy.rego'), join(dir, 'data.json')], { stdio: 'pipe' });
  return out;
}

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * One HTTP request with headers as a flat list (repeats kept, in order) and, optionally, the
 * source address to connect from (any 127.0.0.0/8 address is loopback on Linux).
 */
export function send(url: string, options: { method?: string; headers?: Array<[string, string]>; body?: string; localAddress?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    // Headers given as a list are sent as they are: Node adds no Host then.
    const raw = ['Host', new URL(url).host, ...(options.headers ?? []).flat()];
    if (options.body !== undefined) raw.push('Content-Length', String(Buffer.byteLength(options.body)));
    const req = request(url, { method: options.method ?? 'GET', headers: raw, agent: false, ...(options.localAddress ? { localAddress: options.localAddress } : {}) }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** X-Prom-Label-Policy read as Loki and db-auth-gateway read it: entries at commas, tenant at the first colon, selector decoded. */
export function decodePolicy(header: string | undefined): Array<[string, string]> {
  if (header === undefined) return [];
  return header.split(',').map((entry) => {
    const colon = entry.indexOf(':');
    return [entry.slice(0, colon), decodeURIComponent(entry.slice(colon + 1))];
  });
}
