/**
 * The service's log lines, as operators and their log queries read them, pinned against pino (the
 * logger the service used before its own, kept as a devDependency for this test) configured as the
 * service configured it: level label, ISO time, name, the call's fields, msg; pino's err
 * serializer; redaction of the credential paths with "[REDACTED]"; a call's own-field names kept
 * as field_<name>. The logfmt lines are read back with a logfmt reader and compared with pino's
 * JSON record: the same keys in the same order, the same values.
 */
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { createLogger, type LogFormat, type Logger, type LogLevel } from '../server/observability/logger.js';

type Method = 'debug' | 'info' | 'warn' | 'error' | 'fatal';
const METHODS: readonly Method[] = ['debug', 'info', 'warn', 'error', 'fatal'];
const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/** pino as the service configured it until it had its own logger (JSON lines). */
function pinoAsConfigured(level: LogLevel, name: string | undefined, lines: string[]) {
  const own = new Set(['name', 'time', 'level']);
  return pino(
    {
      level,
      base: { name: name ?? 'lokistack-authz' },
      timestamp: pino.stdTimeFunctions.isoTime,
      messageKey: 'msg',
      formatters: {
        level: (label) => ({ level: label }),
        log: (o) => (Object.keys(o).some((k) => own.has(k)) ? Object.fromEntries(Object.entries(o).map(([k, v]) => [own.has(k) ? `field_${k}` : k, v])) : o),
      },
      redact: {
        paths: [
          'token',
          '*.token',
          'headers.authorization',
          'headers["x-forwarded-access-token"]',
          'req.headers.authorization',
          'req.headers["x-forwarded-access-token"]',
        ],
        censor: '[REDACTED]',
      },
    },
    { write: (l: string) => void lines.push(l) },
  );
}

function ours(level: LogLevel, format: LogFormat, lines: string[], name?: string): Logger {
  return createLogger({ level, format, ...(name ? { name } : {}), destination: { write: (l: string) => void lines.push(l) } });
}

/** logfmt `key=value` pairs of one line, in order, quoted values decoded. */
function logfmtPairs(line: string): Array<[string, string]> {
  assert.ok(line.endsWith('\n') && !line.slice(0, -1).includes('\n'), `one line: ${JSON.stringify(line)}`);
  const pairs: Array<[string, string]> = [];
  let rest = line.slice(0, -1);
  while (rest.length > 0) {
    const m = /^("(?:[^"\\]|\\.)*"|[^\s"=\\]+)=("(?:[^"\\]|\\.)*"|[^\s"=\\]+)( |$)/.exec(rest);
    assert.ok(m, `a logfmt pair at ${JSON.stringify(rest)}`);
    const decode = (s: string) => (s.startsWith('"') ? (JSON.parse(s) as string) : s);
    pairs.push([decode(m[1]!), decode(m[2]!)]);
    rest = rest.slice(m[0].length);
  }
  return pairs;
}

/**
 * Characters a reader's terminal acts on or that split or reorder a line: C0 and C1 controls, DEL,
 * U+2028/9 and the bidirectional marks and overrides. Also lone surrogates, which are not text.
 */
const RAW_UNSAFE =
  /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

const withoutTime = (line: string, format: LogFormat) =>
  format === 'json' ? line.replace(/"time":"[^"]*"/, '"time":"T"') : line.replace(/ time=\S+/, ' time=T');

function sameAsPinoRecord(ourLine: string, pinoLine: string, what: string): void {
  const record = JSON.parse(pinoLine) as Record<string, unknown>;
  const pairs = logfmtPairs(ourLine);
  assert.deepEqual(
    pairs.map(([k]) => k),
    Object.keys(record),
    `${what}: keys`,
  );
  for (const [k, v] of pairs) {
    if (k === 'time') continue;
    const want = record[k];
    if (typeof want === 'string') assert.equal(v, want, `${what}: ${k}`);
    else assert.deepEqual(JSON.parse(v), want, `${what}: ${k}`);
  }
}

