/**
 * The command line (server/config/flags.ts) and its validation into a Config (config.ts): the
 * Loki Operator passes opa-openshift-style arguments, so every form pflag accepts must work, and
 * every mistake must stop startup with a message naming the flag.
 */
import { strict as assert } from 'node:assert';
import { BUNDLED_WASM } from '../server/config/bundled-policy.js';
import { FLAGS, loadConfig, type Config } from '../server/config/config.js';
import { flagReader } from '../server/config/flag-reader.js';
import { parseListen } from '../server/config/listen.js';
import { FlagError, parseDuration, parseFlags, usage, type FlagSpec } from '../server/config/flags.js';
import { VERSION } from '../server/version.js';

const SPECS: readonly FlagSpec[] = [
  { name: 'name', type: 'string', default: 'def', help: 'a string' },
  { name: 'color', type: 'string', default: 'red', choices: ['red', 'green'], help: 'a choice' },
  { name: 'verbose', type: 'bool', default: false, help: 'a bool' },
  { name: 'enabled', type: 'bool', default: true, help: 'a bool that defaults to true' },
  { name: 'count', type: 'int', default: 3, help: 'an int' },
  { name: 'wait', type: 'duration', default: 1500, help: 'a duration' },
  { name: 'items', type: 'list', default: ['x'], help: 'a list' },
  { name: 'secret', type: 'string', default: 'hidden-default', help: 'not shown', hidden: true },
];

const RBAC = ['--rbac.config=/etc/rbac.yaml'];

function config(...argv: string[]): Config {
  const loaded = loadConfig(argv);
  assert.equal(loaded.help, false);
  return (loaded as { config: Config }).config;
}

/** Asserts that `fn` throws a FlagError whose message matches every pattern. */
function throwsFlag(fn: () => unknown, ...patterns: Array<RegExp | string>): string {
  let message = '';
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof FlagError, `expected a FlagError, got ${String(err)}`);
    message = err.message;
    return true;
  });
  for (const p of patterns) {
    if (typeof p === 'string') assert.ok(message.includes(p), `${JSON.stringify(message)} should contain ${JSON.stringify(p)}`);
    else assert.match(message, p);
  }
  return message;
}

