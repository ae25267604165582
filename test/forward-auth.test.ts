/**
 * Forward-auth's parts on their own: Loki paths to scopes (oracle: Loki's HTTP API reference),
 * original URIs as Loki's router reads them (oracle: the attacker's tricks), tenant selection and
 * the label-policy header (oracle: the header format Loki, Mimir and db-auth-gateway document),
 * the htpasswd file, and the password checks' cost to an unauthenticated caller.
 */
import assert from 'node:assert/strict';
import bcrypt from 'bcryptjs';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { makeTempDir } from './support/service.js';
import { ConfigError } from '../server/errors.js';
import { BusyError } from '../server/errors.js';
import { answer } from '../server/forward-auth/answer.js';
import { percentEncode as encodeRfc3986 } from '../server/policy/label-policy.js';
import { BasicAuthVerifier } from '../server/forward-auth/basic-auth.js';
import { BcryptPool, type PasswordChecker } from '../server/forward-auth/bcrypt-pool.js';
import { ForwardAuthRefusal } from '../server/forward-auth/errors.js';
import { parseHtpasswd } from '../server/forward-auth/htpasswd.js';
import { originalPath } from '../server/forward-auth/original-path.js';
import { scopeOf } from '../server/forward-auth/scopes.js';
import { parseTenantIds } from '../server/forward-auth/tenant-ids.js';

describe('forward-auth: Loki paths to scopes', () => {
  // Loki's HTTP API reference (docs/sources/reference/loki-http-api.md), one row per endpoint.
  const cases: Array<[string, string, string | undefined]> = [
    ['POST', '/loki/api/v1/push', 'logs:write'],
    ['POST', '/otlp/v1/logs', 'logs:write'],
    ['POST', '/api/prom/push', 'logs:write'],
    ['GET', '/loki/api/v1/query', 'logs:read'],
    ['POST', '/loki/api/v1/query_range', 'logs:read'],
    ['GET', '/loki/api/v1/labels', 'logs:read'],
    ['GET', '/loki/api/v1/label/app/values', 'logs:read'],
    ['GET', '/loki/api/v1/series', 'logs:read'],
    ['GET', '/loki/api/v1/tail', 'logs:read'],
    ['GET', '/loki/api/v1/index/stats', 'logs:read'],
    ['GET', '/loki/api/v1/index/volume', 'logs:read'],
    ['GET', '/loki/api/v1/index/volume_range', 'logs:read'],
    ['GET', '/loki/api/v1/index/shards', 'logs:read'],
    ['GET', '/loki/api/v1/patterns', 'logs:read'],
    ['GET', '/loki/api/v1/detected_fields', 'logs:read'],
    ['GET', '/loki/api/v1/detected_field/level/values', 'logs:read'],
    ['GET', '/loki/api/v1/detected_labels', 'logs:read'],
    ['GET', '/loki/api/v1/format_query', 'logs:read'],
    ['GET', '/api/prom/query', 'logs:read'],
    ['GET', '/api/prom/label/app/values', 'logs:read'],
    ['GET', '/api/prom/series', 'logs:read'],
    ['GET', '/api/prom/tail', 'logs:read'],
    ['POST', '/loki/api/v1/delete', 'logs:delete'],
    ['GET', '/loki/api/v1/delete', 'logs:delete'],
    ['DELETE', '/loki/api/v1/delete', 'logs:delete'],
    ['GET', '/loki/api/v1/rules', 'rules:read'],
    ['GET', '/loki/api/v1/rules/ns1', 'rules:read'],
    ['POST', '/loki/api/v1/rules/ns1', 'rules:write'],
    ['DELETE', '/loki/api/v1/rules/ns1/group1', 'rules:write'],
    ['GET', '/prometheus/api/v1/rules', 'rules:read'],
    ['GET', '/prometheus/api/v1/alerts', 'alerts:read'],
    // Not Loki's API, or not the method Loki serves there: denied, never guessed.
    ['GET', '/loki/api/v1/push', undefined],
    ['PUT', '/loki/api/v1/query', undefined],
    ['HEAD', '/loki/api/v1/query', undefined],
    ['GET', '/loki/api/v1/query/', undefined],
    ['GET', '/loki/api/v1/Query', undefined],
    ['GET', '/loki/api/v1/label//values', undefined],
    ['GET', '/config', undefined],
    ['GET', '/', undefined],
  ];
  for (const [method, path, scope] of cases) {
    it(`${method} ${path} → ${scope ?? 'denied'}`, () => assert.equal(scopeOf(method, path), scope));
  }
});

