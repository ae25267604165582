/**
 * The endpoints of the fake Kubernetes API: access reviews, token reviews, OpenShift projects,
 * namespaces and discovery. Each handler is a pure function of (caller, body, state) so the HTTP
 * plumbing (auth, faults, recording) in server.ts stays separate from the API semantics.
 */
import type { Attributes, RbacAuthorizer, RbacStore, ResourceAttributes, UserInfo } from './rbac.js';
import { badRequest, forbidden, invalid, methodNotAllowed, notFound, type FieldInvalid } from './status.js';

/** An identity a bearer token maps to, as the cluster's token authenticator would report it. */
export interface Identity {
  username: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
  /** Audiences the token is valid for; unset means any (TokenReview echoes the requested ones). */
  audiences?: string[];
}

/** Endpoint names, for fault targeting and for the request log. */
export type FakeKubeEndpoint =
  | 'subjectaccessreviews'
  | 'selfsubjectaccessreviews'
  | 'localsubjectaccessreviews'
  | 'tokenreviews'
  | 'projects'
  | 'namespaces'
  | 'discovery';

export interface ApiState {
  store: RbacStore;
  authorizer: RbacAuthorizer;
  tokens: ReadonlyMap<string, Identity>;
  openshift: boolean;
  /** host:port, for APIVersions.serverAddressByClientCIDRs. */
  address: string;
}

export interface Caller extends UserInfo {
  identity: Identity;
}

export interface Reply {
  code: number;
  body: unknown;
}

interface Route {
  endpoint: FakeKubeEndpoint;
  method: 'GET' | 'POST';
  handle(caller: Caller, body: unknown, state: ApiState): Reply;
}

const AUTHZ = 'authorization.k8s.io';
const AUTHN = 'authentication.k8s.io';
const PROJECT = 'project.openshift.io';
const AUTHENTICATED = 'system:authenticated';

/** Which endpoint a path names (regardless of method), so faults and the log can use it early. */
export function matchRoute(path: string, state: Pick<ApiState, 'openshift'>): Route | undefined {
  if (path === '/api' || path === '/apis') return { endpoint: 'discovery', method: 'GET', handle: discovery(path) };
  if (path === `/apis/${PROJECT}/v1`) {
    return state.openshift ? { endpoint: 'discovery', method: 'GET', handle: projectResources } : undefined;
  }
  if (path === `/apis/${AUTHZ}/v1/subjectaccessreviews`) return { endpoint: 'subjectaccessreviews', method: 'POST', handle: subjectAccessReview };
  if (path === `/apis/${AUTHZ}/v1/selfsubjectaccessreviews`) return { endpoint: 'selfsubjectaccessreviews', method: 'POST', handle: selfSubjectAccessReview };
  const local = /^\/apis\/authorization\.k8s\.io\/v1\/namespaces\/([^/]+)\/localsubjectaccessreviews$/.exec(path);
  if (local) {
    const namespace = decodeURIComponent(local[1]!);
    return { endpoint: 'localsubjectaccessreviews', method: 'POST', handle: (c, b, s) => localSubjectAccessReview(namespace, c, b, s) };
  }
  if (path === `/apis/${AUTHN}/v1/tokenreviews`) return { endpoint: 'tokenreviews', method: 'POST', handle: tokenReview };
  // On a vanilla cluster the project.openshift.io group does not exist: 404 like any unknown path.
  if (path === `/apis/${PROJECT}/v1/projects` && state.openshift) return { endpoint: 'projects', method: 'GET', handle: listProjects };
  if (path === '/api/v1/namespaces') return { endpoint: 'namespaces', method: 'GET', handle: listNamespaces };
  return undefined;
}

export function dispatch(route: Route | undefined, method: string, caller: Caller, body: unknown, state: ApiState): Reply {
  if (!route) throw notFound();
  if (method !== route.method) throw methodNotAllowed();
  return route.handle(caller, body, state);
}

