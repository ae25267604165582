/**
 * The OPA Data API as OPA answers it, served by the real service in-process over the real compiled
 * policy (wasm/lokistack.wasm): status codes, bodies byte for byte, headers, limits and errors.
 */
import { strict as assert } from 'node:assert';
import { gzipSync } from 'node:zlib';
import request from 'supertest';
import { startFakeKube, type FakeKube } from './support/fake-kube/server.js';
import { LOKISTACK_TOKENS, lokistackFakeKubeOptions } from './support/fake-kube/fixtures.js';
import { OPERATOR_LOGGING_ARGS, OPERATOR_NETWORK_ARGS, gatewayInput, startAuthzOn, type RunningAuthz } from './support/openshift.js';
import { ALLOWED_INPUT, DENIED_INPUT, rawRequest, startTestService, type TestService } from './support/service.js';

const MAX_BODY = 4096;
const MAX_DEPTH = 10;
const MISSING_WARNING = `"warning":{"code":"api_usage_warning","message":"'input' key missing from the request"}`;

// Roles whose names need escaping, keys that sort differently from insertion order, a user named
// "42" (to prove a numeric subject does not match it) and a group binding.
const RBAC = `roles:
  - name: application-read
    resources: [logs]
    tenants: [application]
    permissions: [read]
  - name: "a<b>&c"
    resources: [logs]
    tenants: [audit]
    permissions: [read]
roleBindings:
  - name: developers-read-application
    roles: [application-read]
    subjects:
      - kind: group
        name: developers
      - kind: user
        name: alice@example.com
      - kind: user
        name: "42"
  - name: odd
    roles: ["a<b>&c"]
    subjects:
      - kind: user
        name: "x<y>&z"
`;

function post(svc: TestService, path: string) {
  return request(svc.publicUrl).post(path);
}

/** POSTs bytes exactly as given (superagent would serialize a Buffer as JSON). */
async function postBytes(svc: TestService, path: string, body: Uint8Array, headers: Record<string, string>) {
  const res = await rawRequest(svc.publicUrl + path, { headers: { 'content-length': body.length, ...headers }, chunks: [body] });
  return { status: res.status, text: res.body, headers: res.headers as Record<string, string> };
}

const GZIP_JSON = { 'content-type': 'application/json', 'content-encoding': 'gzip' };

/** Asserts OPA's error envelope exactly: 2-space indented JSON plus a newline. */
function assertEnvelope(res: { status: number; text: string; headers: Record<string, string> }, status: number, code: string, messagePrefix: string): void {
  assert.equal(res.status, status, res.text);
  assert.equal(res.headers['content-type'], 'application/json');
  const body = JSON.parse(res.text) as { code: string; message: string };
  assert.deepEqual(Object.keys(body), ['code', 'message']);
  assert.equal(body.code, code);
  assert.ok(body.message.startsWith(messagePrefix), `message ${JSON.stringify(body.message)} should start with ${JSON.stringify(messagePrefix)}`);
  assert.equal(res.text, `${JSON.stringify(body, null, 2)}\n`);
}

