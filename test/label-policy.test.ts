/**
 * server/policy/label-policy.ts: reading the Rego rule's value, parsing LogQL stream selectors the way
 * Loki does, and the X-Prom-Label-Policy encoding. Oracles: Go's strconv.Unquote and regexp.Compile
 * (what Loki's parser calls; the expected answers below were produced with Go 1.2x on these exact
 * inputs), RFC 3986 (decoded with decodeURIComponent, the inverse any reader applies), and the
 * attacker's goal (an entry readable as another tenant's, a policy read wider than it is).
 */
import { strict as assert } from 'node:assert';
import { packagesLoadedBy } from './support/loaded-packages.js';
import { LabelPolicyError, labelPolicyFrom, parseSelector, percentEncode, policyHeaderEntries, re2Fault, unquote } from '../server/policy/label-policy.js';

const fails = (fn: () => unknown, code: string, fault?: RegExp) =>
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof LabelPolicyError, `a LabelPolicyError, got ${String(err)}`);
    assert.equal(err.code, code);
    if (fault) assert.match(err.message, fault);
    return true;
  });

describe('label policy: the rule value (labelPolicyFrom)', () => {
  it('undefined (not allowed) stays undefined', () => {
    assert.equal(labelPolicyFrom({ defined: false }), undefined);
  });

  it('reads the two shapes the rule produces', () => {
    assert.deepEqual(labelPolicyFrom({ defined: true, value: { restricted: false } }), { restricted: false });
    assert.deepEqual(labelPolicyFrom({ defined: true, value: { restricted: true, selectors: ['{env="dev"}', '{env="prod"}'] } }), {
      restricted: true,
      selectors: ['{env="dev"}', '{env="prod"}'],
    });
  });

  it('throws on every other shape rather than reading it as the whole tenant', () => {
    for (const value of [
      true,
      null,
      'restricted',
      [],
      {},
      { restricted: 'false' },
      { restricted: 0 },
      { restricted: true },
      { restricted: true, selectors: [] },
      { restricted: true, selectors: '{env="prod"}' },
      { restricted: true, selectors: [1] },
      { restricted: true, selectors: [''] },
      { restricted: true, selectors: ['x'.repeat(1025)] },
      { restricted: true, selectors: Array.from({ length: 1025 }, (_, i) => `{a="${i}"}`) },
      { restricted: false, selectors: ['{env="prod"}'] },
      { restricted: true, selectors: ['{env="prod"}'], extra: 1 },
    ]) {
      fails(() => labelPolicyFrom({ defined: true, value }), 'malformed_label_policy');
    }
  });
});

describe('label policy: parsing stream selectors (parseSelector)', () => {
  it("GEL's example policies parse into their matchers", () => {
    assert.deepEqual(parseSelector('{secret!="true", env="prod"}'), [
      { name: 'secret', op: '!=', value: 'true' },
      { name: 'env', op: '=', value: 'prod' },
    ]);
    assert.deepEqual(parseSelector('{env="dev"}'), [{ name: 'env', op: '=', value: 'dev' }]);
  });

  it('reads all four operators and backtick strings', () => {
    assert.deepEqual(parseSelector(' {a=~`x\\d+`, b!~"y|z", c="1", d!="2"} '), [
      { name: 'a', op: '=~', value: 'x\\d+' },
      { name: 'b', op: '!~', value: 'y|z' },
      { name: 'c', op: '=', value: '1' },
      { name: 'd', op: '!=', value: '2' },
    ]);
  });

  it('a selector that matches nothing in general is still a selector', () => {
    assert.deepEqual(parseSelector('{env=""}'), [{ name: 'env', op: '=', value: '' }]);
    assert.deepEqual(parseSelector('{env!~".*"}'), [{ name: 'env', op: '!~', value: '.*' }]);
  });

  it('refuses anything but a bare stream selector', () => {
    for (const [text, fault] of [
      ['{env="prod"} |= "x"', /stream selector only/],
      ['{env="prod"} | json', /stream selector only/],
      ['rate({env="prod"}[5m])', /stream selector only/],
      ['sum(count_over_time({env="prod"}[1m]))', /stream selector only/],
      ['{env="prod"', /syntax error/],
      ['{}', /syntax error|no matchers/],
      ['', /syntax error|stream selector only/],
      ['env="prod"', /syntax error|stream selector only/],
      ["{env='prod'}", /syntax error/],
      ['{env="prod",}', /syntax error/],
      ['{env="prod"} # all', /comments/],
      ['{env="prod"} {env="dev"}', /syntax error|stream selector only/],
      ['{env="prod"}\n{env="dev"}', /syntax error|stream selector only/],
      [`{env="${'x'.repeat(1024)}"}`, /longer than 1024/],
    ] as const) {
      fails(() => parseSelector(text), 'invalid_selector', fault);
    }
  });

  it('refuses regexes Go would not compile, with the matcher named', () => {
    fails(() => parseSelector('{env=~"(?=prod)"}'), 'invalid_selector', /env=~.*lookaround/);
    fails(() => parseSelector('{env!~"(a)\\\\1"}'), 'invalid_selector', /env!~.*backreference/);
    fails(() => parseSelector('{env=~"(prod"}'), 'invalid_selector', /env=~.*does not compile/);
  });
});

