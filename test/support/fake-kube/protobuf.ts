/**
 * Decoding the requests client-go sends as `application/vnd.kubernetes.protobuf` (opa-openshift and
 * the gateway create access and token reviews that way): a 4-byte magic `k8s\0`, then a protobuf
 * runtime.Unknown {typeMeta{apiVersion=1, kind=2}=1, raw=2, contentEncoding=3, contentType=4} whose
 * `raw` is the object itself. The object is turned into the JSON shape the same client would have
 * sent (empty strings and absent messages dropped, as Go's omitempty does), so the handlers serve
 * both encodings alike. Field numbers are those of k8s.io/api's generated.proto
 * (authorization/v1, authentication/v1) and apimachinery's (runtime.Unknown, meta/v1.ObjectMeta).
 *
 * A small wire decoder of our own: only the wire types a proto2 message of strings, messages, maps
 * and bools uses. Anything malformed throws ProtobufError, which the server answers with a 400.
 */

export const KUBE_PROTOBUF = 'application/vnd.kubernetes.protobuf';
const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]); // "k8s\0"

export class ProtobufError extends Error {}

type Field = { num: number; wire: 0; value: bigint } | { num: number; wire: 2; value: Buffer } | { num: number; wire: 1 | 5; value: Buffer };

/** The fields of one message, in wire order (repeated fields appear once per element). */
export function readFields(buf: Buffer): Field[] {
  const fields: Field[] = [];
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (pos >= buf.length) throw new ProtobufError('truncated varint');
      const b = buf[pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
    }
    throw new ProtobufError('varint too long');
  };
  while (pos < buf.length) {
    const key = varint();
    const num = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (num === 0) throw new ProtobufError('field number 0');
    switch (wire) {
      case 0:
        fields.push({ num, wire, value: varint() });
        break;
      case 2: {
        const len = varint();
        if (len > BigInt(buf.length - pos)) throw new ProtobufError('length past the end of the message');
        fields.push({ num, wire, value: buf.subarray(pos, pos + Number(len)) });
        pos += Number(len);
        break;
      }
      case 1:
      case 5: {
        const size = wire === 1 ? 8 : 4;
        if (pos + size > buf.length) throw new ProtobufError('truncated fixed-width field');
        fields.push({ num, wire, value: buf.subarray(pos, pos + size) });
        pos += size;
        break;
      }
      default:
        // Groups (3, 4) are not used by any Kubernetes type; 6 and 7 do not exist.
        throw new ProtobufError(`unsupported wire type ${wire}`);
    }
  }
  return fields;
}

/** A schema: field number -> [JSON name, kind]. Unknown field numbers are skipped, as protobuf does. */
type Kind = 'string' | 'strings' | 'bool' | { message: Schema } | { repeated: Schema } | 'extra';
interface Schema {
  [num: number]: [string, Kind];
}

const OBJECT_META: Schema = { 1: ['name', 'string'], 2: ['generateName', 'string'], 3: ['namespace', 'string'], 5: ['uid', 'string'] };
const RESOURCE_ATTRIBUTES: Schema = {
  1: ['namespace', 'string'],
  2: ['verb', 'string'],
  3: ['group', 'string'],
  4: ['version', 'string'],
  5: ['resource', 'string'],
  6: ['subresource', 'string'],
  7: ['name', 'string'],
};
const NON_RESOURCE_ATTRIBUTES: Schema = { 1: ['path', 'string'], 2: ['verb', 'string'] };
const SAR_SPEC: Schema = {
  1: ['resourceAttributes', { message: RESOURCE_ATTRIBUTES }],
  2: ['nonResourceAttributes', { message: NON_RESOURCE_ATTRIBUTES }],
  3: ['user', 'string'],
  4: ['groups', 'strings'],
  5: ['extra', 'extra'],
  6: ['uid', 'string'],
};
const SELF_SAR_SPEC: Schema = { 1: SAR_SPEC[1]!, 2: SAR_SPEC[2]! };
const TOKEN_REVIEW_SPEC: Schema = { 1: ['token', 'string'], 2: ['audiences', 'strings'] };
const review = (spec: Schema): Schema => ({ 1: ['metadata', { message: OBJECT_META }], 2: ['spec', { message: spec }] });

/** The kinds the fake decodes, by `group/version Kind`. */
const OBJECTS: Record<string, Schema> = {
  'authorization.k8s.io/v1 SubjectAccessReview': review(SAR_SPEC),
  'authorization.k8s.io/v1 LocalSubjectAccessReview': review(SAR_SPEC),
  'authorization.k8s.io/v1 SelfSubjectAccessReview': review(SELF_SAR_SPEC),
  'authentication.k8s.io/v1 TokenReview': review(TOKEN_REVIEW_SPEC),
};

function utf8(value: Buffer): string {
  return new TextDecoder('utf-8', { fatal: true }).decode(value);
}

function lengthDelimited(f: Field, what: string): Buffer {
  if (f.wire !== 2) throw new ProtobufError(`${what}: wire type ${f.wire}, expected 2`);
  return f.value;
}

