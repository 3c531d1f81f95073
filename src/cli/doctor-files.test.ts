/**
 * `doctor --connect` on the folders the app writes to: a read-only `./data` (start-up stops writing
 * the development key), an SQLite folder that is read-only or on a full disk (every write 503), and
 * a log folder the app cannot write (every line lost). Each used to pass.
 *
 * Read-only and full disks are real: tmpfs mounts (`mount -t tmpfs`, which needs root, as CI has).
 * Without them these tests skip with a loud warning on a laptop, and fail under CI.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../sql/database.js';
import { migrateToLatest } from '../sql/migrate.js';
import { runDoctorConnected } from './doctor.js';
import { runFileChecks } from './doctor-files.js';
import { parseEnv } from '../ops/config.js';
import { createLiveComponents } from '../runtime/setup.js';
import { readDevSessionSecret } from '../runtime/dev-files.js';
import { readDevStateKeys } from '../pipeline/state/keyring.js';
import { createMemoryStore } from '../store/memory/index.js';

const KEY = Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 37 + 11) % 256)).toString('base64');
const SECRET = Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 53 + 7) % 256)).toString('base64');

const base = mkdtempSync(join(tmpdir(), 'lc-doctor-files-'));
const mounted: string[] = [];
afterAll(() => {
  for (const dir of mounted.reverse()) execFileSync('umount', [dir]);
  rmSync(base, { recursive: true, force: true });
});

/** A fresh tmpfs at `base/name` with mount `options` (`ro,size=1m`…). */
function tmpfs(name: string, options: string): string {
  const dir = join(base, name);
  mkdirSync(dir);
  execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { stdio: 'pipe' });
  mounted.push(dir);
  return dir;
}

/** Whether tmpfs mounts work here: 'skip' on a laptop without root, 'fail' under CI. */
function mountAvailability(): { state: 'up' } | { state: 'skip' | 'fail'; reason: string } {
  try {
    tmpfs('probe', 'size=64k');
    return { state: 'up' };
  } catch (error) {
    const reason = `tmpfs mounts are unavailable (${error instanceof Error ? error.message.split('\n')[0] : String(error)})`;
    return process.env.CI ? { state: 'fail', reason } : { state: 'skip', reason };
  }
}

const mounts = mountAvailability();
if (mounts.state === 'skip') {
  console.warn(`\n⚠️  SKIPPED src/cli/doctor-files.test.ts › on tmpfs mounts (7 tests): ${mounts.reason}. These tests run (and must pass) in CI, as root.\n`);
}

/** The doctor's checks by name, run with `env` (keys set unless `env` unsets them; no Redis). */
async function doctor(env: Record<string, string | undefined>, options: Parameters<typeof runDoctorConnected>[1] = {}) {
  const report = await runDoctorConnected({ LC_STATE_KEYS: KEY, LC_SESSION_SECRET: SECRET, DATABASE_URL: 'sqlite::memory:', ...env }, { timeoutMs: 2_000, ...options });
  const byName = (name: string) => report.checks.find((c) => c.name === name);
  return { report, byName };
}

/** Today's date as the roller names daily files (local time). */
function today(): string {
  const now = new Date();
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

async function createSqlite(file: string): Promise<void> {
  const db = createDatabase(`sqlite:${file}`);
  await migrateToLatest(db);
  await db.destroy();
}

/** The files under `dir`, but the -wal/-shm companions the `database` check's read-only open may add. */
const listAll = (dir: string): string[] => readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => !/-(wal|shm)$/.test(f)).sort();

