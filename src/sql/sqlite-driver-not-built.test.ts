/**
 * better-sqlite3 as an install with scripts off leaves it (pnpm's default, `npm install
 * --ignore-scripts`): its JavaScript, no native module. A copy of the package without its build
 * stands in for it, so the real `bindings` fails as it does there ("Could not locate the bindings
 * file"). The app's start-up names the unbuilt module and how to build it, not file permissions;
 * `doctor --connect` reports it as a FAIL line, whether the database file exists or not.
 */
import { writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { runDoctorConnected } from '../cli/doctor.js';
import { createDatabase } from './database.js';

const scratch = await vi.hoisted(async () => {
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  return mkdtempSync(join(tmpdir(), 'lc-unbuilt-sqlite-'));
});

vi.mock('better-sqlite3', async () => {
  const { cpSync, mkdirSync, symlinkSync } = await import('node:fs');
  const { createRequire } = await import('node:module');
  const { dirname, join } = await import('node:path');
  const require = createRequire(import.meta.url);
  const real = dirname(require.resolve('better-sqlite3/package.json'));
  const copy = join(scratch, 'node_modules/better-sqlite3');
  mkdirSync(copy, { recursive: true });
  cpSync(join(real, 'package.json'), join(copy, 'package.json'));
  cpSync(join(real, 'lib'), join(copy, 'lib'), { recursive: true });
  symlinkSync(dirname(require.resolve('bindings/package.json')), join(scratch, 'node_modules/bindings'));
  return { default: createRequire(join(scratch, 'index.js'))('better-sqlite3') as unknown };
});

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const NOT_BUILT =
  "the SQLite driver's native module (better-sqlite3) is not built for this Node.js: build it with `npm rebuild better-sqlite3`, or let its install script run (pnpm: list it in onlyBuiltDependencies; npm: allow its install script) (Could not locate the bindings file)";

describe('SQLite with the driver not built', () => {
  it('start-up names the unbuilt native module and how to build it, not file permissions', () => {
    const path = join(scratch, 'app.db');
    expect(() => createDatabase(`sqlite:${path}`)).toThrow(new Error(`SQLite: cannot open ${path}: ${NOT_BUILT}`));
  });

  it('doctor --connect fails the database check, for a file not made yet and for one that exists', async () => {
    const missing = join(scratch, 'new.db');
    const existing = join(scratch, 'existing.db');
    writeFileSync(existing, ''); // an empty file is an empty SQLite database
    const databaseProblems = async (path: string) => {
      const report = await runDoctorConnected({ DATABASE_URL: `sqlite:${path}` }, { timeoutMs: 2_000 });
      expect(report.ok).toBe(false);
      return report.checks.find((c) => c.name === 'database')?.problems;
    };
    expect(await databaseProblems(missing)).toEqual([`DATABASE_URL: sqlite:${missing} does not exist yet, and start-up cannot create it: ${NOT_BUILT}`]);
    expect(await databaseProblems(existing)).toEqual([`DATABASE_URL: sqlite:${existing} cannot be opened: ${NOT_BUILT}`]);
  });
});