const cause = new Error('connect ECONNREFUSED 127.0.0.1:6443');
const errWithCause = new Error('token review failed', { cause });
const errWithProps = Object.assign(new Error('listen EADDRINUSE: address already in use 127.0.0.1:8080'), {
  code: 'EADDRINUSE',
  errno: -98,
  syscall: 'listen',
  inner: new TypeError('inner'),
});
const errWithToken = Object.assign(new Error('bad bearer'), { token: 'eyJ.SECRET.sig' });
const aggregate = new AggregateError([new Error('first'), 'not an error'], 'both failed');
const STRINGS: Record<string, string> = {
  quotes: 'say "hi" with a \\ backslash and = sign',
  newlines: 'first\nsecond\r\nlevel=error msg=forged',
  controls: 'nul\u0000 bell\u0007 esc\u001b[31mred\u001b[0m tab\t',
  c1: 'del\u007f nel\u0085 csi\u009b2J',
  separators: 'line\u2028para\u2029end',
  bidi: 'user\u202egpj.exe\u202c \u2066isolate\u2069 \u200e\u200f',
  nonBmp: 'emoji 😀 clef 𝄞 cjk 日本',
  long: `${'x"y\\'.repeat(40)}\u0001`,
  percent: 'a %s b %d c %j d %% e %o',
  empty: '',
};

interface Case {
  name: string;
  fields?: Record<string, unknown>;
  msg?: string;
}

const CASES: Case[] = [
  { name: 'message only', msg: 'starting lokistack-authz' },
  { name: 'fields and message', fields: { version: '0.1.0', mode: 'openshift-logging', port: 8080 }, msg: 'serving the Data API' },
  { name: 'nested objects and arrays', fields: { a: { b: { c: [1, 'two', { d: null }, []] } }, list: ['x', 2, true], empty: {} }, msg: 'nested' },
  { name: 'err: an Error with own properties', fields: { err: errWithProps }, msg: 'cannot start' },
  { name: 'err: an Error with a cause', fields: { err: errWithCause, path: 'v1/data/lokistack/allow' }, msg: 'internal error' },
  { name: 'err: an AggregateError', fields: { err: aggregate }, msg: 'aggregate' },
  { name: 'err: a string thrown', fields: { err: 'a thrown string' }, msg: 'thrown' },
  { name: 'err: a number thrown', fields: { err: 42 }, msg: 'thrown' },
  { name: 'err: null', fields: { err: null }, msg: 'thrown' },
  {
    name: 'err: the error handler’s shape',
    fields: { err: { message: 'boom', name: 'TypeError', cause: 'ECONNRESET' }, path: 'v1/data' },
    msg: 'internal error',
  },
  { name: 'err: the error handler’s shape without cause', fields: { err: { message: 'boom', name: 'Error', cause: undefined } }, msg: 'internal error' },
  { name: 'err: an Error carrying a token', fields: { err: errWithToken }, msg: 'denied' },
  { name: 'err without a message', fields: { err: errWithCause } },
  { name: 'an Error under another key', fields: { error: new Error('not serialized') }, msg: 'other key' },
  { name: 'own field names', fields: { name: 'logs', time: 'yesterday', level: 'fatal', user: 'bob' }, msg: 'cluster-scoped AccessReview' },
  { name: 'msg in the fields, no message', fields: { msg: 'from the object', n: 1 } },
  ...Object.entries(STRINGS).flatMap(([k, s]): Case[] => [
    { name: `string (${k}) as a value`, fields: { reason: s, [`key ${k}`]: 1 }, msg: 'strings' },
    { name: `string (${k}) as the message`, msg: s },
    { name: `string (${k}) nested`, fields: { o: { s, list: [s] } }, msg: 'nested strings' },
  ]),
  {
    name: 'numbers',
    fields: {
      zero: 0,
      negZero: -0,
      half: 1.5,
      big: 1e21,
      small: 5e-324,
      max: Number.MAX_SAFE_INTEGER,
      nan: Number.NaN,
      inf: Number.POSITIVE_INFINITY,
      ninf: Number.NEGATIVE_INFINITY,
      nested: { nan: Number.NaN },
    },
    msg: 'numbers',
  },
  {
    name: 'booleans, null, undefined',
    fields: { t: true, f: false, n: null, u: undefined, nested: { u: undefined, n: null }, arr: [undefined, null] },
    msg: 'values',
  },
  { name: 'bigint', fields: { small: 10n, neg: -5n }, msg: 'bigint' },
  { name: 'functions and symbols', fields: { fn: () => 1, sym: Symbol('s'), nested: { fn: () => 1 }, arr: [() => 1, Symbol('t')] }, msg: 'skipped' },
  { name: 'Date and Map', fields: { at: new Date(0), m: new Map([[1, 2]]), s: new Set([1]) }, msg: 'objects' },
  { name: 'redact: token', fields: { token: 'eyJ.SECRET.sig', user: 'bob' }, msg: 'redact' },
  { name: 'redact: token holding an object', fields: { token: { raw: 'eyJ.SECRET.sig' } }, msg: 'redact' },
  { name: 'redact: *.token', fields: { cache: { token: 'eyJ.SECRET.sig', user: 'bob' }, other: { token: 7 } }, msg: 'redact' },
  { name: 'redact: *.token present but undefined', fields: { cache: { token: undefined } }, msg: 'redact' },
  {
    name: 'redact: headers',
    fields: { headers: { authorization: 'Bearer SECRET', 'x-forwarded-access-token': 'SECRET', token: 'SECRET', accept: '*/*' } },
    msg: 'redact',
  },
  {
    name: 'redact: req.headers',
    fields: { req: { method: 'POST', headers: { authorization: 'Bearer SECRET', 'x-forwarded-access-token': 'SECRET', host: 'h' }, token: 'SECRET' } },
    msg: 'redact',
  },
  { name: 'redact: headers that are not an object', fields: { headers: 'authorization: x', req: { headers: null } }, msg: 'redact' },
  // What pino's paths do not name stays (as it did): the paths are exact and case-sensitive.
  {
    name: 'not redacted: other names and depths',
    fields: { Token: 'T1', a: { b: { token: 'deep' } }, list: [{ token: 'in-array' }], headers: { Authorization: 'A' }, access_token: 'x' },
    msg: 'exact paths',
  },
];

