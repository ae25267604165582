import { spawnSync } from 'node:child_process';
import { writeTempFile } from './service.js';
import { ROOT } from './tools.js';

// Registered in the child before anything else: every module it imports passes the resolve hook
// (packages imported as ES modules, and CommonJS ones imported), and require's cache holds what
// it required (createRequire included) when it exits. Both are printed to stderr, one line each.
const HOOKS = `
import { createRequire, register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(
  'export async function resolve(s, c, next) { const r = await next(s, c); process._rawDebug("LOADED " + r.url); return r; }',
));
const cache = createRequire(import.meta.url).cache;
process.on('exit', () => { for (const file of Object.keys(cache)) process._rawDebug('LOADED file://' + file); });
`;

/**
 * The packages (under node_modules) a fresh node process loads running `script`, an ES module's
 * text run with tsx from the project root (so `./server/...ts` imports work), whether it loads
 * them by import or by require; and what the script printed. For tests that a package stays out
 * of the process until needed: the process's own record, not the code's word for it.
 */
export function packagesLoadedBy(script: string): { packages: Set<string>; stdout: string } {
  const hooks = writeTempFile('loaded-packages-hooks.mjs', HOOKS);
  const run = spawnSync(process.execPath, ['--import', 'tsx', '--import', hooks, '--input-type=module', '-e', script], {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  if (run.status !== 0) throw new Error(`the script failed (${run.status}): ${run.stderr.slice(-2000)}`);
  const packages = new Set<string>();
  for (const line of run.stderr.split('\n')) {
    const at = line.startsWith('LOADED ') ? line.lastIndexOf('/node_modules/') : -1;
    if (at < 0) continue;
    const [first, second] = line.slice(at + '/node_modules/'.length).split('/');
    packages.add(first!.startsWith('@') ? `${first}/${second}` : first!);
  }
  return { packages, stdout: run.stdout };
}
