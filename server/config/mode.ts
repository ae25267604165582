import type { FlagReader } from './flag-reader.js';

export const MODES = ['static', 'dynamic', 'openshift-logging', 'openshift-network'] as const;
export type Mode = (typeof MODES)[number];
export type OpenShiftMode = Extract<Mode, 'openshift-logging' | 'openshift-network'>;

// Which modes read a flag (FlagSpec.modes; absent: every mode): --help and docs/flags.md group by it,
// and a flag given in a mode that ignores it is warned about at startup, so a mistyped --mode or a
// flag left over from another deployment does not silently do nothing.
export const POLICY_MODES: readonly Mode[] = ['static', 'dynamic'];
export const STATIC_MODE: readonly Mode[] = ['static'];
export const DYNAMIC_MODE: readonly Mode[] = ['dynamic'];
export const OPENSHIFT_MODES: readonly OpenShiftMode[] = ['openshift-logging', 'openshift-network'];

/**
 * --mode as given; else, started with opa-openshift's arguments (--openshift.mappings) and no
 * --mode, an openshift mode: the network flavour when its labels are asked for.
 */
export function modeOf(r: FlagReader, set: ReadonlySet<string>): Mode {
  if (set.has('mode') || r.list('openshift.mappings').length === 0) return r.string('mode') as Mode;
  return /\b(SrcK8S_Namespace|DstK8S_Namespace)\b/.test(r.string('opa.matcher')) ? 'openshift-network' : 'openshift-logging';
}
