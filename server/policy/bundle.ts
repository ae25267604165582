import { gunzipSync } from 'node:zlib';
import { PolicyLoadError, reasonOf } from '../errors.js';
import { parseDataText } from './data-file.js';
import { PolicyFileError } from './file-error.js';

/** What an `opa build -t wasm` bundle holds that the service uses. */
export interface WasmBundle {
  wasm: Uint8Array<ArrayBuffer>;
  /**
   * The bundle's data document as OPA would store it: every data.json / data.yaml / data.yml at
   * its directory's path, merged, and kept only under the manifest's roots; {} when it has none.
   */
  data: Record<string, unknown>;
  /** Entrypoints the manifest declares for the module, when it declares them. */
  manifestEntrypoints: string[];
  revision?: string;
}

export interface BundleLimits {
  /** Bytes the decompressed archive may hold (--policy.max-bundle-bytes). */
  maxBytes: number;
  /** Bytes all its data files together may hold (--policy.max-data-bytes). */
  maxDataBytes: number;
}

export const DEFAULT_BUNDLE_LIMITS: BundleLimits = { maxBytes: 64 << 20, maxDataBytes: 16 << 20 };

const DATA_FILES = new Set(['data.json', 'data.yaml', 'data.yml']);

interface Manifest {
  revision?: string;
  roots?: string[];
  wasm?: Array<{ entrypoint?: string; module?: string }>;
}

/**
 * Reads bundle.tar.gz as OPA reads a bundle (v1/bundle): /policy.wasm (or the module the manifest
 * names), every data file at its directory's path with OPA's merge conflicts, the .manifest and its
 * roots. What OPA refuses to load is refused here with OPA's reason, so a bundle never decides
 * differently here than under `opa run -b`. Faults name the bundle and the file.
 */
