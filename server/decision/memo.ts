import type { DecisionOutcome } from './types.js';

/** What one remembered request costs beyond its characters: the Map entry, the answer object and two string headers. */
const ENTRY_OVERHEAD_BYTES = 128;

/** A remembered answer: the response body sent for the request, and how it counts in the decision metrics. */
export interface RememberedAnswer {
  readonly outcome: DecisionOutcome;
  readonly text: string;
  /** Until when it stands (performance.now() milliseconds); Infinity while its generation serves. */
  readonly until: number;
}

/**
 * Answers remembered by the exact request that produced them, for one generation of what decides
 * (an object the authorizer hands out, which changes whenever the policy, data or configuration
 * does). The LokiStack gateway asks the same few questions over and over (each user, tenant and
 * permission); answering a repeat costs a Map lookup instead of a parse and an evaluation.
 *
 * A key is the request byte for byte (with the token's hash where the answer depends on the
 * token), so a remembered answer is the one the same bytes would get again from the same
 * generation, provided the authorizer says its decisions depend on nothing else
 * (Authorizer.memoGeneration), or until the time the authorizer gave (an answer resting on cached
 * upstream answers stands only as long as they do). Bounded by bytes: the oldest requests are
 * forgotten first, and a new generation forgets everything.
 */
export class DecisionMemo {
  private generation: object | undefined;
  private entries = new Map<string, RememberedAnswer>();
  private bytes = 0;

  /** `maxBytes` bounds the keys and answers held (two bytes per character, as a string may be stored), plus an overhead per entry. */
  constructor(
    readonly maxBytes: number,
    private readonly now: () => number = performance.now.bind(performance),
  ) {}

  /** Whether a key of `length` characters could be held at all (with a short answer). */
  fits(length: number): boolean {
    return cost(length, 0) <= this.maxBytes;
  }

  /** The answer remembered for `key` in `generation`, unless it has expired (then it is forgotten). */
  get(generation: object, key: string): RememberedAnswer | undefined {
    if (generation !== this.generation) return undefined;
    const found = this.entries.get(key);
    if (found === undefined || found.until === Infinity) return found;
    // Stale once past `until`, as the decision cache judges its own entries.
    if (this.now() <= found.until) return found;
    this.entries.delete(key);
    this.bytes -= cost(key.length, found.text.length);
    return undefined;
  }

  set(generation: object, key: string, answer: RememberedAnswer): void {
    const size = cost(key.length, answer.text.length);
    if (size > this.maxBytes || answer.until <= this.now()) return;
    if (generation !== this.generation) {
      this.generation = generation;
      this.entries = new Map();
      this.bytes = 0;
    }
    const known = this.entries.get(key);
    if (known !== undefined) {
      if (known.until >= answer.until) return;
      // Remembered again after its upstream answers were refreshed: the later expiry, at the back of the queue.
      this.entries.delete(key);
      this.bytes -= cost(key.length, known.text.length);
    }
    // Map iterates in insertion order: the first key is the oldest.
    for (const [oldest, old] of this.entries) {
      if (this.bytes + size <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.bytes -= cost(oldest.length, old.text.length);
    }
    this.entries.set(key, answer);
    this.bytes += size;
  }

  /** Requests remembered now (for tests and the docs' sizing). */
  get size(): number {
    return this.entries.size;
  }
}

function cost(keyLength: number, textLength: number): number {
  return 2 * (keyLength + textLength) + ENTRY_OVERHEAD_BYTES;
}