/** The user info the apiserver derives from a token: every authenticated user is in system:authenticated. */
export function callerFor(identity: Identity): Caller {
  const groups = [...(identity.groups ?? [])];
  if (!groups.includes(AUTHENTICATED)) groups.push(AUTHENTICATED);
  const caller: Caller = { name: identity.username, groups, identity };
  if (identity.uid !== undefined) caller.uid = identity.uid;
  if (identity.extra) caller.extra = identity.extra;
  return caller;
}

/** The authorization filter in front of every resource endpoint: 403 unless RBAC allows the call. */
function requireAllowed(caller: Caller, attrs: ResourceAttributes, state: ApiState): void {
  const full: Attributes = { kind: 'resource', ...attrs };
  const decision = state.authorizer.authorize(caller, full);
  if (!decision.allowed) throw forbidden(caller.name, full, decision.reason);
}

interface ReviewSpec {
  user?: string;
  groups?: string[];
  uid?: string;
  extra?: Record<string, string[]>;
  resourceAttributes?: ResourceAttributes & { version?: string };
  nonResourceAttributes?: { path?: string; verb?: string };
}

interface ReviewBody {
  apiVersion?: string;
  kind?: string;
  metadata?: { namespace?: string } & Record<string, unknown>;
  spec: ReviewSpec;
}

/** Decodes a review body; a kind or apiVersion for another type is a 400, as the apiserver's decoder says. */
function reviewBody(body: unknown, kind: string, group: string): ReviewBody {
  if (!isRecord(body)) throw badRequest(`Object 'Kind' is missing in '${JSON.stringify(body)}'`);
  const expectedVersion = `${group}/v1`;
  if (body.kind !== undefined && body.kind !== kind) {
    throw badRequest(`the kind in the data (${String(body.kind)}) does not match the expected kind (${kind})`);
  }
  if (body.apiVersion !== undefined && body.apiVersion !== expectedVersion) {
    throw badRequest(`the API version in the data (${String(body.apiVersion)}) does not match the expected API version (${expectedVersion})`);
  }
  const spec = isRecord(body.spec) ? (body.spec as ReviewSpec) : {};
  return { ...(body as Omit<ReviewBody, 'spec'>), spec };
}

/** ValidateSubjectAccessReviewSpec / ValidateSelfSubjectAccessReviewSpec, in upstream order. */
function validateAttributes(spec: ReviewSpec): FieldInvalid[] {
  const errors: FieldInvalid[] = [];
  if (spec.resourceAttributes && spec.nonResourceAttributes) {
    errors.push({
      field: 'spec.nonResourceAttributes',
      value: spec.nonResourceAttributes,
      detail: 'cannot be specified in combination with resourceAttributes',
    });
  }
  if (!spec.resourceAttributes && !spec.nonResourceAttributes) {
    errors.push({ field: 'spec.resourceAttributes', value: null, detail: 'exactly one of nonResourceAttributes or resourceAttributes must be specified' });
  }
  return errors;
}

function validateSubject(spec: ReviewSpec): FieldInvalid[] {
  if ((spec.user ?? '') === '' && (spec.groups ?? []).length === 0) {
    return [{ field: 'spec.user', value: spec.user ?? '', detail: 'at least one of user or group must be specified' }];
  }
  return [];
}

function attributesOf(spec: ReviewSpec): Attributes {
  if (spec.resourceAttributes) {
    const r = spec.resourceAttributes;
    return {
      kind: 'resource',
      namespace: r.namespace ?? '',
      verb: r.verb ?? '',
      group: r.group ?? '',
      resource: r.resource ?? '',
      subresource: r.subresource ?? '',
      name: r.name ?? '',
    };
  }
  const n = spec.nonResourceAttributes ?? {};
  return { kind: 'nonResource', path: n.path ?? '', verb: n.verb ?? '' };
}

