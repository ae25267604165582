import { createHash, createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { readRegularFile } from '../files.js';
import { ConfigError, reasonOf } from '../errors.js';

/** A PEM file bigger than this is no certificate chain or key: refused before it is read whole. */
export const MAX_PEM_BYTES = 1 << 20;

export interface PairFiles {
  cert: string;
  key: string;
}

/** A certificate chain and its key, checked to serve together. */
export interface CertPair {
  files: PairFiles;
  cert: Buffer;
  key: Buffer;
  /** The leaf: the first certificate of the chain, the one the listener presents. */
  leaf: X509Certificate;
  /** SHA-256 fingerprint of the leaf as node:tls reports a peer's (`AB:CD:…`). */
  fingerprint256: string;
}

/** Reads at most MAX_PEM_BYTES of `file`, a regular file; a bigger file is an error, not a truncated read. */
async function readBounded(file: string): Promise<Buffer> {
  try {
    return Buffer.from(await readRegularFile(undefined, file, MAX_PEM_BYTES));
  } catch (err) {
    throw new ConfigError(file, '', reasonOf(err).slice(file.length + 2));
  }
}

export async function readPair(files: PairFiles): Promise<{ cert: Buffer; key: Buffer }> {
  const [cert, key] = await Promise.all([readBounded(files.cert), readBounded(files.key)]);
  return { cert, key };
}

/**
 * Checks that a certificate and key can serve now: both parse, the key is the certificate's, the
 * certificate is inside its validity period, and OpenSSL accepts the pair with the listener's
 * settings (`secure`: min version, ciphers). Faults name the file and, for dates, the period.
 */
export function checkPair(files: PairFiles, bytes: { cert: Buffer; key: Buffer }, secure: SecureContextOptions, now: number = Date.now()): CertPair {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(bytes.cert);
  } catch (err) {
    throw new ConfigError(files.cert, '', `not a PEM certificate: ${reasonOf(err)}`);
  }
  const from = Date.parse(leaf.validFrom);
  const to = Date.parse(leaf.validTo);
  const period = `valid from ${new Date(from).toISOString()} until ${new Date(to).toISOString()}, now ${new Date(now).toISOString()}`;
  if (!(now >= from)) throw new ConfigError(files.cert, '', `certificate not yet valid: ${period}`);
  if (!(now <= to)) throw new ConfigError(files.cert, '', `certificate expired: ${period}`);
  let key: KeyObject;
  try {
    key = createPrivateKey(bytes.key);
  } catch (err) {
    throw new ConfigError(files.key, '', `not a PEM private key: ${reasonOf(err)}`);
  }
  if (!leaf.checkPrivateKey(key)) throw new ConfigError(files.key, '', `not the key of the certificate in ${files.cert}`);
  try {
    createSecureContext({ ...secure, cert: bytes.cert, key: bytes.key });
  } catch (err) {
    throw new ConfigError(files.cert, '', `cannot serve this certificate and key: ${reasonOf(err)}`);
  }
  return { files, cert: bytes.cert, key: bytes.key, leaf, fingerprint256: leaf.fingerprint256 };
}

export interface CertReloaderOptions {
  files: PairFiles;
  /** Listener settings the pair must work with (min version, ciphers). */
  secure: SecureContextOptions;
  /** How often the files are read for changes; 0: only on check() (SIGHUP). */
  intervalMs: number;
  /** Starts serving a checked pair on new connections (server.setSecureContext). */
  apply: (pair: CertPair) => void;
  onApplied: (pair: CertPair) => void;
  onRejected: (err: unknown) => void;
  now?: () => number;
}

/**
 * Serves a rotated certificate without a restart: re-reads the pair on an interval and on
 * demand, and applies it when its content changed and it passes checkPair; a bad pair (half
 * written, mismatched, expired) is rejected and the serving one stays. It polls both files
 * rather than watching one, since either may change last (cert-manager, a hand copy); a mounted
 * Secret swaps both at once.
 */
export class CertReloader {
  private serving: CertPair;
  private previous: CertPair | undefined;
  private lastSeen: string;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();

  constructor(
    initial: CertPair,
    private readonly options: CertReloaderOptions,
  ) {
    this.serving = initial;
    this.lastSeen = digest(initial);
  }

  start(): void {
    if (this.options.intervalMs > 0) {
      this.timer = setInterval(() => void this.check(), this.options.intervalMs);
      this.timer.unref();
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The leaf fingerprints a client of this listener may see: the serving one and, during a rotation, the one before. */
  fingerprints(): string[] {
    return this.previous ? [this.serving.fingerprint256, this.previous.fingerprint256] : [this.serving.fingerprint256];
  }

  /** Reads the files now; resolves once a changed pair has been applied or rejected. */
  check(): Promise<void> {
    this.running = this.running.then(() => this.checkOnce());
    return this.running;
  }

  private async checkOnce(): Promise<void> {
    let pair: CertPair;
    let seen: string | undefined;
    try {
      const bytes = await readPair(this.options.files);
      seen = digest(bytes);
      if (seen === this.lastSeen) return;
      this.lastSeen = seen;
      pair = checkPair(this.options.files, bytes, this.options.secure, (this.options.now ?? Date.now)());
      this.options.apply(pair);
    } catch (err) {
      // Once per distinct fault: an unreadable file polled every interval is one event, not many.
      const fault = `error:${reasonOf(err)}`;
      if (seen === undefined) {
        if (fault === this.lastSeen) return;
        this.lastSeen = fault;
      }
      this.options.onRejected(err);
      return;
    }
    this.previous = this.serving;
    this.serving = pair;
    this.options.onApplied(pair);
  }
}

function digest(bytes: { cert: Buffer; key: Buffer }): string {
  return createHash('sha256').update(bytes.cert).update('\0').update(bytes.key).digest('hex');
}