describe('doctor --connect: the folders the app writes to', () => {
  it('passes writable folders, says what start-up will write where, and leaves no probe file behind', async () => {
    const dir = mkdtempSync(join(base, 'writable-'));
    await createSqlite(join(dir, 'app.db'));
    const before = listAll(dir);
    const { report, byName } = await doctor(
      { LC_STATE_KEYS: undefined, LC_SESSION_SECRET: undefined, DATABASE_URL: `sqlite:${join(dir, 'app.db')}`, LOG_DESTINATION: 'file:./logs/app.log' },
      { cwd: dir, lowFreeBytes: 0 },
    );
    expect(report.ok).toBe(true);
    expect(byName('data-dir')).toMatchObject({ name: 'data-dir', ok: true, problems: [] });
    expect(byName('data-dir')?.summary).toMatch(new RegExp(`^LC_STATE_KEYS and LC_SESSION_SECRET not set: start-up can keep development values in ${dir}/data; \\d+(\\.\\d)? [MG]iB free$`));
    expect(byName('database-files')?.summary).toMatch(new RegExp(`^sqlite:${dir}/app\\.db and its folder are writable; \\d+(\\.\\d)? [MG]iB free$`));
    expect(byName('log-file')?.summary).toMatch(new RegExp(`^${dir}/logs can be created in ${dir}; \\d+(\\.\\d)? [MG]iB free$`));
    expect(report.lines.slice(-3).map((l) => l.slice(0, l.indexOf(':')))).toEqual(['ok  data-dir', 'ok  database-files', 'ok  log-file']);
    expect(listAll(dir)).toEqual(before);
  });

  it('fails a DATABASE_URL file on the path of the development keys (sqlite:./data: was ok, then start-up wrote the keys and could not open a folder)', async () => {
    const dir = mkdtempSync(join(base, 'db-on-data-'));
    const { byName } = await doctor({ LC_STATE_KEYS: undefined, LC_SESSION_SECRET: 'x'.repeat(8) + SECRET, DATABASE_URL: 'sqlite:./data' }, { cwd: dir, minFreeBytes: 0 });
    expect(byName('data-dir')?.problems).toEqual([
      `LC_STATE_KEYS is not set and DATABASE_URL names ${dir}/data, on the path of ${dir}/data/state-keys/LC_STATE_KEYS: start-up writes the development state key there first, which makes ${dir}/data a folder, then cannot open the database file and stops; give DATABASE_URL another file name, or set LC_STATE_KEYS (\`npx livecomponents keygen\` prints one)`,
    ]);
    expect(listAll(dir)).toEqual([]);
  });

  it('fails development key files that read but hold no usable value (was: ok, then start-up stopped on them)', async () => {
    const dir = mkdtempSync(join(base, 'dev-files-'));
    mkdirSync(join(dir, 'data/state-keys'), { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, 'data/state-keys/LC_STATE_KEYS'), 'garbage\n', { mode: 0o600 });
    writeFileSync(join(dir, 'data/session-secret'), 'short\n', { mode: 0o600 });
    const { byName } = await doctor({ LC_STATE_KEYS: undefined, LC_SESSION_SECRET: undefined }, { cwd: dir, minFreeBytes: 0 });
    expect(byName('data-dir')?.problems).toEqual([
      `LC_STATE_KEYS is not set and the development file ${dir}/data/state-keys/LC_STATE_KEYS holds no usable key (entry at index 0 decodes to 5 bytes; a key must be exactly 32 (for example \`openssl rand -base64 32\`)), so start-up cannot use it: fix or delete the file (start-up then generates a new one), or set LC_STATE_KEYS (\`npx livecomponents keygen\` prints one)`,
      `LC_SESSION_SECRET is not set and the development file ${dir}/data/session-secret holds fewer than 32 bytes, so start-up cannot use it: fix or delete the file (start-up then generates a new one), or set LC_SESSION_SECRET (\`npx livecomponents keygen\` prints one)`,
    ]);
    // Start-up says the same of the secret file (it named LC_SESSION_SECRET "must be at least 32 bytes", a variable that is not set)
    // and of the key file (it gave the key ring's "data/state-keys/LC_STATE_KEYS: entry at index 0 …"): one reader each, shared.
    expect(() => readDevSessionSecret(join(dir, 'data/session-secret'))).toThrow(byName('data-dir')?.problems[1] as string);
    expect(() => readDevStateKeys(join(dir, 'data/state-keys/LC_STATE_KEYS'))).toThrow(byName('data-dir')?.problems[0] as string);
    const start = () => createLiveComponents({ components: [], store: createMemoryStore(), appOrigin: 'http://localhost:3000', sessionSecret: SECRET, dataDir: join(dir, 'data'), warn: () => {} });
    await expect(start()).rejects.toThrow(byName('data-dir')?.problems[0] as string);
    // The same key twice: parses, but start-up's key ring refuses it.
    const key = Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 29 + 5) % 256)).toString('base64');
    writeFileSync(join(dir, 'data/state-keys/LC_STATE_KEYS'), `${key},${key}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'data/session-secret'), `${SECRET}\n`, { mode: 0o600 });
    const twice = await doctor({ LC_STATE_KEYS: undefined, LC_SESSION_SECRET: undefined }, { cwd: dir, minFreeBytes: 0 });
    expect(twice.byName('data-dir')?.problems).toEqual([expect.stringMatching(/holds no usable key \(state keys at index 0 and 1 have the same key id /)]);
  });

  it('fails a database file other users can read in production (an older version made them 0644), and notes it elsewhere', async () => {
    const dir = mkdtempSync(join(base, 'open-'));
    const file = join(dir, 'app.db');
    await createSqlite(file);
    chmodSync(file, 0o644);
    const env = { DATABASE_URL: `sqlite:${file}` };
    // The doctor's own `database` check reads it first, and leaves no -wal or -shm (it left both, with
    // the file's mode, which this check then named): only the file is too open.
    const tooOpen = `${file} (mode 0644) can be read by other local users, and the database holds password hashes, emails and sessions: \`chmod 600\` it`;
    const production = (await doctor({ ...env, NODE_ENV: 'production', APP_URL: 'https://app.example.com' }, { lowFreeBytes: 0 })).byName('database-files');
    expect(production?.problems).toEqual([`DATABASE_URL: ${tooOpen}`]);
    const development = (await doctor(env, { lowFreeBytes: 0 })).byName('database-files');
    expect(development?.ok).toBe(true);
    expect(development?.summary.endsWith(`; note: ${tooOpen}`)).toBe(true);
    expect(readdirSync(dir)).toEqual(['app.db']);
    chmodSync(file, 0o600);
    expect((await doctor({ ...env, NODE_ENV: 'production', APP_URL: 'https://app.example.com' }, { lowFreeBytes: 0 })).byName('database-files')?.problems).toEqual([]);
  });

  it('checks the files a symbolic DATABASE_URL points to (SQLite keeps -wal and -shm beside the target)', async () => {
    const dir = mkdtempSync(join(base, 'linked-'));
    mkdirSync(join(dir, 'real'));
    const file = join(dir, 'real', 'app.db');
    await createSqlite(file);
    symlinkSync(file, join(dir, 'app.db'));
    for (const f of [file, `${file}-wal`, `${file}-shm`]) writeFileSync(f, '', { flag: 'a' });
    chmodSync(file, 0o600);
    chmodSync(`${file}-wal`, 0o644);
    chmodSync(`${file}-shm`, 0o644);
    // The file checks alone: the doctor's `database` check would open and close the file first,
    // and SQLite removes -wal and -shm when its last connection closes.
    const { config } = parseEnv({ LC_STATE_KEYS: KEY, LC_SESSION_SECRET: SECRET, DATABASE_URL: `sqlite:${join(dir, 'app.db')}`, NODE_ENV: 'production', APP_URL: 'https://app.example.com' });
    const checkOf = async () => runFileChecks(config, { lowFreeBytes: 0 }).find((c) => c.name === 'database-files');
    expect((await checkOf())?.problems).toEqual([
      `DATABASE_URL: ${file}-wal (mode 0644), ${file}-shm (mode 0644) can be read by other local users, and the database holds password hashes, emails and sessions: \`chmod 600\` them`,
    ]);
    for (const f of [`${file}-wal`, `${file}-shm`]) chmodSync(f, 0o600);
    expect((await checkOf())?.problems).toEqual([]);
  });

  it('fails a disk with less free space than the floor, naming the folder', async () => {
    const dir = mkdtempSync(join(base, 'floor-'));
    await createSqlite(join(dir, 'app.db'));
    const { report, byName } = await doctor({ DATABASE_URL: `sqlite:${join(dir, 'app.db')}` }, { minFreeBytes: 1024 ** 5 });
    expect(report.ok).toBe(false);
    expect(byName('database-files')?.problems).toEqual([
      expect.stringMatching(new RegExp(`^DATABASE_URL: ${dir} has \\d+(\\.\\d)? [MG]iB free \\(under 1048576\\.0 GiB\\): SQLite writes fail \\("database or disk is full"\\) and the app answers 503; free some space or move it to a larger disk$`)),
    ]);
    expect(report.lines).toContain(`FAIL database-files: ${byName('database-files')?.problems[0]}`);
  });

  it('fails the data folder on a disk under the floor, as the other two', async () => {
    const dir = mkdtempSync(join(base, 'data-floor-'));
    const { byName } = await doctor({ LC_STATE_KEYS: undefined }, { dataDir: join(dir, 'data'), minFreeBytes: 1024 ** 5 });
    expect(byName('data-dir')?.problems).toEqual([
      expect.stringMatching(new RegExp(`^data folder: ${dir} has \\d+(\\.\\d)? [MG]iB free \\(under 1048576\\.0 GiB\\): start-up cannot write a development key once it is full; free some space or move it to a larger disk$`)),
    ]);
  });

  it('fails key files and today’s log file that exist but cannot be used (here folders, which fail even for root)', async () => {
    const dir = mkdtempSync(join(base, 'unusable-'));
    mkdirSync(join(dir, 'data', 'state-keys', 'LC_STATE_KEYS'), { recursive: true });
    mkdirSync(join(dir, 'data', 'session-secret'));
    // The roller continues the newest file of today: number 2 here, not 1.
    writeFileSync(join(dir, `app.${today()}.1.log`), '');
    mkdirSync(join(dir, `app.${today()}.2.log`));
    const { report, byName } = await doctor(
      { LC_STATE_KEYS: undefined, LC_SESSION_SECRET: undefined, LOG_DESTINATION: `file:${dir}/app.log` },
      { dataDir: join(dir, 'data'), minFreeBytes: 0 },
    );
    expect(report.ok).toBe(false);
    // Start-up's words, from its own readers (was: "…; give it to the app's user", of a folder).
    expect(byName('data-dir')?.problems).toEqual([
      `LC_STATE_KEYS is not set and the development file ${dir}/data/state-keys/LC_STATE_KEYS cannot be read (EISDIR: is a folder), so start-up cannot use it: fix or delete the file (start-up then generates a new one), or set LC_STATE_KEYS (\`npx livecomponents keygen\` prints one)`,
      `LC_SESSION_SECRET is not set and the development file ${dir}/data/session-secret cannot be read (EISDIR: is a folder), so start-up cannot use it: fix or delete the file (start-up then generates a new one), or set LC_SESSION_SECRET (\`npx livecomponents keygen\` prints one)`,
    ]);
    expect(() => readDevStateKeys(join(dir, 'data', 'state-keys', 'LC_STATE_KEYS'))).toThrow(new Error(byName('data-dir')?.problems[0]));
    expect(() => readDevSessionSecret(join(dir, 'data', 'session-secret'))).toThrow(new Error(byName('data-dir')?.problems[1]));
    expect(byName('log-file')?.problems).toEqual([
      `LOG_DESTINATION: ${dir}/app.${today()}.2.log is not writable (EISDIR: is a folder), and the app continues that file today, so every log line would be lost; make it writable for the app's user, or move it away`,
    ]);
  });

  it('names today’s log file in the ok line when it opens for appending, and leaves it unchanged', async () => {
    const dir = mkdtempSync(join(base, 'continued-'));
    writeFileSync(join(dir, `app.${today()}.1.log`), 'kept\n');
    const { byName } = await doctor({ LOG_DESTINATION: `file:${dir}/app.log` }, { lowFreeBytes: 0 });
    expect(byName('log-file')?.summary).toMatch(new RegExp(`^${dir} is writable and ${dir}/app\\.${today()}\\.1\\.log opens for appending; \\d+(\\.\\d)? [MG]iB free$`));
    expect(readFileSync(join(dir, `app.${today()}.1.log`), 'utf8')).toBe('kept\n');
  });

  it('needs no folder when keys are set, the database is PostgreSQL, the store Redis and logs go to stdout', async () => {
    const { byName } = await doctor({ DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', REDIS_URL: 'redis://127.0.0.1:1' }, { timeoutMs: 500 });
    expect([byName('data-dir'), byName('database-files'), byName('log-file')].map((c) => [c?.ok, c?.summary])).toEqual([
      [true, `LC_STATE_KEYS and LC_SESSION_SECRET are set: nothing is written to ${process.cwd()}/data`],
      [true, 'no SQLite file: the database is PostgreSQL and the key-value store Redis'],
      [true, 'no log file: logs go to stdout'],
    ]);
  });

  it('checks the embedded key-value file when the database is PostgreSQL and REDIS_URL is not set (was: "no SQLite file")', async () => {
    const cwd = mkdtempSync(join(base, 'pg-embedded-'));
    const { config } = parseEnv({ LC_STATE_KEYS: KEY, LC_SESSION_SECRET: SECRET, DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' });
    const checkOf = () => runFileChecks(config, { cwd, lowFreeBytes: 0 }).find((c) => c.name === 'database-files');
    const file = join(cwd, 'data', 'livecomponents.db');
    expect(checkOf()).toMatchObject({ ok: true, problems: [] });
    expect(checkOf()?.summary).toMatch(new RegExp(`^the database is PostgreSQL; no REDIS_URL: sessions and state go to the embedded SQLite file sqlite:${file} does not exist yet; \\d+(\\.\\d)? [MG]iB free$`));
    await createSqlite(file);
    expect(checkOf()?.summary).toMatch(new RegExp(`^the database is PostgreSQL; no REDIS_URL: sessions and state go to the embedded SQLite file sqlite:${file} and its folder are writable; \\d+(\\.\\d)? [MG]iB free$`));
    // Not a file (fails even for root): every write of the store would fail.
    rmSync(file);
    mkdirSync(file);
    expect(checkOf()?.problems).toEqual([
      `REDIS_URL is not set, so sessions and state go to the embedded SQLite file: ${file} is not writable (EISDIR: is a folder), so every write fails (503); make it writable for the app's user, or set REDIS_URL`,
    ]);
  });
});

describe.skipIf(mounts.state === 'skip')('doctor --connect: the folders the app writes to, on tmpfs mounts and as another user', () => {
  const up = () => {
    if (mounts.state === 'fail') throw new Error(mounts.reason);
  };
  const EROFS = 'is not writable (EROFS: read-only file system)';

  it('fails a read-only ./data for the keys it would generate, and a read-only log folder', async () => {
    up();
    const ro = tmpfs('ro', 'ro,size=1m');
    const { report, byName } = await doctor(
      { LC_STATE_KEYS: undefined, LC_SESSION_SECRET: undefined, LOG_DESTINATION: `file:${ro}/logs/app.log` },
      { dataDir: join(ro, 'data'), minFreeBytes: 0 },
    );
    expect(report.ok).toBe(false);
    expect(byName('data-dir')?.problems).toEqual([
      `LC_STATE_KEYS is not set and ${ro} ${EROFS}, so start-up cannot write the development state key to ${ro}/data/state-keys/LC_STATE_KEYS and stops; make ${ro} writable for the app's user, or set LC_STATE_KEYS (\`npx livecomponents keygen\` prints one)`,
      `LC_SESSION_SECRET is not set and ${ro} ${EROFS}, so start-up cannot write the development session secret to ${ro}/data/session-secret and stops; make ${ro} writable for the app's user, or set LC_SESSION_SECRET (\`npx livecomponents keygen\` prints one)`,
    ]);
    expect(byName('log-file')?.problems).toEqual([
      `LOG_DESTINATION: ${ro} ${EROFS}, so the app would start and every log line would be lost; make it writable for the app's user, or log to stdout`,
    ]);
  });

  it('fails a read-only folder the embedded key-value file would be made in, with PostgreSQL and no REDIS_URL (was: "no SQLite file", then start-up stopped)', async () => {
    up();
    const cwd = tmpfs('embedded-ro', 'ro,size=64k');
    const { config } = parseEnv({ LC_STATE_KEYS: KEY, LC_SESSION_SECRET: SECRET, DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' });
    expect(runFileChecks(config, { cwd, minFreeBytes: 0 }).find((c) => c.name === 'database-files')?.problems).toEqual([
      `REDIS_URL is not set, so sessions and state go to the embedded SQLite file: ${cwd} ${EROFS}, so start-up cannot create sqlite:${cwd}/data/livecomponents.db and stops; make it writable for the app's user, or set REDIS_URL`,
    ]);
  });

  it('fails an existing SQLite database whose folder went read-only', async () => {
    up();
    const dir = tmpfs('db-ro', 'size=8m');
    await createSqlite(join(dir, 'app.db'));
    execFileSync('mount', ['-o', 'remount,ro', dir]);
    const { byName } = await doctor({ DATABASE_URL: `sqlite:${dir}/app.db` }, { minFreeBytes: 0 });
    expect(byName('database-files')?.problems).toEqual([
      `DATABASE_URL: ${dir} ${EROFS}, so SQLite cannot create its -wal and -shm files beside sqlite:${dir}/app.db and start-up or every write fails; make the folder writable for the app's user`,
      `DATABASE_URL: ${dir}/app.db ${EROFS}, so every write fails (503); make it writable for the app's user`,
    ]);
  });

  it('fails an SQLite database and a log folder on a full disk, and leaves no probe file behind', async () => {
    up();
    const dir = tmpfs('full', 'size=1m');
    await createSqlite(join(dir, 'app.db'));
    expect(() => writeFileSync(join(dir, 'filler'), Buffer.alloc(2 * 1024 * 1024))).toThrow(/ENOSPC/);
    const before = listAll(dir);
    const { byName } = await doctor({ DATABASE_URL: `sqlite:${dir}/app.db`, LOG_DESTINATION: `file:${dir}/app.log` });
    expect(byName('database-files')?.problems).toEqual([
      `DATABASE_URL: ${dir} has 0 MiB free (under 100 MiB): SQLite writes fail ("database or disk is full") and the app answers 503; free some space or move it to a larger disk`,
    ]);
    expect(byName('log-file')?.problems).toEqual([
      `LOG_DESTINATION: ${dir} has 0 MiB free (under 100 MiB): log lines are lost once it is full; free some space or move it to a larger disk`,
    ]);
    expect(listAll(dir)).toEqual(before);
  });

  it('fails a folder owned by another user for the user it runs as (root writes anywhere, the app user does not)', async () => {
    up();
    chmodSync(base, 0o755);
    const dir = mkdtempSync(join(base, 'root-owned-'));
    chmodSync(dir, 0o755);
    const env = { LC_STATE_KEYS: KEY, LC_SESSION_SECRET: SECRET, DATABASE_URL: 'sqlite::memory:', LOG_DESTINATION: `file:${dir}/app.log` };
    const script = `const { runDoctorConnected } = await import(${JSON.stringify(fileURLToPath(new URL('./doctor.ts', import.meta.url)))});
      const report = await runDoctorConnected(${JSON.stringify(env)}, { timeoutMs: 2000 });
      console.log(JSON.stringify(report.checks.find((c) => c.name === 'log-file')));`;
    const run = (uid: number) => {
      const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { uid, gid: uid, encoding: 'utf8', timeout: 30_000 });
      expect(child.stderr).toBe('');
      return JSON.parse(child.stdout) as unknown;
    };
    expect(run(65534)).toEqual({
      name: 'log-file',
      ok: false,
      summary: '',
      problems: [`LOG_DESTINATION: ${dir} is not writable (EACCES: permission denied), so the app would start and every log line would be lost; make it writable for the app's user, or log to stdout`],
    });
    expect(run(0)).toMatchObject({ name: 'log-file', ok: true });
  });

  it('fails, for the app’s user, key files and today’s log file that only root may use', async () => {
    up();
    chmodSync(base, 0o755);
    const dir = mkdtempSync(join(base, 'root-files-'));
    // The folders take new files from anyone: only the files already there are root's.
    chmodSync(dir, 0o777);
    mkdirSync(join(dir, 'data', 'state-keys'), { recursive: true, mode: 0o755 });
    // Readable, but too open: start-up resets it to 0600, which only its owner may do.
    writeFileSync(join(dir, 'data', 'state-keys', 'LC_STATE_KEYS'), `${KEY}\n`, { mode: 0o644 });
    chmodSync(join(dir, 'data', 'state-keys', 'LC_STATE_KEYS'), 0o644);
    writeFileSync(join(dir, 'data', 'session-secret'), SECRET, { mode: 0o600 });
    writeFileSync(join(dir, `app.${today()}.1.log`), '', { mode: 0o600 });
    const env = { LC_STATE_KEYS: undefined, LC_SESSION_SECRET: undefined, DATABASE_URL: 'sqlite::memory:', LOG_DESTINATION: `file:${dir}/app.log` };
    const script = `const { runDoctorConnected } = await import(${JSON.stringify(fileURLToPath(new URL('./doctor.ts', import.meta.url)))});
      const report = await runDoctorConnected(${JSON.stringify(env)}, { timeoutMs: 2000, dataDir: ${JSON.stringify(join(dir, 'data'))}, minFreeBytes: 0 });
      console.log(JSON.stringify(report.checks.filter((c) => c.name === 'data-dir' || c.name === 'log-file').map((c) => c.problems)));`;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { uid: 65534, gid: 65534, encoding: 'utf8', timeout: 30_000 });
    expect(child.stderr).toBe('');
    expect(JSON.parse(child.stdout)).toEqual([
      [
        // Start-up's words (src/runtime/dev-folder-errors.test.ts pins them, as nobody too).
        `LC_STATE_KEYS is not set and the development file ${dir}/data/state-keys/LC_STATE_KEYS is too open (mode 0644) and cannot be reset to 0600 (EPERM: operation not permitted), so start-up cannot use it: fix or delete the file (start-up then generates a new one), or set LC_STATE_KEYS (\`npx livecomponents keygen\` prints one)`,
        `LC_SESSION_SECRET is not set and the development file ${dir}/data/session-secret cannot be read (EACCES: permission denied), so start-up cannot use it: fix or delete the file (start-up then generates a new one), or set LC_SESSION_SECRET (\`npx livecomponents keygen\` prints one)`,
      ],
      [`LOG_DESTINATION: ${dir}/app.${today()}.1.log is not writable (EACCES: permission denied), and the app continues that file today, so every log line would be lost; make it writable for the app's user, or move it away`],
    ]);
  });

  it('passes a disk above the floor, saying it is low under 1 GiB', async () => {
    up();
    const dir = tmpfs('low', 'size=200m');
    const { byName } = await doctor({ DATABASE_URL: `sqlite:${dir}/app.db` });
    expect(byName('database-files')).toMatchObject({ ok: true, summary: `sqlite:${dir}/app.db does not exist yet; 200 MiB free (low: under 1.0 GiB)` });
  });
});
