import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { LoadedPolicy } from '@open-policy-agent/opa-wasm';
import { PolicyLoadError, reasonOf } from '../errors.js';

/** The OPA Wasm ABI major version @open-policy-agent/opa-wasm speaks. */
const ABI_MAJOR = 1;
const REQUIRED_EXPORTS = ['opa_wasm_abi_version', 'opa_wasm_abi_minor_version', 'entrypoints', 'builtins', 'opa_malloc', 'opa_json_dump', 'opa_heap_ptr_get'];
const WASM_PAGE = 64 * 1024;

// The package's ESM entry names only the asynchronous loadPolicy; its CommonJS entry has both.
const { loadPolicySync } = createRequire(import.meta.url)('@open-policy-agent/opa-wasm') as typeof import('@open-policy-agent/opa-wasm');

/** Built-ins the runtime can run: native in Wasm or provided by the SDK in JavaScript. */
const runtimeBuiltins: ReadonlySet<string> = (() => {
  // The package does not export its capabilities.json; it sits at the package root, above src/.
  const entry = createRequire(import.meta.url).resolve('@open-policy-agent/opa-wasm');
  const caps = JSON.parse(readFileSync(join(dirname(entry), '..', 'capabilities.json'), 'utf8')) as { builtins: { name: string }[] };
  return new Set(caps.builtins.map((b) => b.name));
})();

/** Where a policy's print() lines go (the service's logger), never stdout. */
export type PolicyPrinter = (line: string) => void;

export interface MemoryLimits {
  /** Upper bound on the policy's linear memory, in bytes: evaluation past it fails, never grows the process. */
  maxBytes: number;
}

/**
 * The built-ins `opa capabilities` marks nondeterministic (OPA 1.22): a policy calling one may
 * decide the same input differently from one call to the next. test/decision-memo.test.ts checks
 * the list against the real OPA's capabilities and that each is a host call in a compiled policy.
 */
export const NONDETERMINISTIC_BUILTINS: ReadonlySet<string> = new Set([
  'http.send',
  'io.jwt.decode_verify',
  'io.jwt.encode_sign',
  'io.jwt.encode_sign_raw',
  'json.match_schema',
  'json.verify_schema',
  'net.lookup_ip_addr',
  'opa.runtime',
  'rand.intn',
  'time.now_ns',
  'uuid.rfc4122',
]);

/**
 * A compiled policy checked against the runtime: a WebAssembly module whose ABI, exports and
 * built-ins the SDK can serve. It makes instances; each instance holds one data document.
 */
export class CompiledPolicy {
  private constructor(
    readonly source: string,
    /** The compiled module: structured-cloneable, so workers instantiate it without recompiling. */
    readonly module: WebAssembly.Module,
    readonly entrypoints: ReadonlyMap<string, number>,
    readonly limits: MemoryLimits,
    /** The policy's print() lines; dropped when undefined. */
    readonly print?: PolicyPrinter,
    /** The built-ins it calls out to the host for; unknown (undefined) on an evaluation worker. */
    readonly hostBuiltins?: readonly string[],
  ) {}

  /**
   * Whether every evaluation is a function of the input and data alone, so a decision made once
   * holds for the same input until the data or policy changes. The built-ins OPA marks
   * nondeterministic are all host calls in the Wasm target; unknown built-ins count as impure.
   */
  get deterministic(): boolean {
    return this.hostBuiltins !== undefined && !this.hostBuiltins.some((name) => NONDETERMINISTIC_BUILTINS.has(name));
  }

  /**
   * A policy already checked by `load` on another thread, rebuilt from its parts (an evaluation
   * worker receives them in a message). No check is repeated: the sender made them.
   */
  static adopt(
    source: string,
    module: WebAssembly.Module,
    entrypoints: ReadonlyMap<string, number>,
    limits: MemoryLimits,
    print?: PolicyPrinter,
    hostBuiltins?: readonly string[],
  ): CompiledPolicy {
    return new CompiledPolicy(source, module, entrypoints, limits, print, hostBuiltins);
  }

  /**
   * Compiles and checks `bytes`, naming `source` in every error. `required` entrypoints must exist.
   */
  static async load(
    source: string,
    bytes: Uint8Array<ArrayBuffer>,
    required: readonly string[],
    limits: MemoryLimits,
    print?: PolicyPrinter,
  ): Promise<CompiledPolicy> {
    if (!WebAssembly.validate(bytes)) {
      throw new PolicyLoadError('not_wasm', `${source}: not a WebAssembly module`);
    }
    const module = new WebAssembly.Module(bytes);
    const exported = new Set(WebAssembly.Module.exports(module).map((e) => e.name));
    const missing = REQUIRED_EXPORTS.filter((name) => !exported.has(name));
    if (missing.length > 0) {
      throw new PolicyLoadError('missing_export', `${source}: not an OPA policy module: missing export ${missing.join(', ')}`);
    }
    if (!exported.has('opa_eval') && !exported.has('eval')) {
      throw new PolicyLoadError('missing_export', `${source}: not an OPA policy module: exports neither opa_eval nor eval`);
    }
    const probe = instantiate(source, module, limits, print);
    const hostBuiltins = policyBuiltins(probe);
    const lacking = hostBuiltins.filter((name) => !runtimeBuiltins.has(name));
    if (lacking.length > 0) {
      throw new PolicyLoadError(
        'missing_builtin',
        `${source}: the policy calls built-ins this runtime lacks: ${lacking.join(', ')} (build with the SDK's capabilities)`,
      );
    }
    const entrypoints = new Map(Object.entries(probe.entrypoints as Record<string, number>));
    const absent = required.filter((e) => !entrypoints.has(e));
    if (absent.length > 0) {
      throw new PolicyLoadError(
        'missing_entrypoint',
        `${source}: entrypoint ${absent.map((e) => `"${e}"`).join(', ')} not found; the policy has ${[...entrypoints.keys()].map((e) => `"${e}"`).join(', ') || 'none'}`,
      );
    }
    return new CompiledPolicy(source, module, entrypoints, limits, print, hostBuiltins);
  }

