import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/** Longest token read: past it the header is refused before any provider or API is asked. */
export const MAX_TOKEN_BYTES = 16 * 1024;

/** RFC 6750's b64token: what a bearer token may hold. Anything else (a space, a comma) is refused. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

export type BearerToken = { kind: 'none' } | { kind: 'malformed'; reason: string } | { kind: 'token'; token: string };

/**
 * The caller's token as the Data API reads it (server/http/data-api.ts): X-Forwarded-Access-Token,
 * else `Authorization: Bearer`. The forwarded header wins because an authenticating proxy in front
 * (oauth2-proxy --pass-access-token, OpenShift's oauth-proxy) puts the token it obtained there,
 * while Authorization may carry something else (the proxy's own basic credentials). Either way the
 * token is verified before it proves anything, so a client choosing the header gains nothing.
 *
 * A header repeated (Node joins unknown headers with ", "), a value that is not RFC 6750 token
 * syntax, or one longer than MAX_TOKEN_BYTES is malformed: refused before any upstream call, and
 * never a string that could smuggle another header or a second token into a call made with it.
 */
export function bearerFrom(headers: IncomingHttpHeaders): BearerToken {
  const forwarded = headers['x-forwarded-access-token'];
  if (forwarded !== undefined && forwarded !== '') return checked(forwarded, 'X-Forwarded-Access-Token');
  const auth = headers.authorization;
  if (auth === undefined || auth === '') return { kind: 'none' };
  if (Array.isArray(auth)) return { kind: 'malformed', reason: 'Authorization is repeated' };
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(auth);
  // Basic or another scheme is no bearer token: as if none came.
  if (!m) return /^Bearer\b/i.test(auth) ? { kind: 'malformed', reason: 'Authorization: Bearer holds no single token' } : { kind: 'none' };
  return checked(m[1]!, 'Authorization');
}

function checked(value: string | string[], header: string): BearerToken {
  if (Array.isArray(value)) return value.length === 1 ? checked(value[0]!, header) : { kind: 'malformed', reason: `${header} is repeated` };
  if (value.length > MAX_TOKEN_BYTES) return { kind: 'malformed', reason: `${header}: the token is longer than ${MAX_TOKEN_BYTES} bytes` };
  if (!B64TOKEN.test(value))
    return { kind: 'malformed', reason: `${header}: not a bearer token (RFC 6750 token characters only; a repeated header is joined with ", ")` };
  return { kind: 'token', token: value };
}

/** A digest of the bearer token for the decision cache, separated per mode; never the token. */
export function bearerCredentialKey(mode: string, headers: IncomingHttpHeaders): string | undefined {
  const b = bearerFrom(headers);
  if (b.kind !== 'token') return undefined;
  return createHash('sha256').update(`forward-auth\0${mode}\0bearer\0`).update(b.token).digest('base64url');
}
