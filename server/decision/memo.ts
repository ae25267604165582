import { UNDEFINED, type Decision } from './types.js';

/** What one remembered request costs beyond its key's characters: the Map entry and the string's header. */
const ENTRY_OVERHEAD_BYTES = 96;

const ALLOW: Decision = Object.freeze({ defined: true, value: true });
const DENY: Decision = Object.freeze({ defined: true, value: false });

/**
 * Decisions remembered by the exact request that produced them, for one generation of policy and
 * data (an object the authorizer hands out, which changes whenever either does). The LokiStack
 * gateway asks the same few questions over and over (each user, tenant and permission); answering
 * a repeat costs a Map lookup instead of a parse and an evaluation.
 *
 * Only a plain answer is kept: allow, deny or undefined. A key is the request byte for byte, so a
 * remembered answer is the one the same bytes would get again from the same generation, provided
 * the authorizer says its decisions depend on nothing else (Authorizer.memoGeneration). Bounded by
 * bytes: the oldest requests are forgotten first, and a new generation forgets everything.
 */
export class DecisionMemo {
  private generation: object | undefined;
  private entries = new Map<string, Decision>();
  private bytes = 0;

  /** `maxBytes` bounds the keys held (two bytes per character, as a string may be stored), plus an overhead per entry. */
  constructor(readonly maxBytes: number) {}

  /** Whether a key of `length` characters could be held at all. */
  fits(length: number): boolean {
    return cost(length) <= this.maxBytes;
  }

  get(generation: object, key: string): Decision | undefined {
    return generation === this.generation ? this.entries.get(key) : undefined;
  }

  /** Remembers a plain decision (allow, deny, undefined); any other value is not kept. */
  set(generation: object, key: string, decision: Decision): void {
    const kept = !decision.defined ? UNDEFINED : decision.value === true ? ALLOW : decision.value === false ? DENY : undefined;
    if (kept === undefined || !this.fits(key.length)) return;
    if (generation !== this.generation) {
      this.generation = generation;
      this.entries = new Map();
      this.bytes = 0;
    }
    if (this.entries.has(key)) return;
    const size = cost(key.length);
    // Map iterates in insertion order: the first key is the oldest.
    for (const oldest of this.entries.keys()) {
      if (this.bytes + size <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.bytes -= cost(oldest.length);
    }
    this.entries.set(key, kept);
    this.bytes += size;
  }

  /** Requests remembered now (for tests and the docs' sizing). */
  get size(): number {
    return this.entries.size;
  }
}

function cost(length: number): number {
  return 2 * length + ENTRY_OVERHEAD_BYTES;
}
