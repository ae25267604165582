// The decision fixtures over real HTTP against the service in static mode, started in-process on
// each set's rbac.yaml: statuses, documents and error envelopes as a client sees them.
import { assertAnswer, loadFixtureSets, send } from './support/fixtures.js';
import { startTestService, type TestService } from './support/service.js';

describe('decision fixtures: HTTP service (static mode)', () => {
  for (const set of loadFixtureSets()) {
    describe(`set ${set.name}`, () => {
      let svc: TestService | undefined;

      before(async () => {
        svc = await startTestService({ rbacFile: set.rbacFile });
      });
      after(async () => {
        await svc?.stop();
      });

      for (const c of set.cases) {
        it(`${set.name}: ${c.note}`, async () => {
          assertAnswer(await send(svc!.publicUrl, c), c, 'service');
        });
      }
    });
  }
});
