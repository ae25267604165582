import { createHash } from 'node:crypto';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, customFetch as joseFetch, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import type { Tenant } from '../config/tenants.js';
import { identityFromClaims, IdentityError, type Identity, type IdentityVerifier } from './identity.js';
import { providerFetch } from './fetch.js';

export interface OidcVerifierOptions {
  /** Deadline for one call to a provider. */
  timeoutMs: number;
  /** Accept http:// issuers (tests, loopback); https otherwise, since keys fetched over http can be forged. */
  allowInsecureIssuers: boolean;
  /** JWT signature algorithms accepted; never `none` or a shared-secret HMAC. */
  algorithms: string[];
  /** Clock skew tolerated on exp and nbf, seconds. */
  clockToleranceSeconds: number;
  /** Most claims kept per cache entry, and how long entries of tokens without exp live. */
  maxTtlMs: number;
  maxEntries: number;
  /** Least time between two fetches of an issuer's keys triggered by unknown key IDs. */
  jwksCooldownMs: number;
  observe?: (tenant: string, endpoint: string, status: number | 'error') => void;
}

export const DEFAULT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

/** One tenant's issuer: discovered once, on first use, and again after a failure. */
class Issuer {
  private discovered: Promise<{ config: oidc.Configuration; jwks: ReturnType<typeof createRemoteJWKSet>; issuer: string }> | undefined;
  private readonly fetch;

  constructor(
    readonly tenant: Tenant,
    private readonly options: OidcVerifierOptions,
  ) {
    this.fetch = providerFetch({
      ...(tenant.oidc.issuerCA ? { ca: tenant.oidc.issuerCA } : {}),
      timeoutMs: options.timeoutMs,
      maxBytes: 1 << 20,
      observe: (url, status) => options.observe?.(tenant.name, endpointName(url), status),
    });
  }

  metadata() {
    this.discovered ??= this.discover().catch((err: unknown) => {
      this.discovered = undefined;
      throw err;
    });
    return this.discovered;
  }

  private async discover() {
    const o = this.tenant.oidc;
    const url = new URL(o.issuerURL);
    if (url.protocol === 'http:' && !this.options.allowInsecureIssuers) {
      throw new IdentityError('provider_error', `tenant ${this.tenant.name}: issuer ${o.issuerURL} is not https (--oidc.allow-insecure-issuers allows it)`);
    }
    let config: oidc.Configuration;
    try {
      config = await oidc.discovery(url, o.clientID, o.clientSecret, undefined, {
        [oidc.customFetch]: this.fetch,
        timeout: Math.ceil(this.options.timeoutMs / 1000),
        ...(url.protocol === 'http:' ? { execute: [oidc.allowInsecureRequests] } : {}),
      });
    } catch (err) {
      throw providerFailure(this.tenant.name, 'discovery', err);
    }
    const meta = config.serverMetadata();
    if (!meta.jwks_uri) throw new IdentityError('provider_error', `tenant ${this.tenant.name}: the issuer publishes no jwks_uri`);
    const jwks = createRemoteJWKSet(new URL(meta.jwks_uri), {
      timeoutDuration: this.options.timeoutMs,
      // A token signed with an unknown key refetches the keys, at most once per cooldown: rotation
      // is picked up, and a flood of forged key IDs cannot hammer the provider.
      cooldownDuration: this.options.jwksCooldownMs,
      cacheMaxAge: 10 * 60_000,
      [joseFetch]: this.fetch,
    });
    return { config, jwks, issuer: meta.issuer };
  }
}

/**
 * Verifies bearer tokens against each tenant's OIDC provider: JWTs against the issuer's published
 * keys (issuer, audience, expiry and algorithm checked), opaque tokens with userinfo or token
 * introspection. Identities are cached per token hash until the token expires, within a bound,
 * and concurrent verifications of one token share one call to the provider.
 */
export class OidcVerifier implements IdentityVerifier {
  private readonly issuers = new Map<string, Issuer>();
  private readonly cache = new Map<string, { identity: Identity; until: number }>();
  private readonly inflight = new Map<string, Promise<Identity>>();

  constructor(
    tenants: readonly Tenant[],
    private readonly options: OidcVerifierOptions,
    private readonly events: { hit(): void; miss(): void } = { hit() {}, miss() {} },
  ) {
    for (const t of tenants) this.issuers.set(t.name, new Issuer(t, options));
  }

