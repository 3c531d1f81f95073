/**
 * The mark `livecomponents move-data` leaves in the SQLite file it moved (src/sql/moved-mark.ts): a
 * dry run and a failed part mark nothing; a partial move marks its part only; then the app refuses to
 * start on a marked part (each part alone), `revoke-sessions` refuses with nothing changed, `move-data`
 * refuses to copy the stale file again (into a fresh Redis too), `doctor --connect` fails naming it,
 * and `move-data --unmark` clears it, printing what it cleared. No message carries a password.
 */
import BetterSqlite3 from 'better-sqlite3';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createAuthRepository } from '../../src/auth/repository.js';
import { checkMovedData } from '../../src/cli/move-data-doctor.js';
import { migrateCommand } from '../../src/cli/migrate.js';
import { revokeSessions } from '../../src/cli/revoke-sessions.js';
import { loadConfig } from '../../src/ops/config.js';
import { memorySecurityEvents } from '../../src/ops/security-events.js';
import { openBackends } from '../../src/runtime/backends.js';
import { createDatabase } from '../../src/sql/database.js';
import { MOVED_FILE_CODE, MovedFileError } from '../../src/sql/moved-mark.js';
import { startRedis } from '../redis/server.js';
import { HASH, marksOf as marks, move, moveFixture, SESSION_KEY, skipWithoutServices } from './move-data-fixture.js';

const skip = await skipWithoutServices('move-data marks');

const PG_PASSWORD = 'pg-Secret-7f3a';
const REDIS_PASSWORD = 'redis-Secret-91c2';

/** `url` with a password put in (PostgreSQL here trusts local connections: it is never asked for). */
function withPassword(url: string, password: string): string {
  const parsed = new URL(url);
  parsed.password = password;
  return parsed.toString();
}

