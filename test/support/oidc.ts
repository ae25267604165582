import { createECDH, createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Adapter, AdapterPayload, Configuration, JWK, default as ProviderClass } from 'oidc-provider';

/**
 * A real OpenID Connect provider (panva's oidc-provider) on 127.0.0.1, plain http, random port.
 *
 * Tokens are minted through the provider's own authorization code flow (devInteractions driven by fetch,
 * no browser), so they are exactly what a real IdP issues: JWT access tokens (RFC 9068, `typ: at+jwt`)
 * when a resource indicator is requested, opaque ones (usable at userinfo and introspection) otherwise.
 */
export interface OidcAccount {
  /** Claims besides `sub`, e.g. preferred_username, email, groups, organization. */
  claims: Record<string, unknown>;
}

export interface OidcProviderOptions {
  accounts: Record<string, OidcAccount>;
  clients: Array<{ client_id: string; client_secret: string }>;
  /** `aud` of JWT access tokens (default 'lokistack-authz'). */
  audience?: string;
  /** Default access token lifetime (default 3600). */
  accessTokenTtlSeconds?: number;
  /** 'fixed': the same signing keys in every run and every provider started with it (default: fresh random keys). */
  keys?: 'fixed';
}

export interface MintOptions {
  clientId: string;
  ttlSeconds?: number;
}

export interface OpaqueMintOptions extends MintOptions {
  /** Bind the opaque token to this resource server: introspection then answers it as `aud`. */
  audience?: string;
}

/** Requests to one endpoint held unanswered: makes the concurrency of a client observable. */
export interface HeldRequests {
  /** Requests waiting now. */
  readonly waiting: number;
  /** Most requests that were waiting at once. */
  readonly maxWaiting: number;
  /** Answer every waiting request, and stop holding. */
  release(): void;
}

export interface JwtMintOptions extends MintOptions {
  /** Added to the token; they cannot override registered claims (iss, sub, aud, exp, ...). */
  extraClaims?: Record<string, unknown>;
  /** Space-separated `scope` claim of the access token (default 'logs'). */
  scope?: string;
  /** Overrides the provider's `audience` for this token. */
  audience?: string;
}

export type OidcEndpoint = 'discovery' | 'jwks' | 'userinfo' | 'introspection' | 'token' | 'other';

export interface OidcRequest {
  method: string;
  path: string;
  endpoint: OidcEndpoint;
}

export interface OidcProvider {
  readonly issuer: string;
  readonly port: number;
  /** kid the provider currently signs with; `publishedKids` are all kids in /jwks. */
  readonly signingKid: string;
  readonly publishedKids: readonly string[];
  /** Requests made by anyone but the harness itself (its own minting traffic is not logged). */
  readonly requests: {
    readonly log: readonly OidcRequest[];
    count(endpoint: OidcEndpoint): number;
    reset(): void;
  };
  jwtAccessToken(accountId: string, opts: JwtMintOptions): Promise<string>;
  /** A JWT access token whose exp is `secondsAgo` (default 60) in the past, signed by the current key. */
  expiredJwtAccessToken(accountId: string, opts: JwtMintOptions & { secondsAgo?: number }): Promise<string>;
  opaqueAccessToken(accountId: string, opts: OpaqueMintOptions): Promise<string>;
  /** Hold every request to `endpoint` (besides the harness's own) until release(). */
  hold(endpoint: OidcEndpoint): HeldRequests;
  idToken(accountId: string, opts: { clientId: string }): Promise<string>;
  /** Sign with a new key from now on; /jwks publishes the new and all old keys. */
  rotateKeys(): Promise<void>;
  /** Publish only the current signing key: tokens signed by older keys stop verifying. */
  dropOldKeys(): Promise<void>;
  /** Close the port (open connections are cut), so calls fail with ECONNREFUSED. */
  stop(): Promise<void>;
  /** Listen again on the same port, same keys, same stored tokens and sessions. */
  restart(): Promise<void>;
}

/** Resource indicator requested for JWT access tokens; `audience` is what ends up in `aud`. */
const RESOURCE = 'urn:lokistack-authz:api';
const REDIRECT_URI = 'http://127.0.0.1/callback';
/** Header marking the harness's own requests, which stay out of `requests`. */
const INTERNAL = 'x-oidc-harness';
const FIXED_SEED = Buffer.from('lokistack-authz test oidc keys');

interface PendingMint {
  ttlSeconds?: number;
  extraClaims?: Record<string, unknown>;
  scope?: string;
  audience?: string;
  expiredSecondsAgo?: number;
  format?: 'jwt' | 'opaque';
}

