/**
 * The soak's own compiled copy of the service: what `buildOurs` (servers.ts) does, into
 * bench/.build/soak instead of bench/.build, so that a soak and `npm run bench` can run at the same
 * time without one deleting the other's JavaScript (buildOurs empties its outDir first).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { OursBuild } from './servers.js';

const run = promisify(execFile);

export async function buildOursInto(root: string, relDir = 'bench/.build/soak'): Promise<OursBuild> {
  const buildDir = join(root, relDir);
  const outDir = join(buildDir, 'dist');
  const up = relDir.split('/').map(() => '..').join('/');
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(buildDir, { recursive: true });
  // Laid out as the package is: wasm/ and package.json beside dist/.
  for (const link of ['wasm', 'package.json']) {
    const at = join(buildDir, link);
    rmSync(at, { force: true, recursive: false });
    symlinkSync(`${up}/${link}`, at);
  }
  let tscNote = '';
  try {
    await run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', outDir], { cwd: root, maxBuffer: 16 << 20 });
  } catch (err) {
    const out = String((err as { stdout?: string }).stdout ?? '').trim();
    const errors = out.split('\n').filter((l) => /error TS\d+/.test(l));
    tscNote = ` (tsc reported ${errors.length} type error(s) in the working tree, first: ${errors[0] ?? out.slice(0, 200)}; the emitted JavaScript was used)`;
  }
  const entry = join(outDir, 'server/main.js');
  if (existsSync(entry)) {
    return {
      command: process.execPath,
      args: [entry],
      how: `node ${relDir}/dist/server/main.js (compiled with tsc -p tsconfig.build.json)${tscNote}`,
      why: 'production runs the compiled dist/ with plain node; a private outDir so that other builds cannot change it mid-run.',
    };
  }
  return {
    command: process.execPath,
    args: ['--import', 'tsx', join(root, 'server/main.ts')],
    how: 'node --import tsx server/main.ts',
    why: `the compiled build was not usable${tscNote}; running from source instead (memory includes tsx's loader)`,
  };
}
