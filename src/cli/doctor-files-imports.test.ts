/**
 * `livecomponents doctor` reads the development key files with start-up's own readers, but not
 * through src/runtime/setup.ts: that module loads the whole runtime (pipeline, stores, sessions) into
 * a command that only checks. Here both runtime modules refuse to load; doctor-files must load anyway.
 */
import { describe, expect, it, vi } from 'vitest';

vi.mock('../runtime/setup.js', () => {
  throw new Error('doctor-files loaded src/runtime/setup.ts');
});
vi.mock('../runtime/index.js', () => {
  throw new Error('doctor-files loaded src/runtime/index.ts');
});

describe('doctor-files', () => {
  it('loads without the runtime (it imported src/runtime/setup.ts for readDevSessionSecret)', async () => {
    await expect(import('./doctor-files.js')).resolves.toHaveProperty('runFileChecks');
  });
});
