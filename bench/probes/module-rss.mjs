// VmRSS (bytes) of this node process one second after importing the packages named in argv[2]
// (comma-separated; none: the bare process). bench/probes/idle-rss.ts --modules runs it per package.
import { readFileSync } from 'node:fs';

for (const name of (process.argv[2] ?? '').split(',').filter(Boolean)) await import(name);
await new Promise((resolve) => setTimeout(resolve, 1000));
const kib = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
process.stdout.write(`${Number(kib) * 1024}\n`);
