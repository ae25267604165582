import { ConfigError, reasonOf } from '../errors.js';
import { readWasmBundle } from './bundle.js';
import { parseDataText } from './data-file.js';
import { PolicyDocument } from './document.js';
import { PolicyFileError } from './file-error.js';
import { parseRbac } from './rbac.js';
import { CompiledPolicy } from './wasm-policy.js';

/** What one load reads: which files, for which decision, within which bounds. Plain data: it crosses threads. */
export interface LoadSpec {
  /** The decision entrypoint the policy must have, e.g. "lokistack/allow". */
  entrypoint: string;
  policyFile: string;
  bundleFile?: string;
  dataFile?: string;
  rbacFile?: string;
  /** Dynamic mode: bindings may name verified claims. */
  claims: boolean;
  reload: boolean;
  maxMemoryBytes: number;
  /** The serving instance's share of maxMemoryBytes: the probe instance gets the same. */
  instanceMaxBytes: number;
  maxBundleBytes: number;
  maxDataBytes: number;
}

export interface LoadResult {
  module: WebAssembly.Module;
  entrypoints: Array<[string, number]>;
  /** The built-ins the policy calls out to the host for: whether its decisions can be remembered. */
  hostBuiltins: string[];
  data: unknown;
  warnings: string[];
}

/**
 * One load, start to end: unpack, parse the data, compile, instantiate (the module's start
 * function and its builtins export run here), load the data into an instance and evaluate the
 * decision once. It runs on a loading thread (load-worker.ts): anything here that never ends, or
 * grows without bound, ends that thread, never the service. `files` holds each file's bytes as
 * its watcher read them.
 */
export async function loadPolicyFiles(
  spec: LoadSpec,
  files: ReadonlyMap<string, Uint8Array<ArrayBuffer>>,
  print?: (line: string) => void,
): Promise<LoadResult> {
  const content = (file: string) => files.get(file)!;
  let bytes: Uint8Array<ArrayBuffer>;
  let bundleData: Record<string, unknown> = {};
  if (spec.bundleFile) {
    const bundle = readWasmBundle(spec.bundleFile, content(spec.bundleFile), { maxBytes: spec.maxBundleBytes, maxDataBytes: spec.maxDataBytes });
    bytes = bundle.wasm;
    bundleData = bundle.data;
  } else {
    bytes = content(spec.policyFile);
  }
  const policy = await CompiledPolicy.load(spec.policyFile, bytes, [spec.entrypoint], { maxBytes: spec.maxMemoryBytes }, print);
  const bundleHasData = Object.keys(bundleData).length > 0;
  let data: unknown = bundleData;
  const warnings: string[] = [];
  if (spec.rbacFile) {
    if (bundleHasData) throw new ConfigError(spec.rbacFile, '', `${spec.bundleFile} carries data too: give the data in one place`);
    const parsed = parseRbac(spec.rbacFile, text(content(spec.rbacFile)), { claims: spec.claims, reload: spec.reload });
    warnings.push(...parsed.warnings);
    data = parsed.rbac;
  } else if (spec.dataFile) {
    if (bundleHasData) throw new ConfigError(spec.dataFile, '', `${spec.bundleFile} carries data too: give the data in one place`);
    data = parseDataDocument(spec.dataFile, text(content(spec.dataFile)));
  }
  // The first evaluation: a policy whose entrypoint never ends is caught here, by the load's
  // deadline. What it answers does not matter (errors are the decision path's to report).
  const doc = await PolicyDocument.create(policy, data, spec.instanceMaxBytes);
  try {
    doc.resolve(spec.entrypoint.split('/'), '{}');
  } catch {
    // An evaluation error is not a load failure: inputs decide whether it happens.
  }
  return { module: policy.module, entrypoints: [...policy.entrypoints], hostBuiltins: [...(policy.hostBuiltins ?? [])], data, warnings };
}

/** A data document for a user's own policy: a JSON or YAML object, read as OPA reads data files. */
function parseDataDocument(file: string, text: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = parseDataText(file, text);
  } catch (err) {
    if (err instanceof PolicyFileError) throw err;
    throw new ConfigError(file, '', reasonOf(err));
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(file, '', 'the data document must be an object');
  return doc as Record<string, unknown>;
}

const text = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
