/**
 * Secrets stay secret: services in every mode at --log.level=debug, with a capturing logger and
 * decision logs to a temp file, are driven with distinctive tokens through every path (allow, deny,
 * 4xx, 401s from Kubernetes faults, OIDC failures, malformed and YAML bodies carrying the token,
 * X-Forwarded-Access-Token and Authorization headers, the gateway's input.token); then everything
 * the service wrote (its log lines, its decision log, the process warnings emitted while it ran,
 * and every answer it gave, headers included) is searched for any token or a recognisable part of
 * one: the whole token, its first and last 12 characters, and for JWTs each segment and the first
 * 12 characters of the payload and signature.
 *
 * A canary (a string sent where it is not a secret, as the input's subject) must be found in the
 * decision log, so an empty or unreadable sink cannot pass for a clean one.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { LOKISTACK_IDENTITIES, lokistackFakeKubeOptions } from './support/fake-kube/fixtures.js';
import { startFakeKube, type FakeKube, type Identity } from './support/fake-kube/server.js';
import { startOidcProvider, type OidcProvider } from './support/oidc.js';
import {
  KUBECONFIG_PLACEHOLDER,
  OPERATOR_LOGGING_ARGS,
  fakeKubeconfigFile,
  gatewayInput,
  startAuthz,
  type RunningAuthz,
  type Who,
} from './support/openshift.js';
import { captureLogger, makeTempDir, startTestService, writeTempFile, type CapturedLogger, type TestService } from './support/service.js';

/** A token no log line could contain by chance. */
const distinctive = (label: string): string => `sha256~${randomBytes(18).toString('base64url')}-${label}`;

/** The parts of a token that would give it away. */
function fragments(token: string): string[] {
  const parts = new Set([token, token.slice(0, 12), token.slice(-12)]);
  const segments = token.split('.');
  if (segments.length === 3) {
    for (const s of segments.slice(1)) {
      parts.add(s);
      parts.add(s.slice(0, 12));
      parts.add(s.slice(-12));
    }
  }
  return [...parts].filter((p) => p.length >= 8);
}

interface Sinks {
  log: CapturedLogger;
  decisionLogFile: string;
  warnings: string[];
  /** Every answer: status line, headers and body. */
  answers: string[];
}

/** Where a token shows up: one line per finding, naming the sink, the fragment and the context. */
function findings(sink: string, texts: readonly string[], tokens: readonly string[]): string[] {
  const out: string[] = [];
  for (const token of tokens) {
    for (const fragment of fragments(token)) {
      for (const text of texts) {
        const at = text.indexOf(fragment);
        if (at >= 0)
          out.push(
            `${sink}: ${JSON.stringify(fragment)} of token ${JSON.stringify(`${token.slice(0, 20)}…`)} in …${JSON.stringify(text.slice(Math.max(0, at - 120), at + fragment.length + 60))}…`,
          );
      }
    }
  }
  return [...new Set(out)];
}

function assertNone(found: string[]): void {
  assert.equal(found.length, 0, `${found.length} findings, e.g.:\n${found.slice(0, 4).join('\n')}`);
}

/** One request; its answer (status, headers, body) is kept for the scan. */
async function send(
  sinks: Sinks,
  url: string,
  req: { method?: string; path?: string; headers?: Record<string, string>; body?: string | Buffer },
): Promise<{ status: number; text: string }> {
  const res = await fetch(`${url}${req.path ?? '/v1/data/lokistack/allow'}`, {
    method: req.method ?? 'POST',
    headers: { 'content-type': 'application/json', ...(req.headers ?? {}) },
    ...(req.body !== undefined ? { body: typeof req.body === 'string' ? req.body : new Uint8Array(req.body) } : {}),
    redirect: 'manual',
  });
  const text = await res.text();
  const lines: string[] = [];
  res.headers.forEach((v, k) => lines.push(`${k}: ${v}`));
  const headers = lines.join('\n');
  sinks.answers.push(`${res.status}\n${headers}\n\n${text}`);
  return { status: res.status, text };
}

