/**
 * TLS on the listeners as an operator runs it: certificates rotated on disk (cert-manager) serve
 * without a restart, a bad pair never replaces a good one, expired certificates and TLS versions
 * the runtime cannot speak stop startup, and the liveness check passes with a private CA.
 * Certificates are made by the real openssl, with a private CA.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { connect, type PeerCertificate } from 'node:tls';
import { loadConfig } from '../server/config/config.js';
import { FlagError } from '../server/config/flags.js';
import { httpLivenessCheck } from '../server/http/liveness.js';
import { makeTempDir, metricValue, startTestService, type TestService } from './support/service.js';
import { NEW_P256_KEY } from './support/fake-kube/tls.js';

const openssl = (args: string[], cwd: string) => execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });

/** YYMMDDHHMMSSZ, as `openssl ca -startdate/-enddate` take it. */
const asn1 = (ms: number) => new Date(ms).toISOString().replace(/^\d\d(\d\d)-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d).*$/, '$1$2$3$4$5$6Z');
const DAY = 86_400_000;

/** A private CA in a temp dir that issues leaf certificates with the dates asked for. */
function privateCa() {
  const dir = makeTempDir('lokistack-authz-ca-');
  openssl(['req', '-x509', ...NEW_P256_KEY, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '30', '-subj', '/CN=test private CA'], dir);
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'serial'), '1000\n');
  writeFileSync(
    join(dir, 'ca.cnf'),
    `[ca]\ndefault_ca = d\n[d]\ndir = ${dir}\ndatabase = $dir/index.txt\nnew_certs_dir = $dir\nserial = $dir/serial\ndefault_md = sha256\npolicy = p\ncopy_extensions = copy\nunique_subject = no\n[p]\ncommonName = supplied\n`,
  );
  let n = 0;
  return {
    dir,
    caFile: join(dir, 'ca.pem'),
    /** A leaf for `authz.example` (no loopback name: the service reaches itself on 127.0.0.1). */
    issue(opts: { from?: number; to?: number } = {}): { cert: string; key: string } {
      const name = `leaf${++n}`;
      openssl(
        ['req', ...NEW_P256_KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', '/CN=authz.example', '-addext', 'subjectAltName=DNS:authz.example'],
        dir,
      );
      const from = opts.from ?? Date.now() - DAY;
      const to = opts.to ?? Date.now() + 10 * DAY;
      openssl(
        [
          'ca',
          '-batch',
          '-config',
          'ca.cnf',
          '-cert',
          'ca.pem',
          '-keyfile',
          'ca.key',
          '-in',
          `${name}.csr`,
          '-out',
          `${name}.pem`,
          '-notext',
          '-startdate',
          asn1(from),
          '-enddate',
          asn1(to),
        ],
        dir,
      );
      return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
    },
    selfSigned(): { cert: string; key: string } {
      const name = `self${++n}`;
      openssl(['req', '-x509', ...NEW_P256_KEY, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', '/CN=authz.example'], dir);
      return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
    },
  };
}

/** The leaf a TLS client is shown on `port`, verified against `ca` for authz.example. */
function servedCertificate(port: number, ca: string): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca: readFileSync(ca), servername: 'authz.example' }, () => {
      const cert = socket.getPeerCertificate();
      socket.end();
      resolve(cert);
    });
    socket.on('error', reject);
  });
}

const fingerprint = (file: string) => new X509Certificate(readFileSync(file)).fingerprint256;

