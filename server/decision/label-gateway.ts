import type { Logger } from '../observability/logger.js';
import { LabelPolicyError, labelPolicyFrom, parseSelector, type LabelMatcher } from '../policy/label-policy.js';
import { defined, type Authorizer, type Decision, type DecisionRequest } from './types.js';

/** The path the LokiStack gateway asks (its opa.url), and the rule that says what it may read there. */
const GATEWAY_PATH = ['lokistack', 'allow'] as const;
const LABEL_POLICY_PATH: readonly string[] = ['lokistack', 'label_policy'];

/** Prometheus labels.MatchType, as the gateway unmarshals it. */
const MATCH_TYPE = { '=': 0, '!=': 1, '=~': 2, '!~': 3 } as const;

export interface LabelGatewayDeps {
  /** The compiled policy: decides lokistack/allow, and lokistack/label_policy for the same input. */
  policy: Authorizer;
  /** Whether the data serving now gives any role selectors; without them no read is label-restricted. */
  hasSelectors: () => boolean;
  logger: Logger;
  /**
   * Answer a policy of one selector of positive matchers with the gateway's matchers. Off by default,
   * and not offered as a flag: the real gateway (observatorium/api) keeps a query's own matcher on a
   * label whenever the policy's matcher matches that matcher's value, whatever its operator, so a
   * policy of {env="dev"} lets {env!="dev"} through unchanged, and {team=~"pay.*"} lets
   * {team=~"pay.*|.*"} through (test/label-policy-gateway.test.ts runs it). Off, every
   * label-restricted read at the gateway path is denied; forward-auth is the way to serve them.
   */
  answerMatchers?: boolean;
}

/**
 * The Data API answer to the LokiStack gateway for a reader whose roles limit them to some streams
 * (label policies). The gateway can only AND matchers into each stream selector of a query, and
 * cannot even enforce those (see answerMatchers), so a label-restricted read is denied, never
 * widened to fit; with answerMatchers, a policy of one selector of positive matchers becomes its
 * matcher answer (opa-openshift's shape). Every other path, permission, resource and caller gets
 * the policy's answer unchanged; label_policy is evaluated only for an allowed read of logs, and
 * only when some role has selectors, so the common decision pays nothing.
 */
export class LabelGatewayAuthorizer implements Authorizer {
  constructor(private readonly deps: LabelGatewayDeps) {}

  get mode(): string {
    return this.deps.policy.mode;
  }

  ready(): boolean {
    return this.deps.policy.ready();
  }

  /** With label-restricted roles, a denial is logged each time it is made: nothing is remembered then. */
  memoGeneration(): object | undefined {
    return this.deps.hasSelectors() ? undefined : this.deps.policy.memoGeneration?.();
  }

  async decide(req: DecisionRequest): Promise<Decision> {
    const decision = await this.deps.policy.decide(req);
    if (!decision.defined || decision.value !== true || !isGatewayPath(req.path) || !isLogsRead(req.input) || !this.deps.hasSelectors()) {
      return decision;
    }
    const tenant = (req.input as Record<string, unknown>).tenant;
    const deny = (code: string, reason: string): Decision => {
      this.deps.logger.info({ tenant, code, reason }, 'denied: the label policy cannot be enforced by the gateway');
      // The grants stay: they say which roles allowed the read whose label policy denied it.
      if (req.wantReason && req.audit)
        req.audit.reason = { ...req.audit.reason, code, message: `allowed by the policy, denied at the gateway path: ${reason}` };
      return defined(false);
    };
    let policy;
    try {
      policy = labelPolicyFrom(await this.deps.policy.decide({ ...req, path: LABEL_POLICY_PATH }));
    } catch (err) {
      if (err instanceof LabelPolicyError) return deny(err.code, err.message);
      throw err;
    }
    // allow without a label policy: the data gives a granting role no selector the rule can read.
    if (policy === undefined) return deny('label_policy_undefined', 'allowed, but lokistack/label_policy is undefined: no stream can be granted');
    if (!policy.restricted) return decision;
    if (policy.selectors.length !== 1) {
      return deny('label_policy_inexpressible', `${policy.selectors.length} selectors (ORed): the gateway can only AND matchers into a query`);
    }
    let matchers: LabelMatcher[];
    try {
      matchers = parseSelector(policy.selectors[0]!);
    } catch (err) {
      if (err instanceof LabelPolicyError) return deny(err.code, err.message);
      throw err;
    }
    const negative = matchers.find((m) => m.op === '!=' || m.op === '!~');
    if (negative) {
      // The gateway keeps a query's matcher on the same label when the policy's matcher matches its
      // value; a negative policy matcher would keep the query's own (e.g. a positive one) and widen.
      return deny('label_policy_inexpressible', `negative matcher ${negative.name}${negative.op}: the gateway can only enforce = and =~`);
    }
    const names = new Set<string>();
    for (const m of matchers) {
      // Two matchers on one label: which one the gateway applies to a query's matcher is not ANDed.
      if (names.has(m.name)) return deny('label_policy_inexpressible', `label ${m.name} is matched twice: the gateway enforces one matcher per label`);
      names.add(m.name);
    }
    if (!this.deps.answerMatchers) {
      return deny(
        'label_policy_unenforceable',
        "the gateway keeps a query's own matcher on a policy label (a negative one included), so it cannot hold a reader to the policy: use forward-auth",
      );
    }
    return defined(gatewayMatchers(matchers));
  }
}

/** opa-openshift's answer shape: `{"allowed":"true","data":"{\"matchers\":[...]}"}`, matchers ANDed (no matcherOp). */
export function gatewayMatchers(matchers: readonly LabelMatcher[]): { allowed: 'true'; data: string } {
  const items = matchers.map((m) => `{"Type":${MATCH_TYPE[m.op]},"Name":${goString(m.name)},"Value":${goString(m.value)}}`);
  return { allowed: 'true', data: `{"matchers":[${items.join(',')}]}` };
}

/** Whether the data's roles carry selectors: any non-null `selectors` field (a malformed one included, which denies). */
export function dataHasSelectors(data: unknown): boolean {
  if (data === null || typeof data !== 'object') return false;
  const cached = SELECTORS_SEEN.get(data);
  if (cached !== undefined) return cached;
  const roles = (data as { roles?: unknown }).roles;
  const found = Array.isArray(roles) && roles.some((r) => r !== null && typeof r === 'object' && (r as { selectors?: unknown }).selectors != null);
  SELECTORS_SEEN.set(data, found);
  return found;
}

/** Per loaded data document (replaced whole on reload), so the hot path walks the roles once. */
const SELECTORS_SEEN = new WeakMap<object, boolean>();

function isGatewayPath(path: readonly string[]): boolean {
  return path.length === GATEWAY_PATH.length && path.every((s, i) => s === GATEWAY_PATH[i]);
}

/** The requests the policy label-restricts: reads of logs (the rule's own test). */
function isLogsRead(input: unknown): boolean {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return false;
  const o = input as Record<string, unknown>;
  return o.permission === 'read' && o.resource === 'logs';
}

/** A JSON string as Go's encoding/json writes it (<, >, & and U+2028/9 escaped), as the openshift modes answer. */
function goString(s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
