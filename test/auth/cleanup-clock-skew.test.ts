/**
 * The token clean-up on a host whose clock is off. It used to delete by this machine's clock alone:
 * a host a day ahead deleted every live access token of every instance (eight days: every refresh
 * token too), and the in-process timer did it silently a minute after start-up. Now a run reads the
 * database's clock (PostgreSQL), deletes by the earlier of the two, and is skipped and reported when
 * they are more than `REVOKE_MARGIN_MS` apart. SQLite is on this machine: its runs use our clock.
 *
 * The rows are placed around the real time, which PostgreSQL's clock (on this host) agrees with.
 */
import type { Kysely } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanupTokensCommand, startTokenCleanup } from '../../src/auth/index.js';
import { REVOKE_MARGIN_MS } from '../../src/auth/repository.js';
import type { Clock } from '../../src/core/clock.js';
import { createMemoryStore } from '../../src/store/memory/index.js';
import { createDatabase, migrateToLatest } from '../../src/sql/index.js';
import type { DatabaseSchema } from '../../src/sql/schema.js';
import { createTestSchema, postgresAvailability } from '../../src/sql/test-postgres.js';
import { eachEngine } from './harness.js';
import { waitUntil } from '../helpers/wait-until.js';

const MINUTE = 60_000;
const DAY = 1440 * MINUTE;

/** The system clock moved by `offsetMs`: a host whose clock is that far off. */
const offBy = (offsetMs: number): Clock => ({ now: () => Date.now() + offsetMs });

/**
 * Three access tokens (live, ended an hour ago, ended 4 minutes ago: within the margin), two refresh
 * tokens (live, ended an hour ago), three reset tokens (live, expired an hour ago, a minute ago).
 */
async function seed(db: Kysely<DatabaseSchema>): Promise<void> {
  const real = Date.now();
  await db.insertInto('users').values({ id: 'u1', email: 'ada@example.com', password_hash: 'h', name: null, created_at: real, updated_at: real }).execute();
  const token = { user_id: 'u1', family_id: 'f1', created_at: real - DAY, revoked_at: null };
  await db
    .insertInto('access_tokens')
    .values([
      { ...token, id: 'a-live', token_hash: 'a1', expires_at: real + 15 * MINUTE },
      { ...token, id: 'a-ended', token_hash: 'a2', expires_at: real - 60 * MINUTE },
      { ...token, id: 'a-within-margin', token_hash: 'a3', expires_at: real - 4 * MINUTE },
    ])
    .execute();
  const refresh = { ...token, parent_id: null, used_at: null };
  await db
    .insertInto('refresh_tokens')
    .values([
      { ...refresh, id: 'r-live', token_hash: 'r1', expires_at: real + 7 * DAY, family_expires_at: real + 30 * DAY },
      { ...refresh, id: 'r-ended', token_hash: 'r2', expires_at: real - 60 * MINUTE, family_expires_at: real + 29 * DAY },
    ])
    .execute();
  const reset = { user_id: 'u1', used_at: null, created_at: real - 2 * 60 * MINUTE };
  await db
    .insertInto('password_resets')
    .values([
      { ...reset, token_hash: 'p-live', expires_at: real + 30 * MINUTE },
      { ...reset, token_hash: 'p-ended', expires_at: real - 60 * MINUTE },
      { ...reset, token_hash: 'p-within-margin', expires_at: real - MINUTE },
    ])
    .execute();
}

async function left(db: Kysely<DatabaseSchema>): Promise<string[]> {
  const access = await db.selectFrom('access_tokens').select('id').execute();
  const refresh = await db.selectFrom('refresh_tokens').select('id').execute();
  const resets = await db.selectFrom('password_resets').select('token_hash as id').execute();
  return [...access, ...refresh, ...resets].map((r) => r.id).sort();
}

const EVERYTHING = ['a-ended', 'a-live', 'a-within-margin', 'p-ended', 'p-live', 'p-within-margin', 'r-ended', 'r-live'];
const LIVE_AND_WITHIN_MARGIN = ['a-live', 'a-within-margin', 'p-live', 'p-within-margin', 'r-live'];

