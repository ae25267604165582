/**
 * Certificates for the fake API's HTTPS listener: a CA made for this process and a serving
 * certificate it signs, as a cluster has (clients trust the CA through certificate-authority-data
 * or a pod's ca.crt, never the leaf). Node has no X.509 issuing API, so the `openssl` command makes
 * them, once per set of names per process (P-256 keys: milliseconds). Nothing is written outside a
 * temporary directory that is removed before returning.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface FakeKubeCertificates {
  caPem: string;
  certPem: string;
  keyPem: string;
}

/** `openssl req` arguments for a new unencrypted P-256 key (milliseconds to make, unlike RSA). */
export const NEW_P256_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'] as const;

const cache = new Map<string, FakeKubeCertificates>();

/**
 * A CA and a serving certificate for `names` (IPs and DNS names) plus 127.0.0.1, localhost and the
 * in-cluster names kubernetes.default.svc(.cluster.local).
 */
export function fakeKubeCertificates(names: readonly string[] = []): FakeKubeCertificates {
  const all = [
    ...new Set(['127.0.0.1', 'localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local', ...names]),
  ];
  const key = all.join(',');
  const cached = cache.get(key);
  if (cached) return cached;
  const dir = mkdtempSync(join(tmpdir(), 'fake-kube-tls-'));
  try {
    const run = (...args: string[]): void => {
      execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    };
    const san = all.map((n) => (isIP(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
    writeFileSync(
      join(dir, 'ext.cnf'),
      `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${san}\n`,
    );
    run(
      'req',
      '-x509',
      ...NEW_P256_KEY,
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '2',
      '-subj',
      '/CN=fake-kube-ca',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    );
    run('req', ...NEW_P256_KEY, '-keyout', 'tls.key', '-out', 'tls.csr', '-subj', '/CN=fake-kube');
    run('x509', '-req', '-in', 'tls.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'tls.crt', '-days', '2', '-extfile', 'ext.cnf');
    const certs: FakeKubeCertificates = {
      caPem: readFileSync(join(dir, 'ca.crt'), 'utf8'),
      certPem: readFileSync(join(dir, 'tls.crt'), 'utf8'),
      keyPem: readFileSync(join(dir, 'tls.key'), 'utf8'),
    };
    cache.set(key, certs);
    return certs;
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`fake-kube: openssl could not make the HTTPS certificates${stderr ? `: ${stderr}` : ''}`, { cause: err });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