describe('flags: parsing (pflag forms)', () => {
  it('--name=value and --name value give the same value', () => {
    assert.equal(parseFlags(['--name=abc'], SPECS).values.name, 'abc');
    assert.equal(parseFlags(['--name', 'abc'], SPECS).values.name, 'abc');
    assert.equal(parseFlags(['--name=a=b'], SPECS).values.name, 'a=b', 'only the first = separates');
    assert.equal(parseFlags(['--name='], SPECS).values.name, '');
  });

  it('defaults apply to flags not given, and `set` lists the given ones', () => {
    const { values, set } = parseFlags(['--count=7'], SPECS);
    assert.deepEqual(values, { name: 'def', color: 'red', verbose: false, enabled: true, count: 7, wait: 1500, items: ['x'], secret: 'hidden-default' });
    assert.deepEqual([...set], ['count']);
  });

  it('the last of a repeated scalar flag wins', () => {
    assert.equal(parseFlags(['--name=a', '--name', 'b'], SPECS).values.name, 'b');
    assert.equal(config(...RBAC, '--log.level=debug', '--log.level=error').log.level, 'error');
  });

  it('bools: --flag, --flag=true|false|1|0|t|f', () => {
    const b = (...argv: string[]) => parseFlags(argv, SPECS).values;
    assert.equal(b('--verbose').verbose, true);
    assert.equal(b('--verbose=true').verbose, true);
    assert.equal(b('--verbose=1').verbose, true);
    assert.equal(b('--verbose=t').verbose, true);
    assert.equal(b('--verbose=TRUE').verbose, true);
    assert.equal(b('--enabled=false').enabled, false);
    assert.equal(b('--enabled=0').enabled, false);
    assert.equal(b('--enabled=f').enabled, false);
    assert.equal(b('--enabled=False').enabled, false);
  });

  it('a bool never takes the next argument: `--verbose false` leaves "false" as a stray argument', () => {
    throwsFlag(() => parseFlags(['--verbose', 'false'], SPECS), '"false"');
  });

  it('a bad bool names the flag', () => {
    throwsFlag(() => parseFlags(['--verbose=maybe'], SPECS), '--verbose', '"maybe"');
  });

  it('lists: comma-separated and repeatable; the first use replaces the default', () => {
    assert.deepEqual(parseFlags([], SPECS).values.items, ['x']);
    assert.deepEqual(parseFlags(['--items=a,b'], SPECS).values.items, ['a', 'b']);
    assert.deepEqual(parseFlags(['--items=a', '--items', 'b,c'], SPECS).values.items, ['a', 'b', 'c']);
    assert.deepEqual(parseFlags(['--items='], SPECS).values.items, []);
  });

  it('ints: whole numbers only, the flag named otherwise', () => {
    assert.equal(parseFlags(['--count=-4'], SPECS).values.count, -4);
    assert.equal(parseFlags(['--count', '12'], SPECS).values.count, 12);
    for (const bad of ['abc', '1.5', '', '1e3', '0x10']) {
      throwsFlag(() => parseFlags([`--count=${bad}`], SPECS), '--count', JSON.stringify(bad));
    }
  });

  it('choices: anything else is refused, naming the flag and the allowed values', () => {
    assert.equal(parseFlags(['--color=green'], SPECS).values.color, 'green');
    throwsFlag(() => parseFlags(['--color=blue'], SPECS), '--color', '"blue"', 'red', 'green');
  });

  it('a flag without its value at the end of the line is an error naming it', () => {
    throwsFlag(() => parseFlags(['--name'], SPECS), '--name');
    throwsFlag(() => loadConfig([...RBAC, '--log.level']), '--log.level');
  });

  // Go's flag package and pflag take the next argument as the value whatever it is, so a value left
  // out swallows the next flag: `--rbac.config --web.listen=:9090` reads rules from a file named
  // "--web.listen=:9090" and listens on :8080. Here a non-bool flag followed by --anything is an error.
  it('a flag without its value does not swallow the next flag: the error names the flag missing its value', () => {
    const msg = throwsFlag(() => loadConfig(['--rbac.config', '--web.listen=127.0.0.1:9090']), '--rbac.config', 'needs a value');
    assert.ok(msg.includes('--web.listen=127.0.0.1:9090'), `the swallowed argument is shown: ${msg}`);
    throwsFlag(() => parseFlags(['--name', '--verbose'], SPECS), '--name', 'needs a value');
    throwsFlag(() => parseFlags(['--count', '--help'], SPECS), '--count', 'needs a value');
    throwsFlag(() => parseFlags(['--items', '--items=a'], SPECS), '--items', 'needs a value');
    throwsFlag(() => parseFlags(['--wait', '--'], SPECS), '--wait', 'needs a value');
    // the single-dash forms this parser also reads as flags
    throwsFlag(() => parseFlags(['--name', '-h'], SPECS), '--name', 'needs a value');
    throwsFlag(() => parseFlags(['--name', '-verbose'], SPECS), '--name', 'needs a value');
  });

  it('a value that really starts with -- is given with =; a value starting with one - is still taken', () => {
    assert.equal(parseFlags(['--name=--odd'], SPECS).values.name, '--odd');
    assert.equal(parseFlags(['--count', '-4'], SPECS).values.count, -4);
    assert.equal(parseFlags(['--name', '-'], SPECS).values.name, '-');
    // A bool never takes a value from the next argument, so it cannot swallow one.
    assert.deepEqual(parseFlags(['--verbose', '--name=x'], SPECS).values.verbose, true);
  });

  it('an unknown flag is an error naming it, with a suggestion when one is close', () => {
    const msg = throwsFlag(() => parseFlags(['--nme=x'], SPECS), '--nme');
    assert.match(msg, /did you mean --name\?/);
    throwsFlag(() => loadConfig([...RBAC, '--web.lisen=:8080']), 'unknown flag', '--web.lisen', 'did you mean --web.listen?');
    throwsFlag(() => loadConfig([...RBAC, '--rbac.confg', 'x']), '--rbac.confg', 'did you mean --rbac.config?');
  });

  it('an unknown flag far from every name gets no suggestion', () => {
    const msg = throwsFlag(() => loadConfig([...RBAC, '--zzzzzzzzzz=1']), '--zzzzzzzzzz');
    assert.doesNotMatch(msg, /did you mean/);
  });

  it('hidden flags are never suggested', () => {
    const msg = throwsFlag(() => parseFlags(['--secre=x'], SPECS), '--secre');
    assert.doesNotMatch(msg, /--secret/);
  });

  it('a stray argument (not a flag) is an error naming it', () => {
    throwsFlag(() => parseFlags(['extra'], SPECS), '"extra"');
    throwsFlag(() => loadConfig([...RBAC, 'static']), '"static"');
  });

  it('--version asks for the version, even without required flags, anywhere on the line', () => {
    assert.deepEqual(loadConfig(['--version']), { help: true, version: true });
    assert.deepEqual(loadConfig(['--mode=dynamic', '--version']), { help: true, version: true });
    assert.equal(parseFlags(['--version'], SPECS).version, true);
    assert.equal(parseFlags(['--name=x'], SPECS).version, false);
    assert.match(VERSION, /^\d+\.\d+\.\d+/, "the version is the package's");
  });

  it('--help and -h ask for the usage, even without required flags', () => {
    assert.deepEqual(loadConfig(['--help']), { help: true });
    assert.deepEqual(loadConfig(['-h']), { help: true });
    assert.equal(parseFlags(['--name=x', '--help'], SPECS).help, true);
  });
});