/** Bodies that carry `token` where no parser should echo it. */
function malformedBodies(token: string): Array<{ body: string | Buffer; headers?: Record<string, string> }> {
  return [
    { body: `{"input":{"token":"${token}"` },
    { body: `{"input":{"subject":"alice","token":"${token}"}} ${token}` },
    { body: `{"input": ${token}}` },
    { body: `${token}` },
    { body: `{"input":{"token":"${token}"},}` },
    { body: `{"input":{"token":"${token}\u0000"}` },
    { body: `{"input":{"groups":["${token}"],"token":${JSON.stringify(token)}${']'.repeat(3)}` },
    { body: `{"input":${'['.repeat(100)}${JSON.stringify(token)}${']'.repeat(100)}}` },
    { body: `{"input":{"token":"${token}","pad":"${'x'.repeat(1 << 20)}"}}` },
    { body: Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0x00]), Buffer.from(token)]), headers: { 'content-encoding': 'gzip' } },
    { body: gzipSync(`{"input":{"token":"${token}"`), headers: { 'content-encoding': 'gzip' } },
    // YAML: tags, directives, aliases and broken quotes naming the token
    { body: `!${token}`, headers: { 'content-type': 'application/yaml' } },
    { body: `input: !${token} x`, headers: { 'content-type': 'application/yaml' } },
    { body: `%${token}\n---\ninput: {}`, headers: { 'content-type': 'application/yaml' } },
    { body: `input: {subject: *${token}}`, headers: { 'content-type': 'application/yaml' } },
    { body: `input: {token: "${token}`, headers: { 'content-type': 'application/yaml' } },
  ];
}

/** Header shapes a token arrives in. */
function tokenHeaders(token: string): Array<Record<string, string>> {
  return [
    { 'x-forwarded-access-token': token },
    { authorization: `Bearer ${token}` },
    { authorization: `bearer  ${token} ` },
    { authorization: `Basic ${token}` },
    { authorization: `Bearer ${token} trailing` },
    { 'x-forwarded-access-token': token, authorization: `Bearer ${token}x` },
  ];
}

/** The scans every mode gets, once its `before` has driven the traffic. */
function scans(sinks: () => Sinks, tokens: () => string[], canary: () => string): void {
  it('the captured log lines hold no token', () => {
    const s = sinks();
    assert.ok(s.log.lines.length > 10, `the log captured the run (${s.log.lines.length} lines)`);
    assertNone(findings('log', s.log.lines, tokens()));
  });

  it('the decision log holds no token (and does hold the canary sent as a subject)', () => {
    const s = sinks();
    const lines = readFileSync(s.decisionLogFile, 'utf8')
      .split('\n')
      .filter((l) => l !== '');
    assert.ok(lines.length > 5, `decision events were written (${lines.length})`);
    assert.ok(
      lines.some((l) => l.includes(canary())),
      'the canary (not a secret) is logged: the scan reads a live sink',
    );
    assertNone(findings('decision log', lines, tokens()));
  });

  it('no answer (status, headers, body) echoes a token', () => {
    const s = sinks();
    assert.ok(s.answers.length > 20);
    assertNone(findings('answer', s.answers, tokens()));
  });

  it('no process warning emitted while it served quotes a token (they go to stderr, past the logger)', () => {
    assertNone(findings('process warning', sinks().warnings, tokens()));
  });
}

/** Collects process warnings ('warning' events) from now until stop(). */
function collectWarnings(into: string[]): () => void {
  const onWarning = (w: Error) => into.push(`${w.name}: ${w.message}`);
  // Node's own listener would also print them on this test's stderr, tokens and all: it is put
  // aside while the suite runs (this listener has them) and put back after.
  const others = process.listeners('warning');
  for (const l of others) process.off('warning', l);
  process.on('warning', onWarning);
  return () => {
    process.off('warning', onWarning);
    for (const l of others) process.on('warning', l);
  };
}

// ---------------------------------------------------------------------------------------------