describe.skipIf(skip)('move-data marks the file it moved', { timeout: 120_000 }, () => {
  const fixture = moveFixture('lc-move-mark-', { redisPassword: REDIS_PASSWORD, schemaUrl: (url) => withPassword(url, PG_PASSWORD) });
  const { schema, appFolder } = fixture;

  async function startError(options: Parameters<typeof openBackends>[0]): Promise<unknown> {
    const backends = await openBackends({ ...options, sweepIntervalMs: 0, onSchemaWarning: () => undefined }).catch((error: unknown) => error);
    if (backends instanceof Error) return backends;
    await (backends as Awaited<ReturnType<typeof openBackends>>).close();
    return undefined;
  }

  /** The relational target as a mark records it: host, database and the schema (the search_path here). */
  const pgWhereOf = (url: string) => `postgres://127.0.0.1:5432/test (schema ${new URL(url).searchParams.get('options')?.split('=')[1]})`;
  const escaped = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

  const noSecret = (text: string) => {
    expect(text).not.toContain(PG_PASSWORD);
    expect(text).not.toContain(REDIS_PASSWORD);
  };

  it('a dry run marks nothing; a failed relational part marks nothing', async () => {
    const { file, from } = await appFolder('dry');
    const target = await schema('mark_dry');
    const dry = await move('--from', from, '--to-database', target, '--to-redis', fixture.redisUrl, '--dry-run');
    expect([dry.code, dry.err]).toEqual([0, []]);
    expect(marks(file)).toEqual([]);
    // A target holding another app's user: refused in the copy, nothing written, nothing marked.
    const occupied = createDatabase(target);
    try {
      await migrateCommand({ DATABASE_URL: target }, { out: () => undefined });
      await createAuthRepository(occupied).insertUser({ email: 'other@example.com', passwordHash: HASH, name: null }, Date.now());
    } finally {
      await occupied.destroy();
    }
    const failed = await move('--from', from, '--to-database', target);
    expect(failed.code).toBe(1);
    expect(failed.err.join('\n')).toContain('already holds data');
    expect(marks(file)).toEqual([]);
    expect(await startError({ databaseUrl: from })).toBeUndefined();
  });

  it('each part marked as it moves; the app, revoke-sessions, move-data and doctor refuse what is marked; --unmark clears it', async () => {
    const { file, from, cwd } = await appFolder('full');
    const target = await schema('mark_full');
    const pgWhere = pgWhereOf(target);
    const redisWhere = `redis://127.0.0.1:${fixture.redis.port}`;

    // The relational part alone: only it is marked.
    const tables = await move('--from', from, '--to-database', target);
    expect([tables.code, tables.err]).toEqual([0, []]);
    expect(marks(file)).toEqual([{ part: 'relational', target: pgWhere, moved_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) }]);
    tables.out.forEach(noSecret);

    // Started on the file as DATABASE_URL (users from it): refused, whatever REDIS_URL says.
    const relational = await startError({ databaseUrl: from, redisUrl: fixture.redisUrl, cwd });
    expect(relational).toBeInstanceOf(MovedFileError);
    expect(relational).toMatchObject({ code: MOVED_FILE_CODE });
    const message = (relational as Error).message;
    expect(message).toContain(`${from}: its users, tokens and password resets (the relational part) were moved to ${pgWhere} by \`livecomponents move-data\` at ${marks(file)[0]?.moved_at}`);
    expect(message).toContain(`Point DATABASE_URL at ${pgWhere}`);
    expect(message).toContain(`livecomponents move-data --unmark --from ${from}`);
    noSecret(message);
    // On PostgreSQL without Redis, the key-value part still comes from the file: not moved, it starts.
    expect(await startError({ databaseUrl: target, cwd })).toBeUndefined();

    // The key-value part: now both are marked.
    const kv = await move('--from', from, '--to-redis', fixture.redisUrl);
    expect([kv.code, kv.err]).toEqual([0, []]);
    expect(marks(file).map((m) => [m.part, m.target])).toEqual([
      ['key-value', redisWhere],
      ['relational', pgWhere],
    ]);
    kv.out.forEach(noSecret);
    const keyValue = await startError({ databaseUrl: target, cwd });
    expect(keyValue).toBeInstanceOf(MovedFileError);
    expect((keyValue as Error).message).toContain('(the key-value part) were moved to');
    expect((keyValue as Error).message).toContain(`Point REDIS_URL at ${redisWhere}`);
    expect((keyValue as MovedFileError).marks.map((m) => m.part)).toEqual(['key-value']);
    noSecret((keyValue as Error).message);
    // Started on the new stores: no file involved, it starts.
    expect(await startError({ databaseUrl: target, redisUrl: fixture.redisUrl, cwd })).toBeUndefined();

    // revoke-sessions on the stale file: exit 1, nothing changed, no event.
    for (const env of [{ DATABASE_URL: from }, { DATABASE_URL: target }]) {
      const out: string[] = [];
      const err: string[] = [];
      const events = memorySecurityEvents();
      expect(await revokeSessions({ all: true }, { env, cwd, out: (l) => out.push(l), err: (l) => err.push(l), events })).toBe(1);
      expect(err).toEqual([expect.stringMatching(/^revoke-sessions: sqlite:.*moved to .*revoke-sessions would change that stale copy, not the sessions and tokens in use; nothing was changed/)]);
      expect([out, events.events]).toEqual([[], []]);
      noSecret(err.join('\n'));
    }
    const native = new BetterSqlite3(file, { readonly: true });
    try {
      expect(native.prepare('SELECT count(*) AS n FROM lc_kv WHERE key = ?').get(SESSION_KEY)).toEqual({ n: 1 });
    } finally {
      native.close();
    }

    // doctor --connect: its moved-data check fails, naming the file and the move.
    const database = await checkMovedData(loadConfig({ DATABASE_URL: from }), cwd);
    expect(database).toMatchObject({ name: 'moved-data', ok: false, problems: [expect.stringMatching(new RegExp(`^DATABASE_URL: ${from}: its sessions, .*; its users, tokens and password resets \\(the relational part\\)`))] });
    const embedded = await checkMovedData(loadConfig({ DATABASE_URL: target }), cwd);
    expect(embedded).toMatchObject({ name: 'moved-data', ok: false, problems: [expect.stringContaining('(the key-value part) were moved to')] });

    // move-data again, into a fresh Redis (its completion mark not there): refused, nothing written.
    const fresh = await startRedis();
    try {
      const again = await move('--from', from, '--to-redis', fresh.url);
      expect(again.code).toBe(1);
      expect(again.err).toEqual([expect.stringContaining(`(the key-value part) were moved to ${redisWhere}`)]);
      expect(again.err[0]).toContain(`livecomponents move-data --unmark --from ${from}`);
      const freshClient = new Redis(fresh.url);
      try {
        expect(await freshClient.dbsize()).toBe(0);
      } finally {
        freshClient.disconnect();
      }
    } finally {
      await fresh.stop();
    }
    // The same command again: nothing left to move.
    const same = await move('--from', from, '--to-database', target, '--to-redis', fixture.redisUrl);
    expect(same.code).toBe(1);
    expect(same.err[0]).toContain('nothing left to move; nothing was written');
    same.err.forEach(noSecret);

    // --unmark: printed, cleared; the app starts on the file again.
    expect((await move('--unmark', '--from', from, '--to-redis', fixture.redisUrl)).code).toBe(2);
    const unmark = await move('--unmark', '--from', from);
    expect([unmark.code, unmark.err]).toEqual([0, []]);
    expect(unmark.out).toEqual([
      expect.stringMatching(new RegExp(`^move-data: ${from}: mark cleared: its sessions, .* \\(the key-value part\\) were moved to ${redisWhere} by`)),
      expect.stringMatching(new RegExp(`^move-data: ${from}: mark cleared: its users, .* \\(the relational part\\) were moved to ${escaped(pgWhere)} by`)),
      `move-data: ${from}: the app and the commands use this file again, as it was when it was moved: what changed since on the new stores is not in it`,
    ]);
    expect(marks(file)).toEqual([]);
    expect(await startError({ databaseUrl: from, cwd })).toBeUndefined();
    expect((await move('--unmark', '--from', from)).out).toEqual([`move-data: ${from}: no mark of a move: nothing to clear`]);
  });

  it('a run repeated after its key-value part failed skips the part marked to the same target and finishes', async () => {
    const { file, from } = await appFolder('repeat');
    const target = await schema('mark_repeat');
    // Without the completion mark the run above left in Redis (a Redis that has it is refused).
    await fixture.client.flushall();
    // Redis unreachable: refused before anything is written, nothing marked.
    const down = await move('--from', from, '--to-database', target, '--to-redis', 'redis://127.0.0.1:1');
    expect(down.code).toBe(1);
    expect(marks(file)).toEqual([]);
    // Tables moved, the key-value part not yet (as after a failure of it).
    expect((await move('--from', from, '--to-database', target)).code).toBe(0);
    // Another target (compared as the mark records it: host, database and schema as written) is refused.
    const other = (await schema('mark_repeat_other')).replace('127.0.0.1', 'localhost');
    const elsewhere = await move('--from', from, '--to-database', other, '--to-redis', fixture.redisUrl);
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.err[0]).toContain('the file is stale since');
    expect(marks(file).map((m) => m.part)).toEqual(['relational']);
    const repeated = await move('--from', from, '--to-database', target, '--to-redis', fixture.redisUrl);
    expect([repeated.code, repeated.err]).toEqual([0, []]);
    expect(repeated.out).toContain(`move-data: the relational part was moved to ${pgWhereOf(target)} already (marked in ${from}): not copied again`);
    expect(marks(file).map((m) => m.part)).toEqual(['key-value', 'relational']);
  });
});