export function readWasmBundle(source: string, gz: Uint8Array, limits: BundleLimits = DEFAULT_BUNDLE_LIMITS): WasmBundle {
  let tar: Buffer;
  try {
    tar = gunzipSync(gz, { maxOutputLength: limits.maxBytes });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new PolicyFileError('too_large', `${source}: the bundle decompresses to more than ${limits.maxBytes} bytes (--policy.max-bundle-bytes)`);
    }
    throw new PolicyLoadError('not_wasm', `${source}: not a gzip-compressed bundle: ${reasonOf(err)}`);
  }
  const entries = untar(source, tar);
  const files = new Map(entries.map((e) => [e.path, e.body]));

  let manifest: Manifest = {};
  const manifestText = files.get('.manifest');
  if (manifestText) {
    try {
      manifest = JSON.parse(manifestText.toString('utf8')) as Manifest;
    } catch {
      throw new PolicyLoadError('missing_export', `${source}: .manifest is not JSON`);
    }
    if (manifest === null || typeof manifest !== 'object' || Array.isArray(manifest))
      throw new PolicyFileError('bundle', `${source}: .manifest is not a JSON object`);
  }
  const roots = manifestRoots(source, manifest);

  const modules = [...new Set((manifest.wasm ?? []).map((w) => (w.module ?? '').replace(/^\//, '')).filter((m) => m !== ''))];
  if (modules.length > 1) throw new PolicyLoadError('missing_export', `${source}: the bundle has ${modules.length} Wasm modules; one is supported`);
  const moduleName = modules[0] ?? 'policy.wasm';
  const wasm = files.get(moduleName);
  if (!wasm) throw new PolicyLoadError('missing_export', `${source}: no ${moduleName} in the bundle (build it with opa build -t wasm)`);
  const manifestEntrypoints = (manifest.wasm ?? []).map((w) => w.entrypoint ?? '').filter((e) => e !== '');

  // OPA checks modules and entrypoints against the roots before data (bundle.go, validateAndInjectDefaults).
  for (const e of entries) {
    if (!e.path.endsWith('.rego')) continue;
    const pkg = regoPackagePath(e.body.toString('utf8'));
    if (pkg === undefined || !rootPathsContain(roots, pkg.path)) {
      throw new PolicyFileError('bundle', `${source}: manifest roots ${fmtRoots(roots)} do not permit '${pkg?.text ?? 'its package'}' in module '/${e.path}'`);
    }
  }
  for (const ep of manifestEntrypoints) {
    if (!rootPathsContain(roots, ep)) {
      throw new PolicyFileError('bundle', `${source}: manifest roots ${fmtRoots(roots)} do not permit '${ep}' entrypoint for wasm module '/${moduleName}'`);
    }
  }

  let data: Record<string, unknown> = {};
  let dataBytes = 0;
  for (const e of entries) {
    const slash = e.path.lastIndexOf('/');
    if (!DATA_FILES.has(e.path.slice(slash + 1))) continue;
    dataBytes += e.body.length;
    if (dataBytes > limits.maxDataBytes) {
      throw new PolicyFileError('too_large', `${source}: the bundle's data files hold more than ${limits.maxDataBytes} bytes (--policy.max-data-bytes)`);
    }
    const key =
      slash < 0
        ? []
        : e.path
            .slice(0, slash)
            .split('/')
            .filter((s) => s !== '');
    const fail = (why: string) => new PolicyFileError('bundle', `${source}: bundle load failed on /${e.path}: ${why}`);
    let value: unknown;
    try {
      value = parseDataText(e.path, e.body.toString('utf8'));
    } catch (err) {
      throw fail(reasonOf(err));
    }
    if (key.length === 0 && !isObject(value)) throw fail('root value must be object');
    const merged = mergeData(data, mkTree(key, value));
    if (!merged) throw fail(`failed to insert data file from path ${key.join('/')}`);
    data = merged;
  }
  checkDataRoots(source, roots, data);

  const bytes = new Uint8Array(new ArrayBuffer(wasm.length));
  bytes.set(wasm);
  return {
    wasm: bytes,
    data: projectOnRoots(data, roots),
    manifestEntrypoints,
    ...(manifest.revision ? { revision: manifest.revision } : {}),
  };
}

/** The manifest's roots, trimmed of slashes; [""] (everything) when it names none, as OPA defaults. */
function manifestRoots(source: string, manifest: Manifest): string[] {
  if (manifest.roots === undefined || manifest.roots === null) return [''];
  if (!Array.isArray(manifest.roots) || manifest.roots.some((r) => typeof r !== 'string')) {
    throw new PolicyFileError('bundle', `${source}: .manifest roots must be a list of strings`);
  }
  const roots = manifest.roots.map((r) => r.replace(/^\/+|\/+$/g, ''));
  for (let i = 0; i < roots.length; i++) {
    for (let j = i + 1; j < roots.length; j++) {
      if (rootContains(split(roots[i]!), split(roots[j]!)) || rootContains(split(roots[j]!), split(roots[i]!))) {
        throw new PolicyFileError('bundle', `${source}: manifest has overlapped roots: '${roots[i]}' and '${roots[j]}'`);
      }
    }
  }
  return roots;
}

const split = (path: string): string[] => path.split('/');

/** OPA's rootContains: a root of one empty segment holds everything; otherwise a segment prefix. */
function rootContains(root: readonly string[], other: readonly string[]): boolean {
  if (root.length === 1 && root[0] === '') return true;
  if (root.length > other.length) return false;
  return root.every((s, i) => s === other[i]);
}

function rootPathsContain(roots: readonly string[], path: string): boolean {
  const segments = split(path);
  return roots.some((r) => rootContains(split(r), segments));
}

const fmtRoots = (roots: readonly string[]): string => `[${roots.join(' ')}]`;

/**
 * OPA's data check on the merged document: data under a root is allowed; an object on the way to
 * a root is walked into; anything else is refused. (OPA walks objects whose path lies within any
 * one segment of a root, so an empty object beside a root passes: kept here as OPA has it.)
 */
function checkDataRoots(source: string, roots: readonly string[], data: Record<string, unknown>): void {
  const visit = (path: string, node: unknown): void => {
    if (path !== '') {
      if (rootPathsContain(roots, path)) return;
      const walkable = isObject(node) && roots.some((r) => rootPathsContain(split(r), path));
      if (!walkable) {
        throw new PolicyFileError(
          'bundle',
          `${source}: manifest roots ${fmtRoots(roots)} do not permit data at path '/${path}' (hint: check bundle directory structure)`,
        );
      }
    }
    if (isObject(node)) for (const [k, v] of Object.entries(node)) visit(path === '' ? k : `${path}/${k}`, v);
  };
  visit('', data);
}

/** What OPA writes to its store on activation: the data at each root, nothing beside them. */
function projectOnRoots(data: Record<string, unknown>, roots: readonly string[]): Record<string, unknown> {
  if (roots.includes('')) return data;
  let out: Record<string, unknown> = {};
  for (const root of roots) {
    let cur: unknown = data;
    const segments = split(root);
    for (const s of segments) cur = isObject(cur) && Object.hasOwn(cur, s) ? cur[s] : undefined;
    if (cur !== undefined) out = mergeData(out, mkTree(segments, cur)) ?? out;
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function mkTree(key: readonly string[], value: unknown): Record<string, unknown> {
  let tree = value;
  for (let i = key.length - 1; i >= 0; i--) tree = { [key[i]!]: tree };
  return tree as Record<string, unknown>;
}

/**
 * OPA's merge of a data file into the bundle's data (internal/merge.InterfaceMaps): objects merge
 * key by key; a key both sides hold is a conflict unless both values are objects. undefined on conflict.
 */
function mergeData(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> | undefined {
  const conflicts = (x: Record<string, unknown>, y: Record<string, unknown>): boolean =>
    Object.keys(y).some(
      (k) => Object.hasOwn(x, k) && (!isObject(x[k]) || !isObject(y[k]) || conflicts(x[k] as Record<string, unknown>, y[k] as Record<string, unknown>)),
    );
  if (conflicts(a, b)) return undefined;
  const merge = (x: Record<string, unknown>, y: Record<string, unknown>): Record<string, unknown> => {
    const out: Record<string, unknown> = { ...x };
    for (const [k, v] of Object.entries(y)) out[k] = Object.hasOwn(x, k) ? merge(x[k] as Record<string, unknown>, v as Record<string, unknown>) : v;
    return out;
  };
  return merge(a, b);
}

/**
 * The package of a Rego module as a root path (`package a.b["c"]` -> a/b/c) and as written, or
 * undefined when no package clause can be read (the bundle is then refused: fail closed).
 */
function regoPackagePath(text: string): { path: string; text: string } | undefined {
  const code = text.replace(/#[^\n]*/g, '');
  const m = /^\s*package\s+([A-Za-z_][A-Za-z0-9_]*(?:\s*(?:\.\s*[A-Za-z_][A-Za-z0-9_]*|\[\s*"[^"\\]*"\s*\]))*)/.exec(code);
  if (!m) return undefined;
  const segments = [...m[1]!.matchAll(/([A-Za-z_][A-Za-z0-9_]*)|"([^"\\]*)"/g)].map((s) => s[1] ?? s[2]!);
  if (segments[0] === 'data') segments.shift();
  return { path: segments.join('/'), text: `package ${m[1]!.replace(/\s+/g, '')}` };
}

interface TarEntry {
  path: string;
  body: Buffer;
}

/**
 * Regular files of a tar archive in order, by path without leading `/` or `./`. Long names are
 * read as Go's archive/tar (which OPA uses) reads them: GNU `L` records and PAX `path`/`size`
 * records, so a file is never taken at a different path than OPA takes it.
 */
function untar(source: string, tar: Buffer): TarEntry[] {
  const files: TarEntry[] = [];
  let offset = 0;
  let longName: string | undefined;
  let pax: Map<string, string> | undefined;
  while (offset + 512 <= tar.length) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    const sizeField = field(header, 124, 12).trim() || '0';
    let size = /^[0-7]+$/.test(sizeField) ? parseInt(sizeField, 8) : NaN;
    if (pax?.has('size')) size = /^\d+$/.test(pax.get('size')!) ? Number(pax.get('size')) : NaN;
    if (!Number.isSafeInteger(size) || size < 0) throw new PolicyLoadError('not_wasm', `${source}: corrupt tar header at byte ${offset}`);
    const type = String.fromCharCode(header[156] ?? 0);
    const prefix = field(header, 345, 155);
    const name = pax?.get('path') ?? longName ?? (prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100));
    const start = offset + 512;
    // The extended header's size applies to the entry it describes, not to itself.
    const bodySize = type === 'x' || type === 'g' ? parseInt(sizeField, 8) : size;
    const body = tar.subarray(start, start + bodySize);
    if (body.length < bodySize) throw new PolicyLoadError('not_wasm', `${source}: truncated tar entry ${name}`);
    if (type === 'L') {
      longName = body.toString('utf8').replace(/\0.*$/s, '');
    } else if (type === 'x') {
      pax = parsePax(source, body);
    } else if (type !== 'g') {
      longName = undefined;
      pax = undefined;
      if (type === '0' || type === '\0') files.push({ path: name.replace(/^(\.\/|\/)+/, ''), body: Buffer.from(body) });
    }
    offset = start + Math.ceil(bodySize / 512) * 512;
  }
  return files;
}

/** PAX extended header records: "<len> <key>=<value>\n". */
function parsePax(source: string, body: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let at = 0;
  while (at < body.length) {
    const space = body.indexOf(0x20, at);
    const len = space < 0 ? NaN : Number(body.subarray(at, space).toString('ascii'));
    if (!Number.isSafeInteger(len) || len <= space - at || at + len > body.length) throw new PolicyLoadError('not_wasm', `${source}: corrupt PAX header`);
    const record = body.subarray(space + 1, at + len - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) out.set(record.slice(0, eq), record.slice(eq + 1));
    at += len;
  }
  return out;
}

function field(header: Buffer, at: number, length: number): string {
  return header
    .subarray(at, at + length)
    .toString('utf8')
    .replace(/\0.*$/s, '');
}