describe('OPA Data API (static mode, compiled policy)', () => {
  let svc: TestService;

  before(async () => {
    svc = await startTestService({ rbac: RBAC, flags: [`--web.max-body-bytes=${MAX_BODY}`, `--web.max-input-depth=${MAX_DEPTH}`] });
  });
  after(async () => {
    await svc?.stop();
  });

  describe('decisions', () => {
    it('POST {"input"} answers 200 {"result":true} for an allowed request, compact, with a trailing newline', async () => {
      const res = await post(svc, '/v1/data/lokistack/allow').send({ input: ALLOWED_INPUT });
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-type'], 'application/json');
      assert.equal(res.text, '{"result":true}\n');
    });

    it('POST answers {"result":false} for a denied request', async () => {
      const res = await post(svc, '/v1/data/lokistack/allow').send({ input: DENIED_INPUT });
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-type'], 'application/json');
      assert.equal(res.text, '{"result":false}\n');
    });

    it('a group binding allows, and other top-level keys of the body are ignored', async () => {
      const input = { ...ALLOWED_INPUT, subject: 'bob', groups: ['other', 'developers'] };
      const res = await post(svc, '/v1/data/lokistack/allow').send({ input, extra: { ignored: true } });
      assert.equal(res.text, '{"result":true}\n');
    });

    it('GET ?input=<json> decides like POST', async () => {
      const allow = await request(svc.publicUrl)
        .get('/v1/data/lokistack/allow')
        .query({ input: JSON.stringify(ALLOWED_INPUT) });
      assert.equal(allow.status, 200);
      assert.equal(allow.headers['content-type'], 'application/json');
      assert.equal(allow.text, '{"result":true}\n');
      const deny = await request(svc.publicUrl)
        .get('/v1/data/lokistack/allow')
        .query({ input: JSON.stringify(DENIED_INPUT) });
      assert.equal(deny.text, '{"result":false}\n');
    });

    it('GET with several ?input= uses the last one, as OPA does', async () => {
      const q = `input=${encodeURIComponent(JSON.stringify(DENIED_INPUT))}&input=${encodeURIComponent(JSON.stringify(ALLOWED_INPUT))}`;
      const res = await request(svc.publicUrl).get(`/v1/data/lokistack/allow?${q}`);
      assert.equal(res.text, '{"result":true}\n');
    });

    it('GET without ?input evaluates with no input and adds no warning', async () => {
      const res = await request(svc.publicUrl).get('/v1/data/lokistack/allow');
      assert.equal(res.status, 200);
      assert.equal(res.text, '{"result":false}\n');
    });

    it('GET with a malformed ?input answers 400 invalid_parameter "parameter contains malformed input document"', async () => {
      const res = await request(svc.publicUrl).get('/v1/data/lokistack/allow?input=%7B%22subject');
      assertEnvelope(res, 400, 'invalid_parameter', 'parameter contains malformed input document: ');
    });
  });

  describe('documents other than the decision', () => {
    it('an undefined document answers 200 {} (walking past the end of a list)', async () => {
      const res = await post(svc, '/v1/data/roles/7').send({ input: {} });
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-type'], 'application/json');
      assert.equal(res.text, '{}\n');
    });

    it('an unknown path answers 200 {}', async () => {
      for (const path of ['/v1/data/nope', '/v1/data/lokistack/nope', '/v1/data/nope/deeper/still']) {
        const res = await post(svc, path).send({ input: ALLOWED_INPUT });
        assert.equal(res.status, 200, path);
        assert.equal(res.text, '{}\n', path);
      }
    });

    it('the package document /v1/data/lokistack holds allow and the helper set, as a sorted array', async () => {
      const res = await post(svc, '/v1/data/lokistack').send({ input: ALLOWED_INPUT });
      assert.equal(res.status, 200);
      assert.equal(res.text, '{"result":{"allow":true,"label_policy":{"restricted":false},"matched_role_binding":[0]}}\n');
    });

    it('/v1/data is the whole document: the policy package over the base data', async () => {
      const res = await post(svc, '/v1/data').send({ input: DENIED_INPUT });
      assert.equal(res.status, 200);
      const body = JSON.parse(res.text) as { result: Record<string, unknown> };
      assert.deepEqual(Object.keys(body.result), ['lokistack', 'roleBindings', 'roles']);
      assert.deepEqual(body.result.lokistack, { allow: false, matched_role_binding: [0] });
      assert.equal((body.result.roles as unknown[]).length, 2);
    });

    it('GET /v1/data/roles/0/name walks the data', async () => {
      const res = await request(svc.publicUrl).get('/v1/data/roles/0/name');
      assert.equal(res.text, '{"result":"application-read"}\n');
    });

    it('answers with object keys sorted and <, >, & escaped as \\u003c \\u003e \\u0026', async () => {
      const res = await request(svc.publicUrl).get('/v1/data/roles/1');
      assert.equal(res.status, 200);
      assert.equal(res.text, '{"result":{"name":"a\\u003cb\\u003e\\u0026c","permissions":["read"],"resources":["logs"],"tenants":["audit"]}}\n');
      const bindings = await request(svc.publicUrl).get('/v1/data/roleBindings/1');
      assert.equal(
        bindings.text,
        '{"result":{"name":"odd","roles":["a\\u003cb\\u003e\\u0026c"],"subjects":[{"kind":"user","name":"x\\u003cy\\u003e\\u0026z"}]}}\n',
      );
    });

    it('a role name with <, >, & still decides: the escaped names are only in the answer', async () => {
      const res = await post(svc, '/v1/data/lokistack/allow').send({ input: { ...DENIED_INPUT, subject: 'x<y>&z' } });
      assert.equal(res.text, '{"result":true}\n');
    });
  });

  describe('missing input', () => {
    for (const [label, body] of [
      ['an empty body', ''],
      ['null', 'null'],
      ['{}', '{}'],
      ['{"input":null}', '{"input":null}'],
      ['an object with other keys only', '{"inptu":{"subject":"alice@example.com"}}'],
    ] as const) {
      it(`${label}: evaluates without input and warns, result before warning`, async () => {
        const res = await post(svc, '/v1/data/lokistack/allow').set('Content-Type', 'application/json').send(body);
        assert.equal(res.status, 200);
        assert.equal(res.headers['content-type'], 'application/json');
        assert.equal(res.text, `{"result":false,${MISSING_WARNING}}\n`);
      });
    }

    it('an undefined document without input has the warning alone', async () => {
      const res = await post(svc, '/v1/data/nope').set('Content-Type', 'application/json').send('{}');
      assert.equal(res.text, `{${MISSING_WARNING}}\n`);
    });
  });

  describe('malformed requests', () => {
    for (const [label, body] of [
      ['truncated JSON', '{"input":'],
      ['invalid JSON', '{"input":x}'],
      ['JSON with a stray comma', '{"input":{},}'],
    ] as const) {
      it(`${label}: 400 invalid_parameter "body contains malformed input document", indented with 2 spaces`, async () => {
        const res = await post(svc, '/v1/data/lokistack/allow').set('Content-Type', 'application/json').send(body);
        assertEnvelope(res, 400, 'invalid_parameter', 'body contains malformed input document: ');
      });
    }

    it('a truncated body is reported as unexpected EOF, as Go reports it', async () => {
      const res = await post(svc, '/v1/data/lokistack/allow').set('Content-Type', 'application/json').send('{"input":');
      assert.equal(JSON.parse(res.text).message, 'body contains malformed input document: unexpected EOF');
    });

    for (const body of ['[1]', '"s"', '42', 'true', '[]']) {
      it(`a body that is not an object (${body}): 400 invalid_parameter`, async () => {
        const res = await post(svc, '/v1/data/lokistack/allow').set('Content-Type', 'application/json').send(body);
        assertEnvelope(res, 400, 'invalid_parameter', 'body contains malformed input document: ');
      });
    }

    it('a malformed body is never quoted back: a credential in it stays out of the answer', async () => {
      const secret = 'sha256~Secret-Token-In-Body-1234567890';
      const res = await post(svc, '/v1/data/lokistack/allow').set('Content-Type', 'application/json').send(`{"input":{"token":"${secret}", oops}}`);
      assertEnvelope(res, 400, 'invalid_parameter', 'body contains malformed input document: ');
      assert.ok(!res.text.includes('Secret-Token'), res.text);
    });

    it('YAML with Content-Type application/yaml is parsed as YAML', async () => {
      const yaml = 'input:\n  subject: alice@example.com\n  groups: []\n  permission: read\n  resource: logs\n  tenant: application\n';
      const res = await post(svc, '/v1/data/lokistack/allow').set('Content-Type', 'application/yaml').send(yaml);
      assert.equal(res.status, 200);
      assert.equal(res.text, '{"result":true}\n');
      const denied = await post(svc, '/v1/data/lokistack/allow').set('Content-Type', 'application/x-yaml').send(yaml.replace('application\n', 'audit\n'));
      assert.equal(denied.text, '{"result":false}\n');
    });

    it('a YAML alias bomb is refused at once, not expanded', async () => {
      const lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
      const names = 'abcdefghij';
      for (let i = 1; i < names.length; i++)
        lines.push(
          `${names[i]}: &${names[i]} [${Array(10)
            .fill(`*${names[i - 1]}`)
            .join(',')}]`,
        );
      lines.push('input: *j');
      const res = await post(svc, '/v1/data/lokistack/allow').set('Content-Type', 'application/yaml').send(lines.join('\n'));
      assertEnvelope(res, 400, 'invalid_parameter', 'body contains malformed input document: ');
    });

    it('the same YAML sent as JSON is malformed', async () => {
      const res = await post(svc, '/v1/data/lokistack/allow').set('Content-Type', 'application/json').send('input:\n  subject: alice\n');
      assertEnvelope(res, 400, 'invalid_parameter', 'body contains malformed input document: ');
    });
  });

  describe('body limits and encodings', () => {
    it('a declared Content-Length over --web.max-body-bytes: 400 "request body too large", without waiting for the body', async () => {
      const res = await rawRequest(`${svc.publicUrl}/v1/data/lokistack/allow`, {
        headers: { 'content-type': 'application/json', 'content-length': MAX_BODY * 100 },
        chunks: ['{"input":'],
        // The rest never comes: the answer must not depend on it.
        beforeChunk: () => new Promise(() => {}),
      });
      assert.equal(res.status, 400);
      assert.equal(res.headers['content-type'], 'application/json');
      assert.equal(res.body, `${JSON.stringify({ code: 'invalid_parameter', message: 'request body too large' }, null, 2)}\n`);
    });

    it('a chunked body growing over the limit: 400 "request body too large"', async () => {
      const filler = `{"input":{"pad":"${'a'.repeat(MAX_BODY)}"}}`;
      const chunks = [filler.slice(0, 1000), filler.slice(1000, 3000), filler.slice(3000)];
      const res = await rawRequest(`${svc.publicUrl}/v1/data/lokistack/allow`, { headers: { 'content-type': 'application/json' }, chunks });
      assert.equal(res.status, 400);
      assert.equal(JSON.parse(res.body).message, 'request body too large');
    });

    it('a chunked body within the limit is decided', async () => {
      const body = JSON.stringify({ input: ALLOWED_INPUT });
      const res = await rawRequest(`${svc.publicUrl}/v1/data/lokistack/allow`, {
        headers: { 'content-type': 'application/json' },
        chunks: [body.slice(0, 10), body.slice(10, 40), body.slice(40)],
      });
      assert.equal(res.status, 200);
      assert.equal(res.body, '{"result":true}\n');
    });

    it('a body of exactly the limit is read', async () => {
      const base = JSON.stringify({ input: ALLOWED_INPUT, pad: '' });
      const body = base.replace('"pad":""', `"pad":"${'p'.repeat(MAX_BODY - base.length)}"`);
      assert.equal(Buffer.byteLength(body), MAX_BODY);
      const res = await post(svc, '/v1/data/lokistack/allow').set('Content-Type', 'application/json').send(body);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.text, '{"result":true}\n');
    });

    it('a gzip request body (Content-Encoding: gzip) is decompressed and decided', async () => {
      const res = await postBytes(svc, '/v1/data/lokistack/allow', gzipSync(JSON.stringify({ input: ALLOWED_INPUT })), GZIP_JSON);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.text, '{"result":true}\n');
    });

    it('gzip that is small on the wire but over the limit once decompressed: 400 "compressed request body too large"', async () => {
      const zipped = gzipSync(JSON.stringify({ input: { ...ALLOWED_INPUT, pad: 'z'.repeat(MAX_BODY * 50) } }));
      assert.ok(zipped.length < MAX_BODY);
      const res = await postBytes(svc, '/v1/data/lokistack/allow', zipped, GZIP_JSON);
      assertEnvelope(res, 400, 'invalid_parameter', 'compressed request body too large');
      assert.equal(JSON.parse(res.text).message, 'compressed request body too large');
    });

    it('bytes that are not gzip under Content-Encoding: gzip: 400 invalid_parameter "could not decompress the body"', async () => {
      const res = await postBytes(svc, '/v1/data/lokistack/allow', Buffer.from(JSON.stringify({ input: ALLOWED_INPUT })), GZIP_JSON);
      assertEnvelope(res, 400, 'invalid_parameter', 'could not decompress the body: ');
    });

    it('a truncated gzip stream: 400 invalid_parameter', async () => {
      const zipped = gzipSync(JSON.stringify({ input: ALLOWED_INPUT }));
      const res = await postBytes(svc, '/v1/data/lokistack/allow', zipped.subarray(0, zipped.length - 6), GZIP_JSON);
      assertEnvelope(res, 400, 'invalid_parameter', 'could not decompress the body: ');
    });

    it('gzip over the limit on the wire: 400 "request body too large"', async () => {
      const random = Buffer.from(Array.from({ length: MAX_BODY * 2 }, (_, i) => (i * 7919) % 251));
      const zipped = gzipSync(JSON.stringify({ input: { pad: random.toString('base64') } }), { level: 0 });
      assert.ok(zipped.length > MAX_BODY);
      const res = await postBytes(svc, '/v1/data/lokistack/allow', zipped, GZIP_JSON);
      assertEnvelope(res, 400, 'invalid_parameter', 'request body too large');
    });

    it('the service keeps answering on new connections after limit errors', async () => {
      const res = await post(svc, '/v1/data/lokistack/allow').send({ input: ALLOWED_INPUT });
      assert.equal(res.text, '{"result":true}\n');
    });
  });

  describe('query parameters', () => {
    it('?pretty (bare) indents with 2 spaces, as Go MarshalIndent', async () => {
      const res = await post(svc, '/v1/data/lokistack?pretty').send({ input: ALLOWED_INPUT });
      assert.equal(res.status, 200);
      assert.equal(
        res.text,
        '{\n  "result": {\n    "allow": true,\n    "label_policy": {\n      "restricted": false\n    },\n    "matched_role_binding": [\n      0\n    ]\n  }\n}\n',
      );
    });

    it('?pretty=true and ?pretty=TRUE indent', async () => {
      for (const q of ['pretty=true', 'pretty=TRUE']) {
        const res = await post(svc, `/v1/data/lokistack/allow?${q}`).send({ input: ALLOWED_INPUT });
        assert.equal(res.text, '{\n  "result": true\n}\n', q);
      }
    });

    it('?pretty=1 and ?pretty=false are false: compact', async () => {
      for (const q of ['pretty=1', 'pretty=false', 'pretty=yes']) {
        const res = await post(svc, `/v1/data/lokistack/allow?${q}`).send({ input: ALLOWED_INPUT });
        assert.equal(res.text, '{"result":true}\n', q);
      }
    });

    it('?pretty with a warning indents the warning too, result first', async () => {
      const res = await post(svc, '/v1/data/lokistack/allow?pretty').set('Content-Type', 'application/json').send('{}');
      assert.equal(
        res.text,
        `{\n  "result": false,\n  "warning": {\n    "code": "api_usage_warning",\n    "message": "'input' key missing from the request"\n  }\n}\n`,
      );
    });

    it('?metrics adds a metrics object with timers in nanoseconds, before result', async () => {
      const res = await post(svc, '/v1/data/lokistack/allow?metrics').send({ input: ALLOWED_INPUT });
      assert.equal(res.status, 200);
      const body = JSON.parse(res.text) as { metrics: Record<string, number>; result: unknown };
      assert.deepEqual(Object.keys(body), ['metrics', 'result']);
      assert.equal(body.result, true);
      assert.ok('timer_server_handler_ns' in body.metrics);
      for (const [k, v] of Object.entries(body.metrics)) {
        assert.ok(k.startsWith('timer_') || k.startsWith('counter_'), k);
        assert.ok(Number.isInteger(v) && v >= 0, `${k}=${v}`);
      }
      const keys = Object.keys(body.metrics);
      assert.deepEqual(keys, [...keys].sort());
    });

    it('?metrics=true too; ?metrics=1 adds nothing', async () => {
      const yes = await post(svc, '/v1/data/lokistack/allow?metrics=true').send({ input: ALLOWED_INPUT });
      assert.ok('metrics' in JSON.parse(yes.text));
      const no = await post(svc, '/v1/data/lokistack/allow?metrics=1').send({ input: ALLOWED_INPUT });
      assert.equal(no.text, '{"result":true}\n');
    });
  });

  describe('methods, paths and routing', () => {
    // OPA's router serves GET and POST on /v1/data; HEAD matches neither (reference/opa-api-and-wasm.md §1).
    for (const method of ['head', 'put', 'patch', 'delete', 'options'] as const) {
      it(`${method.toUpperCase()} on /v1/data answers 405 with an empty body`, async () => {
        for (const path of ['/v1/data/lokistack/allow', '/v1/data']) {
          const res = await request(svc.publicUrl)
            [method](path)
            .set('Content-Type', 'application/json')
            .send(method === 'options' || method === 'head' ? undefined : '{}');
          assert.equal(res.status, 405, `${method} ${path}`);
          assert.equal(res.text ?? '', '', `${method} ${path}`);
          assert.equal(res.headers['content-length'] ?? '0', '0');
        }
      });
    }

    it('a path segment with a double quote: 400 invalid_parameter "invalid path"', async () => {
      const res = await post(svc, '/v1/data/lokistack/a%22b').send({ input: {} });
      assertEnvelope(res, 400, 'invalid_parameter', 'invalid path: ');
    });

    it('%2F stays inside one segment: lokistack%2Fallow is not lokistack/allow (undefined)', async () => {
      const res = await post(svc, '/v1/data/lokistack%2Fallow').send({ input: ALLOWED_INPUT });
      assert.equal(res.status, 200);
      assert.equal(res.text, '{}\n');
    });

    it('other escapes are unescaped per segment: /v1/data/lokistack/%61llow is allow', async () => {
      const res = await post(svc, '/v1/data/lokistack/%61llow').send({ input: ALLOWED_INPUT });
      assert.equal(res.text, '{"result":true}\n');
    });

    it('a trailing slash: 301 to the path without it, query kept', async () => {
      const res = await post(svc, '/v1/data/lokistack/allow/?pretty').send({ input: ALLOWED_INPUT });
      assert.equal(res.status, 301);
      assert.equal(res.headers.location, '/v1/data/lokistack/allow?pretty');
      const root = await request(svc.publicUrl).get('/v1/data/');
      assert.equal(root.status, 301);
      assert.equal(root.headers.location, '/v1/data');
    });

    it('a double slash: 307 to the cleaned path (the method and body are to be kept)', async () => {
      const res = await post(svc, '/v1/data//lokistack/allow').send({ input: ALLOWED_INPUT });
      assert.equal(res.status, 307);
      assert.equal(res.headers.location, '/v1/data/lokistack/allow');
    });

    for (const path of ['/', '/foo', '/v1/dat', '/v1/datax', '/v2/data/lokistack/allow', '/v0/data/lokistack/allow', '/v1/query']) {
      it(`${path} is not the Data API: 404 text/plain "404 page not found"`, async () => {
        const res = await post(svc, path).send({ input: ALLOWED_INPUT });
        assert.equal(res.status, 404);
        assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
        assert.equal(res.text, '404 page not found\n');
      });
    }
  });

  describe('inputs of the wrong shape never allow', () => {
    const wrong: Array<[string, unknown]> = [
      ['groups a string naming a bound group', { ...DENIED_INPUT, subject: 'bob', tenant: 'application', groups: 'developers' }],
      ['groups an object whose value names a bound group', { ...DENIED_INPUT, subject: 'bob', tenant: 'application', groups: { g: 'developers' } }],
      ['groups an object whose key names a bound group', { ...DENIED_INPUT, subject: 'bob', tenant: 'application', groups: { developers: true } }],
      ['groups null', { ...DENIED_INPUT, subject: 'bob', tenant: 'application', groups: null }],
      ['groups a list of lists', { ...DENIED_INPUT, subject: 'bob', tenant: 'application', groups: [['developers']] }],
      ['subject a number equal to a bound user name', { ...DENIED_INPUT, subject: 42, tenant: 'application', groups: [] }],
      ['subject a list holding a bound user name', { ...DENIED_INPUT, subject: ['alice@example.com'], tenant: 'application', groups: [] }],
      ['subject an object', { ...DENIED_INPUT, subject: { name: 'alice@example.com' }, tenant: 'application', groups: [] }],
      ['tenant a list', { ...ALLOWED_INPUT, tenant: ['application'] }],
      ['permission a list', { ...ALLOWED_INPUT, permission: ['read'] }],
      ['input a string', 'alice@example.com'],
      ['input a number', 42],
      ['input an array', [ALLOWED_INPUT]],
      ['input true', true],
      ['input an empty object', {}],
    ];
    for (const [label, input] of wrong) {
      it(`${label}: 200 {"result":false}`, async () => {
        const res = await post(svc, '/v1/data/lokistack/allow').send({ input });
        assert.equal(res.status, 200, res.text);
        assert.equal(res.text, '{"result":false}\n');
        const viaGet = await request(svc.publicUrl)
          .get('/v1/data/lokistack/allow')
          .query({ input: JSON.stringify(input) });
        assert.equal(viaGet.text, '{"result":false}\n');
      });
    }

    it(`nesting up to --web.max-input-depth (${MAX_DEPTH}) is evaluated`, async () => {
      // The input itself is level 1.
      let deep: unknown = 'developers';
      for (let i = 0; i < MAX_DEPTH; i++) deep = [deep];
      const res = await post(svc, '/v1/data/lokistack/allow').send({ input: deep });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.text, '{"result":false}\n');
    });

    it('nesting deeper than --web.max-input-depth: 400 invalid_parameter, in POST and GET', async () => {
      let deep: unknown = 'developers';
      for (let i = 0; i < MAX_DEPTH + 1; i++) deep = { groups: deep };
      const res = await post(svc, '/v1/data/lokistack/allow').send({ input: deep });
      assertEnvelope(res, 400, 'invalid_parameter', 'body contains malformed input document: ');
      const viaGet = await request(svc.publicUrl)
        .get('/v1/data/lokistack/allow')
        .query({ input: JSON.stringify(deep) });
      assertEnvelope(viaGet, 400, 'invalid_parameter', 'parameter contains malformed input document: ');
    });

    it('very deep nesting (100000 levels) is refused without crashing the process', async () => {
      const n = 100_000;
      const body = `{"input":${'['.repeat(n)}${']'.repeat(n)}}`;
      // Over the body limit here; check the depth path on a service with a large limit below.
      assert.ok(body.length > MAX_BODY);
      const big = await startTestService({ rbac: RBAC, flags: ['--web.max-body-bytes=1048576'] });
      try {
        const res = await request(big.publicUrl).post('/v1/data/lokistack/allow').set('Content-Type', 'application/json').send(body);
        assertEnvelope(res, 400, 'invalid_parameter', 'body contains malformed input document: ');
        const after = await request(big.publicUrl).post('/v1/data/lokistack/allow').send({ input: ALLOWED_INPUT });
        assert.equal(after.text, '{"result":true}\n');
      } finally {
        await big.stop();
      }
    });

    it('after all of those, the process still serves allow and deny', async () => {
      const allow = await post(svc, '/v1/data/lokistack/allow').send({ input: ALLOWED_INPUT });
      assert.equal(allow.text, '{"result":true}\n');
      const deny = await post(svc, '/v1/data/lokistack/allow').send({ input: DENIED_INPUT });
      assert.equal(deny.text, '{"result":false}\n');
    });
  });
});

