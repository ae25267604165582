import type { ErrorCode } from '../error-codes.js';

/**
 * A pflag-compatible command line: `--name=value` or `--name value`; booleans as `--name`,
 * `--name=true` or `--name=false`; lists repeatable and comma-separated. Unknown flags and bad
 * values are errors that name the flag, so the operator's container arguments fail loudly, never
 * half-apply.
 */
export type FlagType = 'string' | 'bool' | 'int' | 'duration' | 'list';

export interface FlagSpec<T extends FlagType = FlagType> {
  name: string;
  type: T;
  default: FlagValue<T>;
  help: string;
  /** Allowed values for a string flag. */
  choices?: readonly string[];
  /** Left out of --help (opa-openshift's hidden flags). */
  hidden?: boolean;
  /**
   * The modes that read this flag; absent: every mode. Groups --help and docs/flags.md, and a flag
   * given in a mode that ignores it gets a startup warning naming the modes it belongs to.
   */
  modes?: readonly string[];
}

type FlagValue<T extends FlagType> = T extends 'bool' ? boolean : T extends 'int' | 'duration' ? number : T extends 'list' ? string[] : string;

export type FlagValues = Record<string, string | boolean | number | string[]>;

export class FlagError extends Error {
  readonly code = 'invalid_flag' satisfies ErrorCode;

  constructor(message: string) {
    super(message);
    this.name = 'FlagError';
  }
}

export interface ParsedFlags {
  values: FlagValues;
  /** Flags given on the command line, for "was it set" questions. */
  set: ReadonlySet<string>;
  help: boolean;
  /** --version was given. */
  version: boolean;
}

export function parseFlags(argv: readonly string[], specs: readonly FlagSpec[]): ParsedFlags {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const values: FlagValues = {};
  for (const s of specs) values[s.name] = Array.isArray(s.default) ? [...s.default] : s.default;
  const set = new Set<string>();
  let help = false;
  let version = false;

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    if (arg === '--version') {
      version = true;
      continue;
    }
    if (!arg.startsWith('-') || arg === '-' || arg === '--') {
      throw new FlagError(`unexpected argument ${JSON.stringify(arg)}: flags take the form --name=value`);
    }
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    const spec = byName.get(name);
    if (!spec) throw new FlagError(`unknown flag: --${name}${suggest(name, specs)}`);
    let raw: string;
    if (eq >= 0) {
      raw = body.slice(eq + 1);
    } else if (spec.type === 'bool') {
      raw = 'true';
    } else {
      if (i + 1 >= argv.length) throw new FlagError(`flag needs a value: --${name}`);
      // pflag (and Go's flag package) take the next argument whatever it is, so a forgotten value
      // silently swallows the flag after it: `--rbac.config --web.listen=:9090` would read rules from
      // a file named "--web.listen=:9090" and listen on the default port. No value of ours starts
      // with "--" or "-letter" (this parser's flag forms, -h included); one that must is given as
      // --name=VALUE. A "-" before a digit stays a value: negative numbers.
      const next = argv[i + 1]!;
      if (/^(--|-[A-Za-z])/.test(next)) {
        throw new FlagError(`flag needs a value: --${name} (the next argument, ${JSON.stringify(next)}, is a flag; write --${name}=VALUE)`);
      }
      raw = next;
      i++;
    }
    const value = convert(spec, raw);
    if (spec.type === 'list') {
      // The first use replaces the default; later ones append, as pflag's StringSlice does.
      const prev = set.has(name) ? (values[name] as string[]) : [];
      values[name] = [...prev, ...(value as string[])];
    } else {
      values[name] = value;
    }
    set.add(name);
  }
  return { values, set, help, version };
}

