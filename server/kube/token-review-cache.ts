import { createHash } from 'node:crypto';
import { CachedCalls } from './cached-calls.js';
import type { TokenReviewer, TokenReviewResult } from './types.js';

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
  private readonly answers: CachedCalls<TokenReviewResult>;

  constructor(
    private readonly inner: TokenReviewer,
    options: TokenReviewCacheOptions,
  ) {
    this.answers = new CachedCalls(options);
  }

  async reviewToken(token: string, signal: AbortSignal): Promise<TokenReviewResult> {
    return this.answers.get(keyOf(token), () => this.inner.reviewToken(token, signal).then((answer) => Object.freeze(answer)), signal);
  }

  answeredUntil(token: string): number | undefined {
    return this.answers.until(keyOf(token));
  }
}

function keyOf(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}