export async function startOidcProvider(options: OidcProviderOptions): Promise<OidcProvider> {
  // Imported lazily so the dev-only warnings it prints at import and construction can be filtered.
  const Provider = (await quietly(() => import('oidc-provider'))).default;
  const audience = options.audience ?? 'lokistack-authz';
  const defaultTtl = options.accessTokenTtlSeconds ?? 3600;
  const seed = options.keys === 'fixed' ? FIXED_SEED : randomBytes(32);
  // Generations only grow: after dropOldKeys a rotation must not reuse a kid still remembered.
  let generation = 0;
  let keys = [signingKey(seed, generation)];
  const storage = new Map<string, { payload: AdapterPayload; expiresAt: number }>();
  const log: OidcRequest[] = [];
  // Per-token options reach the provider's hooks (ttl, extraTokenClaims, customizers) through this
  // variable; mints are serialized so it always belongs to the token being issued.
  let pending: PendingMint | undefined;
  let mintQueue: Promise<unknown> = Promise.resolve();

  // The server comes first: the issuer URL needs the port. It dispatches to the current Provider
  // instance, which is rebuilt (same storage) when the keys change.
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.writeHead(503).end();
  const holds = new Map<OidcEndpoint, { queue: Array<() => void>; max: number }>();
  const server = createServer((req, res) => {
    if (req.headers[INTERNAL] === undefined) {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const endpoint = endpointOf(path);
      log.push({ method: req.method ?? 'GET', path, endpoint });
      const hold = holds.get(endpoint);
      if (hold) {
        const go = () => handler(req, res);
        hold.queue.push(go);
        hold.max = Math.max(hold.max, hold.queue.length);
        // A client that gives up leaves the queue: `waiting` counts requests still in flight.
        res.on('close', () => {
          const i = hold.queue.indexOf(go);
          if (i >= 0) hold.queue.splice(i, 1);
        });
        return;
      }
    }
    handler(req, res);
  });
  await listen(server, 0);
  const port = (server.address() as AddressInfo).port;
  const issuer = `http://127.0.0.1:${port}`;

  const claimNames = new Set<string>();
  for (const account of Object.values(options.accounts)) for (const name of Object.keys(account.claims)) claimNames.add(name);

  const build = (): ProviderClass => {
    const configuration: Configuration = {
      adapter: (model: string) => memoryAdapter(storage, model),
      jwks: { keys },
      clients: options.clients.map((c) => ({
        ...c,
        redirect_uris: [REDIRECT_URI],
        grant_types: ['authorization_code'],
        response_types: ['code'],
      })),
      clientDefaults: { id_token_signed_response_alg: 'ES256' },
      // All account claims are released under `openid`, so userinfo and ID tokens carry them without
      // the tests having to know which scope maps to which claim.
      claims: { openid: ['sub', ...claimNames] },
      conformIdTokenClaims: false,
      findAccount: (_ctx, id) => {
        const account = options.accounts[id];
        return account && { accountId: id, claims: () => ({ ...account.claims, sub: id }) };
      },
      features: {
        devInteractions: { enabled: true },
        // Any authenticated client may introspect any token, as a resource server's client would.
        introspection: { enabled: true, allowedPolicy: () => true },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => undefined,
          // The token request carries no `resource`; the granted one applies, giving a JWT.
          useGrantedResource: () => true,
          getResourceServerInfo: () => ({
            scope: pending?.scope ?? 'logs',
            audience: pending?.audience ?? audience,
            accessTokenFormat: pending?.format ?? 'jwt',
          }),
        },
      },
      // The account's claims (groups, ...) go into JWT access tokens and into introspection responses.
      extraTokenClaims: (_ctx, token) => {
        const account = 'accountId' in token ? options.accounts[token.accountId] : undefined;
        return account ? { ...account.claims, ...pending?.extraClaims } : pending?.extraClaims;
      },
      formats: {
        customizers: {
          // oidc-provider has no clock option; shifting iat/exp before signing gives a genuinely
          // expired token without sleeping.
          jwt: (_ctx, _token, { payload }) => {
            if (pending?.expiredSecondsAgo === undefined) return;
            const iat = payload.iat as number;
            const exp = payload.exp as number;
            payload.exp = Math.floor(Date.now() / 1000) - pending.expiredSecondsAgo;
            payload.iat = (payload.exp as number) - (exp - iat);
          },
        },
      },
      ttl: {
        AccessToken: () => pending?.ttlSeconds ?? defaultTtl,
        AuthorizationCode: 60,
        IdToken: 3600,
        Interaction: 600,
        Session: 86400,
        Grant: 86400,
      },
    };
    const provider = quietlySync(() => new Provider(issuer, configuration));
    handler = provider.callback();
    return provider;
  };
  build();

  const mint = <T>(opts: PendingMint, fn: () => Promise<T>): Promise<T> => {
    const run = mintQueue.then(async () => {
      pending = opts;
      try {
        return await fn();
      } finally {
        pending = undefined;
      }
    });
    mintQueue = run.catch(() => undefined);
    return run;
  };

  const codeFlow = (accountId: string, clientId: string, resource: boolean) => {
    if (!options.accounts[accountId]) throw new Error(`unknown account ${accountId}`);
    const c = options.clients.find((x) => x.client_id === clientId);
    if (!c) throw new Error(`unknown client ${clientId}`);
    return authorizationCodeFlow(issuer, accountId, c, resource ? { resource: RESOURCE, scope: `openid ${pending?.scope ?? 'logs'}` } : { scope: 'openid' });
  };

  let running = true;
  return {
    issuer,
    port,
    get signingKid() {
      return keys[0]!.kid!;
    },
    get publishedKids() {
      return keys.map((k) => k.kid!);
    },
    requests: {
      log,
      count: (endpoint) => log.filter((r) => r.endpoint === endpoint).length,
      reset: () => void log.splice(0),
    },
    jwtAccessToken: (accountId, o) => mint(o, async () => (await codeFlow(accountId, o.clientId, true)).access_token),
    expiredJwtAccessToken: (accountId, o) =>
      mint({ ...o, expiredSecondsAgo: o.secondsAgo ?? 60 }, async () => (await codeFlow(accountId, o.clientId, true)).access_token),
    opaqueAccessToken: (accountId, o) =>
      mint({ ...o, format: 'opaque' }, async () => (await codeFlow(accountId, o.clientId, o.audience !== undefined)).access_token),
    hold(endpoint) {
      const h = { queue: [] as Array<() => void>, max: 0 };
      holds.set(endpoint, h);
      return {
        get waiting() {
          return h.queue.length;
        },
        get maxWaiting() {
          return h.max;
        },
        release() {
          if (holds.get(endpoint) === h) holds.delete(endpoint);
          for (const go of h.queue.splice(0)) go();
        },
      };
    },
    idToken: (accountId, o) => mint({}, async () => (await codeFlow(accountId, o.clientId, false)).id_token),
    async rotateKeys() {
      await mintQueue;
      // New key first: oidc-provider signs with the first key that fits the algorithm.
      keys = [signingKey(seed, ++generation), ...keys];
      build();
    },
    async dropOldKeys() {
      await mintQueue;
      keys = keys.slice(0, 1);
      build();
    },
    async stop() {
      if (!running) return;
      running = false;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      // Let in-process clients see the FIN of their pooled keep-alive sockets, so their next call
      // dials anew and gets ECONNREFUSED instead of racing a half-closed socket (UND_ERR_SOCKET).
      await new Promise((resolve) => setTimeout(resolve, 20));
    },
    async restart() {
      if (running) return;
      await listen(server, port);
      running = true;
    },
  };
}

