import { DecisionError } from '../errors.js';

/** The gateway's input as opa-openshift reads it (its Go struct); other fields are ignored. */
export interface GatewayInput {
  groups: string[];
  permission: string;
  resource: string;
  subject: string;
  tenant: string;
  extras: {
    /** A Map, so that any label name, "__proto__" included, is a label like the others. */
    selectors: Map<string, string[]>;
    wildcardSelectors: boolean;
    metadataOnly: boolean;
  };
}

/**
 * Reads the input as Go's encoding/json would into opa-openshift's struct: null and missing fields
 * are zero values; a field of the wrong type fails the whole request with opa-openshift's
 * 500 `failed to unmarshal JSON`, so a malformed input never reaches a review.
 */
export function parseGatewayInput(input: unknown): GatewayInput {
  const fail = (): never => {
    throw new DecisionError('internal_error', 500, 'failed to unmarshal JSON');
  };
  const obj = objectOrZero(input, fail);
  const extras = objectOrZero(field(obj, 'extras'), fail);
  const selectorsRaw = objectOrZero(field(extras, 'selectors'), fail);
  const selectors = new Map<string, string[]>();
  for (const [label, values] of Object.entries(selectorsRaw)) selectors.set(label, stringList(values, fail));
  return {
    groups: stringList(field(obj, 'groups'), fail),
    permission: str(field(obj, 'permission'), fail),
    resource: str(field(obj, 'resource'), fail),
    subject: str(field(obj, 'subject'), fail),
    tenant: str(field(obj, 'tenant'), fail),
    extras: {
      selectors,
      wildcardSelectors: bool(field(extras, 'wildcardSelectors'), fail),
      metadataOnly: bool(field(extras, 'metadataOnly'), fail),
    },
  };
}

/** Go matches JSON keys to struct fields exactly first, then case-insensitively. */
function field(obj: Record<string, unknown>, name: string): unknown {
  if (Object.hasOwn(obj, name)) return obj[name];
  const lower = name.toLowerCase();
  const key = Object.keys(obj).find((k) => k.toLowerCase() === lower);
  return key === undefined ? undefined : obj[key];
}

function objectOrZero(v: unknown, fail: () => never): Record<string, unknown> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) fail();
  return v as Record<string, unknown>;
}

function stringList(v: unknown, fail: () => never): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) fail();
  return (v as unknown[]).map((s) => (s === null ? '' : typeof s === 'string' ? s : fail()));
}

function str(v: unknown, fail: () => never): string {
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : fail();
}

function bool(v: unknown, fail: () => never): boolean {
  if (v === undefined || v === null) return false;
  return typeof v === 'boolean' ? v : fail();
}
