/**
 * `revoke-sessions` counts only what is there when it looks: component states and CSRF nonces that
 * go (expire, or are deleted with their session) while the run walks the store are not counted as
 * ended or deleted, by the dry run or the run, on each store the sessions can be in.
 * - SQLite (the `DATABASE_URL` file, or beside PostgreSQL the embedded store): rows that expire after
 *   the walk's first piece was read. The walk read every piece at the time its stage began, so a state
 *   or nonce expired since was counted (and the run's count was of its read, not of its DELETE).
 * - Redis: keys deleted between the SCAN that listed them and the GETs that follow. The dry run
 *   counted every state and nonce SCAN listed, though UNLINK would find nothing.
 * No timing: the clock is the test's (it moves on after the first piece's read), and the deletes are
 * made by a client wrapper right after SCAN answers.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { Kysely } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { memorySecurityEvents } from '../ops/security-events.js';
import { createDatabase } from '../sql/database.js';
import { migrateToLatest } from '../sql/migrate.js';
import type { DatabaseSchema } from '../sql/schema.js';
import { createTestSchema, postgresAvailability, warnSkipped } from '../sql/test-postgres.js';
import { REDIS_AVAILABLE, useRedisServer } from '../../test/redis/server.js';
import { endRedisSessions } from './revoke-sessions-redis.js';
import type { SessionTarget } from './revoke-sessions-session-keys.js';
import { SQLITE_PIECE } from './revoke-sessions-sqlite.js';
import { revokeSessions } from './revoke-sessions.js';
import { printedCounts as counts } from '../../test/scale/revoke-sessions.js';

const HOUR = 3_600_000;
const dir = mkdtempSync(join(tmpdir(), 'lc-revoke-vanishing-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const availability = await postgresAvailability();
if (availability.state === 'fail') throw new Error(availability.reason);
if (availability.state === 'skip') warnSkipped('revoke-sessions vanishing keys (PostgreSQL with the embedded store)', availability.reason);

/** Anonymous sessions filling the first piece exactly (a record and a state each), all live for an hour. */
const FIRST_PIECE_SESSIONS = SQLITE_PIECE / 2;
/** Signed-in sessions after them, in the second piece: the record lives, the state and nonce expire in 30 s. */
const LATE_SESSIONS = 10;

/** Writes the sessions into `lc_kv` of `kv`, with expiries relative to `start`. */
async function writeSessions(kv: Kysely<DatabaseSchema>, start: number): Promise<void> {
  const rows: { key: string; value: string; expires_at: number }[] = [];
  for (let i = 0; i < FIRST_PIECE_SESSIONS; i++) {
    const s = `a${String(i).padStart(3, '0')}`;
    rows.push({ key: `lc:{s:${s}}:session`, value: '{"u":null}', expires_at: start + HOUR });
    rows.push({ key: `lc:{s:${s}}:state:counter:main`, value: 'sealed', expires_at: start + HOUR });
  }
  for (let i = 0; i < LATE_SESSIONS; i++) {
    const s = `b${String(i).padStart(3, '0')}`;
    rows.push({ key: `lc:{s:${s}}:csrf:n${i}`, value: '1', expires_at: start + 30_000 });
    rows.push({ key: `lc:{s:${s}}:session`, value: '{"u":"u1/w1"}', expires_at: start + HOUR });
    rows.push({ key: `lc:{s:${s}}:state:counter:main`, value: 'sealed', expires_at: start + 30_000 });
  }
  await kv.insertInto('lc_kv').values(rows).execute();
}

/**
 * Runs `revoke-sessions --all` with a clock that reads `start` until the sessions' walk has read once
 * (its first piece), then a minute later: the late states and nonces have expired by the second piece.
 */
async function runAcrossExpiry(env: Record<string, string>, cwd: string | undefined, start: number, dryRun: boolean) {
  const out: string[] = [];
  let sessionReads: number | undefined;
  const clock = {
    now: () => {
      if (sessionReads === undefined) return start;
      sessionReads++;
      return sessionReads === 1 ? start : start + 60_000;
    },
  };
  const onLine = (line: string) => {
    out.push(line);
    // The tokens' last line: what the clock is asked next is the sessions' walk's.
    if (line.startsWith('revoke-sessions: password reset tokens:')) sessionReads = 0;
  };
  const code = await revokeSessions({ all: true, dryRun }, { env, cwd, clock, out: onLine, err: () => undefined, events: memorySecurityEvents() });
  return { code, counts: counts(out) };
}

