import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../server/config/config.js';
import { createLogger } from '../../server/observability/logger.js';
import { startService, type Service } from '../../server/service.js';

/** The repository root: the demo's bundled examples are read from it whatever the working directory. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A path as the user would type it from the working directory (repo-relative paths stay short). */
export function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel.startsWith('..') ? path : rel;
}

export function repoPath(...parts: string[]): string {
  return join(REPO_ROOT, ...parts);
}

/** A private directory for generated files (filled-in tenants.yaml, kubeconfig), removed on stop. */
export interface Scratch {
  dir: string;
  write(name: string, text: string): string;
  remove(): void;
}

export function scratch(): Scratch {
  const dir = mkdtempSync(join(tmpdir(), 'lokistack-authz-demo-'));
  return {
    dir,
    write(name, text) {
      const file = join(dir, name);
      writeFileSync(file, text, { mode: 0o600 });
      return file;
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface DemoService {
  service: Service;
  url: string;
  /** The flags it was started with, listeners first. */
  command: string[];
}

/**
 * Starts the service in this process from command-line flags, exactly as `lokistack-authz <flags>`
 * would parse them, logging logfmt at info to `log`.
 */
export async function startDemoService(
  flags: readonly string[],
  listen: { listen: string; internalListen: string },
  log: (line: string) => void,
): Promise<DemoService> {
  const command = [`--web.listen=${listen.listen}`, `--web.internal.listen=${listen.internalListen}`, ...flags];
  const loaded = loadConfig(command);
  if (loaded.help) throw new Error('--help is not a demo service flag');
  const logger = createLogger({ level: 'info', format: 'logfmt', destination: { write: (s: string) => log(s) } });
  const service = await startService(loaded.config, { logger });
  const host = service.publicAddress.address.includes(':') ? `[${service.publicAddress.address}]` : service.publicAddress.address;
  return { service, url: `http://${host}:${service.publicAddress.port}`, command };
}
