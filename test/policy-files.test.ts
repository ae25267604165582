/**
 * Path flags naming something other than a regular file (issue 10 item 4): a FIFO blocks open()
 * and read() until a writer comes, a character device streams without end. Startup must fail at
 * once naming the flag and the file type; a reload that finds one must be rejected and counted
 * while the previous policy keeps serving.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KeyringFile } from '../server/config/keyring-file.js';
import { parseTenants } from '../server/config/tenants.js';
import { readPair } from '../server/config/tls-reload.js';
import { readRegularFile } from '../server/files.js';
import { httpLivenessCheck } from '../server/http/liveness.js';
import { makeTempDir, metricValue, startTestService } from './support/service.js';

const RBAC = `roles:
  - {name: read, resources: [logs], tenants: [application], permissions: [read]}
roleBindings:
  - {name: readers, roles: [read], subjects: [{kind: user, name: alice}]}
`;

function fifo(): string {
  const path = join(makeTempDir(), 'pipe');
  execFileSync('mkfifo', [path]);
  return path;
}

describe('path flags: only regular files are read (issue 10 item 4)', function () {
  this.timeout(30_000);

  for (const [flag, extra] of [
    ['--policy.data', ['--rbac.config=']],
    ['--rbac.config', []],
    ['--policy.wasm', []],
    ['--policy.bundle', ['--rbac.config=']],
  ] as const) {
    it(`${flag} naming a FIFO fails startup at once, naming the flag and "is a FIFO"`, async () => {
      const rbac = join(makeTempDir(), 'rbac.yaml');
      writeFileSync(rbac, RBAC);
      const flags = [...(flag === '--policy.wasm' ? [`--rbac.config=${rbac}`] : extra), `${flag}=${fifo()}`];
      await assert.rejects(startTestService({ flags }), new RegExp(`${flag.replace(/\./g, '\\.')}=\\S+: is a FIFO, not a regular file`));
    });
  }

  it('a character device and a directory are refused with their type', async () => {
    await assert.rejects(
      startTestService({ flags: ['--rbac.config=', '--policy.data=/dev/zero'] }),
      /--policy\.data=\/dev\/zero: is a character device, not a regular file/,
    );
    const dir = makeTempDir();
    await assert.rejects(startTestService({ flags: [`--rbac.config=${dir}`] }), /--rbac\.config=\S+: is a directory, not a regular file/);
  });

  it('a symlink to a regular file is read (ConfigMaps are symlinks); a symlink to a FIFO is not', async () => {
    const dir = makeTempDir();
    writeFileSync(join(dir, 'real.yaml'), RBAC);
    symlinkSync('real.yaml', join(dir, 'rbac.yaml'));
    assert.equal(Buffer.from(await readRegularFile('--rbac.config', join(dir, 'rbac.yaml'), 1 << 20)).toString(), RBAC);
    symlinkSync(fifo(), join(dir, 'pipe.yaml'));
    await assert.rejects(readRegularFile('--rbac.config', join(dir, 'pipe.yaml'), 1 << 20), /is a FIFO/);
  });

  it('a file larger than its bound is refused before it is read whole', async () => {
    const file = join(makeTempDir(), 'data.json');
    writeFileSync(file, JSON.stringify({ pad: 'x'.repeat(2048) }));
    await assert.rejects(readRegularFile('--policy.data', file, 1024), /--policy\.data=\S+: \d+ bytes, more than the 1024 allowed/);
    await assert.rejects(
      startTestService({ flags: ['--rbac.config=', `--policy.data=${file}`, '--policy.max-data-bytes=1024'] }),
      /more than the 1024 allowed/,
    );
  });

  it('a reload that finds a FIFO in place of the file is rejected and counted; the old roles keep serving', async () => {
    const dir = makeTempDir();
    const rbac = join(dir, 'rbac.yaml');
    writeFileSync(rbac, RBAC);
    const svc = await startTestService({ flags: [`--rbac.config=${rbac}`] });
    try {
      rmSync(rbac);
      execFileSync('mkfifo', [rbac]);
      await svc.service.reload();
      const metrics = await (await fetch(`${svc.internalUrl}/metrics`)).text();
      assert.equal(metricValue(metrics, 'config_reloads_total', { config: 'rbac', result: 'failure' }), 1);
      const res = await fetch(`${svc.publicUrl}/v1/data/lokistack/allow`, {
        method: 'POST',
        body: JSON.stringify({ input: { subject: 'alice', groups: [], permission: 'read', resource: 'logs', tenant: 'application' } }),
      });
      assert.deepEqual(await res.json(), { result: true });
      assert.ok(svc.log.records().some((r) => /is a FIFO/.test(String(r.reason))));
    } finally {
      await svc.stop();
    }
  });
});

describe('every other path the service reads is a regular file too (issue 10 item 4)', function () {
  this.timeout(30_000);

  it('--tenants.config naming a FIFO fails startup at once, naming the flag and the type', async () => {
    await assert.rejects(startTestService({ flags: ['--mode=dynamic', `--tenants.config=${fifo()}`] }), /--tenants\.config=\S+: is a FIFO, not a regular file/);
  });

  it("a tenant's issuerCAPath naming a FIFO is a fault of that field, not a hang", () => {
    const text = `tenants:\n  - name: application\n    id: application\n    oidc: {issuerURL: "https://issuer.example", clientID: c, issuerCAPath: "${fifo()}"}\n`;
    assert.throws(() => parseTenants('tenants.yaml', text), /tenants\[0\]\.oidc\.issuerCAPath: \S+: is a FIFO, not a regular file/);
  });

  it('the memcached key file, the TLS pair and the health check CA naming a FIFO are refused with the type', async () => {
    const noop = () => {};
    await assert.rejects(
      KeyringFile.open(fifo(), { intervalMs: 0, settleMs: 1, onApplied: noop, onRejected: noop }),
      /--memcached\.hmac-key-file=\S+: is a FIFO, not a regular file/,
    );
    await assert.rejects(readPair({ cert: fifo(), key: fifo() }), /is a FIFO, not a regular file/);
    assert.throws(() => httpLivenessCheck('https://127.0.0.1:1/', { caFile: fifo() }), /--tls\.internal\.server\.ca-file=\S+: is a FIFO, not a regular file/);
  });
});
