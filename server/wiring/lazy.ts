/**
 * A module of this package loaded on first use, by whichever loader loaded the caller: `esm`
 * imports it, `cjs` requires it (each closure written in the caller, so the path resolves from
 * there). The service runs as ES modules: import(). The test runner loads TypeScript through tsx's
 * CommonJS hook, and there import() would load a second copy of every module the lazy one shares
 * with the rest (two DecisionError classes: instanceof fails, errors lose their status); require()
 * shares the copy in use. `require` is defined only in a CommonJS module, so it tells the two apart.
 */
export function lazy<T>(esm: () => Promise<T>, cjs: () => unknown): Promise<T> {
  return typeof require === 'function' ? Promise.resolve(cjs() as T) : esm();
}