describe('flags: durations', () => {
  it('Go forms: 500ms, 10s, 1m, 1h, 1m30s, 1.5s; a bare number is seconds', () => {
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('10s'), 10_000);
    assert.equal(parseDuration('1m'), 60_000);
    assert.equal(parseDuration('1h'), 3_600_000);
    assert.equal(parseDuration('1m30s'), 90_000);
    assert.equal(parseDuration('1h2m3s4ms'), 3_723_004);
    assert.equal(parseDuration('1.5s'), 1_500);
    assert.equal(parseDuration('0'), 0);
    assert.equal(parseDuration('2'), 2_000);
  });

  it('a bad duration names the flag', () => {
    for (const bad of ['ten', '10x', '', 's', '10 s', '1m30']) {
      throwsFlag(() => parseFlags([`--wait=${bad}`], SPECS), '--wait', JSON.stringify(bad));
    }
    throwsFlag(() => loadConfig([...RBAC, '--web.decision-timeout=soon']), '--web.decision-timeout', '"soon"');
  });

  it('duration flags reach the config in milliseconds', () => {
    const c = config(
      ...RBAC,
      '--web.decision-timeout=250ms',
      '--web.shutdown-timeout',
      '1m',
      '--rbac.reload-interval=0',
      '--web.headers-timeout=2s',
      '--web.request-timeout=1m30s',
    );
    assert.equal(c.web.decisionTimeoutMs, 250);
    assert.equal(c.web.shutdownTimeoutMs, 60_000);
    assert.equal(c.web.headersTimeoutMs, 2_000);
    assert.equal(c.web.requestTimeoutMs, 90_000);
    assert.equal(c.fileReloadIntervalMs, 0);
  });

  it('timeouts of zero are refused, naming the flag', () => {
    throwsFlag(() => loadConfig([...RBAC, '--web.decision-timeout=0']), '--web.decision-timeout');
    throwsFlag(() => loadConfig([...RBAC, '--web.shutdown-timeout=0s']), '--web.shutdown-timeout');
  });
});

