import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { DecisionLog, erase, NODE_FILE_OPS, type DecisionEvent, type FileOps } from '../server/observability/decision-log.js';
import { RateLimit } from '../server/observability/rate-limit.js';
import { ALLOWED_INPUT, DENIED_INPUT, captureLogger, eventually, makeTempDir, metricValue, startTestService, type TestService } from './support/service.js';

const TOKEN = 'sha256~decision-log-secret-token-7f3a';

async function decide(svc: TestService, input: unknown, path = 'lokistack/allow') {
  const res = await fetch(`${svc.publicUrl}/v1/data/${path}`, {
    method: 'POST',
    headers: { 'X-Forwarded-Access-Token': TOKEN, Authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({ input }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

function events(file: string): Array<Record<string, unknown>> {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('decision logs', () => {
  let svc: TestService;
  let file: string;
  before(async () => {
    file = join(makeTempDir(), 'decisions.jsonl');
    svc = await startTestService({
      flags: [`--decision-log.output=${file}`, '--decision-log.labels=cluster=dev,app=lokistack', '--decision-log.mask=/input/token,/input/extras/selectors'],
    });
  });
  after(() => svc.stop());

  it('answers with a decision_id that the logged event carries, in OPA event format', async () => {
    const { status, body } = await decide(svc, { ...ALLOWED_INPUT, token: '' });
    assert.equal(status, 200);
    assert.equal(body.result, true);
    assert.match(String(body.decision_id), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.ok(await eventually(() => events(file).some((e) => e.decision_id === body.decision_id)));
    const event = events(file).find((e) => e.decision_id === body.decision_id)!;
    assert.equal(event.path, 'lokistack/allow');
    assert.equal(event.result, true);
    assert.deepEqual(event.input, ALLOWED_INPUT);
    assert.match(String(event.timestamp), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$/);
    assert.match(String(event.requested_by), /^127\.0\.0\.1:\d+$/);
    assert.equal(typeof (event.metrics as Record<string, unknown>).timer_server_handler_ns, 'number');
    const labels = event.labels as Record<string, string>;
    assert.equal(labels.cluster, 'dev');
    assert.equal(labels.app, 'lokistack');
    assert.ok(labels.id && labels.version);
  });

  it('logs denials, undefined documents and errors too', async () => {
    const denied = await decide(svc, DENIED_INPUT);
    const undef = await decide(svc, {}, 'no/such/rule');
    const failed = await decide(svc, {}, 'lokistack/allow/below');
    assert.equal(failed.status, 500);
    // Events are written in batches, in no promised order: wait for all three.
    assert.ok(
      await eventually(() => {
        const all = events(file);
        return (
          [denied.body.decision_id, undef.body.decision_id].every((id) => all.some((e) => e.decision_id === id)) &&
          all.some((e) => e.path === 'lokistack/allow/below')
        );
      }),
      'the three events are written',
    );
    const byId = new Map(events(file).map((e) => [e.decision_id, e]));
    assert.equal(byId.get(denied.body.decision_id)?.result, false);
    assert.ok(!('result' in byId.get(undef.body.decision_id)!), 'an undefined document has no result');
    const error = [...byId.values()].find((e) => e.path === 'lokistack/allow/below');
    assert.equal((error?.error as { code: string } | undefined)?.code, 'internal_error');
  });

  it('erases the masked fields and says which it erased', async () => {
    const { body } = await decide(svc, {
      ...ALLOWED_INPUT,
      token: 'in-input-token',
      extras: { selectors: { kubernetes_namespace_name: ['ns-a'] }, metadataOnly: false },
    });
    assert.ok(await eventually(() => events(file).some((e) => e.decision_id === body.decision_id)));
    const event = events(file).find((e) => e.decision_id === body.decision_id)!;
    const input = event.input as Record<string, unknown>;
    assert.ok(!('token' in input));
    assert.deepEqual(input.extras, { metadataOnly: false });
    assert.deepEqual(event.erased, ['/input/token', '/input/extras/selectors']);
  });

  it('never writes a token from the headers or the input', async () => {
    await decide(svc, { ...ALLOWED_INPUT, token: TOKEN });
    await eventually(() => events(file).length >= 6);
    assert.ok(!readFileSync(file, 'utf8').includes(TOKEN));
    assert.ok(!readFileSync(file, 'utf8').includes('decision-log-secret'));
  });

  it('leaves decision_id out of answers when decision logging is off', async () => {
    const plain = await startTestService();
    try {
      const { body } = await decide(plain, ALLOWED_INPUT);
      assert.deepEqual(body, { result: true });
    } finally {
      await plain.stop();
    }
  });

  it('drops and counts events instead of queueing without bound behind a slow destination', async () => {
    const stuck = new PassThrough({ highWaterMark: 1 });
    let dropped = 0;
    const log = new DecisionLog(stuck, { mask: [], labels: {}, maxPending: 5, onDropped: () => dropped++ });
    for (let i = 0; i < 20; i++) {
      log.write({ decision_id: String(i), path: 'p', requested_by: '', timestamp: '', metrics: {} });
    }
    assert.equal(dropped, 15);
  });

  it('refuses a log file it cannot open, at startup', async () => {
    await assert.rejects(startTestService({ flags: ['--decision-log.output=/nonexistent-dir/x/decisions.jsonl'] }), /cannot open for appending: ENOENT/);
  });

  it('counts dropped events in a metric', async () => {
    const text = await (await fetch(`${svc.internalUrl}/metrics`)).text();
    assert.equal(metricValue(text, 'decision_logs_dropped_total'), 0);
  });

  describe('erase', () => {
    it('removes JSON pointers, with ~1 and ~0 escapes, and lists only those present', () => {
      const { doc, erased } = erase({ input: { 'a/b': 1, 'c~d': 2, keep: 3 } }, ['/input/a~1b', '/input/c~0d', '/input/missing', '/nothing/here']);
      assert.deepEqual(doc, { input: { keep: 3 } });
      assert.deepEqual(erased, ['/input/a~1b', '/input/c~0d']);
    });

    it('does not change the document it was given', () => {
      const original = { input: { token: 'x', a: 1 } };
      erase(original, ['/input/token']);
      assert.deepEqual(original, { input: { token: 'x', a: 1 } });
    });
  });
});

/**
 * A disk of `free` bytes under a real file: a write takes what fits and then fails ENOSPC, as
 * write(2) does on a full file system; truncating frees space again.
 */
function fullDisk(free: number) {
  const disk = {
    free,
    writes: 0,
    ops: {
      ...NODE_FILE_OPS,
      write: async (fd: number, buf: Buffer, offset: number, length: number) => {
        disk.writes++;
        const n = Math.min(length, disk.free);
        if (n === 0) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        disk.free -= n;
        return NODE_FILE_OPS.write(fd, buf, offset, n);
      },
      truncate: async (fd: number, length: number) => {
        disk.free += (await NODE_FILE_OPS.size(fd)) - length;
        return NODE_FILE_OPS.truncate(fd, length);
      },
    } satisfies FileOps,
  };
  return disk;
}

describe('decision logs on a full disk', () => {
  const event = (id: string): DecisionEvent => ({
    decision_id: id,
    path: 'lokistack/allow',
    input: ALLOWED_INPUT,
    result: true,
    requested_by: '127.0.0.1:1',
    timestamp: '2024-01-01T00:00:00.000Z',
    metrics: {},
  });

  it('drops and warns (rate-limited) while writes fail, never leaves half a line, and writes again once space returns', async () => {
    const file = join(makeTempDir(), 'decisions.jsonl');
    const lineBytes = Buffer.byteLength(`${JSON.stringify({ labels: {}, ...event('a') })}\n`);
    const disk = fullDisk(Math.floor(lineBytes * 1.5));
    let now = 1_000_000;
    const log = captureLogger('info');
    let dropped = 0;
    const dlog = DecisionLog.toFile(
      file,
      { mask: [], labels: {}, maxPending: 100, onDropped: () => dropped++, logger: log.logger, warnLimit: new RateLimit(10_000, 16, () => now) },
      disk.ops,
    );

    dlog.write(event('a'));
    await dlog.settled();
    // Half of b fits, then the disk is full.
    dlog.write(event('b'));
    await dlog.settled();
    dlog.write(event('c'));
    await dlog.settled();
    assert.equal(dropped, 2);
    assert.equal(readFileSync(file, 'utf8'), `${JSON.stringify({ labels: {}, ...event('a') })}\n`, 'only whole lines: the part of b written is gone');
    const warns = () => log.records().filter((r) => r.level === 40 || r.level === 'warn');
    assert.equal(warns().length, 1, 'one warn line within the interval');
    assert.equal(warns()[0]!.msg, 'decision log write failed; dropping events');
    assert.match(String(warns()[0]!.reason), /ENOSPC/);

    now += 10_000;
    dlog.write(event('d'));
    await dlog.settled();
    assert.equal(warns().length, 2);
    assert.equal(warns()[1]!.suppressed, 1, 'the suppressed failure is counted on the next line');

    // Space returns: the very next event is written, after a's line, whole.
    disk.free = 1 << 20;
    dlog.write(event('e'));
    dlog.write(event('f'));
    await dlog.settled();
    assert.deepEqual(
      events(file).map((e) => e.decision_id),
      ['a', 'e', 'f'],
    );
    assert.ok(readFileSync(file, 'utf8').endsWith('}\n'));
    assert.equal(dropped, 3);
    const recovered = log.records().find((r) => r.msg === 'decision log writes again');
    assert.equal(recovered?.dropped, 3);
    assert.equal(recovered?.output, file);
    await dlog.close();
  });

  it('never appends after a part it could not cut off', async () => {
    const file = join(makeTempDir(), 'decisions.jsonl');
    const disk = fullDisk(40);
    let truncateFails = true;
    const ops: FileOps = {
      ...disk.ops,
      truncate: async (fd, length) => {
        if (truncateFails) throw Object.assign(new Error('EIO: i/o error, ftruncate'), { code: 'EIO' });
        return disk.ops.truncate(fd, length);
      },
    };
    let dropped = 0;
    const dlog = DecisionLog.toFile(file, { mask: [], labels: {}, maxPending: 100, onDropped: () => dropped++ }, ops);
    dlog.write(event('a'));
    await dlog.settled();
    disk.free = 1 << 20;
    dlog.write(event('b'));
    await dlog.settled();
    assert.equal(dropped, 2, 'b is not glued to the half of a');
    truncateFails = false;
    dlog.write(event('c'));
    await dlog.settled();
    assert.deepEqual(
      events(file).map((e) => e.decision_id),
      ['c'],
    );
    await dlog.close();
  });

  it('creates the log file readable by its owner only (0600)', async () => {
    const file = join(makeTempDir(), 'decisions.jsonl');
    const old = process.umask(0);
    try {
      await startTestService({ flags: [`--decision-log.output=${file}`] }).then((s) => s.stop());
    } finally {
      process.umask(old);
    }
    assert.equal(statSync(file).mode & 0o777, 0o600);
  });

  it('a stream destination that failed counts and warns instead of crashing', async () => {
    const out = new Writable({ write: (_c, _e, done) => done(new Error('EPIPE: broken pipe')) });
    const log = captureLogger('info');
    let dropped = 0;
    const dlog = new DecisionLog(out, { mask: [], labels: {}, maxPending: 10, onDropped: () => dropped++, logger: log.logger });
    dlog.write(event('a'));
    await dlog.settled();
    dlog.write(event('b'));
    await dlog.settled();
    assert.equal(dropped, 2);
    const warned = log.records().filter((r) => r.msg === 'decision log write failed; dropping events');
    assert.match(String(warned[0]?.reason), /EPIPE/);
  });
});
