import { PolicyDocument } from './document.js';
import type { CompiledPolicy } from './wasm-policy.js';

/**
 * Holds the document being served and swaps it whole: a reload builds the new instance first and
 * replaces the reference only once it is ready, so no request sees a half-loaded policy.
 */
export class PolicyStore {
  private doc: PolicyDocument | undefined;

  constructor(private policy: CompiledPolicy) {}

  get entrypoints(): ReadonlyMap<string, number> {
    return this.policy.entrypoints;
  }

  /** Serves a new compiled policy with its data, once both are ready. */
  async replace(policy: CompiledPolicy, data: unknown): Promise<void> {
    this.doc = await PolicyDocument.create(policy, data);
    this.policy = policy;
  }

  current(): PolicyDocument | undefined {
    return this.doc;
  }

  ready(): boolean {
    return this.doc !== undefined;
  }

  /** Loads `data` into a new instance and serves it from now on. */
  async setData(data: unknown): Promise<void> {
    this.doc = await PolicyDocument.create(this.policy, data);
  }
}