export function decodeMessage(buf: Buffer, schema: Schema): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of readFields(buf)) {
    const entry = schema[f.num];
    if (!entry) continue;
    const [name, kind] = entry;
    if (kind === 'string') {
      const s = utf8(lengthDelimited(f, name));
      // gogo-protobuf writes every non-pointer string, empty ones included; JSON omitempty drops them.
      if (s === '') delete out[name];
      else out[name] = s;
    } else if (kind === 'strings') {
      ((out[name] ??= []) as string[]).push(utf8(lengthDelimited(f, name)));
    } else if (kind === 'bool') {
      if (f.wire !== 0) throw new ProtobufError(`${name}: wire type ${f.wire}, expected 0`);
      out[name] = f.value !== 0n;
    } else if (kind === 'extra') {
      // map<string, ExtraValue>: entries {key=1, value=2 ExtraValue{items=1}}.
      let key = '';
      const items: string[] = [];
      for (const e of readFields(lengthDelimited(f, name))) {
        if (e.num === 1) key = utf8(lengthDelimited(e, 'extra key'));
        if (e.num === 2) for (const i of readFields(lengthDelimited(e, 'extra value'))) if (i.num === 1) items.push(utf8(lengthDelimited(i, 'extra item')));
      }
      ((out[name] ??= {}) as Record<string, string[]>)[key] = items;
    } else if ('message' in kind) {
      // A present message is kept even when empty: a pointer field set to &T{} in Go.
      out[name] = { ...((out[name] as Record<string, unknown> | undefined) ?? {}), ...decodeMessage(lengthDelimited(f, name), kind.message) };
    } else {
      ((out[name] ??= []) as unknown[]).push(decodeMessage(lengthDelimited(f, name), kind.repeated));
    }
  }
  return out;
}

export interface DecodedObject {
  apiVersion: string;
  kind: string;
  /** The object in the JSON shape (apiVersion and kind included). */
  object: Record<string, unknown>;
}

/** Whether a Content-Type names the Kubernetes protobuf encoding (parameters ignored). */
export function isKubeProtobuf(contentType: string | undefined): boolean {
  return (contentType ?? '').split(';', 1)[0]!.trim().toLowerCase() === KUBE_PROTOBUF;
}

/**
 * Decodes one `k8s\0` + runtime.Unknown request body into the JSON object it stands for. Kinds the
 * fake does not serve, a missing magic, a content encoding (the apiserver accepts none either) or a
 * malformed message throw ProtobufError.
 */
export function decodeKubeProtobuf(body: Buffer): DecodedObject {
  if (body.length < MAGIC.length || !body.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new ProtobufError('provided object is not in the Kubernetes protobuf envelope (no k8s\\0 prefix)');
  }
  const unknown = decodeMessage(body.subarray(MAGIC.length), {
    1: ['typeMeta', { message: { 1: ['apiVersion', 'string'], 2: ['kind', 'string'] } }],
    3: ['contentEncoding', 'string'],
    4: ['contentType', 'string'],
  });
  let raw: Buffer | undefined;
  for (const f of readFields(body.subarray(MAGIC.length))) if (f.num === 2) raw = lengthDelimited(f, 'raw');
  const typeMeta = (unknown.typeMeta ?? {}) as { apiVersion?: string; kind?: string };
  const apiVersion = typeMeta.apiVersion ?? '';
  const kind = typeMeta.kind ?? '';
  if (unknown.contentEncoding) throw new ProtobufError(`unsupported content encoding ${JSON.stringify(unknown.contentEncoding)}`);
  const schema = OBJECTS[`${apiVersion} ${kind}`];
  if (!schema) throw new ProtobufError(`no protobuf decoding for ${JSON.stringify(`${apiVersion}, Kind=${kind}`)}`);
  return { apiVersion, kind, object: { apiVersion, kind, ...decodeMessage(raw ?? Buffer.alloc(0), schema) } };
}

/**
 * The inverse, for tests: a request body as client-go would write it. Only strings, string lists
 * and nested messages (plain objects), in schema order: enough to build fixtures.
 */
export function encodeKubeProtobuf(apiVersion: string, kind: string, object: Record<string, unknown>): Buffer {
  const schema = OBJECTS[`${apiVersion} ${kind}`];
  if (!schema) throw new Error(`no protobuf encoding for ${apiVersion} ${kind}`);
  const typeMeta = Buffer.concat([stringField(1, apiVersion), stringField(2, kind)]);
  const unknown = Buffer.concat([bytesField(1, typeMeta), bytesField(2, encodeMessage(object, schema)), stringField(3, ''), stringField(4, '')]);
  return Buffer.concat([MAGIC, unknown]);
}

function encodeMessage(value: Record<string, unknown>, schema: Schema): Buffer {
  const parts: Buffer[] = [];
  for (const [num, [name, kind]] of Object.entries(schema).map(([n, e]) => [Number(n), e] as const)) {
    const v = value[name];
    if (v === undefined) continue;
    if (kind === 'string') parts.push(stringField(num, v as string));
    else if (kind === 'strings') for (const s of v as string[]) parts.push(stringField(num, s));
    else if (kind === 'extra') {
      for (const [k, items] of Object.entries(v as Record<string, string[]>)) {
        const extraValue = Buffer.concat(items.map((i) => stringField(1, i)));
        parts.push(bytesField(num, Buffer.concat([stringField(1, k), bytesField(2, extraValue)])));
      }
    } else if (typeof kind === 'object' && 'message' in kind) parts.push(bytesField(num, encodeMessage(v as Record<string, unknown>, kind.message)));
  }
  return Buffer.concat(parts);
}

function varintBytes(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}

function bytesField(num: number, value: Buffer): Buffer {
  return Buffer.concat([varintBytes((num << 3) | 2), varintBytes(value.length), value]);
}

function stringField(num: number, value: string): Buffer {
  return bytesField(num, Buffer.from(value, 'utf8'));
}
