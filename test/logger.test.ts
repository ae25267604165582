/**
 * The service's log lines, as operators and their log queries read them, pinned against pino (the
 * logger the service used before its own, kept as a devDependency for this test) configured as the
 * service configured it: level label, ISO time, name, the call's fields, msg; pino's err
 * serializer; redaction of the credential paths with "[REDACTED]"; a call's own-field names kept
 * as field_<name>. The logfmt lines are read back with a logfmt reader and compared with pino's
 * JSON record: the same keys in the same order, the same values.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { pino } from 'pino';
import { FdDestination, type FdOps } from '../server/observability/log-destination.js';
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

/**
 * Our JSON line is pino's, byte for byte, but where pino wrote a character RAW_UNSAFE names as
 * it was: we escape it (\uXXXX), deliberately, so that the line reads back the same with any JSON
 * reader but cannot act on the terminal or viewer of whoever reads the log.
 */
function sameAsPinoLine(ours: string, theirs: string): void {
  if (!RAW_UNSAFE.test(theirs.slice(0, -1))) {
    assert.equal(withoutTime(ours, 'json'), withoutTime(theirs, 'json'));
    return;
  }
  assert.doesNotMatch(ours.slice(0, -1), RAW_UNSAFE, 'no raw control, separator, bidi mark or lone surrogate');
  const escaped = theirs.slice(0, -1).replace(new RegExp(RAW_UNSAFE.source, 'g'), (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  assert.equal(withoutTime(ours, 'json'), withoutTime(`${escaped}\n`, 'json'));
  assert.deepEqual(JSON.parse(ours), { ...(JSON.parse(theirs) as object), time: (JSON.parse(ours) as { time: string }).time });
}

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
  loneSurrogates: 'high \ud800 low \udc00 end',
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
  { name: 'an Error as the only argument', fields: errWithProps as unknown as Record<string, unknown> },
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
          if (format === 'json') sameAsPinoLine(line, want[0]!);
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
      if (format === 'json') sameAsPinoLine(got[0]!, want[0]!);
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
          if (format === 'json') sameAsPinoLine(line, want[i]!);
          else sameAsPinoRecord(line, want[i]!, `${level} ${i}`);
        });
      }
    });
  }
});

/** One JSON line from a fresh logger at debug level, parsed. */
function oneRecord(call: (l: Logger) => void): Record<string, unknown> {
  const lines: string[] = [];
  call(ours('debug', 'json', lines));
  assert.equal(lines.length, 1, 'exactly one line');
  return JSON.parse(lines[0]!) as Record<string, unknown>;
}

describe('logger: where it deliberately differs from pino', () => {
  it('a circular value is written once, "[Circular]" where it closes (pino repeated a level first)', () => {
    const circ: Record<string, unknown> = { a: 1 };
    circ.self = circ;
    circ.list = [circ, { up: circ }];
    const shared = { x: 1 };
    assert.deepEqual(oneRecord((l) => l.info({ circ, twice: [shared, shared] }, 'circular')).circ, {
      a: 1,
      self: '[Circular]',
      list: ['[Circular]', { up: '[Circular]' }],
    });
    assert.deepEqual(
      oneRecord((l) => l.info({ twice: [shared, shared] }, 'shared')).twice,
      [{ x: 1 }, { x: 1 }],
      'a value seen twice, not in a cycle, is written twice',
    );
  });

  it('a call with both a msg field and a message keeps both, the field as field_msg (pino wrote two "msg" keys)', () => {
    const lines: string[] = [];
    ours('info', 'json', lines).info({ msg: 'forged', user: 'bob' }, 'the message');
    assert.equal((lines[0]!.match(/"msg":/g) ?? []).length, 1, lines[0]);
    const r = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.equal(r.msg, 'the message');
    assert.equal(r.field_msg, 'forged');
  });

  it('a bigint beyond 2^53 keeps its digits in logfmt too (pino’s line lost them through JSON.parse)', () => {
    const lines: string[] = [];
    ours('info', 'logfmt', lines).info({ n: 2n ** 64n + 1n }, 'big');
    assert.match(lines[0]!, / n=18446744073709551617 /);
    const json: string[] = [];
    ours('info', 'json', json).info({ n: 2n ** 64n + 1n }, 'big');
    assert.match(json[0]!, /"n":18446744073709551617,/);
  });

  it('values with toJSON are written as JSON.stringify writes them (pino wrote URL and Buffer as "[unable to serialize…]")', () => {
    const r = oneRecord((l) => l.info({ url: new URL('https://oauth.example/authorize'), buf: Buffer.from('hi'), boxed: Object('s') as unknown }, 'x'));
    assert.equal(r.url, 'https://oauth.example/authorize');
    assert.deepEqual(r.buf, { type: 'Buffer', data: [104, 105] });
    assert.equal(r.boxed, 's');
  });
});

