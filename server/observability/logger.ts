import { FdDestination, type LogDestination } from './log-destination.js';
import { fieldJSON, redactTree, UNSERIALIZABLE } from './log-fields.js';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type LogFormat = 'logfmt' | 'json';
export type { LogDestination };

type Method = LogLevel | 'fatal';

/** A log call: a message, or fields and a message (the message may then stand in the fields as `msg`). */
export interface LogFn {
  (msg: string): void;
  (fields: object, msg?: string): void;
}

export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  fatal: LogFn;
  isLevelEnabled(level: Method): boolean;
  /** Writes what waits for the destination synchronously (at exit, after a fatal error). */
  flush(): void;
}

export interface LoggerOptions {
  level: LogLevel;
  format: LogFormat;
  /** The name= field of every line (--debug.name). */
  name?: string;
  /** Where lines go; stderr by default, as opa-openshift logs. */
  destination?: LogDestination;
  /** Characters of lines waiting for stderr before new ones are dropped (and counted); 1 MiB by default. */
  maxBuffered?: number;
}

/** pino's level numbers: a logger writes the calls at or above its level. */
const RANK: Record<Method, number> = { debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };

/** Field paths a credential could reach; their values are replaced before anything is written. */
const REDACT = redactTree([
  'token',
  '*.token',
  'headers.authorization',
  'headers["x-forwarded-access-token"]',
  'req.headers.authorization',
  'req.headers["x-forwarded-access-token"]',
]);

/**
 * Fields every line carries itself. A call's field of the same name would be written after it and
 * win when the line is read (JSON.parse and logfmt readers keep the last), so a debug line with
 * `name: "logs"` once relabelled the process in every log query. Such a field is kept, renamed
 * `field_<name>`; so is `msg` when the call gives a message too (it is the message otherwise).
 */
const OWN_FIELDS = new Set(['name', 'time', 'level']);

export const DEFAULT_MAX_BUFFERED = 1 << 20;

export function createLogger(options: LoggerOptions): Logger {
  const min = RANK[options.level];
  const nameText = options.name ?? 'lokistack-authz';
  const name = options.format === 'json' ? JSON.stringify(nameText) : logfmtValue(nameText);
  const line = options.format === 'json' ? jsonLine : logfmtLine;
  const out: LogDestination =
    options.destination ??
    new FdDestination({
      fd: 2,
      maxBuffered: options.maxBuffered ?? DEFAULT_MAX_BUFFERED,
      onRecovered: (dropped) => log('warn', { dropped }, 'log lines were dropped: stderr could not keep up'),
    });

  function log(method: Method, a: unknown, b?: unknown): void {
    const time = new Date().toISOString();
    let text: string;
    try {
      text = line(method, time, name, fieldsOf(a, b));
    } catch {
      // Reading the fields themselves failed (a Proxy): the line still says that something was logged.
      text = line(method, time, name, [
        ['logger_error', '"the fields could not be read"'],
        ...(typeof b === 'string' ? [['msg', JSON.stringify(b)] as Field] : []),
      ]);
    }
    try {
      out.write(text);
    } catch {
      // A destination that throws loses the line, not the caller's request.
    }
  }

  // A level below the logger's costs a call to nothing: debug lines stand on hot paths.
  const at = (method: Method): LogFn => (RANK[method] >= min ? (a: unknown, b?: unknown) => log(method, a, b) : noop);
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    fatal: at('fatal'),
    isLevelEnabled: (level) => RANK[level] >= min,
    flush: () => out.flush?.(),
  };
}

const noop = () => {};

/** A field's key and its value as JSON text. */
type Field = [string, string];

/** The call's fields in order, then the message; as pino read `(fields, msg)`, `(msg)` and `(error)`. */
function fieldsOf(a: unknown, b: unknown): Field[] {
  let fields: Record<string, unknown>;
  let msg = b;
  if (a === null || typeof a !== 'object') {
    fields = {};
    msg = a;
  } else if (a instanceof Error) {
    fields = { err: a };
    msg ??= a.message;
  } else fields = a as Record<string, unknown>;
  if (msg === undefined && fields.msg === undefined && fields.err) msg = (fields.err as { message?: unknown }).message;
  const out: Field[] = [];
  for (const key of Object.keys(fields)) {
    let value: unknown;
    try {
      value = fields[key];
    } catch {
      out.push([rename(key, msg), UNSERIALIZABLE]);
      continue;
    }
    if (value === undefined) continue;
    const text = fieldJSON(key, value, REDACT);
    if (text !== undefined) out.push([rename(key, msg), text]);
  }
  if (msg !== undefined) {
    const text = fieldJSON('msg', msg, REDACT);
    if (text !== undefined) out.push(['msg', text]);
  }
  return out;
}

const rename = (key: string, msg: unknown) => (OWN_FIELDS.has(key) || (key === 'msg' && msg !== undefined) ? `field_${key}` : key);

// Characters a terminal or log viewer acts on, or that fake a line or field: C0 and C1 controls
// (ESC starts terminal escape sequences, NUL truncates in some tools), DEL, line and paragraph
// separators and bidirectional overrides (which reorder what a reader sees).
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const escapeUnsafe = (s: string) => s.replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

/**
 * `{"level":…,"time":…,"name":…,<fields>,"msg":…}` (`name` given as JSON). JSON.stringify leaves DEL, C1 controls, the
 * separators and bidi marks raw; they are escaped here too (they can only stand inside strings,
 * and JSON readers read them back the same).
 */
function jsonLine(level: Method, time: string, name: string, fields: Field[]): string {
  let s = `{"level":"${level}","time":"${time}","name":${name}`;
  for (const [k, v] of fields) s += `,${JSON.stringify(k)}:${v}`;
  return `${escapeUnsafe(s)}}\n`;
}

/** `level=… time=… name=… key=value … msg=…` (`name` given as logfmt): strings as themselves, other values as their JSON. */
function logfmtLine(level: Method, time: string, name: string, fields: Field[]): string {
  let s = `level=${level} time=${time} name=${name}`;
  for (const [k, v] of fields) s += ` ${logfmtValue(k)}=${logfmtValue(v.startsWith('"') ? JSON.parse(v) : v)}`;
  return `${s}\n`;
}

/** A logfmt value: bare when it can be, else quoted with every unsafe character escaped as `\u` and four hex digits. */
export function logfmtValue(v: unknown): string {
  const s = typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v));
  UNSAFE.lastIndex = 0;
  const bare = s.length > 0 && /^[^\s"=\\]+$/.test(s) && !UNSAFE.test(s);
  if (bare) return s;
  return escapeUnsafe(JSON.stringify(s));
}
