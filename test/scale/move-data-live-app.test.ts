/**
 * `livecomponents move-data` refuses a live app it cannot see in `/proc`: an app in another container
 * sharing the volume (another PID namespace; here `unshare --pid --mount-proc`, which gives the move
 * a `/proc` of its own). What tells is SQLite's own lock: the app holds a SHARED lock on the database
 * file as long as it is open (WAL mode keeps it; since a02724d start-up no longer drops it), and the
 * move's `locking_mode = EXCLUSIVE` + `BEGIN EXCLUSIVE` fails on it at once (SQLITE_BUSY). Refused, the
 * move leaves the app's WAL alone: a user registered after it survives the app's SIGKILL.
 *
 * Needs root (for the namespaces) and `unshare`: under CI it fails without them, elsewhere it is
 * skipped with one loud line.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { startInstances } from './instances.js';

const root = join(import.meta.dirname, '..', '..');
const probe = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true'], { stdio: 'ignore' });
const namespaces = probe.status === 0;
if (!namespaces) {
  const reason = 'unshare --pid --mount-proc is not available (needs root and util-linux)';
  if (process.env.CI) throw new Error(`move-data live app in another PID namespace: ${reason}`);
  console.warn(`\n⚠️  SKIPPED move-data live app in another PID namespace: ${reason}. These tests run (and must pass) in CI.\n`);
}

/** `livecomponents move-data …` in a PID namespace of its own: exit code and stderr. */
async function moveElsewhere(dir: string, args: string[]): Promise<{ code: number | null; err: string; procCount: number }> {
  const script = join(dir, 'move.mts');
  writeFileSync(
    script,
    `import { readdirSync } from 'node:fs';
import { main } from ${JSON.stringify(join(root, 'src/cli/index.ts'))};
console.log(readdirSync('/proc').filter((e) => /^\\d+$/.test(e)).length);
process.exitCode = await main(['move-data', ...${JSON.stringify(args)}], { env: {}, out: (l) => console.log(l), err: (l) => console.error(l) });
`,
  );
  const child = spawn('unshare', ['--pid', '--fork', '--mount-proc', process.execPath, '--import', 'tsx', script], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { code, err, procCount: Number(out.split('\n')[0]) };
}

describe.skipIf(!namespaces)('move-data: a live app in another PID namespace', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'lc-move-live-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is refused by SQLite\'s lock (no /proc entry of it to see), and the app\'s WAL and writes survive', async () => {
    const file = join(dir, 'app.db');
    const { instances, stop } = await startInstances(1, { DATABASE_URL: `sqlite:${file}` });
    const app = instances[0];
    if (app === undefined) throw new Error('no instance');
    try {
      const moved = await moveElsewhere(dir, ['--from', `sqlite:${file}`, '--to-redis', 'redis://127.0.0.1:1']);
      // The move's /proc shows only its own namespace: unshare's child, node (and no app).
      expect(moved.procCount).toBeLessThanOrEqual(3);
      expect([moved.code, moved.err.trim()]).toEqual([1, `move-data: ${file} is open in another process (the app, another instance, a sqlite3 shell, a backup): stop every process that uses it, then run move-data again`]);
      expect(existsSync(`${file}-wal`)).toBe(true);

      const registered = await fetch(`${app.url}/api/v1/auth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'after-move@example.com', password: 'correct horse battery staple 42' }) });
      expect(registered.status).toBe(201);
    } catch (error) {
      await stop();
      throw error;
    }
    // A crash: what the app wrote is in its WAL only.
    const exited = new Promise((resolve) => app.process.once('exit', resolve));
    app.process.kill('SIGKILL');
    await exited;
    const db = new BetterSqlite3(file, { readonly: true });
    try {
      expect(db.prepare(`select count(*) as n from users where email = 'after-move@example.com'`).get()).toEqual({ n: 1 });
    } finally {
      db.close();
    }
  });
});
