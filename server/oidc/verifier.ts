import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, customFetch as joseFetch, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { LRUCache } from 'lru-cache';
import { InFlight } from '../cache/in-flight.js';
import type { Tenant } from '../config/tenants.js';
import { Backoff } from './backoff.js';
import { bindIntrospection } from './binding.js';
import { CallLimiter } from './call-limiter.js';
import { DEFINITE_FAILURES, identityFromClaims, IdentityError, type Identity, type IdentityErrorCode, type IdentityVerifier } from './identity.js';
import { providerFetch, type FetchLike } from './fetch.js';
import { reasonOf } from '../errors.js';

export interface OidcVerifierOptions {
  /** Deadline for one call to a provider. */
  timeoutMs: number;
  /** Accept http:// issuers (tests, loopback); https otherwise, since keys fetched over http can be forged. */
  allowInsecureIssuers: boolean;
  /** JWT signature algorithms accepted; never `none` or a shared-secret HMAC. */
  algorithms: string[];
  /** Clock skew tolerated on exp and nbf, seconds. */
  clockToleranceSeconds: number;
  /** Longest an identity is cached (tokens without exp live this long). */
  maxTtlMs: number;
  /** Most entries of each in-memory map: identities, remembered failures, verifications in flight. */
  maxEntries: number;
  /** Least time between two fetches of an issuer's keys triggered by unknown key IDs. */
  jwksCooldownMs: number;
  /** How long a token found invalid (not a provider failure) is answered without asking again; 0: never. */
  negativeTtlMs: number;
  /** Wait after a failed discovery before the next attempt, doubling per failure up to the max. */
  discoveryBackoffMs: number;
  discoveryBackoffMaxMs: number;
  /** Calls in flight to one tenant's provider at once. */
  maxConcurrentCalls: number;
  observe?: (tenant: string, endpoint: string, status: number | 'error') => void;
  /** A failed provider call: the call and its status, never the token (rate-limited by the caller). */
  warn?: (fields: { upstream: string; tenant: string; call: string; status: string; reason: string }) => void;
}

export const DEFAULT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

/** Requests waiting for a provider call slot, per tenant and per slot: past it, deny at once. */
const WAITERS_PER_SLOT = 16;

interface Metadata {
  config: oidc.Configuration;
  jwks: ReturnType<typeof createRemoteJWKSet>;
  issuer: string;
}

/**
 * One tenant's issuer: discovered on first use, again after a failure but no sooner than the
 * backoff allows, and every call to it within the tenant's bound of concurrent calls.
 */
class Issuer {
  private discovered: Promise<Metadata> | undefined;
  private lastFailure: IdentityError | undefined;
  private readonly backoff: Backoff;
  readonly calls: CallLimiter;
  private readonly fetch: FetchLike;

  constructor(
    readonly tenant: Tenant,
    private readonly options: OidcVerifierOptions,
    requestSignal: AsyncLocalStorage<AbortSignal>,
  ) {
    this.backoff = new Backoff(options.discoveryBackoffMs, options.discoveryBackoffMaxMs);
    this.calls = new CallLimiter(options.maxConcurrentCalls, options.maxConcurrentCalls * WAITERS_PER_SLOT);
    const base = providerFetch({
      ...(tenant.oidc.issuerCA ? { ca: tenant.oidc.issuerCA } : {}),
      timeoutMs: options.timeoutMs,
      maxBytes: 1 << 20,
      observe: (url, status, detail) => {
        const call = endpointName(url);
        options.observe?.(tenant.name, call, status);
        if (failedCall(call, status, detail)) {
          options.warn?.({
            upstream: 'oidc',
            tenant: tenant.name,
            call,
            status: status === 'error' ? (detail ?? 'error') : String(status),
            reason: status === 'error' ? `no answer (${detail ?? 'error'})` : `HTTP ${status}`,
          });
        }
      },
    });
    this.fetch = async (input, init) => {
      // Discovery and keys are shared by every request of the tenant: they run on their own
      // deadline, so that one caller hanging up cannot fail them for the others. A userinfo or
      // introspection call serves one token and ends with its request.
      const call = endpointName(new URL(input));
      const request = call === 'discovery' || call === 'jwks' ? undefined : requestSignal.getStore();
      const signals = [init.signal ?? undefined, request].filter((s): s is AbortSignal => s !== undefined);
      const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
      const release = await this.calls.acquire(signal);
      try {
        return await base(input, { ...init, signal: signal ?? null });
      } finally {
        release();
      }
    };
  }

