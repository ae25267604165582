import type { SecureVersion } from 'node:tls';
import { FlagError } from './flags.js';
import type { FlagReader } from './flag-reader.js';
import { cipherList, TLS_VERSIONS } from './tls.js';

/** Both listeners' TLS: certificate pairs, protocol floor, ciphers, and how often the files are re-read. */
export interface TlsConfig {
  certFile?: string;
  keyFile?: string;
  internalCertFile?: string;
  internalKeyFile?: string;
  /** CA the liveness check trusts for --web.healthchecks.url. */
  internalCaFile?: string;
  minVersion: SecureVersion;
  /** OpenSSL cipher list from --tls.cipher-suites; undefined for Node's defaults. */
  ciphers?: string;
  /** How often the certificate files are re-read; 0: only on SIGHUP. */
  reloadIntervalMs: number;
}

export function tlsConfig(r: FlagReader): TlsConfig {
  const str = r.string;
  const pair = (prefix: string) => {
    const cert = str(`${prefix}.cert-file`);
    const key = str(`${prefix}.key-file`);
    if ((cert === '') !== (key === '')) throw new FlagError(`--${prefix}.cert-file and --${prefix}.key-file go together: set both or neither`);
    return cert ? { cert, key } : undefined;
  };
  const publicTls = pair('tls.server');
  const internalTls = pair('tls.internal.server');
  const minVersion = minTlsVersion(str('tls.min-version'));
  const reloadIntervalMs = r.notNegative('tls.reload-interval');
  const ciphers = cipherList(r.list('tls.cipher-suites'));
  return {
    ...(publicTls ? { certFile: publicTls.cert, keyFile: publicTls.key } : {}),
    ...(internalTls ? { internalCertFile: internalTls.cert, internalKeyFile: internalTls.key } : {}),
    ...(str('tls.internal.server.ca-file') ? { internalCaFile: str('tls.internal.server.ca-file') } : {}),
    minVersion,
    reloadIntervalMs,
    ...(ciphers ? { ciphers } : {}),
  };
}

/**
 * --tls.min-version as Node names it. TLS 1.0 and 1.1 sign the handshake with SHA-1 (or MD5+SHA-1),
 * which OpenSSL 3 refuses at its default security level: Node would accept the setting and then
 * fail every 1.0/1.1 handshake with an internal error alert. Say so at startup instead.
 */
function minTlsVersion(name: string): SecureVersion {
  const v = TLS_VERSIONS[name]!;
  if (v === 'TLSv1' || v === 'TLSv1.1') {
    throw new FlagError(
      `--tls.min-version=${name}: this runtime (OpenSSL ${process.versions.openssl}) cannot negotiate TLS 1.0 or 1.1 at its security level (SHA-1 handshake signatures are refused); use VersionTLS12 or VersionTLS13 (clients speaking TLS 1.2 or later are served either way)`,
    );
  }
  return v;
}
