/**
 * server/policy/rbac.ts: a role's `selectors` (LogQL stream selectors limiting its reads of logs) are
 * checked at load, with the file, the field path and the fault named; and roles sharing a name are
 * warned about (the gateway and the operator's policy accept them, and a binding gets both).
 */
import { strict as assert } from 'node:assert';
import { ConfigError } from '../server/errors.js';
import { parseRbac } from '../server/policy/rbac.js';

const FILE = '/etc/lokistack/rbac.yaml';

/** An rbac file whose fourth role (roles[3]) carries the given `selectors` YAML value. */
function withSelectors(selectorsYaml: string): string {
  const plain = (name: string) => `  - {name: ${name}, resources: [logs], tenants: [t], permissions: [read]}\n`;
  return `roles:\n${plain('a')}${plain('b')}${plain('c')}  - name: d\n    resources: [logs]\n    tenants: [t]\n    permissions: [read]\n    selectors: ${selectorsYaml}\nroleBindings:\n  - {name: x, roles: [d], subjects: [{kind: user, name: u}]}\n`;
}

function refused(text: string): ConfigError {
  try {
    parseRbac(FILE, text);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `a ConfigError, got ${String(err)}`);
    assert.ok(err.message.startsWith(`${FILE}: ${err.field}: `), err.message);
    return err;
  }
  assert.fail('expected the file to be refused');
}

describe('parseRbac: role selectors', () => {
  it("GEL's example policies load, kept as written", () => {
    const { rbac, warnings } = parseRbac(FILE, withSelectors(`['{secret!="true", env="prod"}', '{env="dev"}']`));
    assert.deepEqual(rbac.roles[3]!.selectors, ['{secret!="true", env="prod"}', '{env="dev"}']);
    assert.deepEqual(warnings, []);
    assert.equal(rbac.roles[0]!.selectors, undefined, 'a role without the field grants the whole tenant');
    assert.ok(!('selectors' in rbac.roles[0]!), 'no selectors key is added to a role without them (the policy reads its absence)');
  });

  it('a selector that is not a stream selector: the field path, the selector and the fault', () => {
    const err = refused(withSelectors(`['{env="dev"}', '{env="prod"} |= "x"']`));
    assert.equal(err.field, 'roles[3].selectors[1]');
    assert.match(err.fault, /invalid LogQL stream selector "\{env=\\"prod\\"\} \|= \\"x\\"": .*stream selector only/);
  });

  it('metric queries, syntax errors, single quotes and empty selectors are refused', () => {
    for (const bad of [`'rate({env="prod"}[1m])'`, `'{env="prod"'`, `"{env='prod'}"`, `'{}'`, `'env="prod"'`, `''`]) {
      const err = refused(withSelectors(`[${bad}]`));
      assert.equal(err.field, 'roles[3].selectors[0]', bad);
    }
  });

  it('a regex Go would not compile is refused with the matcher named', () => {
    const err = refused(withSelectors(`['{env=~"prod(?!-eu)"}']`));
    assert.equal(err.field, 'roles[3].selectors[0]');
    assert.match(err.fault, /env=~.*lookaround/);
    assert.match(refused(withSelectors('[\'{app=~"(a)\\\\1"}\']')).fault, /backreference/);
  });

  it('a string LogQL would not read is refused', () => {
    assert.match(refused(withSelectors(`['{env="\\q"}']`)).fault, /unknown escape/);
  });

  it('an empty list or null is refused: it cannot be told from "the whole tenant"', () => {
    assert.match(refused(withSelectors('[]')).fault, /must not be empty/);
    assert.match(refused(withSelectors('null')).fault, /leave the field out/);
    assert.equal(refused(withSelectors('[]')).field, 'roles[3].selectors');
  });

  it('wrong types are refused', () => {
    assert.equal(refused(withSelectors(`'{env="prod"}'`)).field, 'roles[3].selectors');
    assert.equal(refused(withSelectors('[{env: prod}]')).field, 'roles[3].selectors[0]');
  });

  it('the count and length of selectors per role are bounded', () => {
    const many = Array.from({ length: 65 }, (_, i) => `'{n="${i}"}'`).join(', ');
    assert.match(refused(withSelectors(`[${many}]`)).fault, /more than 64 selectors/);
    const long = `'{env="${'x'.repeat(1100)}"}'`;
    assert.match(refused(withSelectors(`[${long}]`)).fault, /longer than 1024/);
    // the message quotes only the start of a long selector
    assert.ok(refused(withSelectors(`[${long}]`)).message.length < 400);
  });

  it('in a LokiStack, the field path starts at the resource root', () => {
    const text = `kind: LokiStack\nspec:\n  tenants:\n    authorization:\n      roles:\n        - {name: r, resources: [logs], tenants: [t], permissions: [read], selectors: ['{a=~"("}']}\n`;
    assert.equal(refused(text).field, 'spec.tenants.authorization.roles[0].selectors[0]');
  });
});

describe('parseRbac: duplicate role names', () => {
  it('warn, naming both, and keep both (a binding gets both, as in the gateway)', () => {
    const text =
      'roles:\n  - {name: r, resources: [logs], tenants: [a], permissions: [read]}\n  - {name: other, resources: [logs], tenants: [a], permissions: [read]}\n  - {name: r, resources: [logs], tenants: [b], permissions: [write]}\nroleBindings:\n  - {name: x, roles: [r], subjects: [{kind: user, name: u}]}\n';
    const { rbac, warnings } = parseRbac(FILE, text);
    assert.equal(rbac.roles.length, 3);
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.ok(warnings[0]!.startsWith(`${FILE}: roles[2].name: `), warnings[0]);
    assert.match(warnings[0]!, /"r" is also defined at roles\[0\]/);
  });

  it('no warning for distinct names', () => {
    assert.deepEqual(parseRbac(FILE, withSelectors(`['{env="dev"}']`)).warnings, []);
  });
});
