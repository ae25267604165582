/**
 * The static decision fixtures of fixtures/static/<set>/ (rbac.yaml + cases.yaml), and assertion
 * wrappers over the comparison the service's own fixture runner uses (server/cases/), so the
 * tests and `lokistack-authz test` judge a case the same way.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Decision } from '../../server/decision/types.js';
import { parseCasesFile, type FixtureCase } from '../../server/cases/cases.js';
import { isRecord } from '../../server/file-format.js';
import { answerMismatch, decisionMismatch, decisionOf as decisionOfAnswer, normalise, sendCase, type Answer } from '../../server/cases/compare.js';

export type { FixtureCase } from '../../server/cases/cases.js';
export { canonical, normalise, type Answer, type Normalisation } from '../../server/cases/compare.js';

export const STATIC_FIXTURES = fileURLToPath(new URL('../../fixtures/static/', import.meta.url));

export interface FixtureSet {
  name: string;
  rbacFile: string;
  casesFile: string;
  cases: FixtureCase[];
}

/**
 * Every fixture set under `root` (a directory each, of any kind), read by `load`, in name order.
 * None is a fault: a moved or misspelt root would otherwise pass with nothing run.
 */
export function loadSetsUnder<T extends { name: string }>(root: string, load: (dir: string, name: string) => T): T[] {
  const sets = readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => load(join(root, d.name), d.name))
    .sort((a, b) => a.name.localeCompare(b.name));
  if (sets.length === 0) throw new Error(`${root}: no fixture sets`);
  return sets;
}

export function loadFixtureSets(root: string = STATIC_FIXTURES): FixtureSet[] {
  return loadSetsUnder(root, loadFixtureSet);
}

export function loadFixtureSet(dir: string, name: string): FixtureSet {
  const casesFile = join(dir, 'cases.yaml');
  return { name, rbacFile: join(dir, 'rbac.yaml'), casesFile, cases: parseCasesFile(casesFile, readFileSync(casesFile, 'utf8'), name) };
}

/** Asserts that `actual` is the case's wanted document, after the case's normalisation. */
export function assertDecision(actual: Decision, c: FixtureCase, who = 'answer'): void {
  const why = decisionMismatch(actual, c);
  assert.equal(why, undefined, `${who}: ${why}`);
}

/** Sends the case as the gateway (or any OPA client) would: POST /v1/data/<path>. */
export const send = (base: string, c: FixtureCase): Promise<Answer> => sendCase(base, c);

/** The document a 200 answer carries, refusing bodies with anything but `result` and ignored keys. */
export function decisionOf(answer: Answer): Decision {
  const d = decisionOfAnswer(answer);
  assert.ok(typeof d !== 'string', typeof d === 'string' ? d : '');
  return d;
}

/** Checks an answer against the case: status, error code, and for a 200 the document. */
export function assertAnswer(answer: Answer, c: FixtureCase, who = 'answer'): void {
  const why = answerMismatch(answer, c);
  assert.equal(why, undefined, `${who}: ${why}`);
}

/**
 * What two servers must agree on: the status, then the normalised document of a 200 or the error
 * code of an error (messages differ: they quote each runtime's own parser).
 */
export function comparable(answer: Answer, c: FixtureCase): unknown {
  if (answer.status !== 200) return { status: answer.status, code: isRecord(answer.body) ? answer.body.code : answer.text };
  const d = decisionOf(answer);
  return { status: 200, ...(d.defined ? { result: normalise(d.value, c) } : {}) };
}
