import { gunzipSync } from 'node:zlib';
import { PolicyLoadError } from '../errors.js';

/** What an `opa build -t wasm` bundle holds that the service uses. */
export interface WasmBundle {
  wasm: Uint8Array<ArrayBuffer>;
  /** The bundle's data document (data.json, data.yaml merged); {} when it has none. */
  data: Record<string, unknown>;
  /** Entrypoints the manifest declares for the module, when it declares them. */
  manifestEntrypoints: string[];
  revision?: string;
}

const MAX_UNPACKED = 256 << 20;

/**
 * Reads bundle.tar.gz as `opa build -t wasm` writes it: /policy.wasm (or the module the
 * manifest names), /data.json, /.manifest. Faults name the bundle and what is missing.
 */
export function readWasmBundle(source: string, gz: Uint8Array): WasmBundle {
  let tar: Buffer;
  try {
    tar = gunzipSync(gz, { maxOutputLength: MAX_UNPACKED });
  } catch (err) {
    throw new PolicyLoadError('not_wasm', `${source}: not a gzip-compressed bundle: ${(err as Error).message}`);
  }
  const files = untar(source, tar);
  let manifest: { revision?: string; wasm?: Array<{ entrypoint?: string; module?: string }> } = {};
  const manifestText = files.get('.manifest');
  if (manifestText) {
    try {
      manifest = JSON.parse(manifestText.toString('utf8')) as typeof manifest;
    } catch {
      throw new PolicyLoadError('missing_export', `${source}: .manifest is not JSON`);
    }
  }
  const modules = [...new Set((manifest.wasm ?? []).map((w) => (w.module ?? '').replace(/^\//, '')).filter((m) => m !== ''))];
  if (modules.length > 1) throw new PolicyLoadError('missing_export', `${source}: the bundle has ${modules.length} Wasm modules; one is supported`);
  const moduleName = modules[0] ?? 'policy.wasm';
  const wasm = files.get(moduleName);
  if (!wasm) throw new PolicyLoadError('missing_export', `${source}: no ${moduleName} in the bundle (build it with opa build -t wasm)`);
  let data: Record<string, unknown> = {};
  const dataText = files.get('data.json');
  if (dataText && dataText.length > 0) {
    try {
      const parsed: unknown = JSON.parse(dataText.toString('utf8'));
      if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) data = parsed as Record<string, unknown>;
      else throw new Error('not an object');
    } catch (err) {
      throw new PolicyLoadError('missing_export', `${source}: data.json is not a JSON object: ${(err as Error).message}`);
    }
  }
  const bytes = new Uint8Array(new ArrayBuffer(wasm.length));
  bytes.set(wasm);
  return {
    wasm: bytes,
    data,
    manifestEntrypoints: (manifest.wasm ?? []).map((w) => w.entrypoint ?? '').filter((e) => e !== ''),
    ...(manifest.revision ? { revision: manifest.revision } : {}),
  };
}

/** Regular files of a tar archive by path, without leading `/` or `./`. */
function untar(source: string, tar: Buffer): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  let offset = 0;
  let longName: string | undefined;
  while (offset + 512 <= tar.length) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    const size = parseInt(field(header, 124, 12).trim() || '0', 8);
    if (!Number.isFinite(size) || size < 0) throw new PolicyLoadError('not_wasm', `${source}: corrupt tar header at byte ${offset}`);
    const type = String.fromCharCode(header[156] ?? 0);
    const prefix = field(header, 345, 155);
    const name = longName ?? (prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100));
    longName = undefined;
    const start = offset + 512;
    const body = tar.subarray(start, start + size);
    if (body.length < size) throw new PolicyLoadError('not_wasm', `${source}: truncated tar entry ${name}`);
    if (type === 'L') {
      longName = body.toString('utf8').replace(/\0.*$/s, '');
    } else if (type === '0' || type === '\0') {
      files.set(name.replace(/^(\.\/|\/)+/, ''), Buffer.from(body));
    }
    offset = start + Math.ceil(size / 512) * 512;
  }
  return files;
}

function field(header: Buffer, at: number, length: number): string {
  return header.subarray(at, at + length).toString('utf8').replace(/\0.*$/s, '');
}
