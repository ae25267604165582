#!/usr/bin/env node
import { FLAGS, loadConfig } from './config/config.js';
import { FlagError, usage } from './config/flags.js';
import { createLogger } from './observability/logger.js';
import { startService } from './service.js';
import { VERSION } from './version.js';
import { reasonOf } from './errors.js';
import { lazy } from './wiring/lazy.js';

/**
 * The `test` subcommand, loaded only when asked for: its case files, comparisons and YAML readers
 * would otherwise be resident in every sidecar that never runs it (issue 14).
 */
const testCommand = () =>
  lazy(
    () => import('./cli/test-command.js'),
    () => require('./cli/test-command.js'),
  );

// The subcommand's synopsis comes from its own usage text, so the two cannot disagree.
async function commands() {
  const { TEST_USAGE } = await testCommand();
  return [
    {
      synopsis: /^Usage: lokistack-authz (test .*)$/m.exec(TEST_USAGE)?.[1] ?? 'test [options] FILE|DIR...',
      summary: 'Runs decision fixtures against the policy, or against a running service with --url (lokistack-authz test --help).',
    },
  ];
}

async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'test') {
    const { runTestCommand } = await testCommand();
    return runTestCommand(argv.slice(1), { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) });
  }
  let loaded;
  try {
    loaded = loadConfig(argv);
  } catch (err) {
    if (err instanceof FlagError) {
      process.stderr.write(`lokistack-authz: ${err.message}\nRun with --help to list every flag.\n`);
      return 2;
    }
    throw err;
  }
  if (loaded.help) {
    process.stdout.write(loaded.version ? `lokistack-authz ${VERSION}\n` : usage('lokistack-authz', FLAGS, await commands()));
    return 0;
  }
  const { config, warnings } = loaded;
  const logger = createLogger(config.log);
  logger.info({ version: VERSION, mode: config.mode }, 'starting lokistack-authz');
  for (const w of warnings) logger.warn(w);

  let service;
  try {
    service = await startService(config, { logger });
  } catch (err) {
    // The stable code (listen_failed, invalid_config, ...) is what an operator greps for.
    const code = (err as { code?: unknown } | null)?.code;
    logger.fatal({ ...(typeof code === 'string' ? { code } : {}), reason: reasonOf(err) }, 'cannot start');
    logger.flush();
    return 1;
  }

  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      logger.info({ signal }, 'draining in-flight requests, then exiting');
      resolve();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    // Node's default for SIGHUP is to exit at once, without draining: a terminal closing or a
    // supervisor's "reload" must not cut in-flight decisions. It re-reads the watched files instead.
    process.on('SIGHUP', () => {
      logger.info({ signal: 'SIGHUP' }, 're-reading the watched files');
      service.reload().catch((err: unknown) => logger.error({ reason: reasonOf(err) }, 'reload on SIGHUP failed'));
    });
  });
  await service.shutdown();
  logger.info('stopped');
  logger.flush();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`lokistack-authz: ${err instanceof Error ? err.stack : reasonOf(err)}\n`);
    process.exitCode = 1;
  },
);