describe('config: validation and defaults', () => {
  it('defaults, with only --rbac.config given', () => {
    const c = config(...RBAC);
    assert.equal(c.mode, 'static');
    assert.deepEqual(c.web.listen, { port: 8080 });
    assert.deepEqual(c.web.internalListen, { port: 8081 });
    assert.equal(c.web.maxBodyBytes, 1 << 20);
    assert.equal(c.web.maxDepth, 64);
    assert.equal(c.web.decisionTimeoutMs, 10_000);
    assert.equal(c.web.headersTimeoutMs, 10_000);
    assert.equal(c.web.requestTimeoutMs, 30_000);
    assert.equal(c.web.shutdownTimeoutMs, 30_000);
    assert.equal(c.tls.certFile, undefined);
    assert.equal(c.tls.keyFile, undefined);
    assert.equal(c.tls.minVersion, 'TLSv1.3');
    assert.equal(c.log.level, 'info');
    assert.equal(c.log.format, 'logfmt');
    assert.deepEqual(c.decisionPath, ['lokistack', 'allow']);
    assert.equal(c.policy.wasmFile, BUNDLED_WASM);
    assert.equal(c.policy.maxMemoryBytes, 256 << 20);
    assert.deepEqual(c.rbac, { file: '/etc/rbac.yaml' });
    assert.equal(c.fileReloadIntervalMs, 10_000);
  });

  it('static mode without --rbac.config stops, naming the flag', () => {
    throwsFlag(() => loadConfig([]), '--rbac.config');
    throwsFlag(() => loadConfig(['--mode=static']), '--rbac.config');
    throwsFlag(() => loadConfig(['--rbac.config=']), '--rbac.config');
  });

  it('an unknown --mode names the flag and the modes', () => {
    throwsFlag(() => loadConfig([...RBAC, '--mode=dynamicc']), '--mode', '"dynamicc"', 'static');
  });

  it('a certificate without its key (and a key without its certificate) stops, naming both flags', () => {
    throwsFlag(() => loadConfig([...RBAC, '--tls.server.cert-file=/tls/tls.crt']), '--tls.server.cert-file', '--tls.server.key-file');
    throwsFlag(() => loadConfig([...RBAC, '--tls.server.key-file=/tls/tls.key']), '--tls.server.cert-file', '--tls.server.key-file');
    const c = config(...RBAC, '--tls.server.cert-file=/tls/tls.crt', '--tls.server.key-file', '/tls/tls.key');
    assert.equal(c.tls.certFile, '/tls/tls.crt');
    assert.equal(c.tls.keyFile, '/tls/tls.key');
  });

  it('--tls.min-version takes Go names', () => {
    assert.equal(config(...RBAC, '--tls.min-version=VersionTLS12').tls.minVersion, 'TLSv1.2');
    throwsFlag(() => loadConfig([...RBAC, '--tls.min-version=TLSv1.2']), '--tls.min-version', '"TLSv1.2"');
  });

  it('listen addresses: :port, host:port, [v6]:port', () => {
    assert.deepEqual(parseListen('web.listen', ':8080'), { port: 8080 });
    assert.deepEqual(parseListen('web.listen', '127.0.0.1:9090'), { host: '127.0.0.1', port: 9090 });
    assert.deepEqual(parseListen('web.listen', '[::1]:8443'), { host: '::1', port: 8443 });
    assert.deepEqual(parseListen('web.listen', 'localhost:0'), { host: 'localhost', port: 0 });
    const c = config(...RBAC, '--web.listen=0.0.0.0:1234', '--web.internal.listen', '127.0.0.1:4321');
    assert.deepEqual(c.web.listen, { host: '0.0.0.0', port: 1234 });
    assert.deepEqual(c.web.internalListen, { host: '127.0.0.1', port: 4321 });
  });

  it('a bad listen address stops, naming the flag and the value', () => {
    for (const bad of ['8080', 'localhost', ':99999', ':http', '::1:8080', '']) {
      throwsFlag(() => loadConfig([...RBAC, `--web.listen=${bad}`]), '--web.listen', JSON.stringify(bad));
    }
    throwsFlag(() => loadConfig([...RBAC, '--web.internal.listen=nope']), '--web.internal.listen', '"nope"');
  });

  it('--opa.package and --opa.rule build the decision path', () => {
    assert.deepEqual(config(...RBAC, '--opa.package=lokistack').decisionPath, ['lokistack', 'allow']);
    assert.deepEqual(config(...RBAC, '--opa.package=a.b_c.d1', '--opa.rule=allowed').decisionPath, ['a', 'b_c', 'd1', 'allowed']);
    assert.deepEqual(config(...RBAC, '--opa.package', '_x', '--opa.rule', '_y').decisionPath, ['_x', '_y']);
  });

  it('an invalid --opa.package stops, naming the flag and the value', () => {
    for (const bad of ['foo-bar', 'a..b', '.a', 'a.', '1abc', 'a/b', 'a b']) {
      throwsFlag(() => loadConfig([...RBAC, `--opa.package=${bad}`]), '--opa.package', JSON.stringify(bad));
    }
  });

  it('an invalid --opa.rule stops, naming the flag and the value', () => {
    for (const bad of ['', '1x', 'allow.more', 'al-low', 'a/b']) {
      throwsFlag(() => loadConfig([...RBAC, `--opa.rule=${bad}`]), '--opa.rule', JSON.stringify(bad));
    }
  });

  it('sizes must be positive whole numbers, naming the flag', () => {
    assert.equal(config(...RBAC, '--web.max-body-bytes=4096').web.maxBodyBytes, 4096);
    assert.equal(config(...RBAC, '--web.max-input-depth', '8').web.maxDepth, 8);
    throwsFlag(() => loadConfig([...RBAC, '--web.max-body-bytes=0']), '--web.max-body-bytes');
    throwsFlag(() => loadConfig([...RBAC, '--web.max-body-bytes=-1']), '--web.max-body-bytes');
    throwsFlag(() => loadConfig([...RBAC, '--web.max-body-bytes=1MiB']), '--web.max-body-bytes', '"1MiB"');
    throwsFlag(() => loadConfig([...RBAC, '--web.max-input-depth=0']), '--web.max-input-depth');
    throwsFlag(() => loadConfig([...RBAC, '--policy.max-memory-bytes=lots']), '--policy.max-memory-bytes');
  });

  it('--policy.wasm replaces the bundled policy; --log.* are checked', () => {
    const c = config(...RBAC, '--policy.wasm=/p/policy.wasm', '--log.level=debug', '--log.format=json');
    assert.equal(c.policy.wasmFile, '/p/policy.wasm');
    assert.equal(c.log.level, 'debug');
    assert.equal(c.log.format, 'json');
    throwsFlag(() => loadConfig([...RBAC, '--log.level=trace']), '--log.level', '"trace"');
    throwsFlag(() => loadConfig([...RBAC, '--log.format=text']), '--log.format', '"text"');
  });
});