describe('label policy: LogQL strings as Go strconv.Unquote reads them', () => {
  // [literal, Go's value] for what Go accepts; what Go refuses is refused.
  const accepted: Array<[string, string]> = [
    ['"a\\tb"', 'a\tb'],
    ['"\\x41"', 'A'],
    ['"\\101"', 'A'],
    ['"\\u00e9"', 'é'],
    ['"\\U0001F600"', '😀'],
    ['"say \\"hi\\""', 'say "hi"'],
    ['`a\\nb`', 'a\\nb'],
    ['`"`', '"'],
  ];
  for (const [literal, value] of accepted) {
    it(`${literal} is ${JSON.stringify(value)}`, () => assert.equal(unquote(literal), value));
  }
  for (const literal of ['"\\\'"', '"\\q"', '"\\ud800"', '"\\400"', '"\\x4"', '"a\nb"']) {
    it(`${literal} is refused (Go refuses it)`, () => fails(() => unquote(literal), 'invalid_selector'));
  }
  // Go accepts these, but the value is bytes that are not UTF-8, or raw \r that Go drops: refused
  // rather than read as something else.
  for (const literal of ['"\\xff"', '"\\377"', '`a\rb`']) {
    it(`${JSON.stringify(literal)} is refused, not guessed`, () => fails(() => unquote(literal), 'invalid_selector'));
  }
});

describe('label policy: regexes as Go regexp (RE2) compiles them', () => {
  // Go 1.2x regexp.Compile("^(?:" + p + ")$") accepts these ...
  const go_accepts = [
    'prod|dev',
    '(?i)prod',
    '(?P<x>a)',
    '(?<x>a)',
    '\\pL+',
    '\\p{Greek}',
    '[[:alpha:]]+',
    'a{1000}',
    '\\Qa.b\\E',
    '\\z',
    '\\-',
    '\\0',
    '(?i:a)b',
    '(?s-i:a)',
    '(?U)a*',
    '',
    '\\pZ',
    '\\p{Lu}',
    '\\p{^Greek}',
    '\\PL',
    '\\p{Han}',
    '\\p{Any}',
    '[[:^alpha:]]',
    '\\x{41}+',
    '[]a]',
    '[^]a]',
  ];
  // ... and refuses these.
  const go_refuses = [
    'a\\1',
    '(?=a)',
    '(?!a)',
    '(?<=a)',
    '(?<!a)',
    '\\e',
    'a{1001}',
    '\\k<x>',
    'a++',
    '(a',
    '[a-',
    'x{2,1}',
    '\\8',
    '\\C',
    '\\h',
    'a\\',
    '\\p{Nope}',
    '\\p{Alphabetic}',
    '\\pX',
    '[[:foo:]]',
    '(?x)a',
    '(?P=x)',
    '(?#c)a',
    '\\Qa',
    'a\\E',
    '[]a',
  ];
  it('refuses a pattern that would close the anchoring group Loki wraps it in, though Go compiles the result', () => {
    // "^(?:" + "dev)|(.*" + ")$" is "^(?:dev)|(.*)$": every value.
    assert.notEqual(re2Fault('dev)|(.*'), undefined);
  });
  for (const p of go_accepts) it(`accepts ${JSON.stringify(p)}`, () => assert.equal(re2Fault(p), undefined));
  for (const p of go_refuses) it(`refuses ${JSON.stringify(p)}`, () => assert.notEqual(re2Fault(p), undefined));
});

