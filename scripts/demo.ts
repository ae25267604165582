/**
 * `npm run demo -- <mode>`: every mode tried in minutes. Starts what the mode needs on loopback (a
 * real OIDC provider, a fake Kubernetes API) and the service, built from source, in this one process;
 * prints curl lines with real tokens and the answers they get; stops everything on Ctrl-C.
 * A development command: it uses the test harnesses of test/support, which the package does not ship.
 */
import { DEMO_MODES } from './demo/modes.js';
import { renderDemo } from './demo/render.js';
import type { DemoOptions, RunningDemo } from './demo/types.js';

const USAGE = `Usage: npm run demo -- MODE [--listen=HOST:PORT] [--internal-listen=HOST:PORT] [--fixtures=DIR]

Starts the service in MODE on loopback with everything it needs, prints ready-to-paste curl lines
(real tokens) and what each answers, and runs until Ctrl-C.

Modes:
${DEMO_MODES.map((m) => `  ${m.name.padEnd(Math.max(...DEMO_MODES.map((x) => x.name.length)) + 2)}${m.summary}`).join('\n')}

Options:
  --listen=HOST:PORT           the public listener (default 127.0.0.1:8080; :0 picks a free port)
  --internal-listen=HOST:PORT  the internal listener (default 127.0.0.1:8081)
  --fixtures=DIR               run with a fixture set's own configuration (fixtures/<mode>/<set>)
                               instead of the example, and print the \`lokistack-authz test\` line for it
  -h, --help                   this text
`;

type Parsed = { help: true } | { help: false; mode: string; options: Omit<DemoOptions, 'log'> };

function parseArgs(argv: readonly string[]): Parsed {
  let mode: string | undefined;
  const options: Omit<DemoOptions, 'log'> = { listen: '127.0.0.1:8080', internalListen: '127.0.0.1:8081' };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') return { help: true };
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    const value = (): string => {
      const v = eq > 0 && arg.startsWith('--') ? arg.slice(eq + 1) : argv[++i];
      if (v === undefined || v === '' || (eq < 0 && v.startsWith('--'))) throw new Error(`${name} needs a value`);
      return v;
    };
    if (name === '--listen') options.listen = value();
    else if (name === '--internal-listen') options.internalListen = value();
    else if (name === '--fixtures') options.fixtures = value();
    else if (arg.startsWith('-')) throw new Error(`unknown option ${name}`);
    else if (mode === undefined) mode = arg;
    else throw new Error(`one mode at a time (got ${mode} and ${arg})`);
  }
  if (mode === undefined) throw new Error(`name a mode: ${DEMO_MODES.map((m) => m.name).join(', ')}`);
  // The demo trusts an http issuer and hands out tokens of throwaway providers: it is not for a network.
  for (const [flag, addr] of [
    ['--listen', options.listen],
    ['--internal-listen', options.internalListen],
  ] as const) {
    if (!/^(127\.\d+\.\d+\.\d+|\[::1\]|localhost):\d+$/.test(addr)) throw new Error(`${flag}=${addr}: the demo listens on loopback only (127.0.0.1:PORT)`);
  }
  return { help: false, mode, options };
}

async function main(argv: readonly string[]): Promise<number> {
  let parsed: Parsed;
  try {
    parsed = parseArgs(argv);
  } catch (err) {
    process.stderr.write(`demo: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const { mode: name, options } = parsed;
  const mode = DEMO_MODES.find((m) => m.name === name);
  if (!mode) {
    process.stderr.write(`demo: unknown mode ${JSON.stringify(name)}; one of ${DEMO_MODES.map((m) => m.name).join(', ')}\n`);
    return 2;
  }

  let demo: RunningDemo;
  try {
    demo = await mode.start({ ...options, log: (line) => process.stderr.write(line) });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why =
      e.code === 'EADDRINUSE' ? `${e.message}: another process listens there; pass --listen=127.0.0.1:PORT and --internal-listen=127.0.0.1:PORT` : e.message;
    process.stderr.write(`demo: cannot start ${name}: ${why}\n`);
    return 1;
  }
  process.stdout.write(renderDemo(name, demo));

  await new Promise<void>((resolve) => {
    const stop = () => {
      // A second Ctrl-C while stopping gives up on draining.
      process.once('SIGINT', () => process.exit(130));
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  process.stderr.write('demo: stopping\n');
  await demo.stop();
  process.stderr.write('demo: stopped\n');
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`demo: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