  /**
   * A new instance with `data` loaded. Instances are not reentrant; evaluation is synchronous.
   * `maxBytes` bounds this instance's memory when several instances share the process's budget.
   */
  async instantiate(data: unknown, maxBytes: number = this.limits.maxBytes): Promise<PolicyInstance> {
    const loaded = instantiate(this.source, this.module, { maxBytes }, this.print);
    const json = jsonBuffer(data ?? {});
    withPrinter(this.print, () => loaded.setData(json));
    return new PolicyInstance(loaded, this.entrypoints, this.print);
  }
}

/** One instance of a compiled policy with its data. */
export class PolicyInstance {
  constructor(
    private readonly loaded: LoadedPolicy,
    readonly entrypoints: ReadonlyMap<string, number>,
    private readonly print?: PolicyPrinter,
  ) {}

  /**
   * Evaluates `entrypoint` over `inputJson` (serialized input, or undefined for no input).
   * Returns the result set: `[]` when undefined, `[{result}]` when defined. Throws what the SDK
   * throws (strings, RuntimeError, RangeError) on evaluation failure.
   */
  evaluate(entrypoint: number, inputJson: string | undefined): Array<{ result: unknown }> {
    // An ArrayBuffer keeps falsy inputs (false, 0, "") as they are: the SDK drops them otherwise.
    const input = inputJson === undefined ? undefined : textBuffer(inputJson);
    return withPrinter(this.print, () => this.loaded.evaluate(input, entrypoint) as Array<{ result: unknown }>);
  }

  /** Bytes of linear memory the instance holds: memory grows on demand and never shrinks. */
  memoryBytes(): number {
    return this.loaded.mem.buffer.byteLength;
  }
}

/**
 * The SDK hands the policy's opa_println to console.log, which is stdout: where
 * --decision-log.output=stdout writes, so a policy could forge decision-log events. Every call
 * into an instance is synchronous (instantiation too: loadPolicySync runs the start function and
 * the builtins export before returning), so console.log is replaced for that call alone; nothing
 * else runs on this thread meanwhile, and nothing the policy prints reaches stdout.
 */
function withPrinter<T>(print: PolicyPrinter | undefined, call: () => T): T {
  const saved = console.log;
  console.log = (...args: unknown[]) => print?.(args.map((a) => String(a)).join(' '));
  try {
    return call();
  } finally {
    console.log = saved;
  }
}

function instantiate(source: string, module: WebAssembly.Module, limits: MemoryLimits, print: PolicyPrinter | undefined): LoadedPolicy {
  const maximum = Math.max(2, Math.floor(limits.maxBytes / WASM_PAGE));
  try {
    return withPrinter(print, () => loadPolicySync(module, { initial: Math.min(32, maximum), maximum }));
  } catch (err) {
    const abi = /^unsupported ABI version (\S+)/.exec(describe(err));
    if (abi) {
      throw new PolicyLoadError('abi_version', `${source}: OPA Wasm ABI version ${abi[1]} is not supported; this runtime speaks ${ABI_MAJOR}.x`);
    }
    throw new PolicyLoadError('instantiate', `${source}: cannot instantiate the policy: ${describe(err)}`, { cause: err });
  }
}

/** Names of the built-ins the policy calls out to the host for (the module's `builtins` export). */
function policyBuiltins(loaded: LoadedPolicy): string[] {
  const exports = instanceExports(loaded);
  const dump = exports.opa_json_dump as (addr: number) => number;
  const builtins = exports.builtins as () => number;
  const text = readCString(loaded.mem, dump(builtins()));
  return Object.keys(JSON.parse(text) as Record<string, number>);
}

function instanceExports(loaded: LoadedPolicy): WebAssembly.Exports {
  const inst = loaded.wasmInstance as WebAssembly.Instance | WebAssembly.WebAssemblyInstantiatedSource;
  return ('instance' in inst ? inst.instance : inst).exports;
}

function readCString(mem: WebAssembly.Memory, addr: number): string {
  const bytes = new Uint8Array(mem.buffer, addr);
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(bytes.subarray(0, end < 0 ? bytes.length : end));
}

const encoder = new TextEncoder();

function textBuffer(text: string): ArrayBuffer {
  return encoder.encode(text).buffer as ArrayBuffer;
}

function jsonBuffer(value: unknown): ArrayBuffer {
  return textBuffer(JSON.stringify(value));
}

/** A readable message for what the SDK throws: strings, Error objects or `{message}` objects. */
export function describe(err: unknown): string {
  if (err !== null && typeof err === 'object' && !(err instanceof Error) && 'message' in err) return reasonOf((err as { message: unknown }).message);
  return reasonOf(err);
}
