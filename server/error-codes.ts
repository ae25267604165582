/**
 * Every error code the service uses, in one place (as panva/jose and fastify keep theirs): each a
 * stable string with one meaning, and where it reaches a caller, the HTTP statuses it is answered
 * with. Logs, answers and the decision log carry these strings; operators grep for them and
 * dashboards count them, so a code is never renamed or given a second meaning. docs/errors.md
 * lists them for operators; test/errors.test.ts checks that each is used and that the statuses
 * are the ones the service answers.
 *
 * Denial reasons (decision/reasons.ts, the label gateway's `label_policy_*`) are verdicts, not
 * errors, and are not listed here.
 */

export interface ErrorCodeEntry {
  /** What went wrong, for the operator reading a log line or an answer. */
  readonly meaning: string;
  /** The statuses the Data API answers it with, as the `code` of OPA's envelope. */
  readonly dataApi?: readonly number[];
  /** The statuses /forward-auth answers it with, as the `code` of its JSON body. */
  readonly forwardAuth?: readonly number[];
}

export const ERROR_CODES = {
  // OPA's error codes (open-policy-agent/opa v1/server/types): the Data API's envelope and the
  // gateway's contract. Never change which of these an answer carries.
  invalid_parameter: {
    meaning: "the request is malformed: body, path, query parameter or input document (OPA's code)",
    dataApi: [400],
    forwardAuth: [400],
  },
  internal_error: {
    meaning: "the service could not decide: a policy failure, an upstream down, or (503 with Retry-After) a bound reached (OPA's code)",
    dataApi: [500, 503],
    forwardAuth: [500, 503],
  },
  eval_internal_error: {
    meaning: "an evaluation failed: the entry in the `errors` array of an internal_error answer, with the failure as message (OPA's code)",
    dataApi: [500],
  },
  eval_cancel_error: {
    meaning: "an evaluation was cut by the request's deadline or the caller going away: the entry in the `errors` array (OPA's code)",
    dataApi: [500],
  },
  unauthorized: {
    meaning: 'openshift modes: the forwarded token is not authenticated, or an access review could not be made (OPA-openshift answers 401)',
    dataApi: [401],
  },

  // The service's own bounds.
  busy: { meaning: 'forward-auth: the service is at one of its bounds and sheds this request; retry after Retry-After', forwardAuth: [503] },
  client_abort: { meaning: 'the client went away before its request body was read; nothing is answered (counted as 499)' },

  // Files an operator names (server/files.ts, policy/*).
  not_regular: { meaning: 'a configured path is not a regular file (a FIFO, a device or a directory); it is not read' },
  too_large: { meaning: 'a configured file is over its size bound; it is not read' },
  unreadable: { meaning: 'a configured file cannot be opened or read' },
  file_unsettled: { meaning: 'a watched file kept changing while read; the previous content keeps serving' },
  invalid_config: { meaning: 'a configuration file or flag value is invalid; the message names the source, the field and the fault' },
  invalid_flag: { meaning: 'the command line is invalid: an unknown flag, a missing or malformed value' },
  listen_failed: { meaning: 'a listener cannot take its address (in use, no permission, no such address); the flag that set it is named' },
  invalid_case: { meaning: '`lokistack-authz test`: a cases file is invalid' },
  service_unreachable: { meaning: '`lokistack-authz test --url`: the service or token endpoint did not answer' },

  // Policies and bundles (policy/*).
  bundle: { meaning: 'a bundle OPA would refuse: bad manifest, roots, layout or signature' },
  load_timeout: { meaning: 'loading a policy or bundle did not finish in time; the previous one keeps serving' },
  load_failed: { meaning: 'loading a policy or bundle failed; the previous one keeps serving' },
  not_wasm: { meaning: 'the compiled policy is not WebAssembly' },
  abi_version: { meaning: 'the compiled policy uses an OPA Wasm ABI version this service does not run' },
  missing_export: { meaning: 'the compiled policy lacks a function the OPA Wasm ABI requires' },
  missing_builtin: { meaning: 'the compiled policy calls a built-in function this service does not provide' },
  missing_entrypoint: { meaning: 'the compiled policy has no lokistack/allow entrypoint (or another one the mode needs)' },
  instantiate: { meaning: 'the compiled policy could not be instantiated' },
  policy_path: { meaning: "a Data API path the policy's types rule out (answered as OPA's rego_type_error)" },
  policy_trap: { meaning: 'an evaluation trapped in the WebAssembly instance; the instance is replaced' },
  eval_failed: { meaning: 'an evaluation raised an error (a built-in failed, a conflict)' },
  eval_timeout: { meaning: 'an evaluation did not finish before the request deadline' },
  eval_cancelled: { meaning: 'the caller went away while its evaluation was waiting or running' },
  eval_saturated: { meaning: 'too many large evaluations are waiting for a worker' },
  eval_worker_crashed: { meaning: 'an evaluation worker thread died' },
  eval_pool_closed: { meaning: 'the evaluation workers are shut down (the service is stopping or the policy was replaced)' },
  malformed_label_policy: { meaning: 'lokistack/label_policy has a value of the wrong shape; the request is denied' },
  invalid_selector: { meaning: 'a label-policy selector is not a LogQL stream selector this service can enforce' },
  invalid_tenant_id: { meaning: 'a tenant ID Loki would read differently (empty, too long, or with `|`)' },

  // Upstreams.
  memcached_failed: { meaning: 'a memcached call failed or timed out; the decision is made as on a cache miss' },
  kube_status: { meaning: 'the Kubernetes API answered an error status' },
  kube_timeout: { meaning: 'the Kubernetes API did not answer in time' },
  kube_unreachable: { meaning: 'the Kubernetes API could not be reached' },
  kube_aborted: { meaning: 'a Kubernetes call was cancelled because its request ended' },

  // Identity (dynamic mode, and forward-auth's 401s).
  no_token: { meaning: 'no bearer token was sent', forwardAuth: [401] },
  malformed_token: { meaning: 'the credential is not a well-formed bearer token', forwardAuth: [401] },
  bad_signature: { meaning: "the token's signature does not verify with the provider's keys", forwardAuth: [401] },
  wrong_issuer: { meaning: "the token's issuer is not one a tenant is configured with", forwardAuth: [401] },
  wrong_audience: { meaning: "the token's audience is not the tenant's client", forwardAuth: [401] },
  wrong_client: { meaning: 'the token was issued to another client', forwardAuth: [401] },
  unbound_token: { meaning: 'the token is bound to another tenant', forwardAuth: [401] },
  expired: { meaning: 'the token has expired', forwardAuth: [401] },
  inactive: { meaning: 'the provider says the (opaque) token is not active', forwardAuth: [401] },
  missing_claim: { meaning: 'the token lacks the username or groups claim the tenant is configured with', forwardAuth: [401] },
  provider_unreachable: { meaning: 'the identity provider could not be reached; nothing is known about the token' },
  provider_busy: { meaning: 'too many calls to the identity provider are waiting; nothing is known about the token' },
  provider_error: { meaning: 'the identity provider answered with an error; nothing is known about the token' },

  // Forward-auth refusals: the proxies read only the status (401 and 403 reach the client).
  no_original_request: { meaning: 'forward-auth: the proxy sent no original method and path', forwardAuth: [400] },
  invalid_body: { meaning: 'forward-auth: the db-auth-gateway JSON body is not valid', forwardAuth: [400] },
  unsupported_body: { meaning: 'forward-auth: the body is not JSON', forwardAuth: [400] },
  ambiguous_request: { meaning: 'forward-auth: two sources of the original request disagree, or a header is repeated', forwardAuth: [403] },
  ambiguous_path: { meaning: 'forward-auth: the original path reads differently to the proxy and to Loki', forwardAuth: [403] },
  unknown_method: { meaning: 'forward-auth: the original method is not one Loki serves', forwardAuth: [403] },
  unknown_path: { meaning: 'forward-auth: the original path is not a Loki API this service grants', forwardAuth: [403] },
  unknown_scope: { meaning: 'forward-auth: the required scope is not one this service grants', forwardAuth: [403] },
  scope_not_served: { meaning: 'forward-auth: the scope is not granted by the static policy', forwardAuth: [403] },
  scope_not_supported: { meaning: 'forward-auth: the scope is not granted in this mode', forwardAuth: [403] },
  too_many_tenants: { meaning: 'forward-auth: more tenants to decide than the configured bound', forwardAuth: [403] },
  invalid_tenant: { meaning: 'forward-auth: X-Scope-OrgID holds an invalid tenant ID', forwardAuth: [403] },
  unknown_tenant: { meaning: 'no tenant of that name is configured', forwardAuth: [403] },
  single_tenant_scope: { meaning: 'forward-auth: the scope takes one tenant in X-Scope-OrgID', forwardAuth: [403] },
  tenant_not_granted: { meaning: 'forward-auth: a requested tenant is not granted', forwardAuth: [403] },
  no_tenant: { meaning: 'forward-auth: the scope is granted on no tenant', forwardAuth: [403] },
  tenant_required: { meaning: 'forward-auth: the scope is granted on several tenants; X-Scope-OrgID must name one', forwardAuth: [403] },
  policy_too_large: { meaning: 'forward-auth: the label policy for these tenants is over the header bound', forwardAuth: [403] },
  not_allowed: { meaning: 'forward-auth: the policy or the access reviews grant the scope on no requested tenant', forwardAuth: [403] },
  tenant_not_for_token: { meaning: "forward-auth: the requested tenant is not served by the token's issuer", forwardAuth: [403] },
  writes_not_configured: { meaning: 'forward-auth (openshift): writes are refused, no review attributes for writes are configured', forwardAuth: [403] },
  too_many_namespaces: { meaning: 'the caller has more namespaces than the configured bound', forwardAuth: [403] },
  no_credential: { meaning: 'forward-auth: no credential was sent', forwardAuth: [401] },
  invalid_credential: { meaning: 'forward-auth: the Authorization header is not valid basic or bearer credentials', forwardAuth: [401] },
  basic_auth_off: { meaning: 'forward-auth: basic credentials were sent, but no htpasswd file is configured', forwardAuth: [401] },
  bad_credentials: { meaning: 'forward-auth: wrong user or password', forwardAuth: [401] },
  opaque_token_ambiguous: { meaning: 'forward-auth: an opaque token could belong to more tenants than are checked per request', forwardAuth: [401] },
  token_review_failed: { meaning: 'forward-auth (openshift): the cluster does not authenticate the token', forwardAuth: [401] },
} as const satisfies Record<string, ErrorCodeEntry>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** OPA's error codes, the ones this service answers the Data API with. */
export type OpaErrorCode = Extract<ErrorCode, 'invalid_parameter' | 'internal_error' | 'unauthorized'>;

/**
 * Why `err` happened, as one string, for logs and messages. Never throws: a thrown value can be
 * anything, including an object whose `message` getter throws or a Proxy, and a failure while
 * describing a failure must not replace it.
 */
export function reasonOf(err: unknown): string {
  try {
    if (err instanceof Error) return String(err.message);
    return String(err);
  } catch {
    return 'unprintable error';
  }
}
