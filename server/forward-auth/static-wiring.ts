import type { Config } from '../config/config.js';
import { FileWatcher } from '../config/file-watcher.js';
import { trustedProxyList } from '../config/forward-auth.js';
import type { StaticAuthorizer } from '../decision/static.js';
import type { Decision } from '../decision/types.js';
import { readRegularFile } from '../files.js';
import type { Logger } from '../observability/logger.js';
import { RateLimit } from '../observability/rate-limit.js';
import type { PolicyStore } from '../policy/store.js';
import { BasicAuthVerifier } from './basic-auth.js';
import { BcryptPool } from './bcrypt-pool.js';
import { MAX_HTPASSWD_BYTES, parseHtpasswd, type Htpasswd } from './htpasswd.js';
import { labelPolicyFrom } from '../policy/label-policy.js';
import { StaticForwardAuthorizer } from './static.js';
import { parseTenantIds } from './tenant-ids.js';
import { ConfigError, reasonOf } from '../errors.js';

const ALLOW = ['lokistack', 'allow'];
const LABEL_POLICY = ['lokistack', 'label_policy'];

export interface StaticForwardAuthWiring {
  authorizer: StaticForwardAuthorizer;
  reload(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Static mode's forward-auth from configuration: the htpasswd and tenants files (read now, a fault
 * stops startup naming the file and line; watched, a later fault keeps the previous content
 * serving), the bcrypt threads, and the mode's own policy for every decision.
 */
export async function wireStaticForwardAuth(
  config: Config,
  deps: { store: PolicyStore; authorizer: StaticAuthorizer; logger: Logger; sleep?: (ms: number) => Promise<void> },
): Promise<StaticForwardAuthWiring | undefined> {
  const fa = config.forwardAuth;
  const s = fa?.static;
  if (!fa || !s) return undefined;
  const { logger } = deps;
  // Without the rule every decision would be undefined, so every caller denied: say so at startup.
  if (!deps.store.entrypoints.has(ALLOW.join('/'))) {
    throw new ConfigError(
      '--forward-auth.enabled',
      '',
      `the policy has no ${ALLOW.join('/')} entrypoint, which forward-auth decides with (it has ${[...deps.store.entrypoints.keys()].join(', ')})`,
    );
  }

  const watchers: FileWatcher[] = [];
  const watch = async <T>(flag: string, file: string, parse: (text: string) => T, set: (v: T) => void) => {
    const bytes = Buffer.from(await readRegularFile(flag, file, MAX_HTPASSWD_BYTES));
    set(parse(bytes.toString('utf8')));
    const w = new FileWatcher({
      file,
      intervalMs: config.fileReloadIntervalMs,
      settleMs: config.fileSettleMs,
      ...(deps.sleep ? { sleep: deps.sleep } : {}),
      readFile: async (f) => Buffer.from(await readRegularFile(flag, f, MAX_HTPASSWD_BYTES)),
      apply: async (b) => set(parse(b.toString('utf8'))),
      onApplied: () => logger.info({ file }, `reloaded ${flag}`),
      onRejected: (err) => logger.error({ file, reason: reasonOf(err) }, `rejected the new ${flag}; the previous one keeps serving`),
    });
    w.start(bytes);
    watchers.push(w);
  };

  let htpasswd: Htpasswd | undefined;
  let pool: BcryptPool | undefined;
  let passwords: BasicAuthVerifier | undefined;
  if (s.htpasswdFile) {
    await watch(
      '--forward-auth.htpasswd-file',
      s.htpasswdFile,
      (t) => parseHtpasswd(s.htpasswdFile!, t),
      (v) => (htpasswd = v),
    );
    pool = new BcryptPool(s.bcrypt.workers, s.bcrypt.maxQueued);
    passwords = new BasicAuthVerifier(pool, () => htpasswd!, {
      successTtlMs: s.bcrypt.cacheTtlMs,
      failureTtlMs: s.bcrypt.failureTtlMs,
      maxEntries: s.bcrypt.cacheEntries,
    });
  }
  let tenantIds: ReadonlyMap<string, string> | undefined;
  if (s.tenantsFile)
    await watch(
      '--forward-auth.tenants-config',
      s.tenantsFile,
      (t) => parseTenantIds(s.tenantsFile!, t),
      (v) => (tenantIds = v),
    );

  const evaluate = async (path: string[], input: unknown, signal: AbortSignal): Promise<Decision> => deps.authorizer.decide({ path, input, signal });
  // A policy without the label-policy rule (a custom one) cannot restrict by label: its allow
  // grants whole tenants, as it does to the gateway. One with the rule must answer it.
  const hasLabelPolicy = () => deps.store.entrypoints.has(LABEL_POLICY.join('/'));
  const untrusted = new RateLimit(10_000);

  const authorizer = new StaticForwardAuthorizer({
    ready: () => deps.authorizer.ready(),
    ...(passwords ? { passwords } : {}),
    ...(s.trustedProxies.length > 0 ? { trustedProxies: trustedProxyList(s.trustedProxies) } : {}),
    tenantIds: () => tenantIds,
    roleTenants: () => roleTenants(deps.store.current()?.data),
    allow: async (input, signal) => {
      const d = await evaluate(ALLOW, input, signal);
      return d.defined && d.value === true;
    },
    labelPolicy: async (input, signal) => (hasLabelPolicy() ? labelPolicyFrom(await evaluate(LABEL_POLICY, input, signal)) : { restricted: false }),
    maxEvaluatedTenants: s.maxEvaluatedTenants,
    onUntrustedHeaders: (peer) => {
      const suppressed = untrusted.take(peer);
      if (suppressed !== undefined)
        logger.warn(
          { peer, ...(suppressed > 0 ? { suppressed } : {}) },
          'ignored X-Auth-Request-* identity headers from a peer not in --forward-auth.trusted-proxies',
        );
    },
  });
  logger.info(
    { htpasswd: s.htpasswdFile ?? '(none)', trustedProxies: s.trustedProxies.length, tenants: s.tenantsFile ?? '(names in roles)' },
    'serving /forward-auth',
  );
  return {
    authorizer,
    reload: async () => {
      for (const w of watchers) await w.check();
    },
    close: async () => {
      for (const w of watchers) w.stop();
      await pool?.close();
    },
  };
}

/** The tenant names the roles of an rbac data document mention. */
function roleTenants(data: unknown): string[] {
  const roles = (data as { roles?: unknown } | undefined)?.roles;
  if (!Array.isArray(roles)) return [];
  return roles.flatMap((r: { tenants?: unknown }) => (Array.isArray(r?.tenants) ? r.tenants.filter((t): t is string => typeof t === 'string') : []));
}
