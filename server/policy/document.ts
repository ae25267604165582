import { defined, UNDEFINED, type Decision } from '../document.js';
import type { CompiledPolicy, PolicyInstance } from './wasm-policy.js';
import type { ErrorCode } from '../error-codes.js';

let generations = 0;

/**
 * The data document OPA would serve for a compiled policy and its base data: each entrypoint's
 * value at its path, the base data elsewhere. A path at or below an entrypoint evaluates that
 * entrypoint and walks into its value; a path above entrypoints gathers them into objects, over
 * the base data, as OPA's virtual and base documents merge.
 */
export class PolicyDocument {
  /** Names this policy and data across threads: an evaluation worker loads each generation once. */
  readonly generation = ++generations;
  private readonly entries: ReadonlyArray<{ segments: string[]; id: number }>;
  /** Memory the instance held right after loading the data: what a fresh one costs. */
  private baseline: number;
  private renewing: Promise<void> | undefined;

  private constructor(
    readonly policy: CompiledPolicy,
    private instance: PolicyInstance,
    readonly data: unknown,
    /** Bound on this document's instance memory (its share of --policy.max-memory-bytes). */
    readonly maxBytes: number,
  ) {
    this.entries = [...policy.entrypoints].map(([name, id]) => ({ segments: name.split('/'), id })).sort((a, b) => b.segments.length - a.segments.length);
    this.baseline = instance.memoryBytes();
  }

  static async create(policy: CompiledPolicy, data: unknown, maxBytes: number = policy.limits.maxBytes): Promise<PolicyDocument> {
    return new PolicyDocument(policy, await policy.instantiate(data, maxBytes), data, maxBytes);
  }

  /**
   * A fresh instance over the same data: after the old one trapped mid-evaluation (its heap may be
   * inconsistent), or grew (Wasm memory never shrinks; dropping the instance is the only way to
   * give it back). Evaluations keep using the old instance until the new one is ready; concurrent
   * calls share one renewal.
   */
  renew(): Promise<void> {
    this.renewing ??= (async () => {
      try {
        this.instance = await this.policy.instantiate(this.data, this.maxBytes);
        this.baseline = this.instance.memoryBytes();
      } finally {
        this.renewing = undefined;
      }
    })();
    return this.renewing;
  }

  memoryBytes(): number {
    return this.instance.memoryBytes();
  }

  /**
   * Whether the instance grew enough to be worth replacing: past `resetBytes` and past four times
   * what a fresh instance holds (so that a large data document alone never causes a renewal after
   * every evaluation).
   */
  overgrown(resetBytes: number): boolean {
    return this.instance.memoryBytes() > Math.max(resetBytes, 4 * this.baseline);
  }

  /** The document at `path` for `inputJson`; throws what evaluation throws. */
  resolve(path: readonly string[], inputJson: string | undefined): Decision {
    const owner = this.entries.find((e) => isPrefix(e.segments, path));
    if (owner) {
      const value = this.evaluate(owner.id, inputJson);
      if (!value.defined) return UNDEFINED;
      const rest = path.slice(owner.segments.length);
      const found = walk(value.value, rest);
      if (!found.defined) assertWalkable(value.value, rest, path);
      return found;
    }
    let doc = walk(this.data, path);
    for (const entry of this.entries) {
      if (!isPrefix(path, entry.segments)) continue;
      const value = this.evaluate(entry.id, inputJson);
      if (value.defined) doc = defined(insert(doc.defined ? doc.value : {}, entry.segments.slice(path.length), value.value));
    }
    return doc;
  }

  private evaluate(id: number, inputJson: string | undefined): Decision {
    const rs = this.instance.evaluate(id, inputJson);
    return rs.length === 0 ? UNDEFINED : defined(rs[0]!.result);
  }
}

/**
 * OPA's type checker refuses a path that continues below a rule's scalar value (a boolean, a
 * number) with a 500 rego_type_error; walking there is answered the same way, not with undefined.
 */
function assertWalkable(value: unknown, rest: readonly string[], path: readonly string[]): void {
  let cur = value;
  for (const seg of rest) {
    if (cur === null || typeof cur !== 'object') {
      throw new PolicyPathError(`1 error occurred: 1:1: rego_type_error: undefined ref: data.${path.join('.')}`);
    }
    cur = Array.isArray(cur) ? (/^\d+$/.test(seg) ? cur[Number(seg)] : undefined) : (cur as Record<string, unknown>)[seg];
    if (cur === undefined) return;
  }
}

/** A path the policy's types rule out. */
export class PolicyPathError extends Error {
  readonly code = 'policy_path' satisfies ErrorCode;

  constructor(message: string) {
    super(message);
    this.name = 'PolicyPathError';
  }
}

function isPrefix(prefix: readonly string[], path: readonly string[]): boolean {
  return prefix.length <= path.length && prefix.every((s, i) => s === path[i]);
}

/** Walks `segments` into `value`: object keys, and array indexes for all-digit segments as OPA does. */
export function walk(value: unknown, segments: readonly string[]): Decision {
  let cur = value;
  for (const seg of segments) {
    if (Array.isArray(cur)) {
      if (!/^\d+$/.test(seg)) return UNDEFINED;
      const i = Number(seg);
      if (i >= cur.length) return UNDEFINED;
      cur = cur[i];
    } else if (cur !== null && typeof cur === 'object' && Object.hasOwn(cur, seg)) {
      cur = (cur as Record<string, unknown>)[seg];
    } else {
      return UNDEFINED;
    }
  }
  return cur === undefined ? UNDEFINED : defined(cur);
}

/** A copy of `target` with `value` set at `segments`, creating objects on the way. */
function insert(target: unknown, segments: readonly string[], value: unknown): unknown {
  if (segments.length === 0) return value;
  const base = target !== null && typeof target === 'object' && !Array.isArray(target) ? (target as Record<string, unknown>) : {};
  const [head, ...rest] = segments as [string, ...string[]];
  return { ...base, [head]: insert(base[head], rest, value) };
}