eachEngine('token clean-up against the database clock', (engine) => {
  let db: Kysely<DatabaseSchema>;
  let drop: () => Promise<void>;
  beforeEach(async () => {
    ({ db, drop } = await engine.open());
    await seed(db);
  });
  afterEach(async () => {
    await db.destroy();
    await drop();
  });

  const cleanupWith = (clock: Clock, onError?: (error: unknown) => void) =>
    startTokenCleanup({ db, store: createMemoryStore({ clock }), clock, intervalMs: 0, onError });

  it('with a correct clock deletes exactly what ended more than the margin ago (reset tokens too)', async () => {
    const cleanup = cleanupWith(offBy(0));
    expect(await cleanup.runNow()).toEqual({ accessTokens: 1, refreshTokens: 1, passwordResets: 1 });
    expect(await left(db)).toEqual(LIVE_AND_WITHIN_MARGIN);
    await cleanup.stop();
  });

  if (engine.name === 'postgres') {
    it('a day ahead: deletes nothing and says how far the clocks are apart', async () => {
      const cleanup = cleanupWith(offBy(DAY));
      await expect(cleanup.runNow()).rejects.toThrow(
        /^this machine's clock is 8640\d s ahead of the database; clean-up skipped, nothing deleted \(past 300 s apart it could delete tokens still live\): sync the clocks with NTP$/,
      );
      expect(await left(db)).toEqual(EVERYTHING);
      await cleanup.stop();
    });

    it('eight days ahead (refresh tokens too) and a day behind: deletes nothing', async () => {
      for (const [offset, words] of [[8 * DAY, /69120\d s ahead of the database/], [-DAY, /8640\d s behind the database/]] as const) {
        const cleanup = cleanupWith(offBy(offset));
        await expect(cleanup.runNow()).rejects.toThrow(words);
        await cleanup.stop();
      }
      expect(await left(db)).toEqual(EVERYTHING);
    });

    it('ahead by less than the margin: deletes by the database clock, the earlier one', async () => {
      // On its own clock (4 minutes ahead) it deleted the access token 4 minutes past its end and the reset a minute past.
      const cleanup = cleanupWith(offBy(REVOKE_MARGIN_MS - MINUTE));
      expect(await cleanup.runNow()).toEqual({ accessTokens: 1, refreshTokens: 1, passwordResets: 1 });
      expect(await left(db)).toEqual(LIVE_AND_WITHIN_MARGIN);
      await cleanup.stop();
    });

    it('the timer reports a skipped run through onError and leaves the lease to an instance whose clock is right', async () => {
      const store = createMemoryStore();
      const errors: unknown[] = [];
      const ahead = startTokenCleanup({ db, store, clock: offBy(DAY), intervalMs: DAY, firstRunAfterMs: 1, onError: (e) => errors.push(e) });
      await waitUntil('the skipped run to be reported', () => errors.length === 1, { seen: () => errors });
      await ahead.stop();
      expect(String(errors[0])).toMatch(/^Error: this machine's clock is 8640\d s ahead of the database; clean-up skipped/);
      expect(await left(db)).toEqual(EVERYTHING);
      const right = startTokenCleanup({ db, store, intervalMs: DAY });
      expect(await right.runNow()).toEqual({ accessTokens: 1, refreshTokens: 1, passwordResets: 1 });
      await right.stop();
    });
  } else {
    it('on SQLite runs by this machine\'s clock, as before (the file is on this machine)', async () => {
      const cleanup = cleanupWith(offBy(DAY));
      expect(await cleanup.runNow()).toEqual({ accessTokens: 3, refreshTokens: 1, passwordResets: 3 });
      expect(await left(db)).toEqual(['r-live']);
      await cleanup.stop();
    });
  }
});

const pg = await postgresAvailability();

describe.skipIf(pg.state !== 'up')('livecomponents tokens:cleanup against the PostgreSQL clock', () => {
  let url: string;
  let drop: () => Promise<void>;
  beforeEach(async () => {
    ({ url, drop } = await createTestSchema('cleanup_skew'));
    const db = createDatabase(url);
    await migrateToLatest(db);
    await seed(db);
    await db.destroy();
  });
  afterEach(async () => {
    await drop();
  });

  it('a day ahead: exits 1 with the skew, deletes nothing; with the right clock deletes exactly the dead rows', async () => {
    const err: string[] = [];
    expect(await cleanupTokensCommand({ DATABASE_URL: url }, { clock: offBy(DAY), err: (l) => err.push(l) })).toBe(1);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(/^tokens:cleanup: postgres:\/\/127\.0\.0\.1(:5432)?\/test\S*: this machine's clock is 8640\d s ahead of the database; clean-up skipped/);
    const out: string[] = [];
    expect(await cleanupTokensCommand({ DATABASE_URL: url }, { out: (l) => out.push(l) })).toBe(0);
    expect(out[0]).toMatch(/^tokens:cleanup: deleted 1 access tokens and sign-ins, 1 refresh tokens, 1 password resets from /);
    const db = createDatabase(url);
    expect(await left(db)).toEqual(LIVE_AND_WITHIN_MARGIN);
    await db.destroy();
  });
});
