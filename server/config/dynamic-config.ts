import { FlagError } from './flags.js';
import type { FlagReader } from './flag-reader.js';

/** Dynamic mode's settings. */
export interface DynamicConfig {
  tenantsFile: string;
  acceptInputWithoutToken: boolean;
  oidc: {
    timeoutMs: number;
    allowInsecureIssuers: boolean;
    maxTtlMs: number;
    maxEntries: number;
    clockToleranceSeconds: number;
    jwksCooldownMs: number;
    negativeTtlMs: number;
    discoveryBackoffMs: number;
    discoveryBackoffMaxMs: number;
    maxConcurrentCalls: number;
  };
}

export function dynamicConfig(r: FlagReader): DynamicConfig {
  const { positive } = r;
  const tenantsFile = r.string('tenants.config');
  if (tenantsFile === '') throw new FlagError("dynamic mode needs --tenants.config: the tenants and their OIDC providers (observatorium/api's tenants.yaml)");
  return {
    tenantsFile,
    acceptInputWithoutToken: r.bool('dynamic.accept-input-without-token'),
    oidc: {
      timeoutMs: positive('oidc.timeout'),
      allowInsecureIssuers: r.bool('oidc.allow-insecure-issuers'),
      maxTtlMs: positive('oidc.max-claims-ttl'),
      maxEntries: positive('oidc.claims-cache-entries'),
      clockToleranceSeconds: Math.round(r.number('oidc.clock-tolerance') / 1000),
      jwksCooldownMs: r.number('oidc.jwks-refresh-cooldown'),
      negativeTtlMs: r.notNegative('oidc.negative-cache-ttl'),
      discoveryBackoffMs: positive('oidc.discovery-backoff'),
      // A first wait longer than the cap raises the cap: setting one flag alone does what it says.
      discoveryBackoffMaxMs: Math.max(positive('oidc.discovery-backoff-max'), positive('oidc.discovery-backoff')),
      maxConcurrentCalls: positive('oidc.max-concurrent-calls'),
    },
  };
}