describe('usage (--help)', () => {
  /** The text block of one flag in the usage output. */
  function blockOf(text: string, name: string): string | undefined {
    const lines = text.split('\n');
    const i = lines.findIndex((l) => l.trim() === `--${name}` || l.trim().startsWith(`--${name} `));
    if (i < 0) return undefined;
    const block = [lines[i]!];
    // A flag's block ends at the next flag, or at the blank line before the next group's heading.
    for (let j = i + 1; j < lines.length && !lines[j]!.trim().startsWith('--') && lines[j]!.trim() !== ''; j++) block.push(lines[j]!);
    return block.join('\n');
  }

  /** The default as usage prints it: `(default X)` or `(default "X")`. */
  function shownDefault(block: string): string | undefined {
    const m = /\(default (?:"((?:[^"\\]|\\.)*)"|([^)\s]*))\)\s*$/.exec(block);
    if (!m) return undefined;
    return m[1] !== undefined ? (JSON.parse(`"${m[1]}"`) as string) : m[2];
  }

  it('lists every visible flag of a spec list with its help and default, and no hidden one', () => {
    const text = usage('prog', SPECS);
    assert.ok(text.startsWith('Usage: prog'));
    for (const s of SPECS.filter((x) => !x.hidden)) {
      const block = blockOf(text, s.name);
      assert.ok(block, `--${s.name} missing from usage`);
      assert.ok(block.includes(s.help), `--${s.name}: help missing`);
      assert.notEqual(shownDefault(block), undefined, `--${s.name}: default missing in ${JSON.stringify(block)}`);
    }
    assert.equal(blockOf(text, 'secret'), undefined);
    assert.ok(!text.includes('hidden-default'));
  });

  it('lists every visible flag of the service with its default', () => {
    const text = usage('lokistack-authz', FLAGS);
    const visible = FLAGS.filter((s) => !s.hidden);
    assert.ok(visible.length >= 20);
    for (const s of visible) {
      const block = blockOf(text, s.name);
      assert.ok(block, `--${s.name} missing from usage`);
      assert.notEqual(shownDefault(block), undefined, `--${s.name}: no default shown`);
    }
    for (const s of FLAGS.filter((x) => x.hidden)) assert.equal(blockOf(text, s.name), undefined, `hidden --${s.name} is listed`);
  });

  it('every default shown, given back as the flag value, yields that default (durations in Go form, e.g. 10s)', () => {
    const text = usage('lokistack-authz', FLAGS);
    const wrong: string[] = [];
    for (const s of FLAGS.filter((x) => !x.hidden)) {
      const shown = shownDefault(blockOf(text, s.name) ?? '');
      if (shown === undefined) {
        wrong.push(`--${s.name}: no default shown`);
        continue;
      }
      let value: unknown;
      try {
        value = parseFlags([`--${s.name}=${shown}`], FLAGS).values[s.name];
      } catch (err) {
        wrong.push(`--${s.name}: shown default ${JSON.stringify(shown)} is refused: ${(err as Error).message}`);
        continue;
      }
      if (JSON.stringify(value) !== JSON.stringify(s.default)) {
        wrong.push(`--${s.name}: shown default ${JSON.stringify(shown)} means ${JSON.stringify(value)}, the default is ${JSON.stringify(s.default)}`);
      }
    }
    assert.deepEqual(wrong, []);
  });
});