function convert(spec: FlagSpec, raw: string): string | boolean | number | string[] {
  const bad = (why: string) => new FlagError(`invalid argument ${JSON.stringify(raw)} for --${spec.name}: ${why}`);
  switch (spec.type) {
    case 'bool': {
      const v = raw.toLowerCase();
      if (['true', '1', 't'].includes(v)) return true;
      if (['false', '0', 'f'].includes(v)) return false;
      throw bad('must be true or false');
    }
    case 'int': {
      if (!/^-?\d+$/.test(raw)) throw bad('must be a whole number');
      return Number(raw);
    }
    case 'duration':
      return parseDuration(raw, bad);
    case 'list':
      return raw === '' ? [] : raw.split(',').map((s) => s.trim());
    case 'string':
      if (spec.choices && !spec.choices.includes(raw)) throw bad(`must be one of ${spec.choices.join(', ')}`);
      return raw;
  }
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go-style duration (`500ms`, `10s`, `1m30s`) in milliseconds; a bare number means seconds. */
export function parseDuration(raw: string, bad: (why: string) => Error = (why) => new FlagError(why)): number {
  if (/^\d+(\.\d+)?$/.test(raw)) return Math.round(Number(raw) * 1000);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let pos = 0;
  for (let m = re.exec(raw); m; m = re.exec(raw)) {
    total += Number(m[1]) * UNITS[m[2]!]!;
    pos = re.lastIndex;
  }
  if (pos !== raw.length || raw === '') throw bad('must be a duration such as 500ms, 10s or 1m');
  return Math.round(total);
}

function suggest(name: string, specs: readonly FlagSpec[]): string {
  const close = specs.filter((s) => !s.hidden && (s.name.includes(name) || name.includes(s.name) || distance(s.name, name) <= 2));
  return close.length > 0 ? ` (did you mean --${close[0]!.name}?)` : '';
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

/** Milliseconds as a Go duration that parseDuration reads back: 10s, 500ms, 1m30s, 0s. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  for (const [unit, size] of [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
    ['ms', 1],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return out;
}

/** A subcommand listed at the top of --help. */
export interface CommandSpec {
  /** What follows the program name, e.g. `test [options] FILE|DIR...`. */
  synopsis: string;
  summary: string;
}

/** How a flag's modes read in --help and docs: "all modes", "dynamic mode", "static and dynamic modes". */
export function modesLabel(modes: readonly string[] | undefined): string {
  if (!modes || modes.length === 0) return 'all modes';
  if (modes.length === 1) return `${modes[0]} mode`;
  return `${modes.slice(0, -1).join(', ')} and ${modes[modes.length - 1]} modes`;
}

/**
 * Visible flags grouped by the modes that read them: the all-modes group first, then each group in
 * the order its first flag appears. Flags keep their order within a group.
 */
export function flagGroups(specs: readonly FlagSpec[]): Array<{ label: string; modes: readonly string[] | undefined; flags: FlagSpec[] }> {
  const groups = new Map<string, { label: string; modes: readonly string[] | undefined; flags: FlagSpec[] }>();
  groups.set('', { label: modesLabel(undefined), modes: undefined, flags: [] });
  for (const s of specs) {
    if (s.hidden) continue;
    const key = s.modes && s.modes.length > 0 ? s.modes.join(',') : '';
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { label: modesLabel(s.modes), modes: s.modes, flags: [] }));
    g.flags.push(s);
  }
  return [...groups.values()].filter((g) => g.flags.length > 0);
}

/** A flag's default as the command line would take it back: durations in Go form, lists comma-joined. */
export function shownDefault(s: FlagSpec): string {
  return Array.isArray(s.default) ? s.default.join(',') : s.type === 'duration' ? formatDuration(s.default as number) : String(s.default);
}

/** The allowed values of a string flag, with the empty one visible: `"" (none), and, or`. */
export function shownChoices(choices: readonly string[]): string {
  return choices.map((c) => (c === '' ? '"" (none)' : c)).join(', ');
}

/** The --help text: subcommands, then every visible flag, grouped by mode, with its type, default and meaning. */
export function usage(program: string, specs: readonly FlagSpec[], commands: readonly CommandSpec[] = []): string {
  const head = [`Usage: ${program} [flags]`];
  for (const c of commands) head.push(`       ${program} ${c.synopsis}\n           ${c.summary}`);
  const sections = flagGroups(specs).map((g) => {
    const lines = g.flags.map((s) => {
      const type = s.type === 'bool' ? '' : ` ${s.type}`;
      return `  --${s.name}${type}\n      ${s.help}${s.choices ? ` (one of ${shownChoices(s.choices)})` : ''} (default ${JSON.stringify(shownDefault(s))})`;
    });
    return `Flags for ${g.label}:\n${lines.join('\n')}\n`;
  });
  return `${head.join('\n')}\n\n${sections.join('\n')}`;
}
