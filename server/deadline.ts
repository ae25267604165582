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

export function deadline(ms: number, parent?: AbortSignal): Deadline {
  const ac = new AbortController();
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
