import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'client/**/*.test.ts', 'test/**/*.test.ts', 'examples/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // expect.poll's own default (1 s) gave up first on a loaded 2-core machine: a wait, not an
    // assertion of speed. The test's timeout stays the one limit that counts.
    expect: { poll: { timeout: 15_000 } },
    pool: 'forks',
  },
});
