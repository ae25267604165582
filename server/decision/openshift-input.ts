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
  // Several keys decoding into one struct merge into it, later fields over earlier ones.
  const extras = Object.assign({}, ...fieldValues(obj, 'extras').map((v) => objectOrZero(v, fail))) as Record<string, unknown>;
  const selectors = new Map<string, string[]>();
  for (const raw of fieldValues(extras, 'selectors')) {
    for (const [label, values] of Object.entries(objectOrZero(raw, fail))) selectors.set(label, stringList(values, fail));
  }
  const last = <T>(name: string, from: Record<string, unknown>, parse: (v: unknown, fail: () => never) => T, zero: T): T =>
    fieldValues(from, name)
      .map((v) => parse(v, fail))
      .reduce((_, v) => v, zero);
  return {
    groups: last('groups', obj, stringList, []),
    permission: last('permission', obj, str, ''),
    resource: last('resource', obj, str, ''),
    subject: last('subject', obj, str, ''),
    tenant: last('tenant', obj, str, ''),
    extras: {
      selectors,
      wildcardSelectors: last('wildcardSelectors', extras, bool, false),
      metadataOnly: last('metadataOnly', extras, bool, false),
    },
  };
}

/**
 * Every value Go's encoding/json decodes into a struct field, in document order: each key that
 * matches the field's name case-insensitively. Each must be of the field's type; the last wins.
 */
function fieldValues(obj: Record<string, unknown>, name: string): unknown[] {
  const lower = name.toLowerCase();
  return Object.keys(obj)
    .filter((key) => key.toLowerCase() === lower)
    .map((key) => obj[key]);
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
