import { execFileSync } from 'node:child_process';

/** The commit a report measured, and whether the working tree's server/policy code differed from it. */
export function gitDescription(root: string): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'server', 'policies', 'wasm'], { cwd: root, encoding: 'utf8' })
      .split('\n')
      .filter(Boolean).length;
    return `commit ${head}${dirty ? ` plus ${dirty} uncommitted change(s) in server/, policies/ or wasm/ (the working tree is what was measured)` : ''}`;
  } catch {
    return 'unknown (not a git checkout)';
  }
}
