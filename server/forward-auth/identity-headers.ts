import { createHash, randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { isIPv4, type BlockList } from 'node:net';

/** Who a request says it is, before anything is verified. */
export type Presented =
  | { kind: 'none' }
  | { kind: 'invalid'; reason: string }
  | { kind: 'basic'; user: string; password: string; authorization: string }
  /** Asserted by a trusted authenticating proxy (oauth2-proxy's X-Auth-Request-*). */
  | { kind: 'proxy'; user: string; groups: string[]; email?: string };

const PROXY_HEADERS = ['x-auth-request-user', 'x-auth-request-groups', 'x-auth-request-email'] as const;
const MAX_USER_BYTES = 256;
const MAX_PASSWORD_BYTES = 1024;
const MAX_GROUPS = 256;

/** Whether a request carries any identity header a proxy could assert. */
export function hasProxyHeaders(headers: IncomingHttpHeaders): boolean {
  return PROXY_HEADERS.some((h) => headers[h] !== undefined);
}

/** Whether the TCP peer is one of the trusted proxies (an IPv4-mapped IPv6 peer as its IPv4 address). */
export function isTrustedPeer(list: BlockList | undefined, address: string): boolean {
  if (!list || address === '') return false;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped && isIPv4(mapped)) return list.check(mapped, 'ipv4');
  return list.check(address, isIPv4(address) ? 'ipv4' : 'ipv6');
}

/**
 * The identity a request presents: a trusted proxy's identity headers when the peer is trusted and
 * sent them, else HTTP basic credentials. A repeated header is invalid, never one copy picked.
 */
export function presentedIdentity(headers: IncomingHttpHeaders, distinct: NodeJS.Dict<string[]>, trustedPeer: boolean): Presented {
  for (const h of [...PROXY_HEADERS, 'authorization']) if ((distinct[h]?.length ?? 0) > 1) return { kind: 'invalid', reason: `${h} is repeated` };
  if (trustedPeer && hasProxyHeaders(headers)) {
    const user = (headers['x-auth-request-user'] as string | undefined)?.trim() || (headers['x-auth-request-email'] as string | undefined)?.trim() || '';
    if (user === '') return { kind: 'invalid', reason: 'the proxy sent identity headers without a user' };
    if (Buffer.byteLength(user) > MAX_USER_BYTES) return { kind: 'invalid', reason: 'the proxy sent a user name too long' };
    const raw = (headers['x-auth-request-groups'] as string | undefined) ?? '';
    const groups = [
      ...new Set(
        raw
          .split(',')
          .map((g) => g.trim())
          .filter((g) => g !== ''),
      ),
    ];
    if (groups.length > MAX_GROUPS) return { kind: 'invalid', reason: `the proxy sent more than ${MAX_GROUPS} groups` };
    const email = (headers['x-auth-request-email'] as string | undefined)?.trim();
    return { kind: 'proxy', user, groups, ...(email ? { email } : {}) };
  }
  const authorization = headers.authorization;
  if (authorization === undefined) return { kind: 'none' };
  const m = /^Basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(authorization);
  if (!m) return { kind: 'none' };
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return { kind: 'invalid', reason: 'basic credentials without a user' };
  const user = decoded.slice(0, colon);
  const password = decoded.slice(colon + 1);
  if (Buffer.byteLength(user) > MAX_USER_BYTES || Buffer.byteLength(password) > MAX_PASSWORD_BYTES)
    return { kind: 'invalid', reason: 'basic credentials too long' };
  return { kind: 'basic', user, password, authorization };
}

const KEY = randomBytes(32);

/** A digest naming what decides who the caller is; never the credential itself. */
export function presentedKey(p: Presented, peer: string): string | undefined {
  const h = createHash('sha256').update(KEY);
  switch (p.kind) {
    case 'none':
      return undefined;
    case 'invalid':
      return `invalid:${p.reason}`;
    case 'basic':
      return `basic:${h.update(p.authorization).digest('base64')}`;
    case 'proxy':
      return `proxy:${h.update(JSON.stringify([peer, p.user, p.groups, p.email ?? ''])).digest('base64')}`;
  }
}