  metadata(): Promise<Metadata> {
    if (this.discovered) return this.discovered;
    const wait = this.backoff.wait();
    if (wait > 0 && this.lastFailure) {
      // No call: a failing issuer is asked again when the backoff ends, not once per request.
      return Promise.reject(new IdentityError(this.lastFailure.code, `${this.lastFailure.message} (next discovery attempt in ${Math.ceil(wait / 1000)}s)`));
    }
    this.discovered = this.discover().then(
      (m) => {
        this.backoff.succeeded();
        return m;
      },
      (err: unknown) => {
        this.discovered = undefined;
        const e = asIdentityError(err);
        // A full call queue says nothing about the issuer: no backoff for it.
        if (e.code !== 'provider_busy') {
          this.lastFailure = e;
          this.backoff.failed();
        }
        throw e;
      },
    );
    return this.discovered;
  }

  private async discover(): Promise<Metadata> {
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
 * keys (issuer, audience, expiry and algorithm checked), opaque tokens with token introspection
 * (bound to the tenant by aud or client_id) or, where a tenant opts in, userinfo. Identities are
 * cached per token hash until the token expires, within a bound; a token found invalid is
 * answered from memory for a short while; concurrent verifications of one token share one call.
 */
export class OidcVerifier implements IdentityVerifier {
  private readonly issuers = new Map<string, Issuer>();
  // Least recently used goes first past the bound: a token in use keeps its entry while made-up
  // tokens churn through the rest. An attacker can only push entries out, never grow memory.
  private readonly identities: LRUCache<string, Identity>;
  private readonly failures: LRUCache<string, { code: IdentityErrorCode; message: string }>;
  // Past the bound a verification runs unshared: memory stays bounded, and the provider is
  // still protected by the per-tenant call bound.
  private readonly inflight: InFlight<Identity>;
  /** The deadline of the request a provider call is made for, seen by the fetch under openid-client. */
  private readonly requestSignal = new AsyncLocalStorage<AbortSignal>();

  constructor(
    tenants: readonly Tenant[],
    private readonly options: OidcVerifierOptions,
    private readonly events: { hit(): void; miss(): void } = { hit() {}, miss() {} },
  ) {
    this.identities = new LRUCache({ max: options.maxEntries });
    this.failures = new LRUCache({ max: options.maxEntries });
    this.inflight = new InFlight(options.maxEntries);
    for (const t of tenants) this.issuers.set(t.name, new Issuer(t, options, this.requestSignal));
  }

  async verify(tenant: string, token: string, signal: AbortSignal): Promise<Identity> {
    const issuer = this.issuers.get(tenant);
    if (!issuer) throw new IdentityError('unknown_tenant', `no OIDC provider is configured for tenant "${tenant}"`);
    const key = createHash('sha256').update(tenant).update('\0').update(token).digest('hex');
    const cached = this.identities.get(key);
    if (cached) {
      this.events.hit();
      return cached;
    }
    const failed = this.failures.get(key);
    if (failed) {
      // A remembered failure costs the provider nothing, as a hit does.
      this.events.hit();
      throw new IdentityError(failed.code, failed.message);
    }
    return this.inflight.share(key, () => this.verifyNow(key, issuer, token, signal), { onJoin: () => this.events.hit() });
  }

  private verifyNow(key: string, issuer: Issuer, token: string, signal: AbortSignal): Promise<Identity> {
    this.events.miss();
    return this.requestSignal
      .run(signal, () => this.resolve(issuer, token, signal))
      .then(
        (identity) => {
          const until = Math.min(identity.expiresAt ?? Infinity, Date.now() + this.options.maxTtlMs);
          remember(this.identities, key, identity, until);
          return identity;
        },
        (err: unknown) => {
          const e = asIdentityError(err);
          // Only a verdict on the token is remembered: caching an outage would let whoever can
          // make the provider stumble deny every user whose token was tried meanwhile.
          if (DEFINITE_FAILURES.has(e.code) && !e.retryable && this.options.negativeTtlMs > 0) {
            remember(this.failures, key, { code: e.code, message: e.message }, Date.now() + this.options.negativeTtlMs);
          }
          throw e;
        },
      );
  }

  /** Identities held now (bounded by maxEntries). */
  cacheSize(): number {
    return this.identities.size;
  }

  /** Sizes of every in-memory map, each bounded by maxEntries. */
  sizes(): { identities: number; failures: number; inflight: number } {
    return { identities: this.identities.size, failures: this.failures.size, inflight: this.inflight.size };
  }

  private async resolve(issuer: Issuer, token: string, signal: AbortSignal): Promise<Identity> {
    const o = issuer.tenant.oidc;
    const name = issuer.tenant.name;
    const jwt = looksLikeJwt(token);
    if (!jwt && !o.introspection && !o.userinfoOpaqueTokens) {
      // Decided before any call: an opaque token this tenant cannot bind costs the provider nothing.
      throw new IdentityError(
        'unbound_token',
        `tenant ${name}: an opaque token cannot be bound to this tenant (set oidc.introspection; oidc.userinfoOpaqueTokens accepts it unbound)`,
      );
    }
    const { config, jwks, issuer: iss } = await untilAborted(issuer.metadata(), signal);
    if (jwt) {
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
        throw jwtFailure(name, err);
      }
      return identityFromClaims(payload as Record<string, unknown>, o.usernameClaim, o.groupClaim, payload.exp! * 1000);
    }
    if (signal.aborted) throw new IdentityError('provider_unreachable', 'the request was cancelled');
    if (o.introspection) {
      let info: oidc.IntrospectionResponse;
      try {
        info = await oidc.tokenIntrospection(config, token);
      } catch (err) {
        throw providerFailure(name, 'introspection', err);
      }
      if (!info.active) throw new IdentityError('inactive', `tenant ${name}: the provider says the token is not active`);
      if (typeof info.exp === 'number' && info.exp * 1000 <= Date.now()) throw new IdentityError('expired', `tenant ${name}: the token has expired`);
      bindIntrospection(name, info, o);
      return identityFromClaims(info as Record<string, unknown>, o.usernameClaim, o.groupClaim, typeof info.exp === 'number' ? info.exp * 1000 : undefined);
    }
    let claims: oidc.UserInfoResponse;
    try {
      claims = await oidc.fetchUserInfo(config, token, oidc.skipSubjectCheck);
    } catch (err) {
      throw providerFailure(name, 'userinfo', err);
    }
    return identityFromClaims(claims as Record<string, unknown>, o.usernameClaim, o.groupClaim);
  }
}

/** `p`, or a denial when the request's deadline passes first (a discovery shared with others goes on). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  const cancelled = () => new IdentityError('provider_unreachable', "the request's deadline passed while the issuer was being discovered");
  if (signal.aborted) return Promise.reject(cancelled());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(cancelled());
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** The IdentityError in an error's cause chain (the libraries wrap what our fetch throws). */
function findIdentityError(err: unknown): IdentityError | undefined {
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof IdentityError) return e;
  }
  return undefined;
}

