/**
 * The target a `move-data` mark records is compared on a re-run: two PostgreSQL schemas of one
 * database (selected by `search_path` in the URL's `options`, as docs/config.md allows) are two
 * targets. Recorded as host and database only, a run into another schema took the relational part as
 * "moved there already", skipped it, moved the key-value part and said done: the app pointed at that
 * schema would start with no users. And the single-file case after a key-value-only move: the file
 * still serves the relational part beside Redis, and is refused without it.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createAuthRepository } from '../../src/auth/repository.js';
import { openBackends } from '../../src/runtime/backends.js';
import { MovedFileError } from '../../src/sql/moved-mark.js';
import { admin, TEST_POSTGRES_URL } from '../../src/sql/test-postgres.js';
import { marksOf, move, moveFixture, SESSION_KEY, skipWithoutServices } from './move-data-fixture.js';

const skip = await skipWithoutServices('move-data mark targets');


describe.skipIf(skip)('move-data mark targets', { timeout: 120_000 }, () => {
  const fixture = moveFixture('lc-move-mark-target-');
  const parts = (file: string) => marksOf(file).map((m) => m.part);
  const appFile = (name: string) => fixture.appFolder(name);

  it('a re-run into another schema of the same database is refused, not skipped as moved there', async () => {
    const { file, from } = await appFile('schema');
    await fixture.client.flushall();
    const first = await fixture.schema('mark_target_a');
    const second = await fixture.schema('mark_target_b');
    expect((await move('--from', from, '--to-database', first)).code).toBe(0);
    const other = await move('--from', from, '--to-database', second, '--to-redis', fixture.redis.url);
    expect(other.code).toBe(1);
    expect(other.err[0]).toContain('the file is stale since');
    // Nothing written: Redis empty, the second schema without users, the file's marks as they were.
    expect(await fixture.client.dbsize()).toBe(0);
    expect(parts(file)).toEqual(['relational']);
    // The same schema again finishes the move (the part moved there is skipped).
    const same = await move('--from', from, '--to-database', first, '--to-redis', fixture.redis.url);
    expect([same.code, same.err]).toEqual([0, []]);
    expect(same.out.some((line) => line.includes('the relational part was moved to') && line.includes('not copied again'))).toBe(true);
    expect(parts(file)).toEqual(['key-value', 'relational']);
  });

  it('two users\' own schemas under the default search_path ("$user", public) are two targets: the second user\'s run is refused', async () => {
    const suffix = randomBytes(4).toString('hex');
    const roles = [`lc_move_alice_${suffix}`, `lc_move_bob_${suffix}`] as const;
    // Each role owns a schema of its name: "$user" picks it, so each reaches its own tables.
    for (const role of roles) {
      await admin(`create role "${role}" login`);
      await admin(`create schema "${role}" authorization "${role}"`);
    }
    const as = (role: string) => {
      const url = new URL(TEST_POSTGRES_URL);
      url.username = role;
      url.searchParams.delete('options');
      return url.toString();
    };
    try {
      const { file, from } = await appFile('users');
      await fixture.client.flushall();
      expect((await move('--from', from, '--to-database', as(roles[0]))).code).toBe(0);
      expect(marksOf(file).map((m) => m.target)).toEqual([`postgres://127.0.0.1:5432/test (schema ${roles[0]})`]);
      const other = await move('--from', from, '--to-database', as(roles[1]), '--to-redis', fixture.redis.url);
      expect(other.code).toBe(1);
      expect(other.err[0]).toContain('the file is stale since');
      expect(await fixture.client.dbsize()).toBe(0);
      // The first user again reaches the same tables: the move finishes.
      const same = await move('--from', from, '--to-database', as(roles[0]), '--to-redis', fixture.redis.url);
      expect([same.code, same.err]).toEqual([0, []]);
      expect(parts(file)).toEqual(['key-value', 'relational']);
    } finally {
      for (const role of roles) {
        await admin(`drop schema if exists "${role}" cascade`);
        await admin(`drop role if exists "${role}"`);
      }
    }
  });

  it('one file, its key-value part moved: it serves the relational part beside Redis, and is refused without Redis', async () => {
    const { from } = await appFile('single');
    await fixture.client.flushall();
    expect((await move('--from', from, '--to-redis', fixture.redis.url)).code).toBe(0);
    const backends = await openBackends({ databaseUrl: from, redisUrl: fixture.redis.url, sweepIntervalMs: 0, onSchemaWarning: () => undefined });
    try {
      expect(await createAuthRepository(backends.db).userByEmail('single@example.com')).toMatchObject({ email: 'single@example.com' });
      expect(await backends.store.get(SESSION_KEY)).toBe('{"v":1}');
    } finally {
      await backends.close();
    }
    const refused = await openBackends({ databaseUrl: from, sweepIntervalMs: 0, onSchemaWarning: () => undefined }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(MovedFileError);
    expect((refused as MovedFileError).marks.map((m) => m.part)).toEqual(['key-value']);
  });
});
