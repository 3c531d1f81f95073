/**
 * `revoke-sessions` while the app serves:
 * - PostgreSQL: refresh tokens rotating in a loop while `--user` runs. Each rotation either committed
 *   before the user's revocation (its successor is revoked with the rest) or finds its token revoked,
 *   so when every loop has stopped no token of the user is live. A bulk UPDATE that did not take the
 *   user's lock first missed successors committed while it ran (READ COMMITTED).
 * - SQLite (the embedded default, one file shared with the app's store): writes of other data made
 *   while `--all` walks 1,200 sessions in pieces all succeed and all stay (no lost write, no write
 *   refused for the lock), and every session from before the run is gone.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createAuthRepository } from '../auth/repository.js';
import { hashToken } from '../auth/tokens.js';
import { memorySecurityEvents } from '../ops/security-events.js';
import { createDatabase } from '../sql/database.js';
import { migrateToLatest } from '../sql/migrate.js';
import { createTestSchema, postgresAvailability, warnSkipped } from '../sql/test-postgres.js';
import { createSessionManager } from '../session/index.js';
import { storeKeys } from '../store/keys.js';
import { createSqliteStore } from '../store/sqlite/index.js';
import { waitUntil } from '../../test/helpers/wait-until.js';
import { revokeSessions } from './revoke-sessions.js';

const HOUR = 3_600_000;
const dir = mkdtempSync(join(tmpdir(), 'lc-revoke-race-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const availability = await postgresAvailability();
if (availability.state === 'fail') throw new Error(availability.reason);
if (availability.state === 'skip') warnSkipped('revoke-sessions during rotations (PostgreSQL)', availability.reason);

const quiet = (env: Record<string, string>) => ({ env, out: () => undefined, err: () => undefined, events: memorySecurityEvents() });

describe.skipIf(availability.state !== 'up')('revoke-sessions --user during rotations (PostgreSQL)', () => {
  it('leaves no live token of the user once every rotation loop has stopped', { timeout: 120_000 }, async () => {
    const schema = await createTestSchema('revoke_race');
    const db = createDatabase(schema.url);
    try {
      await migrateToLatest(db);
      // The app's working directory, with its embedded key-value store (PostgreSQL without Redis).
      const appDir = mkdtempSync(join(dir, 'app-'));
      const kv = createDatabase(`sqlite:${join(appDir, 'data', 'livecomponents.db')}`);
      await migrateToLatest(kv);
      await kv.destroy();
      const repo = createAuthRepository(db);
      const user = await repo.insertUser({ email: 'ada@example.com', passwordHash: 'hash', name: null }, Date.now());
      if (user === 'taken') throw new Error('taken');
      let serial = 0;
      const grant = (family: string, parentId: string | null) => {
        const n = serial++;
        const now = Date.now();
        return {
          token: `refresh-${n}`,
          grant: {
            userId: user.id,
            familyId: family,
            accessHash: hashToken(`access-${n}`),
            accessExpiresAt: now + HOUR,
            refreshHash: hashToken(`refresh-${n}`),
            refreshExpiresAt: now + HOUR,
            familyExpiresAt: now + HOUR,
            parentId,
          },
        };
      };
      let rotations = 0;
      /** One sign-in rotating its refresh token until a rotation is refused. */
      const loop = async (family: string): Promise<void> => {
        const first = grant(family, null);
        expect(await repo.createGrant(first.grant, Date.now(), 'hash')).toBe(true);
        let token = first.token;
        for (let i = 0; i < 5_000; i++) {
          let next = '';
          const row = await repo.rotateRefresh(hashToken(token), Date.now(), (r) => {
            const made = grant(family, r.id);
            next = made.token;
            return made.grant;
          });
          if (row === null) return;
          rotations++;
          token = next;
        }
        throw new Error('the rotations never stopped: the revocation missed a successor');
      };
      const loops = Promise.all(['f1', 'f2', 'f3', 'f4'].map(loop));
      await waitUntil('the loops to have rotated', () => rotations >= 20);
      expect(await revokeSessions({ user: 'ada@example.com' }, { ...quiet({ DATABASE_URL: schema.url }), cwd: appDir })).toBe(0);
      await loops;
      const live = await db.selectFrom('refresh_tokens').select('id').where('user_id', '=', user.id).where('revoked_at', 'is', null).execute();
      const liveAccess = await db.selectFrom('access_tokens').select('id').where('user_id', '=', user.id).where('revoked_at', 'is', null).execute();
      expect([live.length, liveAccess.length]).toEqual([0, 0]);
    } finally {
      await db.destroy();
      await schema.drop();
    }
  });
});

describe('revoke-sessions --all while the app writes to the same SQLite file', () => {
  it('loses no other write and refuses none; ends every session from before the run', { timeout: 120_000 }, async () => {
    const path = join(dir, 'app.db');
    const store = await createSqliteStore({ url: `sqlite:${path}`, sweepIntervalMs: 0 });
    try {
      const sessions = createSessionManager({ store });
      const before: string[] = [];
      for (let i = 0; i < 1_200; i++) before.push((await sessions.create()).key);
      let done = false;
      const written: string[] = [];
      /** The app meanwhile: rate-limit state and idempotency records, one write after the other. */
      const writer = (async () => {
        for (let i = 0; !done; i++) {
          const key = i % 2 === 0 ? storeKeys.rateLimit(`ip:198.51.100.${i}`, 'counter', 'increment') : storeKeys.idempotency(`u:${i}`, `key-${i}`);
          await store.set(key, `value-${i}`, HOUR);
          written.push(key);
        }
      })();
      const code = await revokeSessions({ all: true }, quiet({ DATABASE_URL: `sqlite:${path}` }));
      done = true;
      await writer;
      expect(code).toBe(0);
      expect(written.length).toBeGreaterThan(0);
      const values = await Promise.all(written.map((key) => store.get(key)));
      expect(values.filter((v) => v === null)).toEqual([]);
      const left = await Promise.all(before.map((key) => store.get(storeKeys.session(key))));
      expect(left.filter((v) => v !== null)).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
