/**
 * An evaluation worker: one policy instance on its own thread, so that a long evaluation holds this
 * thread, not the event loop that answers probes, and can be ended by terminating the thread.
 * Messages are handled one at a time, in order: a `load` always completes before the `eval` that
 * follows it. The protocol is in worker-pool.ts.
 */
import { parentPort } from 'node:worker_threads';
import { PolicyDocument, PolicyPathError } from './document.js';
import { clipPrint } from './prints.js';
import type { FromWorker, ToWorker, WorkerOutcome } from './worker-pool.js';
import { CompiledPolicy, describe } from './wasm-policy.js';

if (!parentPort) throw new Error('eval-worker.ts runs as a worker thread');
const port = parentPort;

let loaded: { generation: number; doc: PolicyDocument; resetBytes: number } | undefined;
let chain: Promise<void> = Promise.resolve();

port.on('message', (msg: ToWorker) => {
  chain = chain.then(() => handle(msg));
});

async function handle(msg: ToWorker): Promise<void> {
  if (msg.kind === 'load') {
    try {
      const source = msg.source;
      const print = (line: string) => port.postMessage({ kind: 'print', source, line: clipPrint(line) } satisfies FromWorker);
      const policy = CompiledPolicy.adopt(source, msg.module, new Map(msg.entrypoints), { maxBytes: msg.maxBytes }, print);
      loaded = { generation: msg.generation, doc: await PolicyDocument.create(policy, msg.data, msg.maxBytes), resetBytes: msg.resetBytes };
    } catch (err) {
      // The main thread loaded the same module and data: failing here means this thread cannot
      // serve at all. Exiting makes the pool fail the waiting decision and start afresh.
      console.error(`evaluation worker: cannot load the policy: ${describe(err)}`);
      process.exit(1);
    }
    return;
  }
  const reply = (outcome: WorkerOutcome) => {
    const answer: FromWorker = { job: msg.job, memoryBytes: loaded?.doc.memoryBytes() ?? 0, ...outcome };
    port.postMessage(answer);
  };
  if (!loaded || loaded.generation !== msg.generation) {
    reply({ ok: false, error: { kind: 'eval', message: 'the evaluation worker holds another policy' } });
    return;
  }
  const doc = loaded.doc;
  try {
    const decision = doc.resolve(msg.path, msg.inputJson);
    // Wasm memory never shrinks: give a grown instance back before answering, so the gauge the
    // answer carries is the instance that serves next.
    if (doc.overgrown(loaded.resetBytes)) await renew(doc);
    reply({ ok: true, decision });
  } catch (err) {
    if (err instanceof PolicyPathError) {
      reply({ ok: false, error: { kind: 'path', message: err.message } });
      return;
    }
    // A trap can leave the heap inconsistent: the next evaluation gets a fresh instance.
    const trap = err instanceof WebAssembly.RuntimeError || err instanceof RangeError;
    if (trap || doc.overgrown(loaded.resetBytes)) await renew(doc);
    reply({ ok: false, error: { kind: trap ? 'trap' : 'eval', message: describe(err) } });
  }
}

async function renew(doc: PolicyDocument): Promise<void> {
  try {
    await doc.renew();
  } catch (err) {
    console.error(`evaluation worker: cannot renew the policy instance: ${describe(err)}`);
    process.exit(1);
  }
}
