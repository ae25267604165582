import type { ErrorCode } from '../error-codes.js';

/** What the openshift modes ask Kubernetes: one interface, so the decision logic is testable alone. */
export interface AccessReview {
  /** The subject and groups the gateway asserts (SubjectAccessReview mode). */
  user: string;
  groups: readonly string[];
  /**
   * The user's extra attributes and uid as a TokenReview gave them (forward-auth). OpenShift's
   * scope authorizer reads the token's OAuth scopes from `extra`: a SubjectAccessReview without
   * them would judge a token scoped to user:info with all of its user's rights.
   */
  extra?: Readonly<Record<string, readonly string[]>>;
  uid?: string;
  /** The user's bearer token (SelfSubjectAccessReview mode, and project lists). Never logged. */
  token: string;
  /**
   * hashToken(token), when the decision computed it already (its cache key holds it): the limiter's
   * caller key and the review cache's sharing key, so the token is hashed once per decision rather
   * than once per call. Only ever set from `token` itself.
   */
  tokenHash?: string;
  /** opa-openshift asks get and create; forward-auth's configured attributes may name any verb. */
  verb: 'get' | 'create' | (string & {});
  apiGroup: string;
  /** The tenant, as opa-openshift asks: resource = tenant, name = the input resource. */
  resource: string;
  /** e.g. `log` of `pods/log` (forward-auth's namespace tenancy); absent in opa-openshift's reviews. */
  subresource?: string;
  name: string;
  /** Empty for the cluster-wide review. */
  namespace: string;
}

export interface KubeAuthz {
  /** Whether the review allows; throws KubeError when the API cannot answer. */
  review(req: AccessReview, signal: AbortSignal): Promise<boolean>;
  /** Namespaces the user may see: OpenShift projects listed with the user's token, or on plain
   *  Kubernetes the namespaces the user may `get` (listed with the service's identity). */
  listNamespaces(user: { user: string; groups: readonly string[]; token: string; tokenHash?: string }, signal: AbortSignal): Promise<string[]>;
}

/** Who a token belongs to, as the cluster's authenticator says (TokenReview). */
export type TokenReviewResult =
  | { authenticated: true; user: string; groups: string[]; uid?: string; extra?: Record<string, string[]> }
  /** The API answered that the token is not valid (unknown, expired, revoked, wrong audience). */
  | { authenticated: false; error: string };

/**
 * Authenticates a bearer token with the cluster. Separate from KubeAuthz so that any mode (the
 * openshift authorizer, forward-auth) can verify who a caller is without deciding anything.
 */
export interface TokenReviewer {
  /** Throws KubeError when the API cannot answer; an invalid token is an answer, not an error. */
  reviewToken(token: string, signal: AbortSignal): Promise<TokenReviewResult>;
  /**
   * Until when the answer kept for `token` stands (performance.now() milliseconds), for a reviewer
   * that keeps answers; undefined when it keeps none for it. Past it, the token is reviewed again.
   */
  answeredUntil?(token: string): number | undefined;
}

/** A failed Kubernetes call: status is the API's HTTP status, or 0 when no answer came. */
export class KubeError extends Error {
  constructor(
    readonly code: Extract<ErrorCode, 'kube_status' | 'kube_timeout' | 'kube_unreachable' | 'kube_aborted'>,
    readonly status: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'KubeError';
  }
}
