import { FlagError } from './flags.js';
import type { FlagReader } from './flag-reader.js';

/** OPA-style decision logs. */
export interface DecisionLogConfig {
  output: 'stdout' | string;
  mask: string[];
  labels: Record<string, string>;
  maxPending: number;
  reasons: boolean;
}

/** `{}` when decision logs are off (--decision-log.output empty). */
export function decisionLogConfig(r: FlagReader): { decisionLog?: DecisionLogConfig } {
  const output = r.string('decision-log.output');
  if (output === '') return {};
  const mask = r.list('decision-log.mask').filter((m) => m !== '');
  for (const m of mask) {
    if (!m.startsWith('/') || m === '/') throw new FlagError(`--decision-log.mask: ${JSON.stringify(m)} is not a JSON pointer such as /input/token`);
  }
  const labels: Record<string, string> = {};
  for (const l of r.list('decision-log.labels').filter((x) => x !== '')) {
    const eq = l.indexOf('=');
    if (eq <= 0) throw new FlagError(`--decision-log.labels: ${JSON.stringify(l)} is not key=value`);
    labels[l.slice(0, eq)] = l.slice(eq + 1);
  }
  const maxPending = r.number('decision-log.max-pending');
  if (maxPending <= 0) throw new FlagError('--decision-log.max-pending must be greater than zero');
  return { decisionLog: { output, mask, labels, maxPending, reasons: r.bool('decision-log.reasons') } };
}