/** What both runs must print: the late sessions' records, not their expired states and nonces. */
const EXPECTED = {
  'sessions signed in': LATE_SESSIONS,
  'sessions anonymous': FIRST_PIECE_SESSIONS,
  'component states': FIRST_PIECE_SESSIONS,
  'csrf nonces': 0,
};

/** The dry run, then the run, on the store `kv`; what is left in it after. */
async function dryRunThenRun(kv: Kysely<DatabaseSchema>, env: Record<string, string>, cwd: string | undefined): Promise<void> {
  const start = Date.now();
  await writeSessions(kv, start);
  const dry = await runAcrossExpiry(env, cwd, start, true);
  expect([dry.code, dry.counts]).toEqual([0, expect.objectContaining(EXPECTED)]);
  const run = await runAcrossExpiry(env, cwd, start, false);
  expect([run.code, run.counts]).toEqual([0, expect.objectContaining(EXPECTED)]);
  // The expired rows are left to the store's sweep: the run deleted, and counted, only live ones.
  const left = await kv.selectFrom('lc_kv').select('key').where('key', 'like', 'lc:{s:%').orderBy('key').execute();
  expect(left.length).toBe(2 * LATE_SESSIONS);
  expect(left.every((row) => /:(state|csrf):/.test(row.key))).toBe(true);
}

describe('revoke-sessions on SQLite: states and nonces expiring while the walk goes on', () => {
  it('the SQLite file: dry run and run count what each piece read live, and the run what it deleted', async () => {
    const path = join(dir, 'file.db');
    const db = createDatabase(`sqlite:${path}`);
    try {
      await migrateToLatest(db);
      await dryRunThenRun(db, { DATABASE_URL: `sqlite:${path}` }, undefined);
    } finally {
      await db.destroy();
    }
  });

  it.skipIf(availability.state !== 'up')('PostgreSQL with the embedded store: the same counts', { timeout: 60_000 }, async () => {
    const schema = await createTestSchema('revoke_vanishing');
    const db = createDatabase(schema.url);
    const appDir = mkdtempSync(join(dir, 'app-'));
    mkdirSync(join(appDir, 'data'));
    const kv = createDatabase(`sqlite:${join(appDir, 'data', 'livecomponents.db')}`);
    try {
      await migrateToLatest(db);
      await migrateToLatest(kv);
      await dryRunThenRun(kv, { DATABASE_URL: schema.url }, appDir);
    } finally {
      await kv.destroy();
      await db.destroy();
      await schema.drop();
    }
  });
});

