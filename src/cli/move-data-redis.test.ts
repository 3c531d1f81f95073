/**
 * missingMarkNote: why Redis had no completion mark for a key-value part the file marks as moved, as
 * far as a re-run can tell from the file alone — a mark written with the file's would last until the
 * file's last record expires, a day at least: before that, a run stopped (or Redis lost it); from then
 * on, it may simply have expired.
 */
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { missingMarkNote } from './move-data-redis.js';

const HOUR = 3_600_000;
const MOVED_AT = Date.parse('2026-03-01T10:00:00.000Z');
const STOPPED = `none was there, though one written with the file's mark at 2026-03-01T10:00:00.000Z would last until`;
const EXPIRED = `none was there; one written with the file's mark at 2026-03-01T10:00:00.000Z would have expired at`;

describe('missingMarkNote', () => {
  let file: BetterSqlite3.Database;
  beforeEach(() => {
    file = new BetterSqlite3(':memory:');
    file.exec('CREATE TABLE lc_kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at INTEGER NOT NULL)');
  });
  afterEach(() => file.close());

  it('a day after the move at least: before it, a run stopped or Redis lost the mark; from it on, expired or never written', () => {
    file.prepare('INSERT INTO lc_kv VALUES (?, ?, ?)').run('lc:{s:a}:session', '{}', MOVED_AT + HOUR);
    const justBefore = missingMarkNote(file, '2026-03-01T10:00:00.000Z', MOVED_AT + 24 * HOUR - 1);
    expect(justBefore).toBe(
      `${STOPPED} 2026-03-02T10:00:00.000Z: the run that copied the key-value records stopped before writing it, or Redis lost it since (deleted, evicted, or restarted without its data)`,
    );
    expect(missingMarkNote(file, '2026-03-01T10:00:00.000Z', MOVED_AT + 24 * HOUR)).toBe(
      `${EXPIRED} 2026-03-02T10:00:00.000Z, with the last record moved, so whether the run that copied the key-value records wrote it cannot be told`,
    );
  });

  it('longer when a record of the file outlives the day: until it expires', () => {
    file.prepare('INSERT INTO lc_kv VALUES (?, ?, ?)').run('lc:{s:a}:session', '{}', MOVED_AT + 48 * HOUR);
    expect(missingMarkNote(file, '2026-03-01T10:00:00.000Z', MOVED_AT + 30 * HOUR)).toMatch(new RegExp(`^${escape(STOPPED)} 2026-03-03T10:00:00\\.000Z: `));
    expect(missingMarkNote(file, '2026-03-01T10:00:00.000Z', MOVED_AT + 48 * HOUR)).toMatch(new RegExp(`^${escape(EXPIRED)} 2026-03-03T10:00:00\\.000Z, `));
  });

  it('a mark time it cannot read (a file edited by hand): both causes named, no date made up', () => {
    expect(missingMarkNote(file, 'yesterday', MOVED_AT)).toBe('none was there: the run that copied the key-value records stopped before writing it, or it expired or was deleted since');
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
