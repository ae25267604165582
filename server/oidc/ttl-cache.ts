/**
 * A map whose entries end at their own deadline, holding at most `maxEntries`: past the bound the
 * oldest insertion goes first. An attacker can fill it with made-up tokens; they can only push
 * entries out, never grow memory.
 */
export class TtlCache<V> {
  private readonly entries = new Map<string, { value: V; until: number }>();

  constructor(
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {}

  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.until > this.now()) return entry.value;
    this.entries.delete(key);
    return undefined;
  }

  set(key: string, value: V, until: number): void {
    if (until <= this.now()) return;
    // Re-inserting moves the key to the young end, so eviction order stays insertion order.
    this.entries.delete(key);
    while (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(key, { value, until });
  }

  get size(): number {
    return this.entries.size;
  }
}
