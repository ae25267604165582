/**
 * The command line every generated doc's script shares (docs/flags.md, docs/metrics.md): no
 * argument rewrites the file, `--check` exits 1 when the committed file is not what the script
 * writes (CI), anything else exits 2 before generating anything. A doc on topic `flags` is
 * docs/flags.md, written by scripts/flags-doc.ts, run as `npm run docs:flags`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface GeneratedDoc {
  /** `flags` for docs/flags.md: it names the file, the script and the npm command in messages. */
  topic: string;
  /** The doc's text, and what a rewrite reports it holds (`64 flags`). */
  render(): { text: string; holds: string };
  /** Where the doc is (tests); by default docs/<topic>.md in this repository. */
  file?: string;
}

export interface Output {
  stdout(text: string): void;
  stderr(text: string): void;
}

const processOutput: Output = {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
};

/** docs/<topic>.md in this repository. */
export function docFile(topic: string): string {
  return fileURLToPath(new URL(`../../docs/${topic}.md`, import.meta.url));
}

/** Whether the module at `moduleUrl` (its import.meta.url) is the script node was started with. */
export function isScript(moduleUrl: string): boolean {
  return process.argv[1] !== undefined && moduleUrl === pathToFileURL(process.argv[1]).href;
}

/** Runs the command for `doc` with `args`; returns the exit status. */
export function generatedDocCommand(doc: GeneratedDoc, args: readonly string[], out: Output = processOutput): number {
  const name = `docs/${doc.topic}.md`;
  const file = doc.file ?? docFile(doc.topic);
  const unknown = args.find((a) => a !== '--check');
  if (unknown !== undefined) {
    out.stderr(`${doc.topic}-doc: unknown argument ${JSON.stringify(unknown)} (use --check or nothing)\n`);
    return 2;
  }
  const { text, holds } = doc.render();
  if (args.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(file, 'utf8');
    } catch {
      // missing: stale
    }
    if (current === text) return 0;
    out.stderr(`${name} is stale: run \`npm run docs:${doc.topic}\` and commit it\n`);
    return 1;
  }
  writeFileSync(file, text);
  out.stdout(`wrote ${name} (${holds})\n`);
  return 0;
}
