/**
 * The command line every generated doc's script shares (docs/flags.md, docs/metrics.md): no
 * argument rewrites the file, `--check` exits 1 when the committed file is not what the script
 * writes (CI), anything else exits 2 before generating anything.
 */
import { readFileSync, writeFileSync } from 'node:fs';

export interface GeneratedDoc {
  /** The script, as its messages begin: `flags-doc`. */
  script: string;
  /** The doc's path from the repository root, as messages name it: `docs/flags.md`. */
  name: string;
  /** The doc's absolute path. */
  file: string;
  /** The npm script that rewrites it: `docs:flags`. */
  command: string;
  /** The doc's text, and what a rewrite reports it holds (`64 flags`). */
  render(): { text: string; holds: string };
}

export interface Output {
  stdout(text: string): void;
  stderr(text: string): void;
}

const processOutput: Output = {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
};

/** Runs the command for `doc` with `args`; returns the exit status. */
export function generatedDocCommand(doc: GeneratedDoc, args: readonly string[], out: Output = processOutput): number {
  const unknown = args.find((a) => a !== '--check');
  if (unknown !== undefined) {
    out.stderr(`${doc.script}: unknown argument ${JSON.stringify(unknown)} (use --check or nothing)\n`);
    return 2;
  }
  const { text, holds } = doc.render();
  if (args.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(doc.file, 'utf8');
    } catch {
      // missing: stale
    }
    if (current === text) return 0;
    out.stderr(`${doc.name} is stale: run \`npm run ${doc.command}\` and commit it\n`);
    return 1;
  }
  writeFileSync(doc.file, text);
  out.stdout(`wrote ${doc.name} (${holds})\n`);
  return 0;
}