describe('forward-auth: the original URI as Loki routes it', () => {
  it('reads the path Loki reads: percent-decoded, query dropped', () => {
    assert.deepEqual(originalPath('/loki/api/v1/query_range?query=%7Bapp%3D%22a%22%7D&limit=10'), { ok: true, path: '/loki/api/v1/query_range' });
    // Loki routes on the decoded path: an encoded letter is the letter.
    assert.deepEqual(originalPath('/loki/api/v1/%71uery'), { ok: true, path: '/loki/api/v1/query' });
  });

  // Each would let a path that looks like one API reach another, or route differently in a proxy and in Loki.
  for (const uri of [
    '/loki/api/v1/push/../query',
    '/loki/api/v1/query/../push',
    '/loki/api/v1/push/%2e%2e/query',
    '/loki/api/v1/push/%2E%2E/query',
    '/loki/api/v1/./push',
    '/loki//api/v1/push',
    '//loki/api/v1/push',
    '/loki%2fapi%2fv1%2fpush',
    '/loki/api/v1/push%00',
    '/loki/api/v1/push\\..\\query',
    '/loki/api/v1/push%5c..%5cquery',
    '/loki/api/v1/query#frag',
    'http://evil/loki/api/v1/query',
    'loki/api/v1/query',
    '/loki/api/v1/qu%zzery',
    `/loki/api/v1/query?${'a'.repeat(9000)}`,
  ]) {
    it(`refuses ${JSON.stringify(uri.slice(0, 60))}`, () => assert.equal(originalPath(uri).ok, false));
  }
});

