import { readRegularFile } from '../files.js';
import type { Config } from '../config/config.js';
import { MAX_TENANTS_BYTES, parseTenants, requireSecureIssuers } from '../config/tenants.js';
import { DynamicAuthorizer } from '../decision/dynamic.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { upstreamWarner } from '../observability/rate-limit.js';
import { DEFAULT_ALGORITHMS, OidcVerifier } from '../oidc/verifier.js';
import type { WiredMode } from './mode.js';
import { wireStaticMode } from './static-mode.js';
import { makeDynamicForwardAuthorizer } from '../forward-auth/dynamic.js';
import { labelPolicyFrom } from '../policy/label-policy.js';

/** Dynamic mode: the static policy, deciding over identities each tenant's OIDC provider proves. */
export async function wireDynamicMode(config: Config, logger: Logger, metrics: Metrics): Promise<WiredMode> {
  const d = config.dynamic!;
  const text = Buffer.from(await readRegularFile('--tenants.config', d.tenantsFile, MAX_TENANTS_BYTES)).toString('utf8');
  const tenants = parseTenants(d.tenantsFile, text);
  requireSecureIssuers(d.tenantsFile, tenants, d.oidc.allowInsecureIssuers);
  const policy = await wireStaticMode(config, logger, metrics);
  const verifier = new OidcVerifier(
    tenants,
    {
      timeoutMs: d.oidc.timeoutMs,
      allowInsecureIssuers: d.oidc.allowInsecureIssuers,
      algorithms: DEFAULT_ALGORITHMS,
      clockToleranceSeconds: d.oidc.clockToleranceSeconds,
      maxTtlMs: d.oidc.maxTtlMs,
      maxEntries: d.oidc.maxEntries,
      jwksCooldownMs: d.oidc.jwksCooldownMs,
      negativeTtlMs: d.oidc.negativeTtlMs,
      discoveryBackoffMs: d.oidc.discoveryBackoffMs,
      discoveryBackoffMaxMs: d.oidc.discoveryBackoffMaxMs,
      maxConcurrentCalls: d.oidc.maxConcurrentCalls,
      warn: upstreamWarner(logger),
      observe: (tenant, endpoint, status) => metrics.oidcRequests.inc({ tenant, endpoint, code: String(status) }),
    },
    {
      hit: () => metrics.oidcClaimsCache.inc({ result: 'hit' }),
      miss: () => metrics.oidcClaimsCache.inc({ result: 'miss' }),
    },
  );
  if (d.acceptInputWithoutToken) {
    logger.warn(
      '--dynamic.accept-input-without-token is on: a request without a token is decided on the subject and groups its input asserts. Only the gateway must be able to reach this service.',
    );
  }
  for (const t of tenants) {
    if (t.oidc.issuerURL.startsWith('http:'))
      logger.warn({ tenant: t.name, issuer: t.oidc.issuerURL }, 'the issuer is not https: its keys can be forged in transit');
    if (t.oidc.userinfoOpaqueTokens) {
      logger.warn(
        { tenant: t.name },
        'oidc.userinfoOpaqueTokens is on: opaque tokens are resolved at userinfo, which cannot say whom a token was issued to, so a token the provider issued to ANY of its clients (another application, for another audience) is accepted for this tenant. Prefer oidc.introspection, which binds tokens by aud or client_id.',
      );
    }
  }
  logger.info({ tenants: tenants.map((t) => t.name).join(','), file: d.tenantsFile }, 'configured OIDC tenants');
  const authorizer = new DynamicAuthorizer(
    { acceptInputWithoutToken: d.acceptInputWithoutToken, tenantIds: new Map(tenants.map((t) => [t.name, t.id])) },
    { verifier, policy: policy.authorizer, logger, onVerification: (result) => metrics.oidcVerifications.inc({ result }) },
  );
  if (!config.forwardAuth) return { ...policy, authorizer };
  // The policy as written, not the Data API's gateway view of it: that view denies every
  // label-restricted read, which forward-auth serves by handing Loki the selectors.
  const forwardAuth = makeDynamicForwardAuthorizer({
    decisionPath: config.decisionPath,
    options: config.forwardAuthModes!.dynamic,
    tenants,
    verifier,
    policy: policy.policy!,
    labelPolicy: labelPolicyFrom,
    logger,
    onVerification: (result) => metrics.oidcVerifications.inc({ result }),
  });
  logger.info({ tenants: tenants.map((t) => t.id).join(','), maxOpaqueTenants: config.forwardAuthModes!.dynamic.maxOpaqueTenants }, 'serving /forward-auth');
  return { ...policy, authorizer, forwardAuth };
}
