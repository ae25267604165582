import type { Logger } from '../observability/logger.js';
import { IdentityError, type Identity, type IdentityVerifier } from '../oidc/identity.js';
import type { Authorizer, Decision, DecisionRequest } from './types.js';
import { reasonOf } from '../errors.js';

export interface DynamicOptions {
  /** Decide on the input's own subject and groups when no token comes (gateways that forward none). */
  acceptInputWithoutToken: boolean;
  /** tenant name -> tenant ID (X-Scope-OrgID) from tenants.yaml: the input's tenantID is set from it. */
  tenantIds: ReadonlyMap<string, string>;
}

export interface DynamicDeps {
  verifier: IdentityVerifier;
  /** The compiled policy over roles and bindings: what decides once the identity is known. */
  policy: Authorizer;
  logger: Logger;
  onVerification?: (result: string) => void;
}

/**
 * Dynamic mode: the caller's token is verified with the tenant's OIDC provider, and the identity
 * it proves (username, groups, claims) replaces what the input asserts before the policy decides.
 * Without a proven identity the input keeps no subject, groups or claims, so nothing can allow.
 */
export class DynamicAuthorizer implements Authorizer {
  readonly mode = 'dynamic';

  constructor(
    private readonly options: DynamicOptions,
    private readonly deps: DynamicDeps,
  ) {}

  ready(): boolean {
    return this.deps.policy.ready();
  }

  async decide(req: DecisionRequest): Promise<Decision> {
    if (req.input === null || typeof req.input !== 'object' || Array.isArray(req.input)) {
      return this.deps.policy.decide(req);
    }
    const asserted = req.input as Record<string, unknown>;
    // The tenant ID is configuration, not the caller's word: a policy naming tenants by ID (a claim
    // that names the X-Scope-OrgID) must see the ID the gateway will route to.
    const id = typeof asserted.tenant === 'string' ? this.options.tenantIds.get(asserted.tenant) : undefined;
    const input = id === undefined ? asserted : { ...asserted, tenantID: id };
    const { identity, check } = await this.identify(input, req);
    const evaluated = identity ? withIdentity(input, identity) : anonymous(input);
    if (req.audit) {
      // The decision log shows what decided (the verified identity), and beside it what the
      // caller claimed when that differs: bob's token asserting alice is logged as bob.
      req.audit.input = evaluated;
      const claimed = assertedIdentity(asserted, evaluated);
      req.audit.identity = { check, ...(claimed ? { asserted: claimed } : {}) };
      // Set first, so the policy spends no evaluation on the reasons of an anonymous input.
      if (req.wantReason && !identity) {
        req.audit.reason = {
          code: 'identity_check_failed',
          identity_check: check,
          message: `no identity proven (${check}): the policy decided without a subject, groups or claims`,
        };
      }
    }
    return this.deps.policy.decide({ ...req, input: evaluated });
  }

  private async identify(input: Record<string, unknown>, req: DecisionRequest): Promise<{ identity?: Identity; check: string }> {
    const tenant = typeof input.tenant === 'string' ? input.tenant : '';
    if (!req.token) {
      if (this.options.acceptInputWithoutToken) {
        this.deps.onVerification?.('input_trusted');
        const { claims: _forged, ...asserted } = input;
        return {
          identity: {
            username: typeof asserted.subject === 'string' ? asserted.subject : '',
            groups: Array.isArray(asserted.groups) ? (asserted.groups as string[]) : [],
            claims: {},
          },
          check: 'input_trusted',
        };
      }
      this.deps.onVerification?.('no_token');
      this.deps.logger.info({ tenant, code: 'no_token', reason: 'no token: send X-Forwarded-Access-Token or Authorization: Bearer' }, 'denied: no identity');
      return { check: 'no_token' };
    }
    try {
      const identity = await this.deps.verifier.verify(tenant, req.token, req.signal);
      this.deps.onVerification?.('ok');
      if (typeof input.subject === 'string' && input.subject !== '' && input.subject !== identity.username) {
        this.deps.logger.warn(
          { tenant, asserted: input.subject, verified: identity.username },
          "the input's subject differs from the token's; deciding for the token's",
        );
      }
      return { identity, check: 'ok' };
    } catch (err) {
      const code = err instanceof IdentityError ? err.code : 'provider_error';
      this.deps.onVerification?.(code);
      this.deps.logger.info({ tenant, code, reason: reasonOf(err) }, 'denied: no identity');
      return { check: code };
    }
  }
}

/** The subject and groups the caller sent, when they differ from those evaluated; else undefined. */
function assertedIdentity(sent: Record<string, unknown>, evaluated: Record<string, unknown>): { subject?: unknown; groups?: unknown } | undefined {
  const subject = sent.subject ?? '';
  const groups = sent.groups ?? [];
  const same = subject === (evaluated.subject ?? '') && JSON.stringify(groups) === JSON.stringify(evaluated.groups ?? []);
  if (same) return undefined;
  return { ...(sent.subject !== undefined ? { subject: sent.subject } : {}), ...(sent.groups !== undefined ? { groups: sent.groups } : {}) };
}

function withIdentity(input: Record<string, unknown>, identity: Identity): Record<string, unknown> {
  return { ...input, subject: identity.username, groups: identity.groups, claims: identity.claims };
}

/** The input with every identity field removed: a policy can bind nothing to it. */
function anonymous(input: Record<string, unknown>): Record<string, unknown> {
  const { subject: _s, groups: _g, claims: _c, ...rest } = input;
  return rest;
}
