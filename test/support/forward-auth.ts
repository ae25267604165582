/**
 * What the forward-auth suites share: users in an htpasswd file, GEL's example policies as data
 * for the bundled policy, and a raw HTTP client that can send what fetch cannot
 * (repeated headers, a chosen source address).
 */
import { writeFileSync } from 'node:fs';
import { request, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { makeTempDir, writeTempFile } from './service.js';

/** Users and passwords, kubriX-style: one basic-auth user per tenant, plus a GEL-style restricted reader. */
export const USERS: Record<string, string> = {
  'team-a-user': 'pass-a',
  'team-b-user': 'pass-b',
  'gel-reader': 'pass-gel',
  collector: 'pass-collector',
};

/** An htpasswd file of USERS (bcrypt, cost 4: tests need not be slow). */
export function writeHtpasswd(users: Record<string, string> = USERS, dir = makeTempDir()): string {
  const file = join(dir, 'htpasswd');
  writeFileSync(
    file,
    `${Object.entries(users)
      .map(([u, p]) => `${u}:${bcrypt.hashSync(p, 4).replace(/^\$2b\$/, '$2y$')}`)
      .join('\n')}\n`,
  );
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
    {
      name: 'gel',
      roles: ['gel-prod-dev'],
      subjects: [
        { kind: 'user', name: 'gel-reader' },
        { kind: 'group', name: 'gel-readers' },
      ],
    },
    { name: 'collector', roles: ['write-all'], subjects: [{ kind: 'user', name: 'collector' }] },
  ],
};

/**
 * The bundled policy (policies/lokistack.rego compiled, with its lokistack/label_policy rule) over
 * GEL_DATA as its data document: --policy.data takes it as is (the rbac loader accepts only read and
 * write permissions; GEL_DATA also grants `delete`).
 */
export function gelPolicyFlags(data: unknown = GEL_DATA): string[] {
  return [`--policy.data=${writeTempFile('gel-data.json', JSON.stringify(data))}`, '--rbac.config='];
}

/** GEL_DATA's read and write roles as an rbac.yaml, `selectors` included: what an operator writes. */
export const GEL_RBAC = `roles:
  - {name: team-a-read, resources: [logs], tenants: [team-a], permissions: [read]}
  - {name: team-b-read, resources: [logs], tenants: [team-b], permissions: [read]}
  - name: gel-prod-dev
    resources: [logs]
    tenants: [team-b]
    permissions: [read]
    selectors: ['{secret!="true", env="prod"}', '{env="dev"}']
  - {name: write-all, resources: [logs], tenants: [team-a, team-b], permissions: [write]}
roleBindings:
  - {name: a, roles: [team-a-read], subjects: [{kind: user, name: team-a-user}]}
  - {name: b, roles: [team-b-read], subjects: [{kind: user, name: team-b-user}]}
  - {name: gel, roles: [gel-prod-dev], subjects: [{kind: user, name: gel-reader}, {kind: group, name: gel-readers}]}
  - {name: collector, roles: [write-all], subjects: [{kind: user, name: collector}]}
`;

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
    const req = request(
      url,
      { method: options.method ?? 'GET', headers: raw, agent: false, ...(options.localAddress ? { localAddress: options.localAddress } : {}) },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString('utf8') }));
        res.on('error', reject);
      },
    );
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
