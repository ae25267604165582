import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { SecureVersion } from 'node:tls';
import type { LogFormat, LogLevel } from '../observability/logger.js';
import { FlagError, parseFlags, type FlagSpec, type FlagValues } from './flags.js';

/** Where the service listens: no host means every interface, as Go's `:8080`. */
export interface ListenAddress {
  host?: string;
  port: number;
}

export interface Config {
  mode: 'static';
  web: {
    listen: ListenAddress;
    internalListen: ListenAddress;
    maxBodyBytes: number;
    maxDepth: number;
    decisionTimeoutMs: number;
    headersTimeoutMs: number;
    requestTimeoutMs: number;
    shutdownTimeoutMs: number;
  };
  tls: {
    certFile?: string;
    keyFile?: string;
    minVersion: SecureVersion;
  };
  log: { level: LogLevel; format: LogFormat };
  /** The decision path the gateway asks, e.g. ["lokistack", "allow"]; it must be an entrypoint. */
  decisionPath: string[];
  policy: { wasmFile: string; maxMemoryBytes: number };
  rbac: { file: string; reloadIntervalMs: number };
}

export const BUNDLED_WASM = fileURLToPath(new URL('../../wasm/lokistack.wasm', import.meta.url));
// Compiled to dist/server/config, the bundled policy is one level further up.
const bundledWasm = (): string => (existsSync(BUNDLED_WASM) ? BUNDLED_WASM : fileURLToPath(new URL('../../../wasm/lokistack.wasm', import.meta.url)));

export const FLAGS: readonly FlagSpec[] = [
  { name: 'mode', type: 'string', default: 'static', choices: ['static'], help: 'How decisions are made: static roles and bindings evaluated by the compiled policy.' },
  { name: 'web.listen', type: 'string', default: ':8080', help: 'Address of the public listener (OPA Data API).' },
  { name: 'web.internal.listen', type: 'string', default: ':8081', help: 'Address of the internal listener (/live, /ready, /metrics, /health).' },
  { name: 'web.max-body-bytes', type: 'int', default: 1 << 20, help: 'Largest request body accepted, before and after gzip decoding.' },
  { name: 'web.max-input-depth', type: 'int', default: 64, help: 'Deepest nesting of arrays and objects accepted in input.' },
  { name: 'web.decision-timeout', type: 'duration', default: 10_000, help: 'Deadline for one decision, upstream calls included.' },
  { name: 'web.headers-timeout', type: 'duration', default: 10_000, help: 'Time a client has to send its request headers.' },
  { name: 'web.request-timeout', type: 'duration', default: 30_000, help: 'Time a client has to send its whole request.' },
  { name: 'web.shutdown-timeout', type: 'duration', default: 30_000, help: 'On SIGTERM, how long in-flight requests may take before the process exits.' },
  { name: 'tls.server.cert-file', type: 'string', default: '', help: 'TLS certificate for the public listener (PEM).' },
  { name: 'tls.server.key-file', type: 'string', default: '', help: 'TLS key for the public listener (PEM).' },
  { name: 'tls.min-version', type: 'string', default: 'VersionTLS13', choices: ['VersionTLS10', 'VersionTLS11', 'VersionTLS12', 'VersionTLS13'], help: 'Minimum TLS version.' },
  { name: 'log.level', type: 'string', default: 'info', choices: ['error', 'warn', 'info', 'debug'], help: 'Log level.' },
  { name: 'log.format', type: 'string', default: 'logfmt', choices: ['logfmt', 'json'], help: 'Log format.' },
  { name: 'opa.package', type: 'string', default: 'lokistack', help: 'Package of the decision rule; the gateway asks /v1/data/<package with / for .>/<rule>.' },
  { name: 'opa.rule', type: 'string', default: 'allow', help: 'Name of the decision rule.' },
  { name: 'policy.wasm', type: 'string', default: '', help: 'Compiled policy (opa build -t wasm); empty for the bundled lokistack policy.' },
  { name: 'policy.max-memory-bytes', type: 'int', default: 256 << 20, help: 'Upper bound on the policy instance memory.' },
  { name: 'rbac.config', type: 'string', default: '', help: 'Roles and roleBindings (observatorium/api rbac.yaml, or a LokiStack resource); watched and reloaded on change.' },
  { name: 'rbac.reload-interval', type: 'duration', default: 10_000, help: 'How often the rbac file is also checked for changes, besides file events; 0 relies on events alone.' },
];

