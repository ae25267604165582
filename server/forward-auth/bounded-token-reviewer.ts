import { BusyError } from '../errors.js';
import type { TokenReviewer, TokenReviewResult } from '../kube/types.js';

/**
 * Forward-auth's share of TokenReviews. Any client can make the service review a token it never
 * saw (a made-up one costs one Kubernetes call), and those calls share the process-wide Kubernetes
 * limiter with the gateway's decisions, each made-up token as a caller of its own. Past `limit`
 * reviews in flight, forward-auth answers busy at once instead of queueing: the flood is shed, the
 * gateway keeps its calls.
 */
export class BoundedTokenReviewer implements TokenReviewer {
  private active = 0;

  constructor(
    private readonly inner: TokenReviewer,
    private readonly limit: number,
  ) {}

  async reviewToken(token: string, signal: AbortSignal): Promise<TokenReviewResult> {
    if (this.active >= this.limit) throw new BusyError('forward-auth: too many token reviews in flight; try again later');
    this.active++;
    try {
      return await this.inner.reviewToken(token, signal);
    } finally {
      this.active--;
    }
  }
}
