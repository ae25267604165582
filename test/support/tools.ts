import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The pinned opa binary as scripts/ensure-tools.sh finds (or installs) it, or why there is none. */
export function findOpa(): { path: string } | { missing: string } {
  try {
    const out = execFileSync('bash', ['scripts/ensure-tools.sh', 'opa'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const path = /^opa=(.+)$/m.exec(out)?.[1];
    return path ? { path } : { missing: `scripts/ensure-tools.sh printed no opa= line: ${out.trim()}` };
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim();
    return { missing: `scripts/ensure-tools.sh failed: ${stderr || (err as Error).message}` };
  }
}

/** The opa binary, or: a failure under CI (which must have it), a skip elsewhere. */
export function requireOpa(ctx: Mocha.Context): string {
  const found = findOpa();
  if ('path' in found) return found.path;
  if (process.env.CI) throw new Error(`OPA is required in CI: ${found.missing}`);
  ctx.skip();
  throw new Error('unreachable');
}
