/**
 * The reference app keeps SQLite's locks on its database file for as long as it runs. POSIX record
 * locks belong to the process, and closing any descriptor of a file drops all of them: start-up's
 * file checks (`runFileChecks`, run after the database is open) opened and closed the file, its
 * -wal and -shm to try them, and the app then held none. The next process to open and close the
 * file — a `sqlite3` query, the live `.backup` docs/deployment.md §8 recommends — found itself the
 * last connection, checkpointed and deleted the WAL the app was still writing to: every write after
 * that went into a deleted file and was gone at the next crash.
 */
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openWebClient, startInstances } from './instances.js';

const dir = mkdtempSync(join(tmpdir(), 'lc-sqlite-locks-'));
const file = join(dir, 'app.db');
const env = {
  DATABASE_URL: `sqlite:${file}`,
  LC_STATE_KEYS: randomBytes(32).toString('base64'),
  LC_SESSION_SECRET: randomBytes(32).toString('base64'),
};
const stops: Array<() => Promise<void>> = [];
afterAll(async () => {
  await Promise.all(stops.map((stop) => stop()));
  rmSync(dir, { recursive: true, force: true });
}, 30_000);

/** SQLite's `count` as the app answers an increment on `counter:main`. */
const countAfterIncrement = async (client: Awaited<ReturnType<typeof openWebClient>>, url: string) => {
  const answer = await client.action(url, 'counter:main', 'increment');
  const body = (await answer.json()) as { state?: { count: number }; csrf_token?: string; code?: string };
  if (body.csrf_token !== undefined) client.token = body.csrf_token;
  return [answer.status, body.state?.count ?? body.code];
};

describe('the reference app on an SQLite file', () => {
  it('keeps its locks: another process opening and closing the file leaves the WAL, and writes survive a SIGKILL', async () => {
    const first = await startInstances(1, env);
    stops.push(first.stop);
    const [app] = first.instances;
    if (app === undefined) throw new Error('no instance');
    const client = await openWebClient(app.url);
    expect(await countAfterIncrement(client, app.url)).toEqual([200, 1]);

    // Another process reads the file and closes it, as an operator's query or backup does.
    const other = new Database(file);
    expect(other.prepare('SELECT count(*) AS n FROM sqlite_master').get()).toMatchObject({ n: expect.any(Number) });
    other.close();
    expect(existsSync(`${file}-wal`), 'the WAL the app writes to is still there').toBe(true);

    expect(await countAfterIncrement(client, app.url)).toEqual([200, 2]);
    const exited = new Promise((resolve) => app.process.once('exit', resolve));
    app.process.kill('SIGKILL');
    await exited;

    const second = await startInstances(1, env);
    stops.push(second.stop);
    const [again] = second.instances;
    if (again === undefined) throw new Error('no instance');
    // The same session and state: the second increment was not lost with a deleted WAL.
    expect(await countAfterIncrement(client, again.url)).toEqual([200, 3]);
  }, 120_000);
});
