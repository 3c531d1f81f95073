/**
 * `endSqliteDevices --all` pages through `lc_kv` in pieces of 200 rows: the SQL narrows to the
 * account family and `LIKE '%:auth:devices'` (case-insensitive in SQLite), then a stricter pattern
 * keeps the trusted-device lists. It stopped paging on the count that pattern kept: a full page with
 * one row filtered out looked like the last page, and every list after it was left — here 2 odd keys
 * sorted first and 250 lists: 198 forgotten, 52 left. Paging now goes by the rows read.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { authKeys, deviceDigest } from '../auth/keys.js';
import { createDatabase } from '../sql/database.js';
import { migrateToLatest } from '../sql/migrate.js';
import { createSqliteStore } from '../store/sqlite/index.js';
import { memorySecurityEvents } from '../ops/security-events.js';
import { endSqliteDevices } from './revoke-sessions-devices.js';
import { revokeSessions } from './revoke-sessions.js';

const HOUR = 3_600_000;
const dir = mkdtempSync(join(tmpdir(), 'lc-revoke-devices-paging-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('--all forgets every list past a page with rows the key pattern filters out: 250 of 250, the odd keys left, dry run = run', async () => {
  const path = join(dir, 'app.db');
  const db = createDatabase(`sqlite:${path}`);
  await migrateToLatest(db);
  const store = await createSqliteStore({ db, sweepIntervalMs: 0 });
  try {
    // Keys of the account family that LIKE matches and the devices pattern does not ('!' sorts
    // before every base64url character): not lists the app reads, so they stay.
    const odd = ['lc:{a:!upper}:AUTH:DEVICES', 'lc:{a:!x}y}:auth:devices'];
    for (const key of odd) await store.set(key, deviceDigest('odd'), HOUR);
    const lists: string[] = [];
    for (let i = 0; i < 250; i++) {
      const key = authKeys.devices(`user${i}@example.com`);
      lists.push(key);
      await store.set(key, `${deviceDigest(`a${i}`)} ${deviceDigest(`b${i}`)}`, HOUR);
    }
    const now = Date.now();
    expect(await endSqliteDevices(db, { all: true }, { now: () => now }, true)).toEqual({ accounts: 250, devices: 500 });
    expect((await Promise.all(lists.map((key) => store.get(key)))).filter((v) => v === null)).toHaveLength(0);

    const out: string[] = [];
    const code = await revokeSessions({ all: true }, { env: { DATABASE_URL: `sqlite:${path}` }, out: (l) => out.push(l), err: () => undefined, events: memorySecurityEvents() });
    expect(code).toBe(0);
    expect(out).toContain('revoke-sessions: trusted devices of 250 accounts: 500 forgotten');
    expect((await Promise.all(lists.map((key) => store.get(key)))).filter((v) => v !== null)).toHaveLength(0);
    for (const key of odd) expect(await store.get(key)).toBe(deviceDigest('odd'));
  } finally {
    await store.close();
    await db.destroy();
  }
});
