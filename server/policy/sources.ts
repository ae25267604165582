import { readRegularFile } from '../files.js';
import type { LoadSpec } from './loader.js';

/** Which files a static policy is loaded from, as the operator named them. */
export interface PolicyFiles {
  /** --policy.wasm: a compiled module (the bundled one by default). */
  wasmFile: string;
  /** --policy.bundle: an OPA bundle; when given, the policy is read from it, not from wasmFile. */
  bundleFile?: string;
  /** --policy.data: a data document for the policy. */
  dataFile?: string;
  /** --rbac.config: roles and role bindings, the lokistack policy's data. */
  rbacFile?: string;
}

export interface PolicyFileBounds {
  maxBundleBytes: number;
  maxDataBytes: number;
}

/** One file a load reads: `name` labels its reload metrics and logs, `flag` names it in errors. */
export interface PolicySource {
  name: 'policy' | 'rbac' | 'data';
  file: string;
  flag: '--policy.bundle' | '--policy.wasm' | '--rbac.config' | '--policy.data';
  maxBytes: number;
}

/** The policy is the bundle when one is given, else the module: the file a load names in its errors. */
export function policyFileOf(files: PolicyFiles): string {
  return files.bundleFile ?? files.wasmFile;
}

/**
 * The files one load reads, each with its bound: the policy (bundle or module), then its data
 * (the rbac file, or a data file). Whether the bundle's own data clashes with them is the loader's
 * to say, once it has unpacked the bundle.
 */
export function policySources(files: PolicyFiles, bounds: PolicyFileBounds): PolicySource[] {
  const sources: PolicySource[] = [
    { name: 'policy', file: policyFileOf(files), flag: files.bundleFile ? '--policy.bundle' : '--policy.wasm', maxBytes: bounds.maxBundleBytes },
  ];
  if (files.rbacFile) sources.push({ name: 'rbac', file: files.rbacFile, flag: '--rbac.config', maxBytes: bounds.maxDataBytes });
  if (files.dataFile) sources.push({ name: 'data', file: files.dataFile, flag: '--policy.data', maxBytes: bounds.maxDataBytes });
  return sources;
}

/**
 * Reads one source, only when it is a regular file and only up to its bound: a FIFO or a device
 * named by a flag would otherwise hang startup (or a watcher) with no word.
 */
export function readPolicySource(source: PolicySource): Promise<Uint8Array<ArrayBuffer>> {
  return readRegularFile(source.flag, source.file, source.maxBytes);
}

/** The load of these files for one entrypoint: plain data, so it crosses to the loading thread. */
export function loadSpecOf(files: PolicyFiles, options: Omit<LoadSpec, 'policyFile' | 'bundleFile' | 'dataFile' | 'rbacFile'>): LoadSpec {
  return {
    ...options,
    policyFile: policyFileOf(files),
    ...(files.bundleFile ? { bundleFile: files.bundleFile } : {}),
    ...(files.dataFile ? { dataFile: files.dataFile } : {}),
    ...(files.rbacFile ? { rbacFile: files.rbacFile } : {}),
  };
}
