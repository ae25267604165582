/**
 * The rbac file as Kubernetes mounts a ConfigMap: `rbac.yaml -> ..data/rbac.yaml`, `..data -> ..vN`,
 * and an update swaps `..data` atomically (a new symlink renamed over the old one). New roles take
 * effect without a restart and without a failed request; an invalid file is rejected and counted,
 * and the previous roles keep serving.
 */
import { strict as assert } from 'node:assert';
import { appendFileSync, mkdirSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../server/config/config.js';
import { Metrics } from '../server/observability/metrics.js';
import { parseRbac } from '../server/policy/rbac.js';
import { wireStaticMode } from '../server/wiring/static-mode.js';
import { eventually, makeTempDir, metricValue, silentLogger, startTestService, writeTempFile, type TestService } from './support/service.js';

const rbacFor = (user: string, tenant = 'application') => `roles:
  - name: read
    resources: [logs]
    tenants: [${tenant}]
    permissions: [read]
roleBindings:
  - name: readers
    roles: [read]
    subjects:
      - kind: user
        name: ${user}
`;

const INVALID = `roles:
  - name: read
    resources: [logs]
    tenants: [application]
    permissions: [raed]
roleBindings: []
`;

/** A directory laid out as the kubelet lays out a ConfigMap volume. */
class ConfigMapDir {
  readonly dir = makeTempDir('lokistack-authz-configmap-');
  readonly file = join(this.dir, 'rbac.yaml');
  private version = 0;

  constructor(content: string) {
    const v = this.writeVersion(content);
    symlinkSync(v, join(this.dir, '..data'));
    symlinkSync(join('..data', 'rbac.yaml'), this.file);
  }

  /** Publishes new content as the kubelet does: a new ..vN, a temp symlink to it renamed over ..data. */
  swap(content: string): void {
    const v = this.writeVersion(content);
    const tmp = join(this.dir, '..data_tmp');
    symlinkSync(v, tmp);
    renameSync(tmp, join(this.dir, '..data'));
  }

  /** The ConfigMap's key disappears: ..data points nowhere that has rbac.yaml. */
  removeKey(): void {
    const v = `..v${++this.version}`;
    mkdirSync(join(this.dir, v));
    const tmp = join(this.dir, '..data_tmp');
    symlinkSync(v, tmp);
    renameSync(tmp, join(this.dir, '..data'));
  }

  private writeVersion(content: string): string {
    const v = `..v${++this.version}`;
    mkdirSync(join(this.dir, v));
    writeFileSync(join(this.dir, v, 'rbac.yaml'), content);
    return v;
  }
}

const input = (subject: string) => ({ subject, groups: [], permission: 'read', resource: 'logs', tenant: 'application' });

async function decide(svc: TestService, subject: string): Promise<string> {
  const res = await fetch(`${svc.publicUrl}/v1/data/lokistack/allow`, { method: 'POST', body: JSON.stringify({ input: input(subject) }) });
  return `${res.status} ${await res.text()}`;
}

async function metrics(svc: TestService): Promise<string> {
  const res = await fetch(`${svc.internalUrl}/metrics`);
  assert.equal(res.status, 200);
  return res.text();
}

const reloads = async (svc: TestService, result: 'success' | 'failure') =>
  metricValue(await metrics(svc), 'config_reloads_total', { config: 'rbac', result }) ?? 0;
const lastOk = async (svc: TestService) => metricValue(await metrics(svc), 'config_last_reload_successful', { config: 'rbac' });

const ALLOW = '200 {"result":true}\n';
const DENY = '200 {"result":false}\n';

describe('rbac reload (ConfigMap symlink swap)', () => {
  let cm: ConfigMapDir;
  let svc: TestService;

  beforeEach(async () => {
    cm = new ConfigMapDir(rbacFor('alice'));
    // File events only: every change below is seen through the watcher (or an explicit reload()).
    svc = await startTestService({ rbacFile: cm.file, flags: ['--rbac.reload-interval=0'] });
  });
  afterEach(async () => {
    await svc?.stop();
  });

  it('serves the roles the symlinked file holds', async () => {
    assert.equal(await decide(svc, 'alice'), ALLOW);
    assert.equal(await decide(svc, 'bob'), DENY);
    assert.equal(await reloads(svc, 'success'), 1);
    assert.equal(await lastOk(svc), 1);
  });

  it('a swap takes effect without a restart, seen by the watcher alone', async () => {
    cm.swap(rbacFor('bob'));
    assert.ok(await eventually(async () => (await decide(svc, 'bob')) === ALLOW, 400, 25), 'the new roles never took effect');
    assert.equal(await decide(svc, 'alice'), DENY);
    assert.ok(await eventually(async () => (await reloads(svc, 'success')) === 2), 'the reload was not counted');
    assert.equal(await lastOk(svc), 1);
    assert.ok(svc.log.records().some((r) => r.msg === 'reloaded roles and bindings' && r.file === cm.file));
  });

  it('service.reload() applies a swap at once', async () => {
    cm.swap(rbacFor('carol'));
    await svc.service.reload();
    assert.equal(await decide(svc, 'carol'), ALLOW);
    assert.equal(await decide(svc, 'alice'), DENY);
  });

  it('no request fails while requests run through a swap, and no one sees the old roles after the new', async () => {
    // alice is allowed before the swap and denied after; bob the reverse. Each loop asks them in
    // turn, one request at a time, and records which version of the roles each answer came from.
    const loops = 4;
    const seen: string[][] = Array.from({ length: loops }, () => []);
    let stop = false;
    const running = seen.map(async (versions) => {
      for (let i = 0; !stop; i++) {
        const who = i % 2 === 0 ? 'alice' : 'bob';
        const answer = await decide(svc, who);
        const oldAnswer = who === 'alice' ? ALLOW : DENY;
        const newAnswer = who === 'alice' ? DENY : ALLOW;
        versions.push(answer === oldAnswer ? 'old' : answer === newAnswer ? 'new' : `${who}: ${answer}`);
      }
    });
    assert.ok(await eventually(() => seen.every((s) => s.length >= 10)), 'the request loops did not start');
    cm.swap(rbacFor('bob'));
    let settled = 0;
    assert.ok(
      await eventually(
        () => {
          if (seen.every((s) => s.at(-1) === 'new' && s.at(-2) === 'new')) settled++;
          return settled >= 10;
        },
        400,
        25,
      ),
      'the new roles never reached every loop',
    );
    stop = true;
    await Promise.all(running);

    for (const versions of seen) {
      const failed = versions.filter((v) => v !== 'old' && v !== 'new');
      assert.deepEqual(failed, [], 'every request was answered 200 with a decision');
      const first = versions.indexOf('new');
      assert.ok(first > 0, 'each loop saw both versions');
      // Once a loop has seen the new roles, it never sees the old ones again.
      assert.ok(
        versions.slice(first).every((v) => v === 'new'),
        `old roles served after new ones: ${versions.join(' ')}`,
      );
    }
    assert.equal(await reloads(svc, 'failure'), 0);
  });

  it('an invalid new file is rejected: the old roles keep serving, the failure is counted and logged with the file name', async () => {
    const failuresBefore = await reloads(svc, 'failure');
    cm.swap(INVALID);
    assert.ok(await eventually(async () => (await reloads(svc, 'failure')) > failuresBefore, 400, 25), 'the rejection was not counted');
    assert.equal(await lastOk(svc), 0);
    assert.equal(await reloads(svc, 'success'), 1);
    // The previous roles keep serving.
    assert.equal(await decide(svc, 'alice'), ALLOW);
    assert.equal(await decide(svc, 'bob'), DENY);

    const rejected = svc.log.records().filter((r) => r.level === 'error' && r.file === cm.file);
    assert.equal(rejected.length, 1, svc.log.text());
    const reason = String(rejected[0]!.reason);
    assert.ok(reason.includes(cm.file), `the reason names the file: ${reason}`);
    assert.ok(reason.includes('roles[0].permissions[0]'), `the reason names the field: ${reason}`);
    assert.ok(reason.includes('"raed"'), `the reason names the fault: ${reason}`);

    // /ready stays ready: the service still decides.
    assert.equal((await fetch(`${svc.internalUrl}/ready`)).status, 200);
  });

  it('after a rejected file, a valid one is applied and the gauge returns to 1', async () => {
    cm.swap(INVALID);
    await svc.service.reload();
    assert.equal(await lastOk(svc), 0);
    cm.swap(rbacFor('dave'));
    await svc.service.reload();
    assert.equal(await decide(svc, 'dave'), ALLOW);
    assert.equal(await decide(svc, 'alice'), DENY);
    assert.equal(await lastOk(svc), 1);
    assert.equal(await reloads(svc, 'success'), 2);
    assert.equal(await reloads(svc, 'failure'), 1);
  });

  it('the same content published again is not a reload', async () => {
    cm.swap(rbacFor('alice'));
    await svc.service.reload();
    assert.equal(await reloads(svc, 'success'), 1);
    assert.equal(await reloads(svc, 'failure'), 0);
    assert.equal(await decide(svc, 'alice'), ALLOW);
  });

  it('a file that disappears keeps the old roles serving, and the failure is counted', async () => {
    cm.removeKey();
    await svc.service.reload();
    assert.equal(await decide(svc, 'alice'), ALLOW);
    assert.equal(await reloads(svc, 'failure'), 1);
    assert.equal(await lastOk(svc), 0);
    // The key comes back with new content: applied.
    cm.swap(rbacFor('erin'));
    await svc.service.reload();
    assert.equal(await decide(svc, 'erin'), ALLOW);
    assert.equal(await lastOk(svc), 1);
  });

  it('a file edited in place (not a ConfigMap) is picked up too', async () => {
    const dir = makeTempDir();
    const file = join(dir, 'rbac.yaml');
    writeFileSync(file, rbacFor('frank'));
    const plain = await startTestService({ rbacFile: file });
    try {
      assert.equal(await decide(plain, 'frank'), ALLOW);
      writeFileSync(file, rbacFor('gina'));
      assert.ok(await eventually(async () => (await decide(plain, 'gina')) === ALLOW, 400, 25), 'the edit never took effect');
      assert.equal(await decide(plain, 'frank'), DENY);
    } finally {
      await plain.stop();
      unlinkSync(file);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * The watchers' wait between their two reads, held by the test: every read before `release()` is
 * followed by a read after whatever the test wrote meanwhile, so write/read order is the test's.
 */
class SleepGate {
  private held: Array<() => void> = [];
  private open = false;
  private waiting: Array<() => void> = [];

  readonly sleep = (_ms: number): Promise<void> => {
    if (this.open) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.held.push(resolve);
      for (const w of this.waiting.splice(0)) w();
    });
  };

  /** Resolves once some watcher has read the file and is waiting to read it again. */
  requested(): Promise<void> {
    return this.held.length > 0 ? Promise.resolve() : new Promise((r) => this.waiting.push(r));
  }

  /** Lets every held wait go, and every later one through at once. */
  release(): void {
    this.open = true;
    for (const r of this.held.splice(0)) r();
  }
}

describe('rbac reload: a file written in place in parts (issue 9 item 4)', () => {
  const OLD = rbacFor('alice');
  // The new file binds evelyn. Cut after "name: eve", its first part is valid YAML, valid rbac,
  // and binds "eve": a user in neither the old file nor the new one.
  const NEW = rbacFor('evelyn');
  const cut = NEW.indexOf('name: evelyn') + 'name: eve'.length;
  const PART1 = NEW.slice(0, cut);
  const PART2 = NEW.slice(cut);

  const configFor = (file: string) => {
    const loaded = loadConfig([`--rbac.config=${file}`, '--rbac.reload-interval=0']);
    if (loaded.help) throw new Error('--help');
    return loaded.config;
  };

  const decideWith = async (mode: Awaited<ReturnType<typeof wireStaticMode>>, subject: string) =>
    (await mode.authorizer.decide({ path: ['lokistack', 'allow'], input: input(subject), signal: new AbortController().signal })) as {
      defined: boolean;
      value?: unknown;
    };

  it('the half file is never applied, though it parses and would allow a user in neither file; the whole is applied once stable', async () => {
    // The attack needs the half to parse and to grant eve: check that premise first.
    const half = parseRbac('half', PART1).rbac;
    assert.deepEqual(half.roleBindings[0]!.subjects, [{ kind: 'user', name: 'eve' }]);

    const file = writeTempFile('rbac.yaml', OLD);
    const config = configFor(file);
    const gate = new SleepGate();
    const metrics = new Metrics({ processMetrics: false });
    const mode = await wireStaticMode(config, silentLogger(), metrics, { sleep: gate.sleep });
    try {
      assert.deepEqual(await decideWith(mode, 'alice'), { defined: true, value: true });
      assert.deepEqual(await decideWith(mode, 'eve'), { defined: true, value: false });

      // The writer's first part lands; a check reads it (the test's reload, or a file event).
      writeFileSync(file, PART1);
      const reloading = mode.reload();
      // Unfixed, the check applies the half at once and reload() resolves; fixed, it waits to read again.
      await Promise.race([gate.requested(), reloading]);
      assert.deepEqual(await decideWith(mode, 'eve'), { defined: true, value: false }, 'the half-written file was applied: eve, in neither file, was allowed');
      assert.deepEqual(await decideWith(mode, 'alice'), { defined: true, value: true }, 'the old roles keep serving while the file changes');

      // The second part lands before the settle read.
      appendFileSync(file, PART2);
      gate.release();
      await reloading;
      await mode.reload(); // and any check a file event queued meanwhile

      assert.deepEqual(await decideWith(mode, 'evelyn'), { defined: true, value: true }, 'the whole new file was applied once stable');
      assert.deepEqual(await decideWith(mode, 'eve'), { defined: true, value: false });
      assert.deepEqual(await decideWith(mode, 'alice'), { defined: true, value: false });
      const text = await metrics.registry.metrics();
      // One reload at startup, one for the whole file: none for the half.
      assert.equal(metricValue(text, 'config_reloads_total', { config: 'rbac', result: 'success' }), 2);
      assert.equal(metricValue(text, 'config_reloads_total', { config: 'rbac', result: 'failure' }) ?? 0, 0);
    } finally {
      await mode.close();
    }
  });

  it('a file that keeps changing at every settle read is not applied until it holds still', async () => {
    const file = writeTempFile('rbac.yaml', OLD);
    const config = configFor(file);
    let writes = 0;
    const metrics = new Metrics({ processMetrics: false });
    // Each wait, the writer lands another (valid, different) version: no two reads ever agree.
    const sleep = async () => {
      writeFileSync(file, rbacFor(`user${++writes}`));
    };
    const mode = await wireStaticMode(config, silentLogger(), metrics, { sleep });
    try {
      writeFileSync(file, rbacFor('user0'));
      await mode.reload();
      // Stop the watchers, so a check a file event queued cannot run during the assertions.
      await mode.close();
      assert.ok(writes >= 2);
      for (let i = 0; i <= writes; i++) assert.deepEqual(await decideWith(mode, `user${i}`), { defined: true, value: false }, `user${i}`);
      assert.deepEqual(await decideWith(mode, 'alice'), { defined: true, value: true });
      const text = await metrics.registry.metrics();
      assert.equal(metricValue(text, 'config_reloads_total', { config: 'rbac', result: 'failure' }), 1);
    } finally {
      await mode.close();
    }
  });
});

describe('rbac reload: an empty file is refused, an explicit empty list denies (issue 9 item 4)', () => {
  let svc: TestService;
  beforeEach(async () => {
    svc = await startTestService({ rbac: rbacFor('alice'), flags: ['--watch.settle-interval=10ms'] });
  });
  afterEach(async () => svc?.stop());

  for (const [what, content] of [
    ['0 bytes', ''],
    ['whitespace', '  \n\n'],
    ['comments only', '# roles moved elsewhere\n'],
    ['{}', '{}\n'],
    ['---', '---\n'],
  ] as const) {
    it(`${what}: rejected and counted; the old roles keep serving`, async () => {
      writeFileSync(svc.rbacFile, content);
      await svc.service.reload();
      assert.equal(await decide(svc, 'alice'), ALLOW);
      assert.equal(await reloads(svc, 'failure'), 1);
      assert.equal(await lastOk(svc), 0);
      assert.ok(
        svc.log.records().some((r) => r.level === 'error' && /no roles and no roleBindings/.test(String(r.reason))),
        svc.log.text(),
      );
    });
  }

  it('`roles: []` is applied: every request is denied', async () => {
    writeFileSync(svc.rbacFile, 'roles: []\n');
    await svc.service.reload();
    assert.equal(await decide(svc, 'alice'), DENY);
    assert.equal(await reloads(svc, 'success'), 2);
    assert.equal(await lastOk(svc), 1);
  });
});
