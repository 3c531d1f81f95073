/**
 * `revoke-sessions` on SQLite counts only the trusted-device lists live when each piece of its walk
 * reads: the walk read every piece at the time the devices' stage began, so a list that expired while
 * it went on (the app reads it as absent, the sweep deletes it) was counted by the dry run and the run,
 * and the run's count was of the rows its read listed, not those its DELETE removed. As for the
 * sessions (revoke-sessions-vanishing.test.ts). No timing: the test's clock moves on after the
 * devices' first piece has read. The printed counts and the security event's summary are the same.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { memorySecurityEvents } from '../ops/security-events.js';
import { createDatabase } from '../sql/database.js';
import { migrateToLatest } from '../sql/migrate.js';
import { SQLITE_PIECE } from './revoke-sessions-sqlite.js';
import { revokeSessions } from './revoke-sessions.js';

const HOUR = 3_600_000;
const dir = mkdtempSync(join(tmpdir(), 'lc-revoke-devices-expiry-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Lists filling the devices' first piece exactly, two devices each, live for an hour. */
const FIRST_PIECE_LISTS = SQLITE_PIECE;
/** Lists after them (second piece), three devices each, expiring in 30 s. */
const LATE_LISTS = 10;

/**
 * Runs `revoke-sessions --all` with a clock that reads `start` until the devices' walk has read once
 * (its first piece), then a minute later: the late lists have expired by the second piece.
 */
async function runAcrossExpiry(path: string, start: number, dryRun: boolean) {
  const out: string[] = [];
  let devicesReads: number | undefined;
  const clock = {
    now: () => {
      if (devicesReads === undefined) return start;
      devicesReads++;
      return devicesReads === 1 ? start : start + 60_000;
    },
  };
  const onLine = (line: string) => {
    out.push(line);
    // The sessions' last line: what the clock is asked next is the devices' walk's.
    if (line.startsWith('revoke-sessions: csrf nonces:')) devicesReads = 0;
  };
  const events = memorySecurityEvents();
  const code = await revokeSessions({ all: true, dryRun }, { env: { DATABASE_URL: `sqlite:${path}` }, clock, out: onLine, err: () => undefined, events });
  return {
    code,
    devices: out.filter((line) => line.startsWith('revoke-sessions: trusted devices')),
    summaries: events.events.map((event) => /, (\d+ trusted devices forgotten)$/.exec(event.description)?.[1]),
  };
}

it('SQLite --all: a list expired since the walk began is counted by neither the dry run nor the run, and left to the sweep; the event says the printed count', async () => {
  const path = join(dir, 'app.db');
  const db = createDatabase(`sqlite:${path}`);
  try {
    await migrateToLatest(db);
    const start = Date.now();
    const rows: { key: string; value: string; expires_at: number }[] = [];
    for (let i = 0; i < FIRST_PIECE_LISTS; i++) rows.push({ key: `lc:{a:a${String(i).padStart(3, '0')}}:auth:devices`, value: `d${i} e${i}`, expires_at: start + HOUR });
    for (let i = 0; i < LATE_LISTS; i++) rows.push({ key: `lc:{a:b${String(i).padStart(3, '0')}}:auth:devices`, value: `d${i} e${i} f${i}`, expires_at: start + 30_000 });
    await db.insertInto('lc_kv').values(rows).execute();

    const dry = await runAcrossExpiry(path, start, true);
    expect(dry).toEqual({ code: 0, devices: [`revoke-sessions: trusted devices of ${FIRST_PIECE_LISTS} accounts: ${2 * FIRST_PIECE_LISTS} would be forgotten`], summaries: [] });
    const run = await runAcrossExpiry(path, start, false);
    expect(run).toEqual({
      code: 0,
      devices: [`revoke-sessions: trusted devices of ${FIRST_PIECE_LISTS} accounts: ${2 * FIRST_PIECE_LISTS} forgotten`],
      summaries: [`${2 * FIRST_PIECE_LISTS} trusted devices forgotten`],
    });
    // The expired lists are the sweep's: the run deleted, and counted, only live ones.
    const left = await db.selectFrom('lc_kv').select('key').where('key', 'like', 'lc:{a:%').orderBy('key').execute();
    expect(left.map((row) => row.key)).toEqual(rows.slice(FIRST_PIECE_LISTS).map((row) => row.key));
  } finally {
    await db.destroy();
  }
});
