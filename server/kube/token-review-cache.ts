import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { KubeError, type TokenReviewer, type TokenReviewResult } from './types.js';

export interface TokenReviewCacheOptions {
  /** How long an answer is reused: the longest a revoked token keeps working. */
  ttlMs: number;
  maxEntries: number;
}

/**
 * TokenReview answers cached by the token's hash (never the token), in entries and in time.
 * Answers that a token is invalid are cached too, so replaying a bad token does not reach the API
 * on every request; errors are not cached. Concurrent reviews of one token are made once.
 */
export class TokenReviewCache implements TokenReviewer {
  private readonly answers: LRUCache<string, TokenReviewResult>;
  private readonly inflight = new Map<string, Promise<TokenReviewResult>>();

  constructor(
    private readonly inner: TokenReviewer,
    options: TokenReviewCacheOptions,
  ) {
    this.answers = new LRUCache({ max: options.maxEntries, ttl: options.ttlMs });
  }

  async reviewToken(token: string, signal: AbortSignal): Promise<TokenReviewResult> {
    const key = createHash('sha256').update(token).digest('base64url');
    const known = this.answers.get(key);
    if (known) return known;
    const running = this.inflight.get(key);
    if (running) {
      try {
        return await running;
      } catch (err) {
        // The review we joined was cancelled with its own request; ours still stands.
        if (signal.aborted || !(err instanceof KubeError && err.code === 'kube_aborted')) throw err;
      }
    }
    const p = this.inner.reviewToken(token, signal).then((answer) => {
      this.answers.set(key, Object.freeze(answer));
      return answer;
    });
    this.inflight.set(key, p);
    try {
      return await p;
    } finally {
      if (this.inflight.get(key) === p) this.inflight.delete(key);
    }
  }
}