function reviewReply(review: ReviewBody, kind: string, group: string, user: UserInfo, state: ApiState): Reply {
  const decision = state.authorizer.authorize(user, attributesOf(review.spec));
  // Go's omitempty drops an empty reason and a missing evaluationError; allowed is always present.
  const status: Record<string, unknown> = { allowed: decision.allowed };
  if (decision.reason) status.reason = decision.reason;
  if (decision.evaluationError) status.evaluationError = decision.evaluationError;
  return {
    code: 201,
    body: { kind, apiVersion: `${group}/v1`, metadata: review.metadata ?? {}, spec: review.spec, status },
  };
}

function subjectAccessReview(caller: Caller, body: unknown, state: ApiState): Reply {
  requireAllowed(caller, { verb: 'create', group: AUTHZ, resource: 'subjectaccessreviews' }, state);
  const review = reviewBody(body, 'SubjectAccessReview', AUTHZ);
  const errors = [...validateAttributes(review.spec), ...validateSubject(review.spec)];
  if (errors.length > 0) throw invalid('SubjectAccessReview', AUTHZ, errors);
  // SAR evaluates exactly the groups it is given: no system:authenticated is added for the subject.
  const user: UserInfo = { name: review.spec.user ?? '', groups: review.spec.groups ?? [], ...(review.spec.extra ? { extra: review.spec.extra } : {}) };
  return reviewReply(review, 'SubjectAccessReview', AUTHZ, user, state);
}

function selfSubjectAccessReview(caller: Caller, body: unknown, state: ApiState): Reply {
  // No RBAC check: system:basic-user grants this to every authenticated user on real clusters.
  const review = reviewBody(body, 'SelfSubjectAccessReview', AUTHZ);
  const errors = validateAttributes(review.spec);
  if (errors.length > 0) throw invalid('SelfSubjectAccessReview', AUTHZ, errors);
  return reviewReply(review, 'SelfSubjectAccessReview', AUTHZ, caller, state);
}

function localSubjectAccessReview(namespace: string, caller: Caller, body: unknown, state: ApiState): Reply {
  requireAllowed(caller, { verb: 'create', group: AUTHZ, resource: 'localsubjectaccessreviews', namespace }, state);
  const review = reviewBody(body, 'LocalSubjectAccessReview', AUTHZ);
  const metaNamespace = review.metadata?.namespace;
  if (metaNamespace && metaNamespace !== namespace) {
    throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
  }
  review.metadata = { ...(review.metadata ?? {}), namespace };
  const errors = [...validateAttributes(review.spec), ...validateSubject(review.spec)];
  const resourceNamespace = review.spec.resourceAttributes?.namespace ?? '';
  if (review.spec.resourceAttributes && resourceNamespace !== namespace) {
    errors.push({ field: 'spec.resourceAttributes.namespace', value: resourceNamespace, detail: 'must match metadata.namespace' });
  }
  if (review.spec.nonResourceAttributes) {
    errors.push({ field: 'spec.nonResourceAttributes', value: review.spec.nonResourceAttributes, detail: 'disallowed on this kind of request' });
  }
  if (errors.length > 0) throw invalid('LocalSubjectAccessReview', AUTHZ, errors);
  const user: UserInfo = { name: review.spec.user ?? '', groups: review.spec.groups ?? [], ...(review.spec.extra ? { extra: review.spec.extra } : {}) };
  return reviewReply(review, 'LocalSubjectAccessReview', AUTHZ, user, state);
}

