/**
 * The command line into a validated Config: each section is parsed by its own module (*-config.ts),
 * from the flags of flag-table.ts, read through one FlagReader. This module only puts them together.
 */
import type { LogFormat, LogLevel } from '../observability/logger.js';
import { decisionLogConfig } from './decision-log-config.js';
import { decisionPath } from './decision-path.js';
import { dynamicConfig } from './dynamic-config.js';
import { flagReader } from './flag-reader.js';
import { FLAGS } from './flag-table.js';
import { modesLabel, parseFlags, type FlagValues } from './flags.js';
import { parseForwardAuthModes } from './forward-auth-modes.js';
import { forwardAuthConfig } from './forward-auth.js';
import { modeOf, type Mode } from './mode.js';
import { openShiftConfig } from './openshift-config.js';
import { policyConfig } from './policy-config.js';
import { tlsConfig } from './tls-config.js';
import type { Config } from './types.js';
import { watchConfig } from './watch-config.js';
import { webConfig } from './web-config.js';

// The entry point's public API, for callers that need no more than the command line and its result.
export { FLAGS } from './flag-table.js';
export type { Config, ListenAddress, Mode } from './types.js';

/**
 * What the command line asks for. `help: true`: print something and exit, nothing to run (--help,
 * or --version with `version`). Otherwise the validated Config and the warnings to log at startup:
 * settings that are valid but probably not what the operator meant.
 */
export type LoadResult = { help: true; version?: true } | { help: false; config: Config; warnings: readonly string[] };

/** Parses and validates the command line into a Config; throws FlagError naming the flag at fault. */
export function loadConfig(argv: readonly string[]): LoadResult {
  const { values, help, version, set } = parseFlags(argv, FLAGS);
  if (version) return { help: true, version: true };
  if (help) return { help: true };
  const config = toConfig(values, set);
  return { help: false, config, warnings: ignoredFlagWarnings(config.mode, set) };
}

/** One warning per flag given on the command line that the chosen mode never reads. */
function ignoredFlagWarnings(mode: Mode, set: ReadonlySet<string>): string[] {
  const warnings: string[] = [];
  for (const spec of FLAGS) {
    if (!set.has(spec.name) || !spec.modes || spec.modes.includes(mode)) continue;
    warnings.push(`--${spec.name} is read only in ${modesLabel(spec.modes)}; this service runs in ${mode} mode and ignores it`);
  }
  return warnings;
}

/** Sections in the order they are checked: with several bad flags, the first section's is named. */
function toConfig(v: FlagValues, set: ReadonlySet<string>): Config {
  const r = flagReader(v);
  const path = decisionPath(r);
  const mode = modeOf(r, set);
  const watch = watchConfig(r);
  const { policy, rbac } = policyConfig(r, mode);
  const dynamic = mode === 'dynamic' ? dynamicConfig(r) : undefined;
  const openshift = mode === 'openshift-logging' || mode === 'openshift-network' ? openShiftConfig(r, mode, path) : undefined;
  return {
    mode,
    web: webConfig(r, set),
    tls: tlsConfig(r),
    log: { level: r.string('log.level') as LogLevel, format: r.string('log.format') as LogFormat, name: r.string('debug.name') },
    decisionPath: path,
    policy,
    ...(rbac ? { rbac } : {}),
    ...watch,
    ...(openshift ? { openshift } : {}),
    ...(dynamic ? { dynamic } : {}),
    ...decisionLogConfig(r),
    ...forwardAuthConfig(v, mode),
    ...(r.bool('forward-auth.enabled') && mode !== 'static' ? { forwardAuthModes: parseForwardAuthModes(v) } : {}),
  };
}
