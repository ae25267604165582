// The decision fixtures over real HTTP against the service in static mode, started in-process on
// each set's rbac.yaml: statuses, documents and error envelopes as a client sees them.
import type { Service } from '../server/service.js';
import { assertAnswer, loadFixtureSets, send } from './support/fixtures.js';
import { startStatic } from './support/static-service.js';

describe('decision fixtures: HTTP service (static mode)', () => {
  for (const set of loadFixtureSets()) {
    describe(`set ${set.name}`, () => {
      let service: Service | undefined;
      let base = '';

      before(async () => {
        ({ service, base } = await startStatic(set.rbacFile));
      });
      after(async () => {
        await service?.shutdown();
      });

      for (const c of set.cases) {
        it(`${set.name}: ${c.note}`, async () => {
          assertAnswer(await send(base, c), c, 'service');
        });
      }
    });
  }
});