function call(logger: Logger, method: Method, c: Case): void {
  const fn = logger[method] as (a: unknown, b?: unknown) => void;
  if (c.fields === undefined) fn.call(logger, c.msg);
  else if (c.msg === undefined) fn.call(logger, c.fields);
  else fn.call(logger, c.fields, c.msg);
}

describe('logger: the lines pino wrote', () => {
  for (const format of ['json', 'logfmt'] as const) {
    describe(format, () => {
      for (const c of CASES) {
        it(c.name, () => {
          const want: string[] = [];
          const got: string[] = [];
          call(pinoAsConfigured('info', undefined, want), 'info', c);
          call(ours('info', format, got), 'info', c);
          assert.equal(got.length, 1, 'one line');
          assert.equal(want.length, 1);
          const line = got[0]!;
          assert.ok(line.endsWith('\n') && !line.slice(0, -1).includes('\n'), 'one line, newline-terminated');
          if (format === 'json') assert.equal(withoutTime(line, format), withoutTime(want[0]!, 'json'));
          else {
            sameAsPinoRecord(line, want[0]!, c.name);
            assert.doesNotMatch(line.slice(0, -1), RAW_UNSAFE, 'no raw control, separator or bidi character');
          }
          assert.doesNotMatch(line, /SECRET/, 'no credential');
        });
      }
    });
  }

  it('the configured name', () => {
    for (const format of ['json', 'logfmt'] as const) {
      const want: string[] = [];
      const got: string[] = [];
      pinoAsConfigured('info', 'authz-east', want).info({ a: 1 }, 'named');
      ours('info', format, got, 'authz-east').info({ a: 1 }, 'named');
      if (format === 'json') assert.equal(withoutTime(got[0]!, format), withoutTime(want[0]!, 'json'));
      else sameAsPinoRecord(got[0]!, want[0]!, 'named');
    }
  });

  it('time is the ISO instant of the call', () => {
    const got: string[] = [];
    const before = Date.now();
    ours('info', 'json', got).info('now');
    const time = (JSON.parse(got[0]!) as { time: string }).time;
    assert.match(time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(Date.parse(time) >= before - 1 && Date.parse(time) <= Date.now() + 1);
  });

  for (const level of LEVELS) {
    it(`level ${level}: the levels below it write nothing, the others as pino did`, () => {
      for (const format of ['json', 'logfmt'] as const) {
        const want: string[] = [];
        const got: string[] = [];
        const p = pinoAsConfigured(level, undefined, want);
        const o = ours(level, format, got);
        for (const m of METHODS) {
          assert.equal(o.isLevelEnabled(m), p.isLevelEnabled(m), `isLevelEnabled(${m})`);
          p[m]({ at: m }, `a ${m} line`);
          o[m]({ at: m }, `a ${m} line`);
        }
        assert.equal(got.length, want.length);
        got.forEach((line, i) => {
          if (format === 'json') assert.equal(withoutTime(line, format), withoutTime(want[i]!, 'json'));
          else sameAsPinoRecord(line, want[i]!, `${level} ${i}`);
        });
      }
    });
  }
});