describe('usage (--help): grouped by mode, choices readable', () => {
  /** Heading ("Flags for …:") each flag is listed under. */
  function sections(text: string): Map<string, string> {
    const under = new Map<string, string>();
    let heading = '';
    for (const line of text.split('\n')) {
      if (/^Flags for .*:$/.test(line)) heading = line;
      const m = /^ {2}--([^\s]+)/.exec(line);
      if (m) {
        assert.ok(!under.has(m[1]!), `--${m[1]} listed twice`);
        under.set(m[1]!, heading);
      }
    }
    return under;
  }

  it('every visible flag is listed once, under the heading of the modes that read it', () => {
    const under = sections(usage('lokistack-authz', FLAGS));
    for (const s of FLAGS.filter((x) => !x.hidden)) assert.ok(under.get(s.name), `--${s.name} is under no heading`);
    // The modes as the docs and the flags' own help state them.
    assert.equal(under.get('web.listen'), 'Flags for all modes:');
    assert.equal(under.get('mode'), 'Flags for all modes:');
    assert.equal(under.get('decision-log.output'), 'Flags for all modes:');
    assert.equal(under.get('rbac.config'), 'Flags for static and dynamic modes:');
    assert.equal(under.get('tenants.config'), 'Flags for dynamic mode:');
    assert.equal(under.get('oidc.allow-insecure-issuers'), 'Flags for dynamic mode:');
    assert.equal(under.get('openshift.mappings'), 'Flags for openshift-logging and openshift-network modes:');
    assert.equal(under.get('memcached'), 'Flags for openshift-logging and openshift-network modes:');
    const text = usage('lokistack-authz', FLAGS);
    assert.ok(text.indexOf('Flags for all modes:') < text.indexOf('Flags for dynamic mode:'), 'flags for every mode come first');
  });

  it('a flag without modes is in the all-modes group; a spec list with none has that group only', () => {
    const text = usage('prog', SPECS);
    assert.deepEqual(
      text.split('\n').filter((l) => l.startsWith('Flags for')),
      ['Flags for all modes:'],
    );
  });

  it('every mode a flag names is a value --mode accepts', () => {
    const modes = FLAGS.find((s) => s.name === 'mode')!.choices!;
    for (const s of FLAGS) for (const m of s.modes ?? []) assert.ok(modes.includes(m), `--${s.name}: unknown mode ${m}`);
  });

  it('the empty choice is shown visibly: --opa.matcher-op (one of "" (none), and, or)', () => {
    const text = usage('lokistack-authz', FLAGS);
    const line = text.split('\n').find((l) => l.includes('How the gateway joins several matchers'))!;
    assert.match(line, /\(one of "" \(none\), and, or\)/);
    assert.doesNotMatch(text, /one of ,/, 'no choice list starts with an invisible empty value');
    // and "" is what the flag takes for it
    assert.equal(parseFlags(['--opa.matcher-op='], FLAGS).values['opa.matcher-op'], '');
  });

  it('subcommands are listed under Usage', () => {
    const text = usage('prog', SPECS, [{ synopsis: 'test [options] FILE...', summary: 'Runs fixtures.' }]);
    assert.match(text, /^Usage: prog \[flags\]\n {7}prog test \[options\] FILE\.\.\.\n +Runs fixtures\./);
  });
});