describe('logger: an attacker’s value cannot smuggle a token past redaction', () => {
  it('a toJSON that returns a token under a redacted path is redacted (pino wrote it)', () => {
    const smuggler = { toJSON: () => ({ token: 'eyJ.SECRET.sig', user: 'bob' }) };
    const r = oneRecord((l) => l.info({ cache: smuggler, headers: { toJSON: () => ({ authorization: 'Bearer SECRET' }) } }, 'x'));
    assert.deepEqual(r.cache, { token: '[REDACTED]', user: 'bob' });
    assert.deepEqual(r.headers, { authorization: '[REDACTED]' });
  });

  it('a top-level token with toJSON, a getter token, an err carrying a token: redacted', () => {
    const lines: string[] = [];
    const logger = ours('debug', 'logfmt', lines);
    logger.info({ token: { toJSON: () => 'SECRET' } }, 'a');
    logger.info(
      {
        cache: {
          get token() {
            return 'SECRET';
          },
        },
      },
      'b',
    );
    logger.error({ err: Object.assign(new Error('denied'), { token: 'SECRET' }) }, 'c');
    assert.equal(lines.length, 3);
    for (const line of lines) {
      assert.doesNotMatch(line, /SECRET/);
      assert.match(line, /\[REDACTED\]/);
    }
  });

  it('a key the paths do not name (Token) is written, as pino wrote it: the paths are exact', () => {
    // Pinned so that a change here is a decision: the service's own code chooses the keys it logs.
    assert.equal(oneRecord((l) => l.info({ Token: 'T' }, 'm')).Token, 'T');
  });
});

describe('logger: never throws into its caller, a line still comes out', () => {
  it('a getter that throws: the field is marked, the others and the message are written', () => {
    const fields = {
      before: 1,
      get broken(): unknown {
        throw new Error('getter ran');
      },
      nested: {
        get deep(): unknown {
          throw new Error('nested getter ran');
        },
      },
      after: 2,
    };
    const r = oneRecord((l) => l.warn(fields, 'still written'));
    assert.deepEqual(
      { ...r, time: 'T' },
      { level: 'warn', time: 'T', name: 'lokistack-authz', before: 1, broken: '[unserializable]', nested: '[unserializable]', after: 2, msg: 'still written' },
    );
  });

  it('fields that cannot even be listed (a hostile Proxy): the line says so', () => {
    const hostile = new Proxy(
      {},
      {
        ownKeys() {
          throw new Error('no keys');
        },
      },
    );
    for (const format of ['json', 'logfmt'] as const) {
      const lines: string[] = [];
      ours('info', format, lines).error(hostile, 'the message');
      assert.equal(lines.length, 1);
      assert.match(lines[0]!, /logger_error/);
      assert.match(lines[0]!, /the message/);
    }
  });

  it('a value nested past the stack: the field is marked', () => {
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 200_000; i++) deep = { d: deep };
    const r = oneRecord((l) => l.info({ deep, ok: true }, 'deep'));
    assert.equal(r.deep, '[unserializable]');
    assert.equal(r.ok, true);
  });

  it('a destination that throws loses the line, not the call', () => {
    const logger = createLogger({
      level: 'info',
      format: 'json',
      destination: {
        write() {
          throw new Error('EPIPE');
        },
      },
    });
    assert.doesNotThrow(() => logger.error({ a: 1 }, 'lost'));
  });
});

/** File-descriptor calls the test completes by hand: what was asked, in order. */
class HeldOps implements FdOps {
  readonly pending: Array<{ chunk: Buffer; done: (err: NodeJS.ErrnoException | null, n: number) => void }> = [];
  readonly written: string[] = [];
  /** Every byte written, in order. */
  readonly bytes: Buffer[] = [];
  syncWrites = 0;
  syncFails: string | undefined;
  write(_fd: number, buf: Buffer, offset: number, length: number, done: (err: NodeJS.ErrnoException | null, n: number) => void): void {
    this.pending.push({ chunk: Buffer.from(buf.subarray(offset, offset + length)), done });
  }
  writeSync(_fd: number, buf: Buffer, offset: number, length: number): number {
    this.syncWrites++;
    if (this.syncFails) throw Object.assign(new Error(this.syncFails), { code: this.syncFails });
    this.written.push(buf.subarray(offset, offset + length).toString('utf8'));
    this.bytes.push(Buffer.from(buf.subarray(offset, offset + length)));
    return length;
  }
  sleepSync(): void {}
  /** Completes the oldest write: all of it, `n` bytes of it, or with an error. */
  complete(how: { n?: number; code?: string } = {}): void {
    const w = this.pending.shift();
    assert.ok(w, 'a write is waiting');
    if (how.code) {
      w.done(Object.assign(new Error(how.code), { code: how.code }), 0);
      return;
    }
    const n = how.n ?? w.chunk.length;
    this.written.push(w.chunk.subarray(0, n).toString('utf8'));
    this.bytes.push(w.chunk.subarray(0, n));
    w.done(null, n);
  }
}

