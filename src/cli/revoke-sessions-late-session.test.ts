/**
 * What `revoke-sessions` leaves of a browser sign-in racing it, step by step (no timing): the sign-in
 * is committed in the database before the run (`startWebSession`, src/auth/service.ts), and the app
 * writes its session to the store after the run's walk (`switchSession`, src/auth/web.ts), and its
 * trusted device after the run forgot the account's (`rememberDevice`). What this pins, as
 * docs/deployment.md §8 says it: the sign-in is counted revoked, the session is not counted, its record
 * stays naming the sign-in, and it is no sign-in — `resolveUser` (what the runtime asks on every
 * request) finds nobody; the device list written late stays; a second run ends the record.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { createAccounts } from '../auth/accounts.js';
import { authKeys, deviceDigest } from '../auth/keys.js';
import { createAuthRepository } from '../auth/repository.js';
import { hashToken } from '../auth/tokens.js';
import { memorySecurityEvents } from '../ops/security-events.js';
import { createSessionManager } from '../session/index.js';
import { createDatabase } from '../sql/database.js';
import { migrateToLatest } from '../sql/migrate.js';
import { storeKeys } from '../store/keys.js';
import { createSqliteStore } from '../store/sqlite/index.js';
import { revokeSessions } from './revoke-sessions.js';
import { printedCounts as counts } from '../../test/scale/revoke-sessions.js';

const HOUR = 3_600_000;
const dir = mkdtempSync(join(tmpdir(), 'lc-revoke-late-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('a sign-in committed before the run whose session is written after its walk: counted revoked, its record left and signed out; a second run ends it', async () => {
  const path = join(dir, 'app.db');
  const db = createDatabase(`sqlite:${path}`);
  await migrateToLatest(db);
  const store = await createSqliteStore({ db, sweepIntervalMs: 0 });
  try {
    const repo = createAuthRepository(db);
    const accounts = createAccounts({ db });
    const row = await repo.insertUser({ email: 'ada@example.com', passwordHash: 'hash', name: null }, Date.now());
    if (row === 'taken') throw new Error('taken');
    const run = async () => {
      const out: string[] = [];
      const code = await revokeSessions({ user: 'ada@example.com' }, { env: { DATABASE_URL: `sqlite:${path}` }, out: (l) => out.push(l), err: () => undefined, events: memorySecurityEvents() });
      return { code, counts: counts(out) };
    };

    // The sign-in's commit (startWebSession), then the run, then the session's and the device's writes.
    const web = (await repo.createWebSession(row.id, hashToken('web-late'), Date.now(), Date.now() + HOUR, 'hash')) as string;
    const first = await run();
    const session = await createSessionManager({ store }).regenerate(null, `${row.id}/${web}`);
    await store.set(authKeys.devices('ada@example.com'), deviceDigest('late-browser'), HOUR);

    expect(first.code).toBe(0);
    expect(first.counts).toMatchObject({ 'browser sign-ins': 1, 'sessions signed in': 0, 'sessions anonymous': 0 });
    const record = await store.get(storeKeys.session(session.key));
    expect(record === null ? null : (JSON.parse(record) as { u: unknown }).u).toBe(`${row.id}/${web}`);
    // The runtime's user for that session: nobody.
    expect(await accounts.resolveUser(`${row.id}/${web}`)).toBeNull();
    expect(await store.get(authKeys.devices('ada@example.com'))).toBe(deviceDigest('late-browser'));

    const second = await run();
    expect(second.code).toBe(0);
    expect(second.counts).toMatchObject({ 'browser sign-ins': 0, 'sessions signed in': 1 });
    expect(await store.get(storeKeys.session(session.key))).toBeNull();
    expect(await store.get(authKeys.devices('ada@example.com'))).toBeNull();
  } finally {
    await store.close();
    await db.destroy();
  }
});