function asIdentityError(err: unknown): IdentityError {
  return findIdentityError(err) ?? new IdentityError('provider_error', reasonOf(err), { cause: err });
}

/** Whether a finished call is a provider failure worth a warning (a 401 at userinfo is a verdict). */
function failedCall(call: string, status: number | 'error', detail: string | undefined): boolean {
  if (status === 'error') return detail !== 'aborted';
  if (status < 400) return false;
  return !(call === 'userinfo' && status === 401);
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
  const own = findIdentityError(err);
  if (own) return own;
  const why = reasonOf(err);
  if (err instanceof joseErrors.JWTExpired) return new IdentityError('expired', `tenant ${tenant}: the token has expired`, { cause: err });
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    const claim = err.claim;
    if (claim === 'iss') return new IdentityError('wrong_issuer', `tenant ${tenant}: the token was issued by another issuer`, { cause: err });
    if (claim === 'aud') return new IdentityError('wrong_audience', `tenant ${tenant}: the token is for another audience`, { cause: err });
    return new IdentityError('malformed_token', `tenant ${tenant}: claim "${claim}" is invalid: ${err.reason}`, { cause: err });
  }
  if (err instanceof joseErrors.JWKSNoMatchingKey) {
    // The key may be published after the refetch cooldown (a rotation): no verdict on the token yet.
    return new IdentityError('bad_signature', `tenant ${tenant}: the signature matches none of the issuer's keys`, { cause: err, retryable: true });
  }
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) {
    return new IdentityError('bad_signature', `tenant ${tenant}: the signature matches none of the issuer's keys`, { cause: err });
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed)
    return new IdentityError('bad_signature', `tenant ${tenant}: the token's algorithm is not accepted`, { cause: err });
  if (err instanceof joseErrors.JWKSTimeout || (err as { code?: string }).code === 'ECONNREFUSED' || err instanceof TypeError) {
    return new IdentityError('provider_unreachable', `tenant ${tenant}: the issuer's keys cannot be fetched: ${why}`, { cause: err });
  }
  if (err instanceof joseErrors.JOSEError) return new IdentityError('malformed_token', `tenant ${tenant}: ${err.code}`, { cause: err });
  return new IdentityError('provider_unreachable', `tenant ${tenant}: ${why}`, { cause: err });
}

