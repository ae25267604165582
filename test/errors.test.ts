/**
 * The error catalogue (server/error-codes.ts): each code unique and used, every error class under
 * server/ carrying one, reasonOf never throwing whatever was thrown, and the statuses the catalogue
 * gives the codes that reach a caller being the ones the running service answers with.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { ERROR_CODES, type ErrorCode, type ErrorCodeEntry, reasonOf } from '../server/error-codes.js';
import { writeError } from '../server/http/error-handler.js';
import { LOKISTACK_TOKENS } from './support/fake-kube/fixtures.js';
import { lokistackFakeKubeOptions } from './support/fake-kube/fixtures.js';
import { startFakeKube, type FakeKube } from './support/fake-kube/server.js';
import { OPERATOR_LOGGING_ARGS, gatewayInput, postDecision, startAuthzOn, type RunningAuthz } from './support/openshift.js';
import { send } from './support/forward-auth.js';
import { ALLOWED_INPUT, captureLogger, startTestService, type TestService } from './support/service.js';

const SERVER = join(dirname(fileURLToPath(import.meta.url)), '..', 'server');
const CATALOGUE = join(SERVER, 'error-codes.ts');

function serverFiles(dir = SERVER): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return serverFiles(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

/**
 * Every string value in `file` (plain and no-substitution template literals), by the TS parser; not
 * literal types, so a code only listed in a type union, never thrown or answered, counts as unused.
 */
function stringLiterals(file: string, text: string): string[] {
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) && !ts.isLiteralTypeNode(node.parent)) found.push(node.text);
    ts.forEachChild(node, visit);
  };
  visit(ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true));
  return found;
}

