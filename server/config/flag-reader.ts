import { FlagError, type FlagValues } from './flags.js';

/**
 * Typed reads of parsed flag values, and the range checks many flags share. Each section of the
 * config reads its flags through one of these, so a bound is checked, and worded, one way.
 */
export interface FlagReader {
  string(name: string): string;
  number(name: string): number;
  bool(name: string): boolean;
  list(name: string): string[];
  /** The number, or a FlagError naming the flag when it is zero or less. */
  positive(name: string): number;
  /** The number, or a FlagError naming the flag when it is below zero. */
  notNegative(name: string): number;
}

// Closures, not methods: sections destructure the ones they use.
export function flagReader(v: FlagValues): FlagReader {
  // A name missing from the table would read as undefined, and `undefined <= 0` is false: a bound
  // check would pass unchecked. Stop at startup instead.
  const value = (name: string) => {
    if (!Object.hasOwn(v, name)) throw new FlagError(`--${name} is read by the config but is not in the flag table`);
    return v[name];
  };
  const number = (name: string) => value(name) as number;
  return {
    string: (name) => value(name) as string,
    number,
    bool: (name) => value(name) as boolean,
    list: (name) => value(name) as string[],
    positive: (name) => {
      if (number(name) <= 0) throw new FlagError(`--${name} must be greater than zero, got ${number(name)}`);
      return number(name);
    },
    notNegative: (name) => {
      if (number(name) < 0) throw new FlagError(`--${name} must not be negative, got ${number(name)}`);
      return number(name);
    },
  };
}