describe('forward-auth: tenants and the label-policy header', () => {
  const ALL = [{ id: 'team-a' }, { id: 'team-b', selectors: ['{env="prod", secret!="true"}', '{env="dev"}'] }, { id: 'team-c' }];
  const refusal = (f: () => unknown): ForwardAuthRefusal => {
    try {
      f();
    } catch (err) {
      if (err instanceof ForwardAuthRefusal) return err;
      throw err;
    }
    assert.fail('expected a refusal');
  };

  it('a read with no X-Scope-OrgID gets every granted tenant, pipe-separated, and one policy header for the restricted ones', () => {
    const g = answer('logs:read', [], ALL, 4096);
    assert.equal(g.orgId, 'team-a|team-b|team-c');
    // Decoded per RFC 3986, entries split at commas and at the first colon, as db-auth-gateway and Loki read them.
    const entries = g.labelPolicy!.split(',').map((e) => [e.slice(0, e.indexOf(':')), decodeURIComponent(e.slice(e.indexOf(':') + 1))]);
    assert.deepEqual(entries, [
      ['team-b', '{env="prod", secret!="true"}'],
      ['team-b', '{env="dev"}'],
    ]);
  });

  it('each requested tenant must be granted; the answer names only those', () => {
    assert.equal(answer('logs:read', ['team-c'], ALL, 4096).orgId, 'team-c');
    assert.equal(answer('logs:read', ['team-c'], ALL, 4096).labelPolicy, undefined);
    assert.equal(refusal(() => answer('logs:read', ['team-a', 'team-x'], ALL, 4096)).status, 403);
  });

  it('a write names exactly one tenant: the only granted one, or a 403 saying to send X-Scope-OrgID', () => {
    assert.equal(answer('logs:write', [], [{ id: 'team-a' }], 4096).orgId, 'team-a');
    const r = refusal(() => answer('logs:write', [], [{ id: 'team-a' }, { id: 'team-b' }], 4096));
    assert.equal(r.status, 403);
    assert.match(r.reason, /X-Scope-OrgID/);
    assert.equal(refusal(() => answer('logs:write', ['team-a', 'team-b'], [{ id: 'team-a' }, { id: 'team-b' }], 4096)).status, 403);
    // Writes are never label-restricted, so no policy header goes with them.
    assert.equal(answer('logs:write', ['team-b'], [{ id: 'team-b' }], 4096).labelPolicy, undefined);
  });

  it('rules and alerts, which Loki cannot restrict by label, are refused to a label-restricted reader', () => {
    assert.equal(refusal(() => answer('rules:read', ['team-b'], ALL, 4096)).code, 'tenant_not_granted');
    assert.equal(answer('rules:read', ['team-a'], ALL, 4096).orgId, 'team-a');
  });

  it('a policy larger than the bound is a 403 with the reason, never a header a proxy would truncate', () => {
    const many = Array.from({ length: 300 }, (_, i) => `{namespace="ns-${i}"}`);
    const r = refusal(() => answer('logs:read', ['team-b'], [{ id: 'team-b', selectors: many }], 3072));
    assert.equal(r.status, 403);
    assert.equal(r.code, 'policy_too_large');
  });

  it('a tenant ID Loki would read as several (`a|b`) or with a separator never reaches a header', () => {
    for (const id of ['a|b', 'a,b', 'a:b', '..', '']) assert.throws(() => answer('logs:read', [], [{ id }], 4096), /invalid tenant ID/);
  });

  it('selectors are encoded so that commas and colons inside them cannot split an entry', () => {
    const s = '{app=~"a,b:c", x!~"(y|z)*"}';
    assert.equal(decodeURIComponent(encodeRfc3986(s)), s);
    assert.doesNotMatch(encodeRfc3986(s), /[,:|"{}!'()*\s]/);
  });
});

describe('forward-auth: the htpasswd file and password checks', () => {
  const hash4 = bcrypt.hashSync('s3cret', 4);

  it('reads bcrypt users ($2y$, $2a$, $2b$), comments and blank lines', () => {
    const y = hash4.replace(/^\$2b\$/, '$2y$');
    const a = hash4.replace(/^\$2b\$/, '$2a$');
    const f = parseHtpasswd('users', `# loki users\n\nalice:${hash4}\nbob:${y}\ncarol:${a}\n`);
    assert.deepEqual([...f.users.keys()], ['alice', 'bob', 'carol']);
    assert.equal(f.cost, 4);
    assert.ok(bcrypt.compareSync('s3cret', f.users.get('bob')!));
  });

  it('refuses every other hash type at load, naming the file and the line', () => {
    for (const bad of ['$apr1$xyz$abcdefghijklmnopqrstuv', '{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=', 'rl2ztO8Ahlrb6', 'plaintext']) {
      assert.throws(
        () => parseHtpasswd('/etc/loki/htpasswd', `alice:${hash4}\nbob:${bad}\n`),
        (err: unknown) => err instanceof ConfigError && /\/etc\/loki\/htpasswd: line 2: user "bob": not a bcrypt hash/.test(err.message),
      );
    }
    // A cost that would hold a thread for hours per attempt.
    assert.throws(() => parseHtpasswd('f', `a:${hash4.replace(/^\$2b\$04\$/, '$2b$31$')}`), /line 1: .*cost 31/);
    assert.throws(() => parseHtpasswd('f', `a:${hash4}\na:${hash4}`), /line 2: user "a" is listed twice/);
    assert.throws(() => parseHtpasswd('f', '# nobody yet\n\n'), /f: no users/);
  });

  /** A checker that records each bcrypt run and answers with real bcrypt. */
  function countingChecker(): PasswordChecker & { runs: string[] } {
    const runs: string[] = [];
    return {
      runs,
      check: async (password, hash) => {
        runs.push(hash);
        return bcrypt.compareSync(password, hash);
      },
      close: async () => {},
    };
  }

  it("an unknown user costs one bcrypt check at the file's cost, like a wrong password (no enumeration by timing)", async () => {
    const file = parseHtpasswd('f', `alice:${bcrypt.hashSync('pw', 6)}\nbob:${bcrypt.hashSync('pw2', 6)}\n`);
    const checker = countingChecker();
    const v = new BasicAuthVerifier(checker, () => file, { successTtlMs: 60_000, failureTtlMs: 60_000, maxEntries: 100 });
    assert.equal(await v.verify('mallory', 'pw'), false);
    assert.equal(checker.runs.length, 1);
    assert.match(checker.runs[0]!, /^\$2[aby]\$06\$/);
    assert.equal(await v.verify('alice', 'wrong'), false);
    assert.equal(await v.verify('alice', 'pw'), true);
    // The dummy hash matches no password, not even the one an attacker might guess it was made from.
    assert.equal(await v.verify('mallory', ''), false);
  });

  it('a repeated credential, right or wrong, costs no second bcrypt run; concurrent ones share one', async () => {
    const file = parseHtpasswd('f', `alice:${hash4}\n`);
    const checker = countingChecker();
    const v = new BasicAuthVerifier(checker, () => file, { successTtlMs: 60_000, failureTtlMs: 60_000, maxEntries: 100 });
    const answers = await Promise.all(Array.from({ length: 20 }, () => v.verify('alice', 'wrong')));
    assert.ok(answers.every((a) => a === false));
    assert.equal(await v.verify('alice', 'wrong'), false);
    assert.equal(checker.runs.length, 1);
    assert.equal(await v.verify('alice', 's3cret'), true);
    assert.equal(await v.verify('alice', 's3cret'), true);
    assert.equal(checker.runs.length, 2);
  });

  it('a changed hash in the file is checked again at once (no remembered success for an old password)', async () => {
    let file = parseHtpasswd('f', `alice:${hash4}\n`);
    const v = new BasicAuthVerifier(countingChecker(), () => file, { successTtlMs: 60_000, failureTtlMs: 60_000, maxEntries: 100 });
    assert.equal(await v.verify('alice', 's3cret'), true);
    file = parseHtpasswd('f', `alice:${bcrypt.hashSync('n3w', 4)}\n`);
    assert.equal(await v.verify('alice', 's3cret'), false);
    assert.equal(await v.verify('alice', 'n3w'), true);
  });

  it('checks passwords on a worker thread, and sheds load with 503 once its queue is full', async () => {
    const pool = new BcryptPool(1, 1);
    try {
      assert.equal(await pool.check('s3cret', hash4), true);
      assert.equal(await pool.check('nope', hash4), false);
      const slow = bcrypt.hashSync('x', 10);
      // The first runs, the second waits, the third finds the queue full: answered at once.
      const running = pool.check('a', slow);
      const waiting = pool.check('b', slow);
      await assert.rejects(pool.check('c', slow), (err: unknown) => err instanceof BusyError && err.status === 503);
      assert.deepEqual(await Promise.all([running, waiting]), [false, false]);
    } finally {
      await pool.close();
    }
  });
});

describe('forward-auth: a bcrypt thread that dies', function () {
  this.timeout(20_000);
  it('fails the check (a denial by error, never a match) and is replaced', async () => {
    const dir = makeTempDir();
    // A worker that dies on its first job, then (replaced) answers "match" to prove the replacement serves.
    const marker = join(dir, 'died');
    const script = join(dir, 'worker.mjs');
    writeFileSync(
      script,
      `import { parentPort } from 'node:worker_threads';\nimport { existsSync, writeFileSync } from 'node:fs';\n` +
        `parentPort.on('message', (m) => { if (!existsSync(${JSON.stringify(marker)})) { writeFileSync(${JSON.stringify(marker)}, ''); process.exit(3); } parentPort.postMessage({ id: m.id, ok: true }); });\n`,
    );
    const pool = new BcryptPool(1, 4, pathToFileURL(script));
    try {
      await assert.rejects(pool.check('pw', 'hash'), /exited|bcrypt/);
      assert.equal(await pool.check('pw', 'hash'), true);
    } finally {
      await pool.close();
    }
  });
});

describe('forward-auth: the tenants file (names to IDs)', () => {
  it('maps names to IDs in tenants.yaml format, the OIDC fields left to dynamic mode', () => {
    const m = parseTenantIds(
      'tenants.yaml',
      'tenants:\n  - name: team-a\n    id: 1a2b\n    oidc: {issuerURL: https://x, clientID: c}\n  - name: team-b\n    id: team-b-id\n',
    );
    assert.deepEqual(
      [...m],
      [
        ['team-a', '1a2b'],
        ['team-b', 'team-b-id'],
      ],
    );
  });

  it('refuses an ID Loki would read differently, and a name or ID listed twice', () => {
    assert.throws(() => parseTenantIds('t', 'tenants:\n  - {name: a, id: "x|y"}\n'), /tenants\[0\]\.id/);
    assert.throws(() => parseTenantIds('t', 'tenants:\n  - {name: a, id: x}\n  - {name: a, id: y}\n'), /tenants\[1\]\.name: tenant "a" is listed twice/);
    assert.throws(() => parseTenantIds('t', 'tenants:\n  - {name: a, id: x}\n  - {name: b, id: x}\n'), /tenants\[1\]\.id: tenant ID "x" is listed twice/);
  });
});
