import { FlagError } from './flags.js';
import type { FlagReader } from './flag-reader.js';

const PACKAGE_RE = /^[_A-Za-z]\w*(\.[_A-Za-z]\w*)*$/;
const RULE_RE = /^[_A-Za-z]\w*$/;

/** The path the gateway asks, from --opa.package and --opa.rule: ["lokistack", "allow"] by default. */
export function decisionPath(r: FlagReader): string[] {
  const pkg = r.string('opa.package');
  if (pkg !== '' && !PACKAGE_RE.test(pkg)) throw new FlagError(`--opa.package ${JSON.stringify(pkg)} is not a valid package name (e.g. lokistack or a.b.c)`);
  const rule = r.string('opa.rule');
  if (!RULE_RE.test(rule)) throw new FlagError(`--opa.rule ${JSON.stringify(rule)} is not a valid rule name`);
  return [...(pkg === '' ? [] : pkg.split('.')), rule];
}
