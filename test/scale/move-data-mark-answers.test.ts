/**
 * A re-run of `move-data` whose key-value part the file marks as moved asks Redis for its completion
 * mark. Only a Redis that does not answer (refused connection, timeout) may leave that mark unchecked
 * and let the run go on: a Redis that answers with a refusal — a password it rejects (WRONGPASS), an
 * ACL user barred from the store's scripts (NOPERM), a replica (READONLY: REDIS_URL still names the
 * old master) — answered, and the URL is wrong. Taken for silence, the run moved the relational part
 * and exited 0 with "done: point … REDIS_URL at the targets and start the app", a REDIS_URL on which
 * the app answers 503 and the mark never checked. Refused instead, as before: exit 1, nothing written.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { migrateCommand } from '../../src/cli/migrate.js';
import { createDatabase } from '../../src/sql/database.js';
import { freePort } from '../redis/server.js';
import { marksOf, move, moveFixture, skipWithoutServices } from './move-data-fixture.js';

const skip = await skipWithoutServices('move-data completion mark answers');

describe.skipIf(skip)('move-data re-run: a Redis that answers with a refusal is no Redis that did not answer', { timeout: 120_000 }, () => {
  const fixture = moveFixture('lc-move-mark-answers-');
  afterAll(async () => {
    await fixture.client.replicaof('NO', 'ONE');
  });

  /** An app's file whose key-value part is moved into the suite's Redis (its completion mark there), and a migrated, empty PostgreSQL target. */
  async function movedKeyValues(name: string): Promise<{ file: string; from: string; target: string }> {
    const { file, from } = await fixture.appFolder(name);
    const target = await fixture.schema(`mark_answers_${name}`);
    expect(await migrateCommand({ DATABASE_URL: target }, { out: () => undefined })).toBe(0);
    // The suite's Redis holds the previous case's mark: a new file is moved into it on purpose.
    await fixture.client.del('lc:{move-data}:done');
    const first = await move('--from', from, '--to-redis', fixture.redis.url);
    expect([first.code, first.err]).toEqual([0, []]);
    expect(await fixture.client.exists('lc:{move-data}:done')).toBe(1);
    return { file, from, target };
  }

  /** The re-run with the relational part to move and Redis at `url`: refused, exit 1, nothing written anywhere. */
  async function refused(name: string, url: string, before?: () => Promise<void>): Promise<string[]> {
    const { file, from, target } = await movedKeyValues(name);
    await before?.();
    const run = await move('--from', from, '--to-database', target, '--to-redis', url);
    expect([run.code, run.out]).toEqual([1, []]);
    expect(marksOf(file).map((m) => m.part)).toEqual(['key-value']);
    const db = createDatabase(target);
    try {
      const users = await db.selectFrom('users').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
      expect(Number(users.n)).toBe(0);
    } finally {
      await db.destroy();
    }
    return run.err;
  }

  it('a password Redis rejects (WRONGPASS)', async () => {
    const err = await refused('wrongpass', `redis://nobody:not-the-password@127.0.0.1:${fixture.redis.port}`);
    expect(err).toEqual([
      `move-data: ${fixture.redis.url}: Redis is not connected (reconnecting; last error: WRONGPASS invalid username-password pair or user is disabled.).`,
    ]);
  });

  it('an ACL user barred from the store\'s scripts (NOPERM)', async () => {
    expect(await fixture.client.call('ACL', 'SETUSER', 'mover', 'on', '>mover-password', '~*', '&*', '+@all', '-@scripting')).toBe('OK');
    const err = await refused('noperm', `redis://mover:mover-password@127.0.0.1:${fixture.redis.port}`);
    expect(err).toEqual([
      `move-data: ${fixture.redis.url}: Redis refuses the store's scripts (NOPERM this user has no permissions to run the 'eval' command): the ACL user of REDIS_URL needs EVAL/EVALSHA (+@scripting) and read/write access to the app's keys.`,
    ]);
  });

  it('a replica (READONLY): the URL names the old master after a failover', async () => {
    // A replica of a master that is not there: it keeps its data (the mark too) and refuses writes.
    const err = await refused('readonly', fixture.redis.url, async () => {
      expect(await fixture.client.replicaof('127.0.0.1', String(await freePort()))).toBe('OK');
    });
    expect(err).toHaveLength(1);
    // The script and line Redis names change with the store's scripts.
    const script = /script: [0-9a-f]{40}, on @user_script:\d+\./.exec(err[0] ?? '')?.[0];
    expect(err).toEqual([
      `move-data: ${fixture.redis.url}: Redis refuses writes (READONLY You can't write against a read only replica. ${script}): REDIS_URL names a replica, as after a failover; point it at the master.`,
    ]);
    expect(await fixture.client.replicaof('NO', 'ONE')).toBe('OK');
  });
});
