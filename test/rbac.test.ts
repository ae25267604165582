/**
 * server/policy/rbac.ts parseRbac: the roles and bindings static mode decides with, in
 * observatorium/api's rbac.yaml shape or a LokiStack resource. A fault stops startup (or rejects a
 * reload), so its message must name the file, the field and what is wrong.
 */
import { strict as assert } from 'node:assert';
import { ConfigError } from '../server/errors.js';
import { parseRbac, type Rbac } from '../server/policy/rbac.js';

const FILE = '/etc/lokistack/rbac.yaml';

const OBSERVATORIUM = `roles:
  - name: read-write
    resources:
      - logs
      - metrics
    tenants:
      - application
    permissions:
      - read
      - write
  - name: infra-read
    resources: [logs]
    tenants: [infrastructure]
    permissions: [read]
roleBindings:
  - name: read-write
    roles:
      - read-write
    subjects:
      - name: admin@example.com
        kind: user
      - name: admins
        kind: group
  - name: infra
    roles: [infra-read]
    subjects: []
`;

const EXPECTED: Rbac = {
  roles: [
    { name: 'read-write', resources: ['logs', 'metrics'], tenants: ['application'], permissions: ['read', 'write'] },
    { name: 'infra-read', resources: ['logs'], tenants: ['infrastructure'], permissions: ['read'] },
  ],
  roleBindings: [
    {
      name: 'read-write',
      roles: ['read-write'],
      subjects: [
        { kind: 'user', name: 'admin@example.com' },
        { kind: 'group', name: 'admins' },
      ],
    },
    { name: 'infra', roles: ['infra-read'], subjects: [] },
  ],
};

/** The same roles and bindings inside a LokiStack resource, with the fields a real one carries. */
const LOKISTACK = `apiVersion: loki.grafana.com/v1
kind: LokiStack
metadata:
  name: lokistack-dev
  namespace: openshift-logging
spec:
  size: 1x.extra-small
  storage:
    secret:
      name: test
      type: s3
  storageClassName: gp3-csi
  tenants:
    mode: static
    authentication:
      - tenantName: application
        tenantId: 32e45e3e-b760-4c4f-8b4b-8d2d08ca7d4f
    authorization:
      roles:
        - name: read-write
          resources: [logs, metrics]
          tenants: [application]
          permissions: [read, write]
        - name: infra-read
          resources: [logs]
          tenants: [infrastructure]
          permissions: [read]
      roleBindings:
        - name: read-write
          roles: [read-write]
          subjects:
            - name: admin@example.com
              kind: user
            - name: admins
              kind: group
        - name: infra
          roles: [infra-read]
          subjects: []
status: {}
`;

