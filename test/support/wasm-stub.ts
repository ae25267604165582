/**
 * Small hand-written modules speaking the OPA Wasm ABI (assembled from WAT with wabt), for the
 * faults and behaviours a real policy build cannot be made to show on demand.
 */
import wabt from 'wabt';

export interface StubOptions {
  abiVersion?: number;
  abiMinorVersion?: number;
  /** The JSON the builtins export returns: {name: id}. */
  builtins?: string;
  entrypoints?: string;
  /** Exports to leave out. */
  omit?: string[];
  /** What opa_eval does: answer `result`, always trap, trap on large input (and stay broken), abort, never end on large input or at all, or print `printed` then answer. */
  evaluate?: 'ok' | 'trap' | 'trap-on-large-input' | 'abort' | 'tell-input' | 'spin-on-large-input' | 'spin' | 'print';
  /** A function that never ends: the module's start function, or the builtins or entrypoints export. */
  spin?: 'start' | 'builtins' | 'entrypoints';
  /** The line opa_eval passes to opa_println when `evaluate` is 'print'. */
  printed?: string;
  /** The result set opa_eval answers with. */
  result?: string;
}

/** A WAT string literal holding `s` as UTF-8 bytes, NUL-terminated. */
function watBytes(s: string): string {
  return `${[...Buffer.from(s, 'utf8')]
    .map((b) => (b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c ? String.fromCharCode(b) : `\\${b.toString(16).padStart(2, '0')}`))
    .join('')}\\00`;
}

let wabtModule: Awaited<ReturnType<typeof wabt>> | undefined;

/**
 * A minimal module speaking the OPA Wasm ABI as @open-policy-agent/opa-wasm calls it: it imports
 * env.memory, env.opa_abort, env.opa_println and env.opa_builtin0..4, and exports the ABI version
 * globals, builtins, entrypoints, opa_json_dump, opa_json_parse, opa_malloc, opa_heap_ptr_get/set
 * and opa_eval (the ABI 1.2 one-call path). Values are JSON strings in memory: "dump" is identity.
 */
export async function stubModule(options: StubOptions = {}): Promise<Uint8Array<ArrayBuffer>> {
  wabtModule ??= await wabt();
  const omit = new Set(options.omit ?? []);
  const exp = (name: string) => (omit.has(name) ? '' : `(export "${name}")`);
  const evalBody = {
    ok: '(i32.const 1024)',
    trap: 'unreachable',
    // A trap that leaves the instance broken for good, as a corrupted heap would: only a fresh
    // instance answers again.
    'trap-on-large-input': `
      (if (global.get $poisoned) (then unreachable))
      (if (i32.gt_u (local.get 4) (i32.const 10)) (then (global.set $poisoned (i32.const 1)) unreachable))
      (i32.const 1024)`,
    abort: '(call $opa_abort (i32.const 3072)) (i32.const 0)',
    // `result` when the host passed input bytes, [{"result":"no input"}] when it passed none.
    'tell-input': '(if (result i32) (local.get 4) (then (i32.const 1024)) (else (i32.const 2048)))',
    // An evaluation that never ends on inputs over 1000 bytes (a policy whose cost explodes with
    // its input, without the wait); smaller inputs answer `result`.
    'spin-on-large-input': `
      (if (i32.gt_u (local.get 4) (i32.const 1000)) (then (loop $spin (br $spin))))
      (i32.const 1024)`,
    spin: '(loop $spin (br $spin)) (i32.const 1024)',
    print: '(call $opa_println (i32.const 4096)) (i32.const 1024)',
  }[options.evaluate ?? 'ok'];
  const spinning = '(loop $spin (br $spin))';
  const wat = `(module
  (import "env" "memory" (memory 2))
  (import "env" "opa_abort" (func $opa_abort (param i32)))
  (import "env" "opa_println" (func $opa_println (param i32)))
  (import "env" "opa_builtin0" (func $b0 (param i32 i32) (result i32)))
  (import "env" "opa_builtin1" (func $b1 (param i32 i32 i32) (result i32)))
  (import "env" "opa_builtin2" (func $b2 (param i32 i32 i32 i32) (result i32)))
  (import "env" "opa_builtin3" (func $b3 (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "opa_builtin4" (func $b4 (param i32 i32 i32 i32 i32 i32) (result i32)))
  (global $heap (mut i32) (i32.const 65536))
  (global $poisoned (mut i32) (i32.const 0))
  (global ${exp('opa_wasm_abi_version')} i32 (i32.const ${options.abiVersion ?? 1}))
  (global ${exp('opa_wasm_abi_minor_version')} i32 (i32.const ${options.abiMinorVersion ?? 2}))
  (data (i32.const 16) "${watBytes(options.builtins ?? '{}')}")
  (data (i32.const 512) "${watBytes(options.entrypoints ?? '{"lokistack/allow":0,"lokistack":1}')}")
  (data (i32.const 1024) "${watBytes(options.result ?? '[{"result":true}]')}")
  (data (i32.const 2048) "${watBytes('[{"result":"no input"}]')}")
  (data (i32.const 3072) "${watBytes('stub policy aborted')}")
  (data (i32.const 4096) "${watBytes(options.printed ?? 'printed by the policy')}")
  (func ${exp('builtins')} (result i32) ${options.spin === 'builtins' ? spinning : ''} (i32.const 16))
  (func ${exp('entrypoints')} (result i32) ${options.spin === 'entrypoints' ? spinning : ''} (i32.const 512))
  ${options.spin === 'start' ? `(func $start ${spinning}) (start $start)` : ''}
  (func ${exp('opa_json_dump')} (param i32) (result i32) (local.get 0))
  (func ${exp('opa_json_parse')} (param i32 i32) (result i32) (i32.const 16))
  (func ${exp('opa_malloc')} (param i32) (result i32) (local i32)
    (local.set 1 (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get 0)))
    (local.get 1))
  (func ${exp('opa_heap_ptr_get')} (result i32) (global.get $heap))
  (func ${exp('opa_heap_ptr_set')} (param i32) (global.set $heap (local.get 0)))
  (func ${exp('opa_eval')} (param i32 i32 i32 i32 i32 i32 i32) (result i32)
    ${evalBody})
)`;
  const parsed = wabtModule.parseWat('stub.wat', wat);
  try {
    parsed.validate();
    return new Uint8Array(parsed.toBinary({}).buffer);
  } finally {
    parsed.destroy();
  }
}