const turn = () => new Promise<void>((r) => setImmediate(r));
const numbered = (n: number, width = 20) => Array.from({ length: n }, (_, i) => `${`line ${i}`.padEnd(width - 1, '.')}\n`);

function held(maxBuffered: number, retryMs?: number) {
  const ops = new HeldOps();
  const reports: number[] = [];
  const dest = new FdDestination({
    fd: 99,
    maxBuffered,
    ops,
    ...(retryMs === undefined ? {} : { retryMs }),
    onRecovered: (dropped) => {
      reports.push(dropped);
      dest.write(`dropped ${dropped}\n`);
    },
  });
  return { ops, dest, reports };
}

/** A destination whose first write ('a') the pipe refused (EAGAIN), with 'b' queued behind it; its retry waits 1 ms. */
async function refusedOnce() {
  const h = held(1_000, 1);
  h.dest.write('a\n');
  await turn();
  h.ops.complete({ code: 'EAGAIN' });
  h.dest.write('b\n');
  return h;
}

/** Past a 1 ms retry: a timer set later for longer fires after it (Node keeps timers in order). */
const afterRetry = () => new Promise((r) => setTimeout(r, 5));

describe('logger: the stderr destination', () => {
  it('a flood while the reader is stuck keeps at most maxBuffered characters, counts the rest, and says so once when it has caught up', async () => {
    const { ops, dest, reports } = held(2_000);
    const lines = numbered(10_000);
    for (const l of lines) dest.write(l);
    await turn();
    assert.equal(ops.pending.length, 1, 'one write at a time');
    for (const l of numbered(50)) dest.write(l); // the reader is still stuck: all dropped
    ops.complete();
    await turn();
    assert.deepEqual(reports, [9_900 + 50]);
    ops.complete();
    await turn();
    assert.equal(ops.pending.length, 0);
    assert.equal(ops.written.join(''), `${lines.slice(0, 100).join('')}dropped 9950\n`, 'the first 2,000 characters, then the count');
    dest.write('after\n');
    await turn();
    ops.complete();
    assert.deepEqual(reports, [9_950], 'said once');
    assert.equal(ops.written.at(-1), 'after\n');
  });

  it('a line longer than the whole bound is dropped and counted', async () => {
    const { ops, dest, reports } = held(100);
    dest.write(`${'x'.repeat(101)}\n`);
    dest.write('fits\n');
    await turn();
    ops.complete();
    await turn();
    ops.complete();
    assert.deepEqual(ops.written, ['fits\n', 'dropped 1\n']);
    assert.deepEqual(reports, [1]);
  });

  it('a short write continues where it stopped', async () => {
    const { ops, dest } = held(1_000);
    dest.write('héllo wörld\n');
    await turn();
    ops.complete({ n: 2 }); // in the middle of é's two bytes
    ops.complete({ n: 5 });
    ops.complete();
    assert.equal(ops.pending.length, 0);
    assert.equal(Buffer.concat(ops.bytes).toString('utf8'), 'héllo wörld\n');
  });

  it('a failing destination (EPIPE) drops its batch, and does not try again on its own', async () => {
    const { ops, dest, reports } = held(1_000);
    dest.write('a\n');
    dest.write('b\n');
    await turn();
    ops.complete({ code: 'EPIPE' });
    for (let i = 0; i < 5; i++) await turn();
    assert.equal(ops.pending.length, 0, 'no write nobody asked for');
    assert.deepEqual(reports, []);
    dest.write('c\n');
    await turn();
    ops.complete();
    await turn();
    ops.complete();
    assert.deepEqual(ops.written, ['c\n', 'dropped 2\n'], 'the next write that works says how many were lost');
  });

  it('a write that takes nothing is a failure, not a loop', async () => {
    const { ops, dest } = held(1_000);
    dest.write('a\n');
    await turn();
    ops.complete({ n: 0 });
    for (let i = 0; i < 5; i++) await turn();
    assert.equal(ops.pending.length, 0);
    dest.write('b\n');
    await turn();
    ops.complete();
    await turn();
    ops.complete();
    assert.deepEqual(ops.written, ['', 'b\n', 'dropped 1\n']);
  });

  it('a full non-blocking pipe (EAGAIN) is written again, once, in order', async () => {
    const { ops } = await refusedOnce();
    await afterRetry();
    assert.equal(ops.pending.length, 1, 'the refused batch, again');
    ops.complete();
    await turn();
    ops.complete();
    assert.deepEqual(ops.written, ['a\n', 'b\n']);
  });

  it('flush() writes what waits synchronously, a batch waiting on EAGAIN first, and nothing twice', async () => {
    const { ops, dest } = await refusedOnce();
    dest.flush();
    assert.deepEqual(ops.written, ['a\n', 'b\n']);
    await afterRetry();
    assert.equal(ops.pending.length, 0, 'the retry was called off');
  });

  it('flush() leaves a batch the kernel has to complete on its own, and writes the rest', async () => {
    const { ops, dest } = held(1_000);
    dest.write('a\n');
    await turn();
    dest.write('b\n');
    dest.flush();
    assert.deepEqual(ops.written, ['b\n']);
    ops.complete();
    await turn();
    assert.deepEqual(ops.written, ['b\n', 'a\n']);
    assert.equal(ops.pending.length, 0);
  });

  it('flush() says how many lines were dropped, and gives up on a pipe that stays full', () => {
    const { ops, dest } = held(12);
    dest.write('abcdefgh\n');
    dest.write('dropped\n');
    dest.flush();
    assert.deepEqual(ops.written, ['abcdefgh\n', 'dropped 1\n']);
    ops.syncFails = 'EAGAIN';
    dest.write('x\n');
    const before = ops.syncWrites;
    dest.flush();
    assert.ok(ops.syncWrites - before > 1 && ops.syncWrites - before < 5_000, 'tried again, then gave up');
  });
});

