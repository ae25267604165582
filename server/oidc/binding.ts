import { IdentityError } from './identity.js';

/**
 * Binds an introspected (opaque) token to the tenant, as jose's audience check binds a JWT: the
 * provider vouches that the token is active, not that it was meant for us. A token another
 * application of the same provider obtained must not read this tenant's logs.
 *
 * - `aud` present (a string or a list): it must name one of the tenant's audiences;
 * - `aud` absent: `client_id` must be the tenant's client;
 * - neither: nothing ties the token to the tenant, refused.
 */
export function bindIntrospection(
  tenant: string,
  info: { aud?: unknown; client_id?: unknown },
  binding: { clientID: string; audiences: readonly string[] },
): void {
  const aud = info.aud;
  if (aud !== undefined && aud !== null) {
    const values = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : [];
    if (values.some((a) => binding.audiences.includes(a))) return;
    throw new IdentityError('wrong_audience', `tenant ${tenant}: the introspected token is for another audience`);
  }
  if (typeof info.client_id === 'string') {
    if (info.client_id === binding.clientID) return;
    throw new IdentityError('wrong_client', `tenant ${tenant}: the introspected token was issued to another client`);
  }
  throw new IdentityError('unbound_token', `tenant ${tenant}: the introspected token names neither an audience nor a client`);
}
