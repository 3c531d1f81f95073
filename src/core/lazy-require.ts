/**
 * A CommonJS dependency loaded on its first use rather than when this package is imported. The root
 * entry exports every backend, and loading ioredis and pg took about 0.5 s and 0.25 s of every start
 * (`npm start` on the SQLite default, each CLI command, each test file) for apps that never use
 * them. `require` keeps the functions that build clients synchronous, and a CommonJS module has one
 * instance whether it is imported or required, so classes and `instanceof` agree with any static
 * import of it elsewhere.
 */
import { createRequire } from 'node:module';

const requireHere = createRequire(import.meta.url);

/** A loader for `specifier`, resolved as an import from this package would be, loaded once. */
export function lazyRequire<T>(specifier: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= requireHere(specifier) as T);
}
