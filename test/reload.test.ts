/**
 * The rbac file as Kubernetes mounts a ConfigMap: `rbac.yaml -> ..data/rbac.yaml`, `..data -> ..vN`,
 * and an update swaps `..data` atomically (a new symlink renamed over the old one). New roles take
 * effect without a restart and without a failed request; an invalid file is rejected and counted,
 * and the previous roles keep serving.
 */
import { strict as assert } from 'node:assert';
import { mkdirSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventually, makeTempDir, metricValue, startTestService, type TestService } from './support/service.js';

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

const reloads = async (svc: TestService, result: 'success' | 'failure') => metricValue(await metrics(svc), 'config_reloads_total', { config: 'rbac', result }) ?? 0;
const lastOk = async (svc: TestService) => metricValue(await metrics(svc), 'config_last_reload_successful', { config: 'rbac' });

const ALLOW = '200 {"result":true}\n';
const DENY = '200 {"result":false}\n';

describe('rbac reload (ConfigMap symlink swap)', function () {
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
      await eventually(() => {
        if (seen.every((s) => s.at(-1) === 'new' && s.at(-2) === 'new')) settled++;
        return settled >= 10;
      }, 400, 25),
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
      assert.ok(versions.slice(first).every((v) => v === 'new'), `old roles served after new ones: ${versions.join(' ')}`);
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
