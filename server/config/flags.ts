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
}

type FlagValue<T extends FlagType> = T extends 'bool' ? boolean : T extends 'int' | 'duration' ? number : T extends 'list' ? string[] : string;

export type FlagValues = Record<string, string | boolean | number | string[]>;

export class FlagError extends Error {
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
}

export function parseFlags(argv: readonly string[], specs: readonly FlagSpec[]): ParsedFlags {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const values: FlagValues = {};
  for (const s of specs) values[s.name] = Array.isArray(s.default) ? [...s.default] : s.default;
  const set = new Set<string>();
  let help = false;

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      help = true;
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
      if (i + 1 >= argv.length) throw new FlagError(`flag needs an argument: --${name}`);
      raw = argv[++i]!;
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
  return { values, set, help };
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
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1000], ['ms', 1]] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return out;
}

/** The --help text: every visible flag with its type, default and meaning. */
export function usage(program: string, specs: readonly FlagSpec[]): string {
  const lines = specs
    .filter((s) => !s.hidden)
    .map((s) => {
      const def = Array.isArray(s.default) ? s.default.join(',') : s.type === 'duration' ? formatDuration(s.default as number) : String(s.default);
      const type = s.type === 'bool' ? '' : ` ${s.type}`;
      return `  --${s.name}${type}\n      ${s.help}${s.choices ? ` (one of ${s.choices.join(', ')})` : ''} (default ${JSON.stringify(def)})`;
    });
  return `Usage: ${program} [flags]\n\nFlags:\n${lines.join('\n')}\n`;
}
