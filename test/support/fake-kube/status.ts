/**
 * Kubernetes `Status` error bodies, worded like kube-apiserver's (k8s.io/apimachinery errors and
 * apiserver responsewriters), so code under test parses the same shapes it meets on a real cluster.
 */
import type { Attributes } from './rbac.js';

export interface StatusCause {
  reason: string;
  message: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  causes?: StatusCause[];
}

export interface KubeStatus {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure';
  message: string;
  reason: string;
  details?: StatusDetails;
  code: number;
}

/** Thrown by handlers; the server turns it into a Status response with that code. */
export class StatusError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(message);
  }

  toStatus(): KubeStatus {
    return statusBody(this.code, this.reason, this.message, this.details);
  }
}

export function statusBody(code: number, reason: string, message: string, details?: StatusDetails): KubeStatus {
  const body: KubeStatus = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
  if (details) body.details = details;
  return body;
}

/** metav1.StatusReason for the codes a fault may inject; anything else is reported as Unknown. */
const REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

export function reasonFor(code: number): string {
  return REASONS[code] ?? 'Unknown';
}

export const unauthorized = (): StatusError => new StatusError(401, 'Unauthorized', 'Unauthorized');

export const notFound = (): StatusError => new StatusError(404, 'NotFound', 'the server could not find the requested resource', {});

export const methodNotAllowed = (): StatusError =>
  new StatusError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource', {});

export const badRequest = (message: string): StatusError => new StatusError(400, 'BadRequest', message);

/**
 * The 403 the authorization filter writes: `<resource>.<group> is forbidden: User "u" cannot <verb>
 * resource "<resource>" in API group "<group>" <scope>`, plus `: <reason>` when the authorizer gave one.
 */
export function forbidden(username: string, attrs: Attributes & { kind: 'resource' }, authzReason: string): StatusError {
  const group = attrs.group ?? '';
  const resource = attrs.subresource ? `${attrs.resource}/${attrs.subresource}` : attrs.resource;
  const scope = attrs.namespace ? `in the namespace ${q(attrs.namespace)}` : 'at the cluster scope';
  let message = `User ${q(username)} cannot ${attrs.verb} resource ${q(resource)} in API group ${q(group)} ${scope}`;
  if (authzReason) message += `: ${authzReason}`;
  const qualified = group ? `${attrs.resource}.${group}` : attrs.resource;
  const prefix = attrs.name ? `${qualified} ${q(attrs.name)}` : qualified;
  const details: StatusDetails = { group, kind: attrs.resource };
  if (attrs.name) details.name = attrs.name;
  return new StatusError(403, 'Forbidden', `${prefix} is forbidden: ${message}`, details);
}

export interface FieldInvalid {
  field: string;
  value: unknown;
  detail: string;
}

/** A 422 `Invalid` in the field.ErrorList wording: one error inline, several as `[a, b]`. */
export function invalid(kind: string, group: string, errors: FieldInvalid[]): StatusError {
  const causes = errors.map((e) => ({
    reason: 'FieldValueInvalid',
    message: `Invalid value: ${formatValue(e.value)}: ${e.detail}`,
    field: e.field,
  }));
  const lines = causes.map((c) => `${c.field}: ${c.message}`);
  const list = lines.length === 1 ? lines[0]! : `[${lines.join(', ')}]`;
  return new StatusError(422, 'Invalid', `${kind}.${group} "" is invalid: ${list}`, {
    group,
    kind,
    causes,
  });
}

/** field.Invalid prints nil as "null", strings quoted, numbers and booleans bare, objects as JSON. */
function formatValue(value: unknown): string {
  if (value === undefined || value === null) return '"null"';
  if (typeof value === 'string') return q(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

function q(s: string): string {
  return JSON.stringify(s);
}
