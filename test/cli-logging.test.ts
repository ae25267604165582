/**
 * The log line's own fields (name, time, level) stay the line's: --debug.name promises "the name=
 * field of every log line", and log queries select the process by it. A field a call logs under
 * the same key must not relabel the line (readers of JSON and logfmt keep the last duplicate).
 */
import assert from 'node:assert/strict';
import { lokistackFakeKubeOptions } from './support/fake-kube/fixtures.js';
import { startFakeKube, type FakeKube } from './support/fake-kube/server.js';
import { OPERATOR_LOGGING_ARGS, postDecision, gatewayInput, startAuthzOn } from './support/openshift.js';
import { captureLogger } from './support/service.js';
import { LOKISTACK_TOKENS } from './support/fake-kube/fixtures.js';
import { createLogger } from '../server/observability/logger.js';

/** logfmt `key=value` pairs of one line, in order, duplicates kept. */
function logfmtPairs(line: string): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const m of line.matchAll(/([^\s=]+)=("(?:[^"\\]|\\.)*"|\S*)/g)) pairs.push([m[1]!, m[2]!.startsWith('"') ? (JSON.parse(m[2]!) as string) : m[2]!]);
  return pairs;
}

describe('logger: a call cannot overwrite the line’s own fields', () => {
  for (const format of ['json', 'logfmt'] as const) {
    it(`${format}: name, time and level logged by a call are kept beside the line's own, which win`, () => {
      const lines: string[] = [];
      const logger = createLogger({ level: 'debug', format, name: 'authz-east', destination: { write: (l: string) => void lines.push(l) } });
      logger.debug({ name: 'logs', time: 'yesterday', level: 'fatal', user: 'bob' }, 'cluster-scoped AccessReview');
      assert.equal(lines.length, 1);
      const line = lines[0]!;
      const pairs: Array<[string, unknown]> = format === 'json' ? [...line.matchAll(/"([^"]+)":/g)].map((m) => [m[1]!, undefined]) : logfmtPairs(line);
      const keys = pairs.map(([k]) => k);
      for (const own of ['name', 'time', 'level']) assert.equal(keys.filter((k) => k === own).length, 1, `one ${own} field in ${line}`);
      const record: Record<string, unknown> = format === 'json' ? (JSON.parse(line) as Record<string, unknown>) : Object.fromEntries(logfmtPairs(line));
      assert.equal(record.name, 'authz-east');
      assert.equal(record.level, 'debug');
      assert.notEqual(record.time, 'yesterday');
      assert.equal(record.field_name, 'logs', 'the call’s value is still there, under its own key');
      assert.equal(record.user, 'bob');
    });
  }

  it('a call without such fields is written as given (the message from msg too)', () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'info', format: 'json', destination: { write: (l: string) => void lines.push(l) } });
    logger.info({ msg: 'from the object', n: 1 });
    const record = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.equal(record.msg, 'from the object');
    assert.equal(record.n, 1);
    assert.equal(record.name, 'lokistack-authz');
  });
});

describe('logger: openshift mode at debug level keeps name= on every line', function () {
  this.timeout(30_000);
  let fake: FakeKube;
  before(async () => {
    fake = await startFakeKube(lokistackFakeKubeOptions());
  });
  after(async () => {
    await fake?.close();
  });

  it('a decision (cluster-wide review, project list, namespaced reviews) logs no line named otherwise', async () => {
    const log = captureLogger('debug', 'logfmt');
    const authz = await startAuthzOn(fake, [...OPERATOR_LOGGING_ARGS, '--log.level=debug'], log);
    try {
      const answer = await postDecision(authz.url, { input: gatewayInput('bob'), token: LOKISTACK_TOKENS.bob });
      assert.equal(answer.status, 200, answer.text);
    } finally {
      await authz.stop();
    }
    assert.match(log.text(), /cluster-scoped AccessReview/, 'the debug line that once carried name=logs was written');
    const lines = log.lines.filter((l) => l.trim() !== '');
    assert.ok(lines.length > 0);
    for (const line of lines) {
      // captureLogger's logger carries the default name (--debug.name's default).
      const names = logfmtPairs(line).filter(([k]) => k === 'name');
      assert.deepEqual(names, [['name', 'lokistack-authz']], line);
    }
  });
});
