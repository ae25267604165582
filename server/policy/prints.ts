import type { Logger } from '../observability/logger.js';

/** A print() line is cut to this many characters: a policy printing its data cannot flood a log line. */
export const MAX_PRINT_CHARS = 4096;

export const clipPrint = (line: string): string => (line.length > MAX_PRINT_CHARS ? `${line.slice(0, MAX_PRINT_CHARS)}…` : line);

/**
 * The sink for policies' print() lines: the service's logger (stderr), with the policy's name, at
 * most `perSecond` lines a second; the count of dropped lines rides on the next line let through.
 * Never stdout, where the decision log may write.
 */
export function policyPrintLogger(logger: Logger, perSecond = 100, now: () => number = Date.now): (policy: string, line: string) => void {
  let window = 0;
  let count = 0;
  let dropped = 0;
  return (policy, line) => {
    const second = Math.floor(now() / 1000);
    if (second !== window) {
      window = second;
      count = 0;
    }
    if (++count > perSecond) {
      dropped++;
      return;
    }
    logger.info({ policy, print: clipPrint(line), ...(dropped > 0 ? { droppedPrints: dropped } : {}) }, 'policy print');
    dropped = 0;
  };
}
