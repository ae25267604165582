// The decision fixtures against the compiled policy alone: wasm/lokistack.wasm with each set's roles
// and bindings as data, no HTTP in between.
import { readFileSync } from 'node:fs';
import { BUNDLED_WASM } from '../server/config/bundled-policy.js';
import { REASONS_PACKAGE } from '../server/decision/reasons.js';
import type { Decision } from '../server/decision/types.js';
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
          assertDecision(withoutReasons(doc.resolve(c.segments, c.hasInput ? JSON.stringify(c.input) : undefined), c.segments), c, 'wasm');
        });
      }
    });
  }
});

/**
 * The compiled policy's reasons package (policies/reasons.rego) is an entrypoint, so the whole data
 * document of the module alone holds it; the service leaves it out (server/decision/static.ts), and
 * the fixtures say what the service and OPA over policies/lokistack.rego answer.
 */
function withoutReasons(decision: Decision, segments: readonly string[]): Decision {
  if (segments.length > 0 || !decision.defined || decision.value === null || typeof decision.value !== 'object') return decision;
  const { [REASONS_PACKAGE]: _hidden, ...rest } = decision.value as Record<string, unknown>;
  return { defined: true, value: rest };
}