describe('TLS certificates', function () {
  this.timeout(20_000);
  const ca = privateCa();

  describe('rotation on disk', () => {
    let svc: TestService;
    let certFile: string;
    let keyFile: string;
    const a = ca.issue();
    const b = ca.issue();
    const c = ca.issue();
    before(async () => {
      // Where a mounted Secret puts them; the test rewrites them as the kubelet would.
      const dir = makeTempDir();
      certFile = join(dir, 'tls.crt');
      keyFile = join(dir, 'tls.key');
      copyFileSync(a.cert, certFile);
      copyFileSync(a.key, keyFile);
      svc = await startTestService({ flags: [`--tls.server.cert-file=${certFile}`, `--tls.server.key-file=${keyFile}`, '--tls.reload-interval=0'] });
    });
    after(() => svc?.stop());
    const port = () => svc.service.publicAddress.port;
    const metrics = async () => (await fetch(`${svc.internalUrl}/metrics`)).text();

    it('serves the new pair to new connections once the files change, and a broken pair keeps it', async () => {
      assert.equal((await servedCertificate(port(), ca.caFile)).fingerprint256, fingerprint(a.cert));

      copyFileSync(b.cert, certFile);
      copyFileSync(b.key, keyFile);
      await svc.service.reload();
      assert.equal((await servedCertificate(port(), ca.caFile)).fingerprint256, fingerprint(b.cert), 'rotated without a restart');
      assert.equal(metricValue(await metrics(), 'config_reloads_total', { config: 'tls', result: 'success' }), 2, 'startup and the rotation');

      // A new certificate whose key has not arrived yet: a pair that cannot serve.
      copyFileSync(c.cert, certFile);
      await svc.service.reload();
      assert.equal((await servedCertificate(port(), ca.caFile)).fingerprint256, fingerprint(b.cert), 'a mismatched pair keeps the old one');
      const text = await metrics();
      assert.equal(metricValue(text, 'config_reloads_total', { config: 'tls', result: 'failure' }), 1);
      assert.equal(metricValue(text, 'config_last_reload_successful', { config: 'tls' }), 0);
      const rejected = svc.log.records().find((r) => r.msg === 'rejected the new TLS certificate and key; the previous ones keep serving');
      assert.ok(rejected, 'the rejection is logged');
      assert.ok(String(rejected.reason).includes(keyFile), `names the key file: ${String(rejected.reason)}`);

      // Half a certificate (a copy caught mid-write).
      writeFileSync(certFile, readFileSync(c.cert).subarray(0, 200));
      copyFileSync(c.key, keyFile);
      await svc.service.reload();
      assert.equal((await servedCertificate(port(), ca.caFile)).fingerprint256, fingerprint(b.cert));

      // Then the whole pair: it serves.
      copyFileSync(c.cert, certFile);
      await svc.service.reload();
      assert.equal((await servedCertificate(port(), ca.caFile)).fingerprint256, fingerprint(c.cert));
    });

    it('the liveness check still passes after rotations (it trusts the pair served now)', async () => {
      const res = await fetch(`${svc.internalUrl}/live`);
      assert.equal(res.status, 200, await res.clone().text());
      assert.deepEqual(await res.json(), { http: 'OK' });
    });
  });

  describe('startup', () => {
    it('an expired certificate stops startup naming the file and its dates', async () => {
      const old = ca.issue({ from: Date.now() - 20 * DAY, to: Date.now() - 10 * DAY });
      await assert.rejects(startTestService({ flags: [`--tls.server.cert-file=${old.cert}`, `--tls.server.key-file=${old.key}`] }), (err: Error) => {
        assert.ok(err.message.includes(old.cert), err.message);
        assert.match(err.message, /certificate expired: valid from \d{4}-\d\d-\d\dT[\d:.]+Z until \d{4}-\d\d-\d\dT[\d:.]+Z/);
        return true;
      });
    });

    it('a certificate not yet valid stops startup naming the file and its dates', async () => {
      const early = ca.issue({ from: Date.now() + 5 * DAY, to: Date.now() + 20 * DAY });
      await assert.rejects(
        startTestService({ flags: [`--tls.internal.server.cert-file=${early.cert}`, `--tls.internal.server.key-file=${early.key}`] }),
        (err: Error) => {
          assert.ok(err.message.includes(early.cert), err.message);
          assert.match(err.message, /not yet valid: valid from/);
          return true;
        },
      );
    });

    it("a key that is not the certificate's stops startup naming the key file", async () => {
      const x = ca.issue();
      const y = ca.issue();
      await assert.rejects(
        startTestService({ flags: [`--tls.server.cert-file=${x.cert}`, `--tls.server.key-file=${y.key}`] }),
        (err: Error) => err.message.includes(y.key) && /not the key of the certificate/.test(err.message),
      );
    });
  });

  describe("the liveness check over the service's own TLS listener", () => {
    for (const [what, pair] of [
      ['a private CA', () => ca.issue()],
      ['a self-signed certificate', () => ca.selfSigned()],
    ] as const) {
      it(`passes with ${what} and no CA flag`, async () => {
        const p = pair();
        const svc = await startTestService({ flags: [`--tls.server.cert-file=${p.cert}`, `--tls.server.key-file=${p.key}`] });
        try {
          const res = await fetch(`${svc.internalUrl}/ready`);
          assert.deepEqual(await res.json(), { http: 'OK', policy: 'OK', shutdown: 'OK' });
          assert.equal(res.status, 200);
        } finally {
          await svc.stop();
        }
      });
    }

    it('a pinned check refuses a listener presenting another certificate', async () => {
      const served = ca.issue();
      const other = ca.issue();
      const server = createHttpsServer({ cert: readFileSync(other.cert), key: readFileSync(other.key) }, (_req, res) => {
        res.statusCode = 404;
        res.end();
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      try {
        const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
        await assert.rejects(httpLivenessCheck(url, { pin: () => [fingerprint(served.cert)] })(), /not the one this service serves/);
        // The same listener passes once its certificate is the pinned one.
        await httpLivenessCheck(url, { pin: () => [fingerprint(other.cert)] })();
      } finally {
        server.close();
      }
    });
  });

  describe('--tls.min-version', () => {
    it('TLS 1.0 and 1.1 cannot be negotiated by this runtime even when allowed (the reason they are refused)', async () => {
      const p = ca.issue();
      const server = createHttpsServer({ cert: readFileSync(p.cert), key: readFileSync(p.key), minVersion: 'TLSv1' }, (_q, s) => s.end());
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      try {
        const port = (server.address() as AddressInfo).port;
        for (const v of ['TLSv1', 'TLSv1.1'] as const) {
          await assert.rejects(
            new Promise((resolve, reject) => {
              const s = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, minVersion: v, maxVersion: v, ciphers: 'DEFAULT@SECLEVEL=0' }, () =>
                resolve(s.end()),
              );
              s.on('error', reject);
            }),
            // OpenSSL 3.0 (Node 20) gets as far as the handshake signature, which its security level
            // refuses (alert internal error); OpenSSL 3.5 (Node 24) refuses the protocol version itself.
            /alert (internal error|protocol version)/i,
            v,
          );
        }
      } finally {
        server.close();
      }
    });

    for (const v of ['VersionTLS10', 'VersionTLS11']) {
      it(`${v} is refused at startup with the reason and the flag to set`, () => {
        assert.throws(
          () => loadConfig(['--rbac.config=/x', `--tls.min-version=${v}`]),
          (err: Error) => {
            assert.ok(err instanceof FlagError);
            assert.match(err.message, new RegExp(`--tls.min-version=${v}: .*cannot negotiate TLS 1\\.0 or 1\\.1.*use VersionTLS12 or VersionTLS13`));
            return true;
          },
        );
      });
    }

    it('VersionTLS12 and VersionTLS13 are accepted', () => {
      for (const [v, node] of [
        ['VersionTLS12', 'TLSv1.2'],
        ['VersionTLS13', 'TLSv1.3'],
      ]) {
        const loaded = loadConfig(['--rbac.config=/x', `--tls.min-version=${v}`]);
        assert.ok(!loaded.help && loaded.config.tls.minVersion === node);
      }
    });
  });
});