interface TokenResponse {
  access_token: string;
  id_token: string;
  token_type: string;
  expires_in: number;
  scope?: string;
}

/**
 * The authorization code flow as a browser would run it, against devInteractions:
 * /auth -> /interaction/:uid (login) -> /auth/:uid -> /interaction/:uid2 (consent) -> /auth/:uid2
 * -> redirect_uri?code=… -> /token. Cookies are scoped to paths (the resume cookie lives on /auth/:uid),
 * hence the small path-aware jar.
 */
async function authorizationCodeFlow(
  issuer: string,
  accountId: string,
  client: { client_id: string; client_secret: string },
  params: { scope: string; resource?: string },
): Promise<TokenResponse> {
  const jar = new Map<string, { value: string; path: string }>();
  const request = async (url: string, body?: Record<string, string>): Promise<Response> => {
    const { pathname } = new URL(url, issuer);
    const cookie = [...jar]
      .filter(([, c]) => pathname.startsWith(c.path))
      .map(([n, c]) => `${n}=${c.value}`)
      .join('; ');
    const res = await fetch(new URL(url, issuer), {
      method: body ? 'POST' : 'GET',
      redirect: 'manual',
      headers: { [INTERNAL]: '1', ...(cookie ? { cookie } : {}) },
      ...(body ? { body: new URLSearchParams(body) } : {}),
    });
    for (const line of res.headers.getSetCookie()) {
      const [pair = '', ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const path = attrs.find((a) => a.toLowerCase().startsWith('path='))?.slice(5) ?? '/';
      const expired = attrs.some((a) => a.toLowerCase().startsWith('expires=') && Date.parse(a.slice(8)) < Date.now());
      if (expired) jar.delete(pair.slice(0, eq));
      else jar.set(pair.slice(0, eq), { value: pair.slice(eq + 1), path });
    }
    await res.arrayBuffer();
    return res;
  };
  const redirectOf = async (res: Response): Promise<string> => {
    const location = res.headers.get('location');
    if (res.status < 300 || res.status >= 400 || !location) throw new Error(`expected a redirect, got ${res.status}`);
    return location;
  };

  const verifier = randomBytes(32).toString('base64url');
  const auth = new URL('/auth', issuer);
  auth.search = new URLSearchParams({
    client_id: client.client_id,
    redirect_uri: REDIRECT_URI,
    response_type: 'code',
    scope: params.scope,
    nonce: randomUUID(),
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    ...(params.resource ? { resource: params.resource } : {}),
  }).toString();

  let location = await redirectOf(await request(auth.href));
  for (const prompt of ['login', 'consent']) {
    if (!location.includes('/interaction/')) throw new Error(`expected the ${prompt} interaction, got ${location}`);
    location = await redirectOf(await request(location, { prompt, login: accountId, password: 'x' }));
    location = await redirectOf(await request(location));
  }
  const code = new URL(location).searchParams.get('code');
  if (!code) throw new Error(`authorization failed: ${location}`);

  const res = await fetch(new URL('/token', issuer), {
    method: 'POST',
    headers: {
      [INTERNAL]: '1',
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret)}`).toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier }),
  });
  const body = (await res.json()) as TokenResponse & { error?: string; error_description?: string };
  if (!res.ok) throw new Error(`token request failed: ${body.error}: ${body.error_description}`);
  return body;
}

/** An ES256 key derived from seed and generation: fixed seeds give the same keys (and kids) in every run. */
function signingKey(seed: Buffer, generation: number): JWK {
  const d = createHash('sha256').update(seed).update(String(generation)).digest();
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(d);
  const pub = ecdh.getPublicKey();
  const x = pub.subarray(1, 33).toString('base64url');
  const y = pub.subarray(33).toString('base64url');
  // kid is the RFC 7638 thumbprint, as most IdPs do.
  const kid = createHash('sha256')
    .update(JSON.stringify({ crv: 'P-256', kty: 'EC', x, y }))
    .digest('base64url');
  return { kty: 'EC', crv: 'P-256', x, y, d: d.toString('base64url'), kid, alg: 'ES256', use: 'sig' };
}

/**
 * oidc-provider's bundled memory adapter keeps one module-wide store, so a second provider would accept
 * the first one's opaque tokens. This one belongs to a single harness and survives key rotation and restarts.
 */
function memoryAdapter(storage: Map<string, { payload: AdapterPayload; expiresAt: number }>, model: string): Adapter {
  const key = (id: string) => `${model}:${id}`;
  const get = (k: string): AdapterPayload | undefined => {
    const entry = storage.get(k);
    if (entry && entry.expiresAt <= Date.now()) storage.delete(k);
    else return entry?.payload;
    return undefined;
  };
  const findBy = (field: 'uid' | 'userCode', value: string) => {
    for (const [k] of storage) if (k.startsWith(`${model}:`) && get(k)?.[field] === value) return get(k);
    return undefined;
  };
  return {
    async upsert(id, payload, expiresIn) {
      storage.set(key(id), { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : Infinity });
    },
    find: async (id) => get(key(id)),
    findByUid: async (uid) => findBy('uid', uid),
    findByUserCode: async (userCode) => findBy('userCode', userCode),
    async consume(id) {
      const payload = get(key(id));
      if (payload) payload.consumed = Math.floor(Date.now() / 1000);
    },
    async destroy(id) {
      storage.delete(key(id));
    },
    async revokeByGrantId(grantId) {
      for (const [k, entry] of storage) if (entry.payload.grantId === grantId) storage.delete(k);
    },
  };
}

function endpointOf(path: string): OidcEndpoint {
  switch (path) {
    case '/.well-known/openid-configuration':
      return 'discovery';
    case '/jwks':
      return 'jwks';
    case '/me':
      return 'userinfo';
    case '/token/introspection':
      return 'introspection';
    case '/token':
      return 'token';
    default:
      return 'other';
  }
}

function listen(server: ReturnType<typeof createServer>, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/**
 * oidc-provider warns about things that are deliberate here: Node 20 ("Unsupported runtime") and
 * devInteractions. Those two are dropped; any other warning still reaches the console.
 */
const EXPECTED_WARNINGS = [/Unsupported runtime/, /devInteractions is enabled/];
function filterWarn(): () => void {
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (!EXPECTED_WARNINGS.some((re) => re.test(String(args[0])))) warn(...args);
  };
  return () => {
    console.warn = warn;
  };
}
async function quietly<T>(fn: () => Promise<T>): Promise<T> {
  const restore = filterWarn();
  try {
    return await fn();
  } finally {
    restore();
  }
}
function quietlySync<T>(fn: () => T): T {
  const restore = filterWarn();
  try {
    return fn();
  } finally {
    restore();
  }
}
