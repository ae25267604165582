import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { isRecord } from '../file-format.js';

// Which files the `test` subcommand runs: the operator names files and directories on its command
// line; the case format itself (server/cases/) reads a file's text and knows nothing of directories.

/** Whether a parsed YAML/JSON document is a cases file (has a `cases` mapping). */
export function isCasesDocument(file: string): boolean {
  try {
    const text = readFileSync(file, 'utf8');
    const doc: unknown = /\.json$/i.test(file) ? JSON.parse(text) : parseYaml(text, { logLevel: 'error' });
    return isRecord(doc) && isRecord(doc.cases);
  } catch {
    return false;
  }
}

/** The cases files among `paths`: files as given, directories searched for *.yaml, *.yml, *.json with `cases`. */
export function findCasesFiles(paths: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (p: string, explicit: boolean) => {
    const st = statSync(p);
    if (st.isDirectory()) {
      for (const entry of readdirSync(p).sort()) walk(join(p, entry), false);
    } else if (explicit || (/\.(ya?ml|json)$/i.test(p) && isCasesDocument(p))) {
      out.push(p);
    }
  };
  for (const p of paths) walk(p, true);
  return out;
}

/** The cases files grouped by directory: one set per directory. */
export function groupByDir(files: readonly string[]): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const f of files) groups.set(dirname(f), [...(groups.get(dirname(f)) ?? []), f]);
  return groups;
}
