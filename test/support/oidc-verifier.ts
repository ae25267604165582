import { DEFAULT_ALGORITHMS, type OidcVerifierOptions } from '../../server/oidc/verifier.js';

/**
 * Options for a verifier a test builds directly (not through the service's flags): http issuers
 * allowed (test/support/oidc.ts serves on loopback), the service's algorithms, and bounds no test
 * reaches unless it sets them. A test passes only the options it is about.
 */
export function verifierOptions(over: Partial<OidcVerifierOptions> = {}): OidcVerifierOptions {
  return {
    timeoutMs: 5000,
    allowInsecureIssuers: true,
    algorithms: DEFAULT_ALGORITHMS,
    clockToleranceSeconds: 0,
    maxTtlMs: 60_000,
    maxEntries: 100,
    jwksCooldownMs: 30_000,
    negativeTtlMs: 60_000,
    discoveryBackoffMs: 1000,
    discoveryBackoffMaxMs: 1000,
    maxConcurrentCalls: 2,
    ...over,
  };
}