describe('secrets: static mode', function () {
  this.timeout(60_000);
  const tokens = [distinctive('static-xfat'), distinctive('static-bearer'), distinctive('static-input')];
  const canary = `canary-${randomBytes(8).toString('hex')}`;
  let sinks: Sinks;
  let authz: TestService;
  let stopWarnings = () => {};

  before(async () => {
    const decisionLogFile = join(makeTempDir('secrets-static-'), 'decisions.log');
    const log = captureLogger('debug', 'logfmt');
    sinks = { log, decisionLogFile, warnings: [], answers: [] };
    stopWarnings = collectWarnings(sinks.warnings);
    authz = await startTestService({ logger: log, flags: ['--log.level=debug', `--decision-log.output=${decisionLogFile}`] });
    const url = authz.publicUrl;
    const [xfat, bearer, inInput] = tokens as [string, string, string];
    const allow = { subject: 'alice@example.com', groups: ['staff'], permission: 'read', resource: 'logs', tenant: 'application', token: inInput };
    for (const headers of [...tokenHeaders(xfat), ...tokenHeaders(bearer)]) {
      await send(sinks, url, { headers, body: JSON.stringify({ input: allow }) });
      await send(sinks, url, { headers, body: JSON.stringify({ input: { ...allow, tenant: 'audit', subject: canary } }) });
      await send(sinks, url, { headers, method: 'GET', path: `/v1/data/lokistack/allow?input=${encodeURIComponent(JSON.stringify(allow))}` });
      await send(sinks, url, { headers, path: '/v1/data/lokistack/allow/below?explain=full', body: JSON.stringify({ input: allow }) });
      await send(sinks, url, { headers, path: '/v1/data/lokistack/allow/below', body: JSON.stringify({ input: allow }) });
    }
    for (const t of tokens) {
      for (const m of malformedBodies(t)) await send(sinks, url, { headers: { 'x-forwarded-access-token': t, ...(m.headers ?? {}) }, body: m.body });
      await send(sinks, url, { headers: { 'x-forwarded-access-token': t }, method: 'PUT', body: t });
    }
    await new Promise((r) => setTimeout(r, 200));
  });
  after(async () => {
    stopWarnings();
    await authz?.stop();
  });

  scans(
    () => sinks,
    () => tokens,
    () => canary,
  );
});

// ---------------------------------------------------------------------------------------------

describe("secrets: openshift-logging mode (the operator's arguments, fake Kubernetes API faults)", function () {
  this.timeout(60_000);
  const gatewayToken = distinctive('service-account');
  const userTokens: Partial<Record<Who, string>> = {
    alice: distinctive('alice'),
    bob: distinctive('bob'),
    dave: distinctive('dave'),
    admin: distinctive('admin'),
    collector: distinctive('collector'),
  };
  const unknown = distinctive('unknown');
  const tokens = [gatewayToken, unknown, ...Object.values(userTokens)];
  const canary = `canary-${randomBytes(8).toString('hex')}`;
  let sinks: Sinks;
  let fake: FakeKube;
  let authz: RunningAuthz;
  let stopWarnings = () => {};

  const tokenTable = (without?: Who): Record<string, Identity> => {
    const table: Record<string, Identity> = { [gatewayToken]: LOKISTACK_IDENTITIES.gateway };
    for (const [who, t] of Object.entries(userTokens)) if (who !== without) table[t] = LOKISTACK_IDENTITIES[who as Who];
    return table;
  };

  before(async () => {
    const decisionLogFile = join(makeTempDir('secrets-openshift-'), 'decisions.log');
    const log = captureLogger('debug', 'json');
    sinks = { log, decisionLogFile, warnings: [], answers: [] };
    stopWarnings = collectWarnings(sinks.warnings);
    fake = await startFakeKube(lokistackFakeKubeOptions({ tokens: tokenTable(), serviceIdentityToken: gatewayToken }));
    const args = [
      ...OPERATOR_LOGGING_ARGS.filter((a) => !a.startsWith('--log.level') && !a.startsWith('--web.healthchecks.url')),
      '--log.level=debug',
      `--openshift.kubeconfig=${KUBECONFIG_PLACEHOLDER}`,
      '--kube.timeout=300ms',
      '--kube.review-cache-ttl=0',
      `--decision-log.output=${decisionLogFile}`,
    ];
    authz = await startAuthz(args, { kubeconfig: fakeKubeconfigFile(fake, gatewayToken), log });
    const url = authz.url;
    const ask = (who: Who, headers: Record<string, string>, options: Parameters<typeof gatewayInput>[1] = {}, token?: string) =>
      send(sinks, url, { headers, body: JSON.stringify({ input: { ...gatewayInput(who, options), ...(token ? { token } : {}) } }) });

    const alice = userTokens.alice!;
    // allows, denies, matchers, writes; the token in each header and in input.token
    for (const [who, token] of Object.entries(userTokens) as Array<[Who, string]>) {
      for (const headers of tokenHeaders(token)) {
        await ask(who, headers, {}, token);
        await ask(who, headers, { extras: { selectors: { kubernetes_namespace_name: ['log-test-0', canary] } } }, token);
        await ask(who, headers, { permission: 'write', tenant: 'audit' }, token);
        await ask(who, headers, { extras: { metadataOnly: true } }, token);
      }
    }
    // 4xx: no token, unknown permission, empty resource, wildcard, both namespace labels; 500 unknown tenant
    await ask('alice', {}, {}, alice);
    await send(sinks, url, {
      headers: { 'x-forwarded-access-token': alice },
      body: JSON.stringify({ input: { ...gatewayInput('alice'), permission: 'admin', token: alice } }),
    });
    await send(sinks, url, {
      headers: { 'x-forwarded-access-token': alice },
      body: JSON.stringify({ input: { ...gatewayInput('alice'), resource: '', token: alice } }),
    });
    await ask('bob', { 'x-forwarded-access-token': userTokens.bob! }, { extras: { wildcardSelectors: true } });
    await ask(
      'bob',
      { 'x-forwarded-access-token': userTokens.bob! },
      { extras: { selectors: { kubernetes_namespace_name: ['a'], k8s_namespace_name: ['b'] } } },
    );
    await ask('alice', { 'x-forwarded-access-token': alice }, { tenant: 'nope' });
    await send(sinks, url, {
      headers: { 'x-forwarded-access-token': alice },
      body: JSON.stringify({ input: { ...gatewayInput('alice'), groups: 'admins', token: alice } }),
    });
    // a token the cluster does not know (401 on the project list)
    await ask('alice', { 'x-forwarded-access-token': unknown }, {}, unknown);
    // 401s from Kubernetes faults
    for (const fault of [{ hang: true }, { status: 500, message: 'etcdserver: leader changed' }, { reset: true }, { status: 401 }] as const) {
      for (const endpoint of ['subjectaccessreviews', 'projects'] as const) {
        fake.setFaults({ endpoint, ...fault });
        await ask(
          'alice',
          { 'x-forwarded-access-token': alice },
          { extras: { selectors: { kubernetes_namespace_name: [`ns-${endpoint}-${Object.keys(fault)[0]}`] } } },
          alice,
        );
        await ask(
          'bob',
          { authorization: `Bearer ${userTokens.bob!}` },
          { extras: { selectors: { kubernetes_namespace_name: ['log-test-0', `x-${endpoint}`] } } },
        );
        fake.clearFaults();
      }
    }
    // alice's token expired: the project list made with it is a 401
    fake.setTokens(tokenTable('alice'));
    await ask('alice', { 'x-forwarded-access-token': alice }, { extras: { selectors: { kubernetes_namespace_name: ['log-test-2'] } } }, alice);
    fake.setTokens(tokenTable());
    // malformed bodies carrying tokens
    for (const t of [alice, unknown])
      for (const m of malformedBodies(t)) await send(sinks, url, { headers: { 'x-forwarded-access-token': t, ...(m.headers ?? {}) }, body: m.body });
    await new Promise((r) => setTimeout(r, 200));
  });
  after(async () => {
    stopWarnings();
    await authz?.stop();
    await fake?.close();
  });

  it('the traffic went through the paths it is about (allow, deny, 400, 401, 500)', () => {
    const statuses = new Set(sinks.answers.map((a) => Number(a.split('\n', 1)[0])));
    for (const s of [200, 400, 401, 500]) assert.ok(statuses.has(s), `some answer was ${s}: ${[...statuses].join(', ')}`);
    assert.ok(
      sinks.answers.some((a) => a.includes('failed to access api server')),
      'a project-list 401',
    );
    assert.ok(
      sinks.answers.some((a) => a.includes('cluster-wide SAR failed')),
      'a review 401',
    );
  });

  scans(
    () => sinks,
    () => tokens,
    () => canary,
  );
});