/** The property names of the ERROR_CODES object literal as written, duplicates kept. */
function catalogueKeysAsWritten(text: string): string[] {
  const sf = ts.createSourceFile(CATALOGUE, text, ts.ScriptTarget.Latest, true);
  let keys: string[] | undefined;
  const visit = (node: ts.Node): void => {
    if (ts.isVariableDeclaration(node) && node.name.getText(sf) === 'ERROR_CODES') {
      let init: ts.Expression | undefined = node.initializer;
      while (init && (ts.isSatisfiesExpression(init) || ts.isAsExpression(init))) init = init.expression;
      if (init && ts.isObjectLiteralExpression(init)) keys = init.properties.map((p) => (p.name ? p.name.getText(sf).replace(/^['"]|['"]$/g, '') : ''));
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  assert.ok(keys, 'ERROR_CODES is an object literal in server/error-codes.ts');
  return keys;
}

/**
 * Error classes (anything whose base chain reaches the lib's Error) in `files` whose instances
 * lack a `code` of the catalogue's ErrorCode type, as "file: Class (why)".
 */
function uncodedErrorClasses(program: ts.Program, files: readonly string[]): string[] {
  const checker = program.getTypeChecker();
  const catalogue = program.getSourceFile(CATALOGUE);
  assert.ok(catalogue, 'the program holds server/error-codes.ts');
  const alias = catalogue.statements.find((s): s is ts.TypeAliasDeclaration => ts.isTypeAliasDeclaration(s) && s.name.text === 'ErrorCode');
  assert.ok(alias, 'server/error-codes.ts declares ErrorCode');
  const codeType = checker.getTypeAtLocation(alias.name);

  const isErrorClass = (type: ts.Type, depth = 0): boolean => {
    if (depth > 20) return false;
    return (checker.getBaseTypes(type as ts.InterfaceType) ?? []).some((base) => {
      const decl = base.getSymbol()?.declarations?.[0];
      if (base.getSymbol()?.name === 'Error' && decl && program.isSourceFileDefaultLibrary(decl.getSourceFile())) return true;
      return base.isClassOrInterface() && isErrorClass(base, depth + 1);
    });
  };

  const bad: string[] = [];
  for (const file of files) {
    const sf = program.getSourceFile(file);
    assert.ok(sf, `the program holds ${file}`);
    const visit = (node: ts.Node): void => {
      if ((ts.isClassDeclaration(node) || ts.isClassExpression(node)) && node.heritageClauses) {
        const symbol = node.name ? checker.getSymbolAtLocation(node.name) : checker.getTypeAtLocation(node).getSymbol();
        const instance = symbol ? checker.getDeclaredTypeOfSymbol(symbol) : undefined;
        if (instance && isErrorClass(instance)) {
          const name = `${relative(SERVER, file)}: ${node.name?.text ?? '(anonymous class)'}`;
          const code = checker.getPropertyOfType(instance, 'code');
          if (!code) bad.push(`${name} (no code)`);
          else {
            const type = checker.getTypeOfSymbolAtLocation(code, node);
            if (!checker.isTypeAssignableTo(type, codeType)) bad.push(`${name} (code: ${checker.typeToString(type)})`);
          }
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return bad;
}

function compilerOptions(): ts.CompilerOptions {
  const root = join(SERVER, '..');
  const { config } = ts.readConfigFile(join(root, 'tsconfig.json'), ts.sys.readFile);
  return { ...ts.parseJsonConfigFileContent(config, ts.sys, root).options, noEmit: true, types: ['node'] };
}

describe('error catalogue', () => {
  it('each code is written once in the catalogue, with a meaning of its own', () => {
    const keys = catalogueKeysAsWritten(readFileSync(CATALOGUE, 'utf8'));
    // A key written twice in an object literal silently keeps the last one: count them as written.
    assert.deepEqual(
      keys.filter((k, i) => keys.indexOf(k) !== i),
      [],
      'codes written twice',
    );
    assert.deepEqual(keys.sort(), Object.keys(ERROR_CODES).sort());
    for (const code of keys) assert.match(code, /^[a-z][a-z0-9_]*$/, `${code}: a stable snake_case string`);
    const meanings = Object.values(ERROR_CODES).map((e) => e.meaning);
    assert.deepEqual(
      meanings.filter((m, i) => meanings.indexOf(m) !== i),
      [],
      'two codes with one meaning',
    );
  });

  it('each code is used somewhere under server/ (the catalogue lists no dead code)', () => {
    const used = new Set(
      serverFiles()
        .filter((f) => f !== CATALOGUE)
        .flatMap((f) => stringLiterals(f, readFileSync(f, 'utf8'))),
    );
    assert.deepEqual(
      Object.keys(ERROR_CODES).filter((code) => !used.has(code)),
      [],
      'codes no server module writes',
    );
  });

  describe('every error class under server/ carries a code from the catalogue', function () {
    this.timeout(120_000);
    let program: ts.Program;
    const files = serverFiles();

    before(() => {
      program = ts.createProgram(files, compilerOptions());
    });

    it('scanned with the type checker: each class extending Error, directly or not, has `code: ErrorCode`', () => {
      assert.deepEqual(uncodedErrorClasses(program, files), []);
    });

    it('the scan catches a class without a code, one with a code outside the catalogue, and one inheriting a bad one', () => {
      const probe = join(SERVER, '__probe__.ts');
      const text = [
        "import type { ErrorCode } from './error-codes.js';",
        'export class Bare extends Error {}',
        "export class Stray extends Error { readonly code = 'not_in_the_catalogue'; }",
        'export class Inherits extends Bare {}',
        "export class Good extends Error { readonly code: ErrorCode = 'busy'; }",
        "export const Anonymous = class extends TypeError { readonly code = 'nope'; };",
      ].join('\n');
      const options = compilerOptions();
      const host = ts.createCompilerHost(options);
      const getSourceFile = host.getSourceFile.bind(host);
      host.getSourceFile = (name, lang, ...rest) => (name === probe ? ts.createSourceFile(name, text, lang) : getSourceFile(name, lang, ...rest));
      const fileExists = host.fileExists.bind(host);
      host.fileExists = (name) => name === probe || fileExists(name);
      const probed = ts.createProgram([probe, CATALOGUE], options, host, program);
      assert.deepEqual(uncodedErrorClasses(probed, [probe]).sort(), [
        '__probe__.ts: (anonymous class) (code: "nope")',
        '__probe__.ts: Bare (no code)',
        '__probe__.ts: Inherits (no code)',
        '__probe__.ts: Stray (code: "not_in_the_catalogue")',
      ]);
    });
  });
});

describe('docs/errors.md', () => {
  it('lists every code of the catalogue, and no other, with the statuses the catalogue gives it', () => {
    const doc = readFileSync(join(SERVER, '..', 'docs', 'errors.md'), 'utf8');
    const rows = [...doc.matchAll(/^\| `([a-z0-9_]+)` \| ([^|]*) \|/gm)].map((m) => [m[1]!, m[2]!.trim()] as const);
    assert.deepEqual(rows.map(([code]) => code).sort(), Object.keys(ERROR_CODES).sort());
    for (const [code, answered] of rows) {
      const entry: ErrorCodeEntry = ERROR_CODES[code as ErrorCode];
      const want = [entry.dataApi && `Data API ${entry.dataApi.join(', ')}`, entry.forwardAuth && `/forward-auth ${entry.forwardAuth.join(', ')}`]
        .filter(Boolean)
        .join('; ');
      assert.equal(answered, want || 'logs only', code);
    }
  });
});

describe('reasonOf', () => {
  it("an Error's message; a string as it is; anything else as String() makes it", () => {
    assert.equal(reasonOf(new Error('boom')), 'boom');
    assert.equal(reasonOf(new TypeError('bad type')), 'bad type');
    assert.equal(reasonOf('plain'), 'plain');
    assert.equal(reasonOf({ message: 'not an Error' }), '[object Object]');
    assert.equal(reasonOf(null), 'null');
    assert.equal(reasonOf(undefined), 'undefined');
    assert.equal(reasonOf(42), '42');
    assert.equal(reasonOf(Symbol('s')), 'Symbol(s)');
  });

  it('never throws on a value shaped to throw while described', () => {
    const getter = new Error('hidden');
    Object.defineProperty(getter, 'message', {
      get() {
        throw new Error('message getter');
      },
    });
    const toStringThrows = {
      toString() {
        throw new Error('toString');
      },
    };
    const trap = new Proxy(
      {},
      {
        get() {
          throw new Error('get trap');
        },
        getPrototypeOf() {
          throw new Error('getPrototypeOf trap');
        },
      },
    );
    const noPrototype = Object.create(null) as object;
    for (const [name, value] of [
      ['an Error whose message getter throws', getter],
      ['an object whose toString throws', toStringThrows],
      ['a Proxy that throws on every trap', trap],
      ['an object without a prototype (no toString)', noPrototype],
    ] as const) {
      let reason: unknown;
      assert.doesNotThrow(() => {
        reason = reasonOf(value);
      }, name);
      assert.equal(typeof reason, 'string', name);
      assert.ok((reason as string).length > 0, name);
    }
  });
});

describe('the error handler', () => {
  let server: Server;
  let url: string;
  let toThrow: unknown;
  const log = captureLogger();

  before(async () => {
    server = createServer((req, res) => {
      req.resume();
      writeError(log.logger, req, res, toThrow);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/data/x`;
  });
  after(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });

  it("answers OPA's 500 envelope for an error whose cause cannot be serialized (cyclic), and logs it", async () => {
    const cause: Record<string, unknown> = { kind: 'socket' };
    cause.self = cause;
    toThrow = new Error('library failure', { cause });
    const res = await fetch(url);
    assert.equal(res.status, 500);
    assert.deepEqual(await res.json(), { code: 'internal_error', message: 'internal error' });
    assert.ok(log.records().some((r) => r.msg === 'internal error' && (r.err as { message?: string })?.message === 'library failure'));
  });
});

/**
 * Against the running service: an openshift-logging service over the fake Kubernetes API, with
 * token verification and /forward-auth on. Each request is one the protocols name (opa-openshift
 * answers 400/401/500 in OPA's envelope; a forward-auth proxy reads 400/401/403); the answer's
 * status must be one the catalogue gives its code, on that API.
 */
describe('the catalogue against what the service answers', function () {
  this.timeout(60_000);
  let fake: FakeKube;
  let authz: RunningAuthz;

  before(async () => {
    fake = await startFakeKube(lokistackFakeKubeOptions());
    authz = await startAuthzOn(fake, [...OPERATOR_LOGGING_ARGS, '--openshift.verify-token', '--forward-auth.enabled']);
  });
  after(async () => {
    await authz?.stop();
    await fake?.close();
  });

  const dataApi: Array<[string, () => ReturnType<typeof postDecision>, ErrorCode]> = [
    ['a body that is not JSON', () => postDecision(authz.url, { rawBody: '{"input": ' }), 'invalid_parameter'],
    [
      'a permission the gateway never sends',
      () => postDecision(authz.url, { input: gatewayInput('bob', { permission: 'delete' as 'read' }), token: LOKISTACK_TOKENS.bob }),
      'invalid_parameter',
    ],
    ['a token the cluster does not authenticate', () => postDecision(authz.url, { input: gatewayInput('bob'), token: 'token-nobody' }), 'unauthorized'],
    [
      'a tenant with no mapping',
      () => postDecision(authz.url, { input: gatewayInput('bob', { tenant: 'no-such-tenant' }), token: LOKISTACK_TOKENS.bob }),
      'internal_error',
    ],
  ];

  for (const [name, ask, want] of dataApi) {
    it(`Data API, ${name}: ${want} with a status the catalogue gives it`, async () => {
      const r = await ask();
      const body = r.body as { code?: string; message?: string };
      assert.equal(body?.code, want, r.text);
      assert.equal(typeof body.message, 'string');
      const entry: ErrorCodeEntry = ERROR_CODES[want];
      assert.ok(entry.dataApi?.includes(r.status), `${want} answered ${r.status}; the catalogue says ${JSON.stringify(entry.dataApi)}`);
    });
  }

  type Sent = { headers: Array<[string, string]>; method?: string; body?: string };
  const query = (...more: Array<[string, string]>): Sent => ({
    headers: [['X-Original-Method', 'GET'], ['X-Original-URI', '/loki/api/v1/query'], ...more],
  });
  const gatewayBody = (body: string, contentType = 'application/json'): Sent => ({ method: 'POST', body, headers: [['Content-Type', contentType]] });
  const forwardAuth: Array<[string, Sent, ErrorCode]> = [
    ['no original request named', { headers: [] }, 'no_original_request'],
    ['a db-auth-gateway body that is not JSON', gatewayBody('{"path":'), 'invalid_body'],
    ['a body that is not declared JSON', gatewayBody('path=/', 'text/plain'), 'unsupported_body'],
    ['a scope no proxy documents', gatewayBody('{"path":"/","method":"GET","requiredScope":"logs:everything"}'), 'unknown_scope'],
    [
      'an original method that is no HTTP method (lower case)',
      {
        headers: [
          ['X-Original-Method', 'get'],
          ['X-Original-URI', '/loki/api/v1/query'],
        ],
      },
      'unknown_method',
    ],
    [
      'a path that is no Loki API',
      {
        headers: [
          ['X-Original-Method', 'GET'],
          ['X-Original-URI', '/admin/secrets'],
          ['Authorization', 'Bearer token-bob'],
        ],
      },
      'unknown_path',
    ],
    ['the original path sent twice', query(['X-Original-URI', '/loki/api/v1/labels']), 'ambiguous_request'],
    ['an empty tenant ID in X-Scope-OrgID', query(['X-Scope-OrgID', 'application|'], ['Authorization', 'Bearer token-bob']), 'invalid_tenant'],
    ['no credential', query(), 'no_credential'],
    ['a token the cluster does not authenticate', query(['Authorization', 'Bearer token-nobody']), 'token_review_failed'],
    ['a tenant that is not configured', query(['X-Scope-OrgID', 'no-such-tenant'], ['Authorization', `Bearer ${LOKISTACK_TOKENS.bob}`]), 'unknown_tenant'],
  ];

  for (const [name, sent, want] of forwardAuth) {
    it(`/forward-auth, ${name}: ${want} with a status the catalogue gives it`, async () => {
      const r = await send(`${authz.url}/forward-auth`, sent);
      const body = JSON.parse(r.body) as { code?: string };
      assert.equal(body.code, want, r.body);
      const entry: ErrorCodeEntry = ERROR_CODES[want];
      assert.ok(entry.forwardAuth?.includes(r.status), `${want} answered ${r.status}; the catalogue says ${JSON.stringify(entry.forwardAuth)}`);
    });
  }
});

/**
 * The 503s: a service whose buffered-bytes budget is smaller than one body sheds every body, at
 * once and deterministically. Both APIs answer it with Retry-After, in their own code.
 */
describe('the catalogue against what the service answers when it sheds load', function () {
  this.timeout(60_000);
  let svc: TestService;

  before(async () => {
    svc = await startTestService({ flags: ['--web.max-buffered-bytes=64', '--forward-auth.enabled', '--forward-auth.trusted-proxies=127.0.0.2/32'] });
  });
  after(async () => svc?.stop());

  const body = JSON.stringify({ input: { ...ALLOWED_INPUT, pad: 'p'.repeat(200) } });

  it('Data API, a body past the budget: internal_error, 503 with Retry-After', async () => {
    const r = await fetch(`${svc.publicUrl}/v1/data/lokistack/allow`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
    const entry: ErrorCodeEntry = ERROR_CODES.internal_error;
    const text = await r.text();
    assert.equal((JSON.parse(text) as { code?: string }).code, 'internal_error', text);
    assert.equal(r.status, 503);
    assert.equal(r.headers.get('retry-after'), '1');
    assert.ok(entry.dataApi?.includes(r.status));
  });

  it('/forward-auth, a db-auth-gateway body past the budget: busy, 503 with Retry-After', async () => {
    const r = await send(`${svc.publicUrl}/forward-auth`, {
      method: 'POST',
      headers: [['Content-Type', 'application/json']],
      body: JSON.stringify({ path: `/loki/api/v1/query?pad=${'p'.repeat(200)}`, method: 'GET', requiredScope: 'logs:read' }),
    });
    assert.equal((JSON.parse(r.body) as { code?: string }).code, 'busy', r.body);
    assert.equal(r.headers['retry-after'], '1');
    const entry: ErrorCodeEntry = ERROR_CODES.busy;
    assert.ok(entry.forwardAuth?.includes(r.status), `busy answered ${r.status}`);
  });
});