function tokenReview(caller: Caller, body: unknown, state: ApiState): Reply {
  requireAllowed(caller, { verb: 'create', group: AUTHN, resource: 'tokenreviews' }, state);
  if (!isRecord(body)) throw badRequest('invalid TokenReview');
  if (body.kind !== undefined && body.kind !== 'TokenReview') {
    throw badRequest(`the kind in the data (${String(body.kind)}) does not match the expected kind (TokenReview)`);
  }
  const spec = isRecord(body.spec) ? body.spec : {};
  const token = typeof spec.token === 'string' ? spec.token : '';
  if (token === '') throw badRequest('token is required for TokenReview in authentication');
  const requested = Array.isArray(spec.audiences) ? (spec.audiences as string[]) : [];
  const identity = state.tokens.get(token);
  let status: Record<string, unknown>;
  if (!identity) {
    // An unknown token is an answer, not an HTTP error.
    status = { authenticated: false, user: {}, error: 'invalid bearer token' };
  } else {
    const valid = identity.audiences;
    const audiences = requested.length === 0 ? (valid ?? ['https://kubernetes.default.svc']) : valid ? requested.filter((a) => valid.includes(a)) : requested;
    if (requested.length > 0 && audiences.length === 0) {
      status = { authenticated: false, user: {}, error: 'token audiences are invalid for the target audiences' };
    } else {
      const user = callerFor(identity);
      const info: Record<string, unknown> = { username: user.name, groups: user.groups };
      if (identity.uid !== undefined) info.uid = identity.uid;
      if (identity.extra) info.extra = identity.extra;
      status = { authenticated: true, user: info, audiences };
    }
  }
  return {
    code: 201,
    body: { kind: 'TokenReview', apiVersion: `${AUTHN}/v1`, metadata: isRecord(body.metadata) ? body.metadata : {}, spec, status },
  };
}

function namespaceItem(ns: { metadata: { name: string; labels?: Record<string, string> } }): Record<string, unknown> {
  const metadata: Record<string, unknown> = { name: ns.metadata.name };
  if (ns.metadata.labels) metadata.labels = ns.metadata.labels;
  return { metadata, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } };
}

/**
 * OpenShift's project list: every namespace when the caller may list namespaces cluster-wide, else
 * those where they may `get` the namespace itself (a RoleBinding there granting it is enough).
 */
function listProjects(caller: Caller, _body: unknown, state: ApiState): Reply {
  const all = state.authorizer.authorize(caller, { kind: 'resource', verb: 'list', group: '', resource: 'namespaces', namespace: '' }).allowed;
  const visible = state.store.namespaces.filter(
    (ns) =>
      all ||
      state.authorizer.authorize(caller, {
        kind: 'resource',
        verb: 'get',
        group: '',
        resource: 'namespaces',
        name: ns.metadata.name,
        namespace: ns.metadata.name,
      }).allowed,
  );
  return {
    code: 200,
    body: { kind: 'ProjectList', apiVersion: `${PROJECT}/v1`, metadata: { resourceVersion: '1' }, items: visible.map(namespaceItem) },
  };
}

function listNamespaces(caller: Caller, _body: unknown, state: ApiState): Reply {
  requireAllowed(caller, { verb: 'list', group: '', resource: 'namespaces' }, state);
  return {
    code: 200,
    body: { kind: 'NamespaceList', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items: state.store.namespaces.map(namespaceItem) },
  };
}

function discovery(path: string): Route['handle'] {
  return (_caller, _body, state) => {
    if (path === '/api') {
      return {
        code: 200,
        body: { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: state.address }] },
      };
    }
    const groups = ['authentication.k8s.io', 'authorization.k8s.io', 'rbac.authorization.k8s.io'];
    if (state.openshift) groups.push(PROJECT);
    return {
      code: 200,
      body: {
        kind: 'APIGroupList',
        apiVersion: 'v1',
        groups: groups.map((name) => {
          const version = { groupVersion: `${name}/v1`, version: 'v1' };
          return { name, versions: [version], preferredVersion: version };
        }),
      },
    };
  };
}

function projectResources(): Reply {
  return {
    code: 200,
    body: {
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion: `${PROJECT}/v1`,
      resources: [
        { name: 'projects', singularName: '', namespaced: false, kind: 'Project', verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'] },
      ],
    },
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