/** Parses `text`, expecting a ConfigError; returns it. */
function fault(text: string): ConfigError {
  try {
    parseRbac(FILE, text);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail(`expected ${JSON.stringify(text)} to be refused`);
}

/** Asserts the fault's message is `<file>: <field>: <fault>` with the given field and fault text. */
function assertFault(text: string, field: string, faultPattern: RegExp | string): ConfigError {
  const err = fault(text);
  assert.equal(err.source, FILE);
  assert.equal(err.field, field);
  assert.ok(err.message.startsWith(`${FILE}: ${field}: `), `message ${JSON.stringify(err.message)} should start with file and field`);
  if (typeof faultPattern === 'string')
    assert.ok(err.fault.includes(faultPattern), `fault ${JSON.stringify(err.fault)} should contain ${JSON.stringify(faultPattern)}`);
  else assert.match(err.fault, faultPattern);
  return err;
}

const role = (extra = '') => `roles:\n  - name: r\n    resources: [logs]\n    tenants: [application]\n    permissions: [read]\n${extra}`;

describe('parseRbac', () => {
  describe('accepted shapes', () => {
    it("observatorium/api's rbac.yaml: roles and roleBindings, in a fixed key order", () => {
      const { rbac, warnings } = parseRbac(FILE, OBSERVATORIUM);
      assert.deepEqual(rbac, EXPECTED);
      assert.deepEqual(warnings, []);
      assert.deepEqual(Object.keys(rbac.roles[0]!), ['name', 'resources', 'tenants', 'permissions']);
      assert.deepEqual(Object.keys(rbac.roleBindings[0]!.subjects[0]!), ['kind', 'name']);
    });

    it('the same data in JSON (YAML is a superset)', () => {
      const { rbac } = parseRbac(FILE, JSON.stringify(EXPECTED));
      assert.deepEqual(rbac, EXPECTED);
    });

    it("a LokiStack resource: spec.tenants.authorization is read, the resource's other fields are left alone", () => {
      const { rbac, warnings } = parseRbac(FILE, LOKISTACK);
      assert.deepEqual(rbac, EXPECTED);
      assert.deepEqual(warnings, []);
    });

    it("a LokiStack's authorization may carry its opa block", () => {
      const withOpa = LOKISTACK.replace('    authorization:\n', '    authorization:\n      opa:\n        url: http://opa:8080/v1/data/lokistack/allow\n');
      assert.deepEqual(parseRbac(FILE, withOpa).rbac, EXPECTED);
    });

    it('roles only, or bindings only, are accepted (missing lists are empty)', () => {
      assert.deepEqual(parseRbac(FILE, role()).rbac.roleBindings, []);
      const onlyBindings = parseRbac(FILE, 'roleBindings:\n  - name: b\n    roles: [r]\n    subjects: [{kind: user, name: u}]\n');
      assert.deepEqual(onlyBindings.rbac.roles, []);
    });

    it('YAML anchors and aliases are resolved', () => {
      const text = `roles:\n  - name: r\n    resources: &res [logs]\n    tenants: [application]\n    permissions: &perm [read]\n  - name: s\n    resources: *res\n    tenants: [audit]\n    permissions: *perm\n`;
      const { rbac } = parseRbac(FILE, text);
      assert.deepEqual(rbac.roles[1], { name: 's', resources: ['logs'], tenants: ['audit'], permissions: ['read'] });
    });
  });

  describe('warnings (the file still loads)', () => {
    it('a binding to a role that does not exist: a warning naming the file, the field and the role', () => {
      const { rbac, warnings } = parseRbac(FILE, role('roleBindings:\n  - name: b\n    roles: [r, missing-role]\n    subjects: [{kind: user, name: u}]\n'));
      assert.equal(rbac.roleBindings.length, 1);
      assert.equal(warnings.length, 1);
      assert.ok(warnings[0]!.startsWith(`${FILE}: roleBindings[0].roles[1]: `), warnings[0]);
      assert.ok(warnings[0]!.includes('"missing-role"'), warnings[0]);
      assert.match(warnings[0]!, /does not exist/);
    });

    it('in a LokiStack, the warning names the full field path', () => {
      const text = LOKISTACK.replace('roles: [infra-read]', 'roles: [infra-reed]');
      const { warnings } = parseRbac(FILE, text);
      assert.equal(warnings.length, 1);
      assert.ok(warnings[0]!.startsWith(`${FILE}: spec.tenants.authorization.roleBindings[1].roles[0]: `), warnings[0]);
      assert.ok(warnings[0]!.includes('"infra-reed"'));
    });

    it('no roleBindings: a warning that nothing will be allowed', () => {
      for (const text of [role(), role('roleBindings: []\n')]) {
        const { warnings } = parseRbac(FILE, text);
        assert.equal(warnings.length, 1);
        assert.ok(warnings[0]!.startsWith(`${FILE}: `));
        assert.match(warnings[0]!, /no roleBindings/);
      }
    });

    it('an empty file (or only comments) loads as no roles and no bindings, with a warning', () => {
      for (const text of ['', '\n', '# nothing here\n', '---\n']) {
        const { rbac, warnings } = parseRbac(FILE, text);
        assert.deepEqual(rbac, { roles: [], roleBindings: [] });
        assert.equal(warnings.length, 1, JSON.stringify(text));
        assert.ok(warnings[0]!.startsWith(`${FILE}: `));
        assert.match(warnings[0]!, /empty/);
      }
    });

    // A truncated or half-written file looks like one of these; on reload it must not replace
    // the roles serving (issue 9 item 4). Only an explicit list says "deny everyone".
    const EMPTY = [
      '',
      '   \n\t\n',
      '# nothing here\n',
      '{}\n',
      '---\n',
      'roles:\n',
      'roles:\nroleBindings:\n',
      'kind: LokiStack\nspec:\n  tenants:\n    authorization: {}\n',
    ];

    it('on reload, a file naming no roles and no bindings is a fault, not a deny-all', () => {
      for (const text of EMPTY) {
        assert.throws(
          () => parseRbac(FILE, text, { reload: true }),
          (err: unknown) =>
            err instanceof ConfigError && err.source === FILE && /no roles and no roleBindings/.test(err.message) && /roles: \[\]/.test(err.message),
          JSON.stringify(text),
        );
      }
    });

    it('at startup the same files still load, as before, as no roles and no bindings', () => {
      for (const text of EMPTY.filter((t) => !t.includes('LokiStack'))) {
        assert.deepEqual(parseRbac(FILE, text).rbac, { roles: [], roleBindings: [] }, JSON.stringify(text));
      }
    });

    it('on reload, an explicit `roles: []` (or empty bindings) is how to deny every request', () => {
      for (const text of ['roles: []\n', 'roleBindings: []\n', 'roles: []\nroleBindings: []\n']) {
        const { rbac, warnings } = parseRbac(FILE, text, { reload: true });
        assert.deepEqual(rbac, { roles: [], roleBindings: [] }, JSON.stringify(text));
        assert.match(warnings.join('\n'), /no request will be allowed/);
      }
      assert.equal(parseRbac(FILE, OBSERVATORIUM, { reload: true }).rbac.roleBindings.length > 0, true);
    });
  });

  describe('faults name the file, the field and the fault', () => {
    it('YAML that does not parse: the file, "invalid YAML", and the line and column', () => {
      for (const [text, line] of [
        ['roles: [\n', 2],
        ['roles:\n  - name: a\n   resources: x\n', 3],
        ['roles:\n\t- name: a\n', 2],
      ] as const) {
        const err = fault(text);
        assert.equal(err.source, FILE);
        assert.ok(err.message.startsWith(`${FILE}: invalid YAML: `), err.message);
        assert.match(err.message, new RegExp(`line ${line}, column \\d+`));
      }
    });

    it('a duplicate key at the top level: the file, the key, and that it is duplicated', () => {
      const err = fault(`${role()}roles: []\n`);
      assert.equal(err.source, FILE);
      assert.match(err.message, /unique|duplicate/i);
      assert.match(err.message, /\broles\b/, `the duplicated key should be named: ${err.message}`);
    });

    it('a duplicate key inside a role: the file, the field path roles[0].name, and that it is duplicated', () => {
      const err = fault('roles:\n  - name: a\n    name: b\n    resources: [logs]\n    tenants: [t]\n    permissions: [read]\n');
      assert.equal(err.source, FILE);
      assert.match(err.message, /unique|duplicate/i);
      assert.ok(err.message.includes('roles[0].name'), `the duplicated field should be named by its path: ${err.message}`);
    });

    it('unknown fields, at every level', () => {
      assertFault('roles: []\nroleBinding: []\n', 'roleBinding', /unknown field/);
      assertFault('roles:\n  - name: a\n    resource: [logs]\n', 'roles[0].resource', /unknown field.*resources/);
      assertFault(role('roleBindings:\n  - name: b\n    role: [r]\n    subjects: []\n'), 'roleBindings[0].role', /unknown field/);
      assertFault(
        role('roleBindings:\n  - name: b\n    roles: [r]\n    subjects:\n      - kind: user\n        name: u\n        namespace: x\n'),
        'roleBindings[0].subjects[0].namespace',
        /unknown field/,
      );
    });

    it("an unknown field directly under a LokiStack's spec.tenants.authorization is named by its path", () => {
      assertFault(
        LOKISTACK.replace('      roleBindings:\n', '      rolebindings: []\n      roleBindings:\n'),
        'spec.tenants.authorization.rolebindings',
        /unknown field/,
      );
    });

    it('wrong types', () => {
      assertFault('roles: {}\n', 'roles', /must be a list, got a mapping/);
      assertFault('roles: logs\n', 'roles', /must be a list, got string "logs"/);
      assertFault(role().replace('resources: [logs]', 'resources: logs'), 'roles[0].resources', /must be a list/);
      assertFault(role().replace('name: r', 'name: 5'), 'roles[0].name', /must be a string, got number 5/);
      assertFault(role().replace('tenants: [application]', 'tenants: [application, [audit]]'), 'roles[0].tenants[1]', /must be a string, got a list/);
      assertFault('roles:\n  -\n', 'roles[0]', /must be a mapping, got null/);
      assertFault('roles:\n  - just-a-name\n', 'roles[0]', /must be a mapping/);
      assertFault(
        role('roleBindings:\n  - name: b\n    roles: [r]\n    subjects: {kind: user, name: u}\n'),
        'roleBindings[0].subjects',
        /must be a list, got a mapping/,
      );
      assertFault(
        role('roleBindings:\n  - name: b\n    roles: [r]\n    subjects:\n      - {kind: user, name: true}\n'),
        'roleBindings[0].subjects[0].name',
        /must be a string, got boolean true/,
      );
    });

    it('a top level that is not a mapping', () => {
      assertFault('hello\n', '(top level)', /must be a mapping/);
      assertFault('- roles: []\n', '(top level)', /must be a mapping, got a list/);
    });

    it('missing required fields', () => {
      assertFault(role().replace('    tenants: [application]\n', ''), 'roles[0].tenants', /missing/);
      assertFault(role().replace('  - name: r\n    resources', '  - resources'), 'roles[0].name', /missing/);
      assertFault(role('roleBindings:\n  - name: b\n    subjects: []\n'), 'roleBindings[0].roles', /missing/);
      assertFault(role('roleBindings:\n  - name: b\n    roles: [r]\n    subjects:\n      - name: u\n'), 'roleBindings[0].subjects[0].kind', /missing/);
    });

    it('a bad permission names its index: roles[0].permissions[1]', () => {
      const err = assertFault(
        role().replace('permissions: [read]', 'permissions: [read, admin]'),
        'roles[0].permissions[1]',
        'must be "read" or "write", got "admin"',
      );
      assert.equal(err.message, `${FILE}: roles[0].permissions[1]: must be "read" or "write", got "admin"`);
    });

    it('permissions are case-sensitive, as the policy compares them', () => {
      assertFault(role().replace('permissions: [read]', 'permissions: [Read]'), 'roles[0].permissions[0]', '"Read"');
    });

    it('a bad subject kind', () => {
      assertFault(
        role('roleBindings:\n  - name: b\n    roles: [r]\n    subjects:\n      - kind: serviceaccount\n        name: x\n'),
        'roleBindings[0].subjects[0].kind',
        'must be "user" or "group", got "serviceaccount"',
      );
      assertFault(
        role('roleBindings:\n  - name: b\n    roles: [r]\n    subjects:\n      - kind: User\n        name: x\n'),
        'roleBindings[0].subjects[0].kind',
        '"User"',
      );
    });

    it('a document of another kind is not taken for roles and bindings', () => {
      assertFault('apiVersion: v1\nkind: ConfigMap\ndata:\n  rbac.yaml: ""\n', 'apiVersion', /unknown field/);
      const err = fault('kind: ConfigMap\ndata: {}\n');
      assert.ok(err.message.startsWith(`${FILE}: kind: `), err.message);
    });

    it('empty names and empty list items', () => {
      assertFault(role().replace('name: r', 'name: ""'), 'roles[0].name', /must not be empty/);
      assertFault(role().replace('resources: [logs]', 'resources: [""]'), 'roles[0].resources[0]', /must not be empty/);
      assertFault(role('roleBindings:\n  - name: ""\n    roles: [r]\n    subjects: []\n'), 'roleBindings[0].name', /must not be empty/);
      assertFault(
        role('roleBindings:\n  - name: b\n    roles: [r]\n    subjects: [{kind: group, name: ""}]\n'),
        'roleBindings[0].subjects[0].name',
        /must not be empty/,
      );
    });

    it('a LokiStack without its authorization block', () => {
      assertFault('kind: LokiStack\nspec:\n  tenants:\n    mode: static\n', 'spec.tenants.authorization', /missing/);
      assertFault('kind: LokiStack\nspec:\n  size: 1x.small\n', 'spec.tenants', /missing/);
      assertFault('kind: LokiStack\nmetadata: {name: x}\n', 'spec', /spec\.tenants\.authorization/);
    });

    it("faults inside a LokiStack name the field from the resource's root", () => {
      assertFault(LOKISTACK.replace('permissions: [read]', 'permissions: [read, delete]'), 'spec.tenants.authorization.roles[1].permissions[1]', '"delete"');
      assertFault(LOKISTACK.replace('kind: group', 'kind: team'), 'spec.tenants.authorization.roleBindings[0].subjects[1].kind', '"team"');
    });

    it('the first fault in document order is the one reported', () => {
      const text = role().replace('permissions: [read]', 'permissions: [execute]').replace('name: r', 'name: ""');
      assertFault(text, 'roles[0].name', /must not be empty/);
    });
  });
});