  async verify(tenant: string, token: string, signal: AbortSignal): Promise<Identity> {
    const issuer = this.issuers.get(tenant);
    if (!issuer) throw new IdentityError('unknown_tenant', `no OIDC provider is configured for tenant "${tenant}"`);
    const key = createHash('sha256').update(tenant).update('\0').update(token).digest('hex');
    const now = Date.now();
    const cached = this.cache.get(key);
    if (cached && cached.until > now) {
      this.events.hit();
      return cached.identity;
    }
    if (cached) this.cache.delete(key);
    const running = this.inflight.get(key);
    if (running) {
      // A join costs the provider nothing, as a hit does.
      this.events.hit();
      return running;
    }
    this.events.miss();
    const p = this.resolve(issuer, token, signal)
      .then((identity) => {
        const until = Math.min(identity.expiresAt ?? Infinity, Date.now() + this.options.maxTtlMs);
        if (until > Date.now()) this.remember(key, identity, until);
        return identity;
      })
      .finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  /** Identities held now (bounded by maxEntries). */
  cacheSize(): number {
    return this.cache.size;
  }

  private remember(key: string, identity: Identity, until: number): void {
    // A Map keeps insertion order: the oldest entries go first when the bound is reached.
    while (this.cache.size >= this.options.maxEntries) {
      const oldest = this.cache.keys().next().value as string;
      this.cache.delete(oldest);
    }
    this.cache.set(key, { identity, until });
  }

  private async resolve(issuer: Issuer, token: string, signal: AbortSignal): Promise<Identity> {
    const { config, jwks, issuer: iss } = await issuer.metadata();
    const o = issuer.tenant.oidc;
    if (looksLikeJwt(token)) {
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, jwks, {
          issuer: iss,
          audience: o.audiences,
          algorithms: this.options.algorithms,
          clockTolerance: this.options.clockToleranceSeconds,
          requiredClaims: ['exp'],
        }));
      } catch (err) {
        throw jwtFailure(issuer.tenant.name, err);
      }
      return identityFromClaims(payload as Record<string, unknown>, o.usernameClaim, o.groupClaim, payload.exp! * 1000);
    }
    if (signal.aborted) throw new IdentityError('provider_unreachable', 'the request was cancelled');
    if (o.introspection) {
      let info: oidc.IntrospectionResponse;
      try {
        info = await oidc.tokenIntrospection(config, token);
      } catch (err) {
        throw providerFailure(issuer.tenant.name, 'introspection', err);
      }
      if (!info.active) throw new IdentityError('inactive', `tenant ${issuer.tenant.name}: the provider says the token is not active`);
      if (typeof info.exp === 'number' && info.exp * 1000 <= Date.now()) throw new IdentityError('expired', `tenant ${issuer.tenant.name}: the token has expired`);
      return identityFromClaims(info as Record<string, unknown>, o.usernameClaim, o.groupClaim, typeof info.exp === 'number' ? info.exp * 1000 : undefined);
    }
    let claims: oidc.UserInfoResponse;
    try {
      claims = await oidc.fetchUserInfo(config, token, oidc.skipSubjectCheck);
    } catch (err) {
      throw providerFailure(issuer.tenant.name, 'userinfo', err);
    }
    return identityFromClaims(claims as Record<string, unknown>, o.usernameClaim, o.groupClaim);
  }
}

function looksLikeJwt(token: string): boolean {
  if (token.split('.').length !== 3) return false;
  try {
    return typeof decodeProtectedHeader(token).alg === 'string';
  } catch {
    return false;
  }
}

function jwtFailure(tenant: string, err: unknown): IdentityError {
  const why = (err as Error).message;
  if (err instanceof joseErrors.JWTExpired) return new IdentityError('expired', `tenant ${tenant}: the token has expired`, { cause: err });
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    const claim = err.claim;
    if (claim === 'iss') return new IdentityError('wrong_issuer', `tenant ${tenant}: the token was issued by another issuer`, { cause: err });
    if (claim === 'aud') return new IdentityError('wrong_audience', `tenant ${tenant}: the token is for another audience`, { cause: err });
    return new IdentityError('malformed_token', `tenant ${tenant}: claim "${claim}" is invalid: ${err.reason}`, { cause: err });
  }
  if (err instanceof joseErrors.JWKSNoMatchingKey || err instanceof joseErrors.JWSSignatureVerificationFailed) {
    return new IdentityError('bad_signature', `tenant ${tenant}: the signature matches none of the issuer's keys`, { cause: err });
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return new IdentityError('bad_signature', `tenant ${tenant}: the token's algorithm is not accepted`, { cause: err });
  if (err instanceof joseErrors.JWKSTimeout || (err as { code?: string }).code === 'ECONNREFUSED' || err instanceof TypeError) {
    return new IdentityError('provider_unreachable', `tenant ${tenant}: the issuer's keys cannot be fetched: ${why}`, { cause: err });
  }
  if (err instanceof joseErrors.JOSEError) return new IdentityError('malformed_token', `tenant ${tenant}: ${err.code}`, { cause: err });
  return new IdentityError('provider_unreachable', `tenant ${tenant}: ${why}`, { cause: err });
}

function providerFailure(tenant: string, call: string, err: unknown): IdentityError {
  if (err instanceof IdentityError) return err;
  const e = err as { status?: number; error?: string; code?: string; message?: string; cause?: { code?: string } };
  if (e.status === 401 || e.error === 'invalid_token') {
    return new IdentityError('inactive', `tenant ${tenant}: the provider refused the token (${call})`, { cause: err });
  }
  const why = e.cause?.code ?? e.code ?? e.message ?? String(err);
  return new IdentityError('provider_unreachable', `tenant ${tenant}: ${call} failed: ${why}`, { cause: err });
}

function endpointName(url: URL): string {
  if (url.pathname.endsWith('/.well-known/openid-configuration')) return 'discovery';
  if (/jwks/.test(url.pathname)) return 'jwks';
  if (/introspect/.test(url.pathname)) return 'introspection';
  if (/userinfo|\/me$/.test(url.pathname)) return 'userinfo';
  return 'other';
}
