import { loadConfig } from '../../server/config/config.js';
import { createLogger } from '../../server/observability/logger.js';
import { startService, type Service } from '../../server/service.js';

/** The service in static mode on `rbacFile`, on loopback ports of the system's choosing, logging nothing. */
export async function startStatic(rbacFile: string): Promise<{ service: Service; base: string }> {
  // No periodic re-read: the fixtures' files do not change during a run.
  const loaded = loadConfig(['--web.listen=127.0.0.1:0', '--web.internal.listen=127.0.0.1:0', `--rbac.config=${rbacFile}`, '--rbac.reload-interval=0']);
  if (loaded.help) throw new Error('unexpected --help');
  const logger = createLogger({ level: 'error', format: 'json', destination: { write() {} } });
  const service = await startService(loaded.config, { logger });
  return { service, base: `http://127.0.0.1:${service.publicAddress.port}` };
}