/** Runs `body` in a child node with `logger` made by createLogger(options) on its real stderr; returns what it wrote there. */
function childStderr(options: string, body: string): { status: number | null; lines: string[] } {
  const url = new URL('../server/observability/logger.ts', import.meta.url).href;
  const script = `import(${JSON.stringify(url)}).then(({ createLogger }) => { const logger = createLogger(${options}); ${body} });`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.error, undefined);
  return { status: r.status, lines: r.stderr.split('\n').filter((l) => l !== '') };
}

describe('logger: on a real stderr, in a child process', function () {
  this.timeout(60_000);

  it('the lines logged just before a fatal exit are all written: flush() is synchronous', () => {
    const { status, lines } = childStderr(
      "{ level: 'info', format: 'json' }",
      "for (let i = 0; i < 3000; i++) logger.info({ i }, 'working'); logger.fatal({ code: 'listen_failed' }, 'cannot start'); logger.flush(); process.exit(3);",
    );
    assert.equal(status, 3);
    assert.equal(lines.length, 3001);
    lines.slice(0, 3000).forEach((l, i) => assert.equal((JSON.parse(l) as { i: number }).i, i));
    assert.deepEqual(
      { ...(JSON.parse(lines[3000]!) as object), time: 'T' },
      { level: 'fatal', time: 'T', name: 'lokistack-authz', code: 'listen_failed', msg: 'cannot start' },
    );
  });

  it('a flood past the bound: the lines that fit, then one warn line with how many were dropped', () => {
    // 1,000 lines in one tick: none has been written yet when the bound is reached, so which
    // ones fit does not depend on how fast the parent reads.
    const { status, lines } = childStderr(
      "{ level: 'info', format: 'logfmt', maxBuffered: 10000 }",
      "for (let i = 0; i < 1000; i++) logger.warn({ i, pad: 'x'.repeat(60) }, 'flood');",
    );
    assert.equal(status, 0);
    const kept = lines.filter((l) => / msg=flood$/.test(l));
    const lineLength = lines[0]!.length + 1;
    assert.ok(kept.length > 0 && kept.length * lineLength <= 10_000 && (kept.length + 1) * lineLength > 10_000 - 50, `${kept.length} lines of ${lineLength}`);
    kept.forEach((l, i) => assert.match(l, new RegExp(` i=${i} `)));
    assert.equal(lines.length, kept.length + 1);
    assert.match(
      lines.at(-1)!,
      new RegExp(`^level=warn time=\\S+ name=lokistack-authz dropped=${1000 - kept.length} msg="log lines were dropped: stderr could not keep up"$`),
    );
  });
});