describe('config: warnings for flags the mode ignores', () => {
  const warningsOf = (...argv: string[]): readonly string[] => {
    const loaded = loadConfig(argv);
    assert.equal(loaded.help, false);
    return (loaded as { warnings: readonly string[] }).warnings;
  };

  it('--mode=static --tenants.config=…: one warning naming the flag and the mode that reads it', () => {
    const w = warningsOf(...RBAC, '--mode=static', '--tenants.config=/etc/tenants.yaml');
    assert.equal(w.length, 1, w.join('\n'));
    assert.match(w[0]!, /--tenants\.config/);
    assert.match(w[0]!, /dynamic mode/);
    assert.match(w[0]!, /static mode/);
  });

  it('openshift flags in static mode, static flags in an openshift mode: one warning each, naming the modes', () => {
    const w = warningsOf(...RBAC, '--mode=static', '--openshift.mappings=application=loki.grafana.com', '--opa.matcher=kubernetes_namespace_name');
    assert.equal(w.length, 2, w.join('\n'));
    for (const x of w) assert.match(x, /openshift-logging and openshift-network modes/);
    const o = warningsOf('--mode=openshift-logging', '--openshift.mappings=application=loki.grafana.com', '--policy.workers=4');
    assert.equal(o.length, 1, o.join('\n'));
    assert.match(o[0]!, /--policy\.workers .*static and dynamic modes/);
  });

  it("no warning for what a mode reads: the Loki Operator's arguments, dynamic with its flags, flags for every mode", () => {
    assert.deepEqual(warningsOf(...RBAC), []);
    assert.deepEqual(warningsOf(...RBAC, '--web.listen=:9090', '--log.level=debug', '--decision-log.output=stdout', '--policy.workers=1'), []);
    assert.deepEqual(warningsOf(...RBAC, '--mode=dynamic', '--tenants.config=/t.yaml', '--oidc.timeout=2s', '--oidc.allow-insecure-issuers'), []);
    // The arguments the Loki Operator renders (test/support/openshift.ts), openshift mode inferred from them.
    const operator = [
      '--log.level=warn',
      '--web.listen=127.0.0.1:8082',
      '--web.internal.listen=127.0.0.1:8083',
      '--web.healthchecks.url=http://localhost:8082',
      '--opa.skip-tenants=audit,infrastructure',
      '--opa.package=lokistack',
      '--opa.admin-groups=system:cluster-admins,cluster-admin,dedicated-admin',
      '--opa.matcher=kubernetes_namespace_name,k8s_namespace_name',
      '--opa.viaq-to-otel-migration=true',
      '--openshift.mappings=application=loki.grafana.com',
    ];
    assert.deepEqual(warningsOf(...operator), []);
    assert.deepEqual(warningsOf('--opa.matcher=SrcK8S_Namespace,DstK8S_Namespace', '--opa.matcher-op=or', '--openshift.mappings=network=loki.grafana.com'), []);
  });
});

