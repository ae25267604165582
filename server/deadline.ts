import { setMaxListeners } from 'node:events';

/**
 * An abort signal for a piece of work: it aborts after `ms`, or when `parent` aborts. `release()`
 * clears the timer once the work is done, so that at a high request rate no timer outlives its
 * request (AbortSignal.timeout keeps its timer until it fires).
 */
export interface Deadline {
  signal: AbortSignal;
  /** Whether it was the time limit, not the parent, that aborted. */
  timedOut(): boolean;
  release(): void;
}

/**
 * Listeners one decision's signal may hold at once: each upstream call in flight or waiting for the
 * limiter adds one and removes it when done, so a decision fanning out over its review concurrency
 * passes Node's default of 10 (a leak warning) without leaking.
 */
export const SIGNAL_MAX_LISTENERS = 256;

export function deadline(ms: number, parent?: AbortSignal): Deadline {
  const ac = new AbortController();
  setMaxListeners(SIGNAL_MAX_LISTENERS, ac.signal);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ac.abort(new DOMException(`no answer within ${ms}ms`, 'TimeoutError'));
  }, ms);
  timer.unref();
  const onParent = () => ac.abort(parent!.reason);
  if (parent?.aborted) onParent();
  else parent?.addEventListener('abort', onParent, { once: true });
  return {
    signal: ac.signal,
    timedOut: () => timedOut,
    release() {
      clearTimeout(timer);
      parent?.removeEventListener('abort', onParent);
    },
  };
}
