/** `--name value` or `--name=value` from the command line; undefined when absent. */
export function option(name: string): string | undefined {
  const args = process.argv.slice(2);
  const i = args.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (i < 0) return undefined;
  const a = args[i]!;
  return a.includes('=') ? a.slice(a.indexOf('=') + 1) : args[i + 1];
}

/** Whether the bare flag `--name` was given. */
export const flag = (name: string): boolean => process.argv.slice(2).includes(`--${name}`);
