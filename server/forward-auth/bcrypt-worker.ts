import bcrypt from 'bcryptjs';
import { parentPort } from 'node:worker_threads';

/** One bcrypt check per message: `{id, password, hash}` in, `{id, ok}` out. */
parentPort!.on('message', (m: { id: number; password: string; hash: string }) => {
  let ok = false;
  try {
    ok = bcrypt.compareSync(m.password, m.hash);
  } catch {
    ok = false;
  }
  parentPort!.postMessage({ id: m.id, ok });
});