function providerFailure(tenant: string, call: string, err: unknown): IdentityError {
  const own = findIdentityError(err);
  if (own) return own;
  const e = err as { status?: number; error?: string; code?: string; message?: string; cause?: { code?: string; status?: number } };
  // 401 at userinfo is the provider's verdict on the token; at introspection it refuses our
  // client (a wrong secret), which says nothing about the token.
  if (e.error === 'invalid_token' || (call === 'userinfo' && e.status === 401)) {
    return new IdentityError('inactive', `tenant ${tenant}: the provider refused the token (${call})`, { cause: err });
  }
  const status = e.status ?? e.cause?.status;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new IdentityError('provider_error', `tenant ${tenant}: ${call} answered HTTP ${status}${e.error ? ` (${e.error})` : ''}`, { cause: err });
  }
  const why = typeof status === 'number' ? `HTTP ${status}` : (e.cause?.code ?? e.code ?? e.message ?? reasonOf(err));
  return new IdentityError('provider_unreachable', `tenant ${tenant}: ${call} failed: ${why}`, { cause: err });
}

function endpointName(url: URL): string {
  if (url.pathname.endsWith('/.well-known/openid-configuration')) return 'discovery';
  if (/jwks/.test(url.pathname)) return 'jwks';
  if (/introspect/.test(url.pathname)) return 'introspection';
  if (/userinfo|\/me$/.test(url.pathname)) return 'userinfo';
  return 'other';
}

/** Keeps `value` until the time `until` (ms since the epoch); nothing when that has passed. */
function remember<V extends {}>(cache: LRUCache<string, V>, key: string, value: V, until: number): void {
  const ttl = until - Date.now();
  if (ttl > 0) cache.set(key, value, { ttl });
}