/**
 * The openshift modes stand in for opa-openshift, whose decision handler answers every method but
 * POST with 400 `request must be a POST` (checked against the real binary: GET with or without
 * ?input, HEAD, PUT, PATCH, DELETE, OPTIONS). A probe or a misconfigured client must get that, not a
 * 500 (which a gateway reports as an outage) nor a decision made from a query string.
 */
describe('OPA Data API (openshift modes): only POST decides', () => {
  let fake: FakeKube;
  before(async () => {
    fake = await startFakeKube(lokistackFakeKubeOptions());
  });
  after(async () => fake?.close());

  for (const [mode, args] of [
    ['openshift-logging', OPERATOR_LOGGING_ARGS],
    ['openshift-network', OPERATOR_NETWORK_ARGS],
  ] as const) {
    describe(mode, () => {
      let authz: RunningAuthz;
      before(async () => {
        authz = await startAuthzOn(fake, args);
      });
      after(async () => authz?.stop());
      afterEach(() => {
        fake.requests.length = 0;
      });

      const tenant = mode === 'openshift-logging' ? 'application' : 'network';
      const input = encodeURIComponent(JSON.stringify(gatewayInput('alice', { tenant })));
      const cases: Array<[string, string]> = [
        ['GET', '/v1/data/lokistack/allow'],
        ['GET', `/v1/data/lokistack/allow?input=${input}`],
        ['HEAD', '/v1/data/lokistack/allow'],
        ['HEAD', `/v1/data/lokistack/allow?input=${input}`],
        ['PUT', '/v1/data/lokistack/allow'],
        ['PATCH', '/v1/data/lokistack/allow'],
        ['DELETE', '/v1/data/lokistack/allow'],
        ['OPTIONS', '/v1/data/lokistack/allow'],
      ];
      for (const [method, path] of cases) {
        it(`${method} ${path.length > 40 ? `${path.slice(0, 40)}…` : path} answers 400 "request must be a POST" and asks the API nothing`, async () => {
          const res = await rawRequest(authz.url + path, {
            method,
            headers: { 'x-forwarded-access-token': LOKISTACK_TOKENS.alice, 'content-type': 'application/json' },
            chunks: method === 'PUT' || method === 'PATCH' ? [Buffer.from(`{"input":${decodeURIComponent(input)}}`)] : [],
          });
          assert.equal(res.status, 400, `${method} ${path}: ${res.body}`);
          if (method !== 'HEAD') {
            const body = JSON.parse(res.body) as { code: string; message: string };
            assert.equal(body.message, 'request must be a POST');
          }
          assert.deepEqual(fake.requests, [], 'no access review for a request that is not a POST');
        });
      }

      it('POST still decides (alice may read application logs cluster-wide)', async () => {
        const res = await fetch(`${authz.url}/v1/data/lokistack/allow`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-forwarded-access-token': LOKISTACK_TOKENS.alice },
          body: JSON.stringify({ input: gatewayInput('alice', { tenant }) }),
        });
        assert.equal(res.status, 200);
      });
    });
  }
});
