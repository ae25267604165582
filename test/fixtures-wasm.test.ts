// The decision fixtures against the compiled policy alone: wasm/lokistack.wasm with each set's roles
// and bindings as data, no HTTP in between.
import { readFileSync } from 'node:fs';
import { BUNDLED_WASM } from '../server/config/config.js';
import { PolicyDocument } from '../server/policy/document.js';
import { parseRbac } from '../server/policy/rbac.js';
import { CompiledPolicy } from '../server/policy/wasm-policy.js';
import { assertDecision, loadFixtureSets } from './support/fixtures.js';

describe('decision fixtures: compiled policy (wasm/lokistack.wasm)', () => {
  for (const set of loadFixtureSets()) {
    describe(`set ${set.name}`, () => {
      let doc: PolicyDocument;

      before(async () => {
        // The entrypoints the service compiles in (scripts/build-policies.sh): the decision and its package.
        const policy = await CompiledPolicy.load(BUNDLED_WASM, readFileSync(BUNDLED_WASM), ['lokistack/allow', 'lokistack'], { maxBytes: 64 << 20 });
        doc = await PolicyDocument.create(policy, parseRbac(set.rbacFile, readFileSync(set.rbacFile, 'utf8')).rbac);
      });

      for (const c of set.cases.filter((k) => !k.httpOnly)) {
        it(`${set.name}: ${c.note}`, () => {
          assertDecision(doc.resolve(c.segments, c.hasInput ? JSON.stringify(c.input) : undefined), c, 'wasm');
        });
      }
    });
  }
});
