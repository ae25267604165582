import { DecisionCache } from '../cache/decision-cache.js';
import { MemoryStore } from '../cache/memory-store.js';
import type { CacheStore } from '../cache/store.js';
import type { Config } from '../config/config.js';
import { reasonOf } from '../errors.js';
import { OpenShiftAuthorizer } from '../decision/openshift.js';
import { openShiftResultCodec, type OpenShiftResult } from '../decision/openshift-result.js';
import { KubeClient } from '../kube/client.js';
import { loadKubeTarget } from '../kube/kubeconfig.js';
import { Limiter } from '../kube/limiter.js';
import { ReviewCache } from '../kube/review-cache.js';
import { TokenReviewCache } from '../kube/token-review-cache.js';
import { upstreamWarner } from '../observability/rate-limit.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { RateLimit } from '../observability/rate-limit.js';
import type { ForwardAuthorizer } from '../forward-auth/types.js';
import type { WiredMode } from './mode.js';
import { lazy } from './lazy.js';

/** The openshift modes: one Kubernetes client for the process, a bounded decision cache. */
export async function wireOpenShiftMode(config: Config, logger: Logger, metrics: Metrics): Promise<WiredMode> {
  const o = config.openshift!;
  const d = o.decision;
  // The environment is read here, at the edge, as opa-openshift reads it (KUBECONFIG, the pod's service).
  const target = loadKubeTarget({ explicit: o.kubeconfig, env: process.env });
  const warn = upstreamWarner(logger);
  const limiter = new Limiter(o.kube.maxConcurrentCalls, o.kube.maxConcurrentCallsPerCaller);
  const kube = new KubeClient(target, { ssar: o.ssar, timeoutMs: o.kube.timeoutMs, namespaceSource: o.kube.namespaceSource }, limiter, {
    call: (method, code, seconds) => {
      metrics.upstreamRequests.inc({ code, method, client: 'openshift' });
      metrics.upstreamDuration.observe({ method, client: 'openshift' }, seconds);
    },
    // KubeError messages carry the API's Status message or the transport fault, never a token.
    failed: (call, err) => warn({ upstream: 'kubernetes', call, status: err.status > 0 ? String(err.status) : err.code, reason: err.message }),
  });
  const reviews = o.kube.reviewCache.ttlMs > 0 ? new ReviewCache(kube, { ...o.kube.reviewCache, ssar: o.ssar }) : kube;
  const tokenReviewer = o.verifyToken ? new TokenReviewCache(kube, o.verifyToken) : undefined;

  let store: CacheStore | undefined;
  if (o.cache.enabled && o.cache.memcached.length > 0) {
    // memcached's client and the entry keys are loaded only when configured (issue 14).
    const [{ AuthenticatedStore }, { KeyringFile }, { MemcachedStore }] = await Promise.all([
      lazy(
        () => import('../cache/authenticated-store.js'),
        () => require('../cache/authenticated-store.js'),
      ),
      lazy(
        () => import('../config/keyring-file.js'),
        () => require('../config/keyring-file.js'),
      ),
      lazy(
        () => import('../cache/memcached-store.js'),
        () => require('../cache/memcached-store.js'),
      ),
    ]).catch((err: unknown) => {
      kube.close();
      throw err;
    });
    // Keys first: a key file that cannot serve stops startup before any connection is made.
    const keyFile = o.cache.memcachedHmacKeyFile;
    const keys =
      keyFile &&
      (await KeyringFile.open(keyFile, {
        intervalMs: config.fileReloadIntervalMs,
        settleMs: config.fileSettleMs,
        onApplied: () => logger.info({ file: keyFile }, 'reloaded the memcached entry keys'),
        onRejected: (err) => logger.error({ file: keyFile, reason: reasonOf(err) }, 'rejected the new memcached entry keys; the previous ones keep serving'),
      }).catch((err: unknown) => {
        kube.close();
        throw err;
      }));
    const memcached = new MemcachedStore({
      servers: o.cache.memcached,
      timeoutMs: o.cache.memcachedTimeoutMs,
      dnsIntervalMs: o.cache.memcachedDnsIntervalMs,
      onError: (err) => logger.warn({ reason: err.message }, 'memcached'),
    });
    if (keys) {
      const refused = new RateLimit(10_000);
      store = new AuthenticatedStore(memcached, {
        keyring: () => keys.current(),
        onClose: () => keys.stop(),
        onReject: (reason) => {
          metrics.cacheRejected.inc({ reason });
          const suppressed = refused.take(reason);
          if (suppressed !== undefined)
            logger.warn(
              { reason, ...(suppressed > 0 ? { suppressed } : {}) },
              'refused a memcached entry without a valid MAC (forged, moved or replayed); decided as on a miss',
            );
        },
      });
    } else {
      logger.warn('memcached entries are not authenticated (--memcached.insecure-no-hmac): anyone who can write to memcached can forge decisions');
      store = memcached;
    }
  } else if (o.cache.enabled) {
    store = new MemoryStore({ maxEntries: o.cache.maxEntries, maxBytes: o.cache.maxBytes, onEvict: () => metrics.cacheEvictions.inc() });
  }
  if (store) metrics.observeCacheSize(() => store!.size());
  const cache =
    store &&
    new DecisionCache<OpenShiftResult>(
      store,
      { allowTtlMs: o.cache.allowTtlMs, denyTtlMs: o.cache.denyTtlMs },
      {
        hit: () => metrics.cacheRequests.inc({ result: 'hit' }),
        miss: () => metrics.cacheRequests.inc({ result: 'miss' }),
        insert: () => metrics.cacheInserts.inc(),
        shared: () => metrics.cacheShared.inc(),
        storeError: (err) => {
          metrics.cacheErrors.inc();
          logger.warn({ reason: reasonOf(err) }, 'decision cache failed; deciding as on a miss');
        },
      },
      openShiftResultCodec,
    );

  logger.info(
    {
      mode: config.mode,
      tenants: [...d.mappings.keys()].join(','),
      matcher: d.matcher.keys.join(','),
      ssar: o.ssar,
      cache: store ? store.kind : 'off',
      namespaceSource: o.kube.namespaceSource,
      verifyToken: o.verifyToken !== undefined,
      maxNamespaces: d.maxNamespaces,
    },
    'configured access reviews',
  );
  const authorizer = new OpenShiftAuthorizer(d, {
    kube: reviews,
    logger,
    ...(cache ? { cache } : {}),
    ...(tokenReviewer ? { tokenReviewer } : {}),
  });
  // Forward-auth always learns who the caller is from the cluster (a bearer token proves nothing by
  // itself), whatever --openshift.verify-token says about the Data API's input.
  let forwardAuth: ForwardAuthorizer | undefined;
  try {
    if (config.forwardAuth) {
      // Loaded only when /forward-auth is served (issue 14).
      const [{ makeOpenShiftForwardAuthorizer }, { BoundedTokenReviewer }] = await Promise.all([
        lazy(
          () => import('../forward-auth/openshift.js'),
          () => require('../forward-auth/openshift.js'),
        ),
        lazy(
          () => import('../forward-auth/bounded-token-reviewer.js'),
          () => require('../forward-auth/bounded-token-reviewer.js'),
        ),
      ]);
      forwardAuth = makeOpenShiftForwardAuthorizer({
        mode: config.mode,
        openshift: { ...d, matcherKeys: d.matcher.keys, matcherOp: d.matcher.op },
        tenancy: config.forwardAuthModes!.kube,
        kube: reviews,
        tokenReviewer: new BoundedTokenReviewer(tokenReviewer ?? new TokenReviewCache(kube, o.tokenReview), config.forwardAuthModes!.maxConcurrentTokenReviews),
        logger,
      });
    }
  } catch (err) {
    // Half wired is not wired: nothing may stay connected after a failed start.
    kube.close();
    await store?.close();
    throw err;
  }
  if (forwardAuth) logger.info({ mode: config.mode, tenancy: config.forwardAuthModes!.kube.kind }, 'serving /forward-auth');
  return {
    authorizer,
    ...(forwardAuth ? { forwardAuth } : {}),
    readyChecks: {},
    reload: async () => {},
    close: async () => {
      kube.close();
      await store?.close();
    },
  };
}