describe('label policy: X-Prom-Label-Policy entries (policyHeaderEntries)', () => {
  /** How a reader (db-auth-gateway's rules, Loki) splits the header: entries at `,`, each at its first `:`. */
  function read(header: string): Array<[string, string]> {
    return header.split(',').map((entry) => {
      const colon = entry.indexOf(':');
      return [entry.slice(0, colon), decodeURIComponent(entry.slice(colon + 1))];
    });
  }

  it("decodes to the selectors, as Go's url.PathEscape output does", () => {
    const header = policyHeaderEntries('tenant-a', ['{env="prod"}']);
    // Go url.PathEscape leaves `=` bare; db-auth-gateway's doc encodes it: both decode the same.
    assert.deepEqual(read(header), read('tenant-a:%7Benv=%22prod%22%7D'));
    assert.deepEqual(read(header), read('tenant-a:%7Benv%3D%22prod%22%7D'));
  });

  it('keeps every selector one entry, whatever its characters (commas, colons, quotes, non-ASCII)', () => {
    const selectors = ['{a=~"x|y", b!=`,:`}', '{secret!="true", env="prod"}', '{team="équipe 1:2"}', '{x=~"a,b"}'];
    const header = policyHeaderEntries('0a1b', selectors);
    assert.deepEqual(
      read(header),
      selectors.map((s) => ['0a1b', s]),
    );
    // Only RFC 3986 unreserved characters stay bare in an encoded selector.
    for (const entry of header.split(',')) assert.match(entry.slice('0a1b:'.length), /^(?:[A-Za-z0-9\-._~]|%[0-9A-F]{2})+$/);
  });

  it('encodes the sub-delims encodeURIComponent leaves bare', () => {
    assert.equal(percentEncode("!'()*"), '%21%27%28%29%2A');
  });

  it('refuses tenant IDs a reader could split differently, instead of encoding them', () => {
    for (const id of ['a:b', 'a,b', 'a|b', '', '.', '..', 'a b', 'a/b', 'é', 'x'.repeat(151), 'a%3Ab']) {
      fails(() => policyHeaderEntries(id, ['{env="prod"}']), 'invalid_tenant_id');
    }
    assert.doesNotThrow(() => policyHeaderEntries("A-z_0.9!*'()", ['{env="prod"}']));
  });

  it('refuses an empty list, which a reader would take as no restriction', () => {
    fails(() => policyHeaderEntries('tenant-a', []), 'malformed_label_policy');
  });

  it('refuses a selector with no UTF-8 form', () => {
    fails(() => policyHeaderEntries('tenant-a', ['{a="\ud800"}']), 'invalid_selector');
  });
});

describe('label policy: the LogQL grammar is loaded only for a role with selectors', () => {
  it('an rbac file without selectors is read without @grafana/lezer-logql; a role with one loads it', () => {
    const role = (extra: string) =>
      `roles:\n  - {name: r, resources: [logs], tenants: [application], permissions: [read]${extra}}\nroleBindings:\n  - {name: b, roles: [r], subjects: [{kind: user, name: alice}]}\n`;
    const read = (text: string) =>
      packagesLoadedBy(
        `import { parseRbac } from './server/policy/rbac.ts';\nconsole.log(JSON.stringify(parseRbac('rbac.yaml', ${JSON.stringify(text)}).rbac.roles.map((r) => r.selectors ?? null)));`,
      );
    const plain = read(role(''));
    assert.deepEqual(JSON.parse(plain.stdout), [null]);
    assert.ok(plain.packages.has('yaml'), 'the record sees the packages the file needs');
    assert.ok(!plain.packages.has('@grafana/lezer-logql'), [...plain.packages].join(', '));
    const restricted = read(role(`, selectors: ['{env="prod"}']`));
    assert.deepEqual(JSON.parse(restricted.stdout), [['{env="prod"}']]);
    assert.ok(restricted.packages.has('@grafana/lezer-logql'));
  });
});
