import { createRequire } from 'node:module';

const requirePackage = createRequire(import.meta.url);

/**
 * A package loaded by the first call, not at startup: what few requests or configurations use
 * need not sit in every idle sidecar's memory (issue 14). require() is synchronous, and loads the
 * CommonJS build an import of the package would load (the service imports none of these eagerly).
 * test/support/loaded-packages.ts shows which stay out of a process.
 */
export function lazyPackage<T>(name: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= requirePackage(name) as T);
}
