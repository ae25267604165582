/**
 * docs/flags.md from the flag definitions (server/config/flag-table.ts FLAGS): the one flag reference,
 * grouped by the modes that read each flag, as --help groups them. test/flags-doc.test.ts fails when
 * the committed file differs from what this writes.
 *
 *   npm run docs:flags            rewrite docs/flags.md
 *   npm run docs:flags -- --check exit 1 when docs/flags.md is stale
 */
import { docFile, generatedDocCommand, isScript } from './lib/generated-doc.js';
import { FLAGS } from '../server/config/config.js';
import { flagGroups, shownDefault, type FlagSpec } from '../server/config/flags.js';

export const FLAGS_DOC = docFile('flags');

/** Text for a table cell: `|` would end the cell, `<` could open an HTML tag. */
const cell = (text: string): string => text.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/</g, '\\<');

/** GitHub's heading anchor: lower case, punctuation but - dropped, spaces to -. */
const anchor = (heading: string): string =>
  heading
    .toLowerCase()
    .replace(/[^\w\- ]/g, '')
    .replace(/ /g, '-');

function row(s: FlagSpec): string {
  const def = shownDefault(s);
  // Empty stays out of backticks: an empty code span does not render (and scripts/check-deploy.sh
  // compares backticked defaults with FLAGS).
  const shown = def === '' ? '(empty)' : `\`${def}\``;
  const choices = s.choices ? ` One of ${s.choices.map((c) => (c === '' ? '`""` (none)' : `\`${c}\``)).join(', ')}.` : '';
  return `| \`--${s.name}\` | ${shown} | ${s.type} | ${cell(s.help)}${choices} |`;
}

/** The whole of docs/flags.md. */
export function flagsMarkdown(specs: readonly FlagSpec[] = FLAGS): string {
  const groups = flagGroups(specs);
  const out = [
    '# Flags',
    '',
    '<!-- Generated from server/config/flag-table.ts (FLAGS) by `npm run docs:flags`: edit the flag definitions, then run it. -->',
    '',
    '`lokistack-authz --help` prints the same, grouped the same way. A flag given in a mode that does not read it is',
    'accepted and logged as a warning at startup.',
    '',
    'Forms: `--name=value` or `--name value`; booleans as `--name`, `--name=true` or `--name=false`; lists',
    'repeatable and comma-separated; durations as Go writes them (`500ms`, `10s`, `1m30s`; a bare number is',
    'seconds). A value that starts with `--` or `-` and a letter must be given as `--name=value`. An unknown flag or a bad value stops',
    'startup with a message naming the flag.',
    '',
    ...groups.map((g) => `- [Flags for ${g.label}](#${anchor(`Flags for ${g.label}`)}) (${g.flags.length})`),
    '',
  ];
  for (const g of groups) {
    out.push(`## Flags for ${g.label}`, '', '| flag | default | type | meaning |', '|---|---|---|---|', ...g.flags.map(row), '');
  }
  return out.join('\n');
}

if (isScript(import.meta.url)) {
  const render = () => ({ text: flagsMarkdown(), holds: `${FLAGS.filter((s) => !s.hidden).length} flags` });
  process.exitCode = generatedDocCommand({ topic: 'flags', render }, process.argv.slice(2));
}