describe("config: the openshift authorizer's options, built whole from the flags", () => {
  it("the Loki Operator's network arguments, and the flags it leaves at their defaults (docs/flags.md)", () => {
    const c = config(
      '--opa.skip-tenants=audit,infrastructure',
      '--opa.package=lokistack',
      '--opa.admin-groups=system:cluster-admins,cluster-admin,dedicated-admin',
      '--opa.matcher=SrcK8S_Namespace,DstK8S_Namespace',
      '--opa.matcher-op=or',
      '--openshift.mappings=network=loki.grafana.com',
    );
    assert.deepEqual(c.openshift?.decision, {
      mode: 'openshift-network',
      decisionPath: ['lokistack', 'allow'],
      mappings: new Map([['network', 'loki.grafana.com']]),
      matcher: { keys: ['SrcK8S_Namespace', 'DstK8S_Namespace'], op: 'or' },
      skipTenants: new Set(['audit', 'infrastructure']),
      adminGroups: new Set(['system:cluster-admins', 'cluster-admin', 'dedicated-admin']),
      viaqToOtelMigration: false,
      escapeNamespaces: true,
      matchAllForClusterReaders: false,
      reviewConcurrency: 16,
      decisionTimeoutMs: 10_000,
      maxNamespaces: 1000,
    });
  });

  it('each openshift flag of the decision reaches the options, the shared ones (--opa.rule, --web.decision-timeout) too', () => {
    const d = config(
      '--mode=openshift-logging',
      '--openshift.mappings=application=loki.grafana.com,audit=loki.grafana.com',
      '--opa.matcher=kubernetes_namespace_name,k8s_namespace_name',
      '--opa.viaq-to-otel-migration',
      '--opa.escape-namespaces=false',
      '--opa.match-all-for-cluster-readers',
      '--opa.review-concurrency=3',
      '--openshift.max-namespaces=7',
      '--debug.token=dev-token',
      '--opa.package=a.b',
      '--opa.rule=decide',
      '--web.decision-timeout=2s',
    ).openshift?.decision;
    assert.equal(d?.mode, 'openshift-logging');
    assert.deepEqual(d?.decisionPath, ['a', 'b', 'decide']);
    assert.deepEqual(
      [...(d?.mappings ?? [])],
      [
        ['application', 'loki.grafana.com'],
        ['audit', 'loki.grafana.com'],
      ],
    );
    assert.deepEqual(d?.matcher, { keys: ['kubernetes_namespace_name', 'k8s_namespace_name'], op: '' });
    assert.equal(d?.viaqToOtelMigration, true);
    assert.equal(d?.escapeNamespaces, false);
    assert.equal(d?.matchAllForClusterReaders, true);
    assert.equal(d?.reviewConcurrency, 3);
    assert.equal(d?.maxNamespaces, 7);
    assert.equal(d?.debugToken, 'dev-token');
    assert.equal(d?.decisionTimeoutMs, 2_000);
  });

  it('--rbac.reload-interval is the one poll interval of every watched file, whatever the mode', () => {
    const openshift = ['--openshift.mappings=application=loki.grafana.com', '--memcached=127.0.0.1:11211', '--memcached.hmac-key-file=/k'];
    for (const argv of [RBAC, [...RBAC, '--mode=dynamic', '--tenants.config=/t.yaml'], openshift]) {
      assert.equal(config(...argv, '--rbac.reload-interval=3s').fileReloadIntervalMs, 3_000, argv.join(' '));
      assert.equal(config(...argv).fileReloadIntervalMs, 10_000, argv.join(' '));
    }
  });
});

describe('config: reading flag values', () => {
  it('a name the flag table lacks stops startup instead of reading as undefined (which would pass a bound check)', () => {
    const r = flagReader(parseFlags([], FLAGS).values);
    throwsFlag(() => r.positive('kube.timeot'), '--kube.timeot', 'not in the flag table');
    throwsFlag(() => r.notNegative('toString'), '--toString');
    assert.equal(r.positive('kube.timeout'), 5_000);
  });
});