// ---------------------------------------------------------------------------------------------

describe('secrets: dynamic mode (real OIDC providers: valid, expired, foreign, opaque tokens; provider down)', function () {
  this.timeout(90_000);
  const tokens: string[] = [];
  const canary = `canary-${randomBytes(8).toString('hex')}`;
  const clientSecret = distinctive('client-secret');
  let sinks: Sinks;
  let provider: OidcProvider;
  let foreign: OidcProvider;
  let authz: TestService;
  let stopWarnings = () => {};

  before(async () => {
    const accounts = {
      alice: { claims: { preferred_username: 'alice', groups: ['app-devs'] } },
      mallory: { claims: { preferred_username: 'mallory', groups: ['staff'] } },
      nameless: { claims: { groups: ['app-devs'] } },
    };
    const client = { client_id: 'gateway', client_secret: clientSecret };
    provider = await startOidcProvider({ accounts, clients: [client] });
    foreign = await startOidcProvider({ accounts, clients: [client] });
    const tenants = writeTempFile(
      'tenants.yaml',
      `tenants:
  - name: application
    id: application
    oidc: {issuerURL: ${provider.issuer}, clientID: gateway, clientSecret: ${clientSecret}, usernameClaim: preferred_username, groupClaim: groups, audiences: [lokistack-authz]}
  - name: introspected
    id: introspected
    oidc: {issuerURL: ${provider.issuer}, clientID: gateway, clientSecret: ${clientSecret}, usernameClaim: preferred_username, groupClaim: groups, audiences: [lokistack-authz], introspection: true}
`,
    );
    const rbac = `roles:
  - {name: read, resources: [logs], tenants: [application, introspected], permissions: [read]}
roleBindings:
  - {name: devs, roles: [read], subjects: [{kind: group, name: app-devs}]}
`;
    const decisionLogFile = join(makeTempDir('secrets-dynamic-'), 'decisions.log');
    const log = captureLogger('debug', 'json');
    sinks = { log, decisionLogFile, warnings: [], answers: [] };
    stopWarnings = collectWarnings(sinks.warnings);
    authz = await startTestService({
      rbac,
      logger: log,
      flags: [
        '--mode=dynamic',
        `--tenants.config=${tenants}`,
        '--oidc.allow-insecure-issuers',
        '--oidc.timeout=500ms',
        '--log.level=debug',
        `--decision-log.output=${decisionLogFile}`,
      ],
    });
    const url = authz.publicUrl;
    const mint = {
      jwt: (a: string) => provider.jwtAccessToken(a, { clientId: 'gateway' }),
      opaque: (a: string) => provider.opaqueAccessToken(a, { clientId: 'gateway' }),
      expired: (a: string) => provider.expiredJwtAccessToken(a, { clientId: 'gateway' }),
      foreignJwt: (a: string) => foreign.jwtAccessToken(a, { clientId: 'gateway' }),
      foreignOpaque: (a: string) => foreign.opaqueAccessToken(a, { clientId: 'gateway' }),
      wrongAudience: (a: string) => provider.jwtAccessToken(a, { clientId: 'gateway', audience: 'someone-else' }),
      idToken: (a: string) => provider.idToken(a, { clientId: 'gateway' }),
    };
    const minted: string[] = [];
    for (const account of Object.keys(accounts)) for (const m of Object.values(mint)) minted.push(await m(account));
    const garbage = [distinctive('garbage'), `${distinctive('jwtish')}.${distinctive('p')}.${distinctive('s')}`];
    tokens.push(...minted, ...garbage, clientSecret);

    const ask = (token: string, headers: Record<string, string>, tenant: string, extra: Record<string, unknown> = {}) =>
      send(sinks, url, {
        headers,
        body: JSON.stringify({
          input: { subject: canary, groups: ['app-devs'], permission: 'read', resource: 'logs', tenant, tenantID: tenant, token, extras: {}, ...extra },
        }),
      });
    for (const t of [...minted, ...garbage]) {
      for (const headers of tokenHeaders(t)) {
        await ask(t, headers, 'application');
        await ask(t, headers, 'introspected');
        await ask(t, headers, 'unknown-tenant');
      }
    }
    // the provider down: discovery and userinfo fail (a fresh token so nothing is cached)
    const lateJwt = await mint.jwt('alice');
    const lateOpaque = await mint.opaque('alice');
    tokens.push(lateJwt, lateOpaque);
    await provider.stop();
    for (const t of [lateJwt, lateOpaque, ...garbage]) {
      await ask(t, { 'x-forwarded-access-token': t }, 'application');
      await ask(t, { authorization: `Bearer ${t}` }, 'introspected');
    }
    await provider.restart();
    for (const t of garbage)
      for (const m of malformedBodies(t)) await send(sinks, url, { headers: { 'x-forwarded-access-token': t, ...(m.headers ?? {}) }, body: m.body });
    await new Promise((r) => setTimeout(r, 200));
  });
  after(async () => {
    stopWarnings();
    await authz?.stop();
    await provider?.stop();
    await foreign?.stop();
  });

  it('the traffic went through the paths it is about (allow, deny, identity failures of several kinds)', () => {
    const bodies = sinks.answers.map((a) => a.split('\n\n').slice(1).join('\n\n'));
    assert.ok(
      bodies.some((b) => b.includes('"result":true')),
      'an allow',
    );
    assert.ok(
      bodies.some((b) => b.includes('"result":false')),
      'a deny',
    );
    const codes = new Set(
      sinks.log
        .records()
        .filter((r) => r.msg === 'denied: no identity')
        .map((r) => r.code),
    );
    for (const code of ['expired', 'bad_signature', 'inactive', 'unknown_tenant', 'provider_unreachable'])
      assert.ok(codes.has(code), `a denial for ${code}: saw ${[...codes].join(', ')}`);
  });

  scans(
    () => sinks,
    () => tokens,
    () => canary,
  );
});