/** `client`, but its `after`-th SCAN (1: the first) deletes `gone` before its answer is returned. */
function deletingAfterScan(client: Redis, after: number, gone: readonly string[]): Redis {
  let scans = 0;
  return new Proxy(client, {
    get(target, property) {
      if (property === 'scan') {
        return async (...args: Parameters<Redis['scan']>) => {
          const answer = await target.scan(...args);
          if (++scans === after && gone.length > 0) await target.del(...gone);
          return answer;
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

describe.skipIf(!REDIS_AVAILABLE)('revoke-sessions on Redis: keys deleted between SCAN and the reads', () => {
  const redis = useRedisServer();
  const PREFIX = 'v:';
  /** User u1 and one browser sign-in of it, as the auth module names them (UUIDs: anything else is no sign-in of u1). */
  const U1 = '11111111-1111-4111-8111-111111111111';
  const W1 = '22222222-2222-4222-8222-222222222222';
  /** Two sessions: `a` anonymous (record, state, nonce), `b` of user u1 (record, state, two nonces). */
  const KEYS = {
    aRecord: `${PREFIX}lc:{s:a}:session`,
    aState: `${PREFIX}lc:{s:a}:state:counter:main`,
    aNonce: `${PREFIX}lc:{s:a}:csrf:n1`,
    bRecord: `${PREFIX}lc:{s:b}:session`,
    bState: `${PREFIX}lc:{s:b}:state:counter:main`,
    bNonce1: `${PREFIX}lc:{s:b}:csrf:n1`,
    bNonce2: `${PREFIX}lc:{s:b}:csrf:n2`,
  };
  const write = async (admin: Redis) => {
    await admin.flushdb();
    await admin.set(KEYS.aRecord, '{"u":null}', 'PX', HOUR);
    await admin.set(KEYS.bRecord, JSON.stringify({ u: `${U1}/${W1}` }), 'PX', HOUR);
    for (const key of [KEYS.aState, KEYS.aNonce, KEYS.bState, KEYS.bNonce1, KEYS.bNonce2]) await admin.set(key, 'sealed', 'PX', HOUR);
  };
  const sessionKeys = async (admin: Redis) => (await admin.keys(`${PREFIX}lc:{s:*`)).sort();

  const cases: { name: string; target: SessionTarget; scan: number; expected: Record<string, number>; left: string[] }[] = [
    {
      name: '--all',
      target: { all: true },
      scan: 1,
      expected: { signedIn: 1, anonymous: 1, componentStates: 1, csrfNonces: 2 },
      left: [],
    },
    {
      // The user's walk SCANs first (records), the deleting walk second.
      name: '--user',
      target: { all: false, userId: U1 },
      scan: 2,
      expected: { signedIn: 1, anonymous: 0, componentStates: 0, csrfNonces: 1 },
      left: [KEYS.aNonce, KEYS.aRecord, KEYS.aState],
    },
  ];

  it('an ACL user without EXISTS: the dry run is refused before it counts (exit 1, naming +exists); the run, which sends none, goes on', async () => {
    const path = join(dir, 'acl.db');
    const db = createDatabase(`sqlite:${path}`);
    try {
      await migrateToLatest(db);
      const admin = redis.adminOf(8);
      await admin.call('ACL', 'SETUSER', 'no-exists', 'on', '>secret-pw', '~*', '&*', '+@all', '-exists');
      await admin.set(KEYS.aRecord, '{"u":null}', 'PX', HOUR);
      const env = { DATABASE_URL: `sqlite:${path}`, REDIS_URL: redis.urlOf(8).replace('redis://', 'redis://no-exists:secret-pw@'), REDIS_KEY_PREFIX: PREFIX };
      const run = async (dryRun: boolean) => {
        const out: string[] = [];
        const err: string[] = [];
        const code = await revokeSessions({ all: true, dryRun }, { env, out: (l) => out.push(l), err: (l) => err.push(l), events: memorySecurityEvents() });
        return { code, out, err, counts: counts(out) };
      };
      const dry = await run(true);
      expect([dry.code, dry.out]).toEqual([1, []]);
      expect(dry.err).toEqual([expect.stringMatching(/^revoke-sessions: redis:\/\/127\.0\.0\.1:\d+\/8: NOPERM .*'exists'.*: a dry run looks for each session key it counts with EXISTS \(grant the ACL user \+exists on the app's keys\); nothing was changed$/)]);
      const done = await run(false);
      expect([done.code, done.err, done.counts['sessions anonymous']]).toEqual([0, [], 1]);
      expect(await admin.exists(KEYS.aRecord)).toBe(0);
    } finally {
      await db.destroy();
    }
  });

  for (const { name, target, scan, expected, left } of cases) {
    it(`${name}: a state and a nonce gone after SCAN listed them are counted by neither the dry run nor the run`, async () => {
      const admin = redis.adminOf(7);
      // With --user, a is not the user's and stays whole.
      const gone = target.all ? [KEYS.aState, KEYS.bNonce1] : [KEYS.bState, KEYS.bNonce1];
      await write(admin);
      const dry = await endRedisSessions(deletingAfterScan(admin, scan, gone), PREFIX, target, true);
      expect(dry).toEqual(expected);
      await write(admin);
      const run = await endRedisSessions(deletingAfterScan(admin, scan, gone), PREFIX, target, false);
      expect(run).toEqual(expected);
      expect(await sessionKeys(admin)).toEqual([...left].sort());
    });
  }
});
