import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/**
 * The layers of server/, lowest first (issue 15): a module may import its own layer or a lower
 * one, never a higher one, so each layer can be read, tested and replaced knowing only those below.
 * A room is a folder under server/, or a file at its top. forward-auth sits with http: its core
 * reads request bodies through http's bounded reader and is mounted by http's app, the way the
 * Data API is; what it decides with (decision, policy, oidc, kube) is below it either way.
 */
const LAYERS: ReadonlyArray<readonly string[]> = [
  ['errors.ts', 'error-codes.ts', 'version.ts', 'deadline.ts', 'document.ts', 'files.ts', 'file-format.ts', 'go-keys.ts', 'go-json.ts', 'lazy-package.ts'],
  ['observability', 'cache'],
  ['config', 'policy', 'kube', 'oidc'],
  ['decision'],
  ['http', 'forward-auth'],
  ['wiring'],
  ['service.ts'],
  ['cli', 'cases'],
  ['main.ts'],
];

/**
 * Upward imports known today, each with the work that removes it. The check fails when one of
 * these is gone too, so the list only shrinks.
 */
const KNOWN_UPWARD: ReadonlyMap<string, string> = new Map([]);

const SERVER = join(dirname(fileURLToPath(import.meta.url)), '..', 'server');

function layerOf(file: string): number {
  const room = file.includes('/') ? file.slice(0, file.indexOf('/')) : file;
  const layer = LAYERS.findIndex((rooms) => rooms.includes(room));
  if (layer < 0) throw new Error(`${file}: server/${room} is in no layer: place it in test/layers.test.ts`);
  return layer;
}

/** Every module a file imports (static, re-export, dynamic and side-effect imports), as paths under server/. */
function importsOf(file: string, text: string): string[] {
  const { importedFiles } = ts.preProcessFile(text, true, true);
  return importedFiles
    .map((f) => f.fileName)
    .filter((name) => name.startsWith('.'))
    .map((name) => posix.normalize(posix.join(posix.dirname(file), name)).replace(/\.js$/, '.ts'));
}

/** "a.ts -> b.ts" for each import of a higher layer. */
function upwardImports(file: string, text: string): string[] {
  const from = layerOf(file);
  return importsOf(file, text)
    .filter((target) => !target.startsWith('..') && layerOf(target) > from)
    .map((target) => `${file} -> ${target}`);
}

function serverFiles(dir = SERVER): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return serverFiles(path);
    return e.name.endsWith('.ts') ? [relative(SERVER, path).split('\\').join('/')] : [];
  });
}

describe('layers of server/', () => {
  it('no module imports a higher layer (base -> observability, cache -> config, policy, kube, oidc -> decision -> http, forward-auth -> wiring -> service -> cli -> main)', () => {
    const found = serverFiles().flatMap((file) => upwardImports(file, readFileSync(join(SERVER, file), 'utf8')));
    const unexpected = found.filter((edge) => !KNOWN_UPWARD.has(edge));
    assert.deepEqual(unexpected, [], 'imports of a higher layer');
    const gone = [...KNOWN_UPWARD.keys()].filter((edge) => !found.includes(edge));
    assert.deepEqual(gone, [], 'known upward imports that are gone: remove them from KNOWN_UPWARD');
  });

  it('every kind of import counts: the policy layer importing the decision layer is caught', () => {
    const text = [
      "import type { Decision } from '../decision/types.js';",
      "export { StaticAuthorizer } from '../decision/static.js';",
      "const m = await import('../http/app.js');",
      "import '../wiring/mode.js';",
      "import { readRegularFile } from '../files.js';",
      "import { parse } from 'yaml';",
    ].join('\n');
    assert.deepEqual(upwardImports('policy/document.ts', text), [
      'policy/document.ts -> decision/types.ts',
      'policy/document.ts -> decision/static.ts',
      'policy/document.ts -> http/app.ts',
      'policy/document.ts -> wiring/mode.ts',
    ]);
  });

  it('a room in no layer fails the check rather than passing unchecked', () => {
    assert.throws(() => upwardImports('gadgets/x.ts', ''), /server\/gadgets is in no layer/);
  });
});
