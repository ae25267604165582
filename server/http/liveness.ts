import { MAX_PEM_BYTES } from '../config/tls-reload.js';
import { readRegularFileSync } from '../files.js';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { Check } from './health.js';

export interface LivenessOptions {
  /** CA to verify an https URL with (--tls.internal.server.ca-file), as opa-openshift does. */
  caFile?: string;
  /**
   * Trust exactly these leaf certificates (SHA-256 fingerprints) instead of a CA: for the
   * service's own public listener, whose certificate it holds. The name in the certificate is
   * not checked: the service reaches itself on a loopback address no certificate names, and the
   * pin says more than a name would.
   */
  pin?: () => readonly string[];
  timeoutMs?: number;
}

/**
 * opa-openshift's `http` liveness check: GET a URL on the public listener where no route is, which
 * must answer 404 within a second. It proves the public listener accepts and answers.
 */
export function httpLivenessCheck(url: string, options: LivenessOptions = {}): Check {
  const ca = options.caFile ? Buffer.from(readRegularFileSync('--tls.internal.server.ca-file', options.caFile, MAX_PEM_BYTES)) : undefined;
  const timeout = options.timeoutMs ?? 1000;
  const pin = options.pin;
  return () =>
    new Promise<void>((resolve, reject) => {
      const target = new URL(url);
      const tls = target.protocol === 'https:';
      const send = tls ? httpsRequest : httpRequest;
      // Pinned: OpenSSL's chain check is off, the fingerprint check below replaces it, before a
      // byte of the answer is read.
      const trust = tls && pin ? { rejectUnauthorized: false } : ca ? { ca } : {};
      const pinned = (socket: TLSSocket): Error | undefined => {
        const seen = socket.getPeerCertificate().fingerprint256;
        return seen && pin!().includes(seen)
          ? undefined
          : new Error(`the listener presented a certificate (${seen ?? 'none'}) that is not the one this service serves`);
      };
      const req = send(target, { method: 'GET', timeout, ...trust, agent: false }, (res) => {
        const fault = tls && pin ? pinned(res.socket as TLSSocket) : undefined;
        res.resume();
        if (fault) reject(fault);
        else if (res.statusCode === 404) resolve();
        else reject(new Error(`unexpected status code ${res.statusCode}, expected 404`));
      });
      if (tls && pin) {
        req.once('socket', (socket) =>
          socket.once('secureConnect', () => {
            const fault = pinned(socket as TLSSocket);
            if (fault) req.destroy(fault);
          }),
        );
      }
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeout}ms`)));
      req.on('error', reject);
      req.end();
    });
}
