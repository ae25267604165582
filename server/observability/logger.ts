import { pino, type DestinationStream, type Logger } from 'pino';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type LogFormat = 'logfmt' | 'json';
export type { Logger };

export interface LoggerOptions {
  level: LogLevel;
  format: LogFormat;
  /** The name= field of every line (--debug.name). */
  name?: string;
  /** Where lines go; stderr by default, as opa-openshift logs. */
  destination?: DestinationStream;
}

/** Field paths a credential could reach; pino replaces them before anything is written. */
const REDACT = [
  'token',
  '*.token',
  'headers.authorization',
  'headers["x-forwarded-access-token"]',
  'req.headers.authorization',
  'req.headers["x-forwarded-access-token"]',
];

/**
 * Fields every line carries itself. A call's field of the same name would be written after it and
 * win when the line is read (JSON.parse and logfmt readers keep the last), so a debug line with
 * `name: "logs"` once relabelled the process in every log query. Such a field is kept, renamed
 * `field_<name>`. (`msg` is not here: pino reads a call's `msg` as the message.)
 */
const OWN_FIELDS = new Set(['name', 'time', 'level']);

function keepOwnFields(object: Record<string, unknown>): Record<string, unknown> {
  if (!Object.keys(object).some((k) => OWN_FIELDS.has(k))) return object;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(object)) out[OWN_FIELDS.has(k) ? `field_${k}` : k] = v;
  return out;
}

export function createLogger(options: LoggerOptions): Logger {
  const out = options.destination ?? pino.destination({ fd: 2, sync: false });
  return pino(
    {
      level: options.level,
      base: { name: options.name ?? 'lokistack-authz' },
      timestamp: pino.stdTimeFunctions.isoTime,
      messageKey: 'msg',
      formatters: { level: (label) => ({ level: label }), log: keepOwnFields },
      redact: { paths: REDACT, censor: '[REDACTED]' },
    },
    options.format === 'json' ? out : logfmt(out),
  );
}

/** Rewrites pino's JSON lines as logfmt: `name=… time=… level=… msg=… key=value`. */
function logfmt(out: DestinationStream): DestinationStream {
  return {
    write(line: string) {
      let record: Record<string, unknown>;
      try {
        record = JSON.parse(line) as Record<string, unknown>;
      } catch {
        out.write(line);
        return;
      }
      const fields = Object.entries(record).map(([k, v]) => `${logfmtValue(k)}=${logfmtValue(v)}`);
      out.write(`${fields.join(' ')}\n`);
    },
  };
}

// Characters a terminal or log viewer acts on, or that fake a line or field: C0 and C1 controls
// (ESC starts terminal escape sequences, NUL truncates in some tools), DEL, line and paragraph
// separators and bidirectional overrides (which reorder what a reader sees).
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** A logfmt value: bare when it can be, else quoted with every unsafe character escaped as \uXXXX. */
export function logfmtValue(v: unknown): string {
  const s = typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v));
  UNSAFE.lastIndex = 0;
  const bare = s.length > 0 && /^[^\s"=\\]+$/.test(s) && !UNSAFE.test(s);
  if (bare) return s;
  return JSON.stringify(s).replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