const PACKAGE_RE = /^[_A-Za-z]\w*(\.[_A-Za-z]\w*)*$/;
const RULE_RE = /^[_A-Za-z]\w*$/;
const TLS_VERSIONS: Record<string, SecureVersion> = { VersionTLS10: 'TLSv1', VersionTLS11: 'TLSv1.1', VersionTLS12: 'TLSv1.2', VersionTLS13: 'TLSv1.3' };

export type LoadResult = { help: true } | { help: false; config: Config };

/** Parses and validates the command line into a Config; throws FlagError naming the flag at fault. */
export function loadConfig(argv: readonly string[]): LoadResult {
  const { values, help } = parseFlags(argv, FLAGS);
  if (help) return { help: true };
  return { help: false, config: toConfig(values) };
}

function toConfig(v: FlagValues): Config {
  const str = (name: string) => v[name] as string;
  const num = (name: string) => v[name] as number;
  const positive = (name: string) => {
    if (num(name) <= 0) throw new FlagError(`--${name} must be greater than zero, got ${num(name)}`);
    return num(name);
  };

  const pkg = str('opa.package');
  if (pkg !== '' && !PACKAGE_RE.test(pkg)) throw new FlagError(`--opa.package ${JSON.stringify(pkg)} is not a valid package name (e.g. lokistack or a.b.c)`);
  const rule = str('opa.rule');
  if (!RULE_RE.test(rule)) throw new FlagError(`--opa.rule ${JSON.stringify(rule)} is not a valid rule name`);

  const certFile = str('tls.server.cert-file');
  const keyFile = str('tls.server.key-file');
  if ((certFile === '') !== (keyFile === '')) {
    throw new FlagError('--tls.server.cert-file and --tls.server.key-file go together: set both or neither');
  }
  const rbacFile = str('rbac.config');
  if (rbacFile === '') throw new FlagError('static mode needs --rbac.config: the file of roles and roleBindings to decide with');

  const reload = num('rbac.reload-interval');
  if (reload < 0) throw new FlagError('--rbac.reload-interval must not be negative');
  return {
    mode: 'static',
    web: {
      listen: parseListen('web.listen', str('web.listen')),
      internalListen: parseListen('web.internal.listen', str('web.internal.listen')),
      maxBodyBytes: positive('web.max-body-bytes'),
      maxDepth: positive('web.max-input-depth'),
      decisionTimeoutMs: positive('web.decision-timeout'),
      headersTimeoutMs: positive('web.headers-timeout'),
      requestTimeoutMs: positive('web.request-timeout'),
      shutdownTimeoutMs: positive('web.shutdown-timeout'),
    },
    tls: { ...(certFile ? { certFile, keyFile } : {}), minVersion: TLS_VERSIONS[str('tls.min-version')]! },
    log: { level: str('log.level') as LogLevel, format: str('log.format') as LogFormat },
    decisionPath: [...(pkg === '' ? [] : pkg.split('.')), rule],
    policy: { wasmFile: str('policy.wasm') || bundledWasm(), maxMemoryBytes: positive('policy.max-memory-bytes') },
    rbac: { file: rbacFile, reloadIntervalMs: reload },
  };
}

/** `:8080`, `127.0.0.1:8080`, `[::1]:8080` or `localhost:8080`, as Go's net.Listen takes them. */
export function parseListen(flag: string, raw: string): ListenAddress {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(raw);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new FlagError(`--${flag} ${JSON.stringify(raw)} is not a listen address such as :8080 or 127.0.0.1:8080`);
  const host = m[1] ?? m[2];
  return host ? { host, port } : { port };
}
