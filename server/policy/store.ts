import { PolicyDocument } from './document.js';
import type { CompiledPolicy } from './wasm-policy.js';

export interface PolicyStoreOptions {
  /**
   * Bound on the serving instance's memory, when it shares --policy.max-memory-bytes with the
   * evaluation workers' instances; the policy's own limit otherwise.
   */
  instanceMaxBytes?: number;
}

/**
 * Holds the document being served and swaps it whole: a reload builds the new instance first and
 * replaces the reference only once it is ready, so no request sees a half-loaded policy. The
 * document carries its policy and data, so evaluation workers load exactly what it serves.
 */
export class PolicyStore {
  private doc: PolicyDocument | undefined;

  constructor(
    private policy: CompiledPolicy,
    private readonly options: PolicyStoreOptions = {},
  ) {}

  get entrypoints(): ReadonlyMap<string, number> {
    return this.policy.entrypoints;
  }

  /** Serves a new compiled policy with its data, once both are ready. */
  async replace(policy: CompiledPolicy, data: unknown): Promise<void> {
    this.doc = await PolicyDocument.create(policy, data, this.options.instanceMaxBytes);
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
    this.doc = await PolicyDocument.create(this.policy, data, this.options.instanceMaxBytes);
  }
}
