import type { DemoExample, RunningDemo } from './types.js';

/** A word for a POSIX shell: single-quoted unless it is plainly safe. */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** A header for curl's -H: double quotes when it names a variable (so the shell expands it). */
function headerArg(name: string, value: string): string {
  const text = `${name}: ${value}`;
  if (/\$[A-Z_][A-Z0-9_]*/.test(value)) {
    if (/["\\`]/.test(text)) throw new Error(`header ${name} cannot be shown with a variable`);
    return `"${text}"`;
  }
  return shellQuote(text);
}

/** The curl command for an example, in lines (continued with a backslash) as the docs show them. */
export function curlLines(base: string, ex: DemoExample): string[] {
  const extra = (ex.curlArgs ?? []).map((a) => ` ${shellQuote(a)}`).join('');
  const first = `curl -s${extra}${ex.method === 'POST' ? ' -X POST' : ''} ${shellQuote(base + ex.path)}`;
  const rest = [...ex.headers.map(([n, v]) => `-H ${headerArg(n, v)}`), ...(ex.body !== undefined ? [`-d ${shellQuote(ex.body)}`] : [])];
  return rest.length === 0 ? [first] : [`${first} \\`, ...rest.map((r, i) => `  ${r}${i < rest.length - 1 ? ' \\' : ''}`)];
}

/** One example: its title as a comment, the command, the promised answer, and an optional note. */
export function renderExample(base: string, ex: DemoExample): string {
  const note = ex.note
    ? ex.note
        .split('\n')
        .map((l) => `# ${l}\n`)
        .join('')
    : '';
  return `# ${ex.title}\n${curlLines(base, ex).join('\n')}\n${ex.answer}\n${note}`;
}

/** Everything the demo prints once it is ready. Tokens are printed on purpose: they are the demo's. */
export function renderDemo(mode: string, demo: RunningDemo): string {
  const out: string[] = [];
  out.push(`lokistack-authz demo: ${mode}`, '');
  out.push(`  service   ${demo.url}`);
  for (const u of demo.upstreams) out.push(`  ${u}`);
  out.push('', 'The service runs as (in this process):', `  lokistack-authz ${demo.command.map(shellQuote).join(' ')}`, '');
  if (demo.examples.length > 0 || demo.variables.length > 0) {
    out.push('Paste into another shell:', '', '```sh');
    for (const [name, value] of demo.variables) out.push(`${name}=${shellQuote(value)}`);
    if (demo.variables.length > 0) out.push('');
    out.push(
      demo.examples
        .map((ex) => renderExample(demo.url, ex))
        .join('\n')
        .replace(/\n$/, ''),
    );
    out.push('```', '');
  }
  for (const n of demo.notes) out.push(n);
  if (demo.notes.length > 0) out.push('');
  out.push('Ready. Ctrl-C stops the service and everything the demo started.');
  return `${out.join('\n')}\n`;
}
