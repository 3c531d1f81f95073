/**
 * createDemoApp when start-up fails part way:
 * - a development key file it cannot use stopped it only after the database file had been created
 *   and migrated: the keys are now loaded first, and nothing is created;
 * - a later step that throws (the metrics port taken) left the database, Redis and the store open,
 *   so the process could hang on them: what was opened is now closed, last first, and the original
 *   error is what the caller gets.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { parseEnv } from '../../src/ops/config.js';
import { createMemoryStore } from '../../src/store/memory/index.js';
import { busyPort, releaseBusyPorts } from '../../test/helpers/ports.js';
import { createDemoApp } from './app.js';

const KEY = Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 37 + 11) % 256)).toString('base64');
const SECRET = Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 53 + 7) % 256)).toString('base64');
const dirs: string[] = [];
afterEach(() => vi.unstubAllEnvs());
afterAll(() => {
  releaseBusyPorts();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function folder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'lc-demo-startup-'));
  dirs.push(dir);
  return dir;
}

function configOf(env: Record<string, string>) {
  const { config, issues } = parseEnv({ NODE_ENV: 'development', HOST: '127.0.0.1', ...env });
  expect(issues).toEqual([]);
  return config;
}

describe('createDemoApp, when start-up fails', () => {
  it('a development key file it cannot use: stops before the database file is created (it was created and migrated)', async () => {
    vi.stubEnv('LC_STATE_KEYS', '');
    const dir = folder();
    const dataDir = join(dir, 'data');
    mkdirSync(join(dataDir, 'state-keys'), { recursive: true });
    writeFileSync(join(dataDir, 'state-keys', 'LC_STATE_KEYS'), 'garbage\n', { mode: 0o600 });
    const config = configOf({ LC_SESSION_SECRET: SECRET, DATABASE_URL: `sqlite:${join(dir, 'app.db')}` });
    await expect(createDemoApp({ config, framework: { dataDir } })).rejects.toThrow(
      `LC_STATE_KEYS is not set and the development file ${dataDir}/state-keys/LC_STATE_KEYS holds no usable key (entry at index 0 decodes to 5 bytes;`,
    );
    expect(readdirSync(dir)).toEqual(['data']);
  });

  it('DATABASE_URL on the path of the development keys (sqlite:DIR/data): writes the keys, then cannot open the folder they made, as doctor --connect says', async () => {
    vi.stubEnv('LC_STATE_KEYS', '');
    const dir = folder();
    const dataDir = join(dir, 'data');
    const config = configOf({ LC_SESSION_SECRET: SECRET, DATABASE_URL: `sqlite:${dataDir}` });
    await expect(createDemoApp({ config, framework: { dataDir } })).rejects.toThrow(
      `DATABASE_URL: SQLite: cannot open ${dataDir} (unable to open database file): it is a folder, not an SQLite file`,
    );
    expect(readdirSync(dataDir)).toEqual(['state-keys']);
    const { runFileChecks } = await import('../../src/cli/doctor-files.js');
    const dataDirCheck = runFileChecks(configOf({ LC_SESSION_SECRET: SECRET, DATABASE_URL: `sqlite:${join(dir, 'elsewhere', 'data')}` }), { cwd: dir, dataDir: join(dir, 'elsewhere', 'data'), minFreeBytes: 0 }).find((c) => c.name === 'data-dir');
    expect(dataDirCheck?.problems).toEqual([
      `LC_STATE_KEYS is not set and DATABASE_URL names ${dir}/elsewhere/data, on the path of ${dir}/elsewhere/data/state-keys/LC_STATE_KEYS: start-up writes the development state key there first, which makes ${dir}/elsewhere/data a folder, then cannot open the database file and stops; give DATABASE_URL another file name, or set LC_STATE_KEYS (\`npx livecomponents keygen\` prints one)`,
    ]);
  });

  it('the metrics port taken: rejects with the listen error, after closing the database and the stores it had opened', async () => {
    const dir = folder();
    const port = await busyPort();
    const config = configOf({ LC_STATE_KEYS: KEY, LC_SESSION_SECRET: SECRET, DATABASE_URL: `sqlite:${join(dir, 'app.db')}`, METRICS_PORT: String(port) });
    // A store of the framework's own (not the backends'): the app closes it too.
    const store = createMemoryStore();
    const closed = vi.spyOn(store, 'close');
    await expect(createDemoApp({ config, framework: { dataDir: join(dir, 'data'), store } })).rejects.toMatchObject({ code: 'EADDRINUSE', port });
    expect(closed).toHaveBeenCalledTimes(1);
    // SQLite removes -wal and -shm when its last connection closes: none is left open (the
    // database's and the SQLite store's, which share the file).
    expect(readdirSync(dir).sort()).toEqual(['app.db']);
  });
});
