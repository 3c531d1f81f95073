/**
 * missingMarkNote: why Redis had no completion mark for a key-value part the file marks as moved, as
 * far as a re-run can tell from the file alone — a mark written with the file's would last until the
 * file's last record expires, a day at least: before that, a run stopped (or Redis lost it); from then
 * on, it may simply have expired.
 */
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SENTINEL_REFUSAL } from '../store/redis/server-mode.js';
import { didNotAnswer, missingMarkNote } from './move-data-redis.js';

const HOUR = 3_600_000;
const MOVED_AT = Date.parse('2026-03-01T10:00:00.000Z');
const STOPPED = `none was there, though one written with the file's mark at 2026-03-01T10:00:00.000Z would last until`;
const BOTH = 'none was there: the run that copied the key-value records stopped before writing it, or it expired or was deleted since';
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
    expect(missingMarkNote(file, 'yesterday', MOVED_AT)).toBe(BOTH);
  });

  it('a mark time Date.parse reads only by guessing (a number, no time zone): both causes named, no date made up; an offset is read', () => {
    file.prepare('INSERT INTO lc_kv VALUES (?, ?, ?)').run('lc:{s:a}:session', '{}', MOVED_AT + HOUR);
    // Date.parse('12') is 2001-12-01: "would have expired at 2001-12-02".
    expect(missingMarkNote(file, '12', MOVED_AT)).toBe(BOTH);
    // Without a zone, the local time of the machine the re-run is on.
    expect(missingMarkNote(file, '2026-03-01 10:00:00', MOVED_AT)).toBe(BOTH);
    expect(missingMarkNote(file, '2026-03-01T11:00:00+01:00', MOVED_AT + HOUR)).toBe(
      `none was there, though one written with the file's mark at 2026-03-01T11:00:00+01:00 would last until 2026-03-02T10:00:00.000Z: the run that copied the key-value records stopped before writing it, or Redis lost it since (deleted, evicted, or restarted without its data)`,
    );
  });

  it('a record whose expires_at no Date holds (a file edited by hand): both causes named, the run not failed', () => {
    // toISOString threw "Invalid time value": the re-run failed before writing the mark it explains.
    file.prepare('INSERT INTO lc_kv VALUES (?, ?, ?)').run('lc:{s:a}:session', '{}', 9e15);
    expect(missingMarkNote(file, '2026-03-01T10:00:00.000Z', MOVED_AT)).toBe(BOTH);
  });
});

describe('didNotAnswer: only silence leaves the completion mark unchecked; an answer is refused', () => {
  const notConnected = (last: string) => `Redis is not connected (reconnecting; last error: ${last}).`;

  it('no connection, no answer within the deadline, loading or busy: did not answer', () => {
    const silent = [
      'Redis did not answer within 10000 ms.',
      'Redis could not be reached.',
      'Redis is not connected (reconnecting).',
      notConnected('connect ECONNREFUSED 127.0.0.1:6379'),
      notConnected('connect ETIMEDOUT'),
      notConnected('read ECONNRESET'),
      notConnected('write EPIPE'),
      notConnected('connect EHOSTUNREACH 10.0.0.9:6379'),
      notConnected('getaddrinfo ENOTFOUND redis.internal'),
      notConnected('getaddrinfo EAI_AGAIN redis.internal'),
      notConnected('Connection is closed.'),
      notConnected('Failed to refresh slots cache. (connect ECONNREFUSED 127.0.0.1:7000)'),
      'Redis failed: LOADING Redis is loading the dataset in memory',
      'Redis failed: BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.',
    ];
    expect(silent.filter((message) => !didNotAnswer(message))).toEqual([]);
  });

  it('a password, an ACL, a replica, a database, a server kind or a TLS scheme refused, or a failure not known: an answer', () => {
    const answers = [
      notConnected('WRONGPASS invalid username-password pair or user is disabled.'),
      notConnected('NOAUTH Authentication required.'),
      notConnected('Failed to refresh slots cache. (WRONGPASS invalid username-password pair or user is disabled.)'),
      "Redis refuses the store's scripts (NOPERM this user has no permissions to run the 'eval' command): the ACL user of REDIS_URL needs EVAL/EVALSHA (+@scripting) and read/write access to the app's keys.",
      "Redis failed: NOPERM this user has no permissions to access one of the keys used as arguments",
      "Redis refuses writes (READONLY You can't write against a read only replica.): REDIS_URL names a replica, as after a failover; point it at the master.",
      "Redis failed: MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
      'Redis refused to select the database of the URL (ERR DB index is out of range); the store stays unavailable rather than use database 0: check the number after the port in REDIS_URL against the databases setting of the server.',
      `${SENTINEL_REFUSAL}; the store stays unavailable.`,
      notConnected('connect ETIMEDOUT (the server did not answer TLS: if it does not use TLS, use redis:// instead of rediss:// in REDIS_URL)'),
      notConnected('read ECONNRESET (the server closed the connection before answering: if it takes only TLS, use rediss:// instead of redis:// in REDIS_URL)'),
      notConnected('self-signed certificate in certificate chain'),
      "Redis failed: ERR unknown command 'evalsha'",
      'The Redis store is closed.',
    ];
    expect(answers.filter((message) => didNotAnswer(message))).toEqual([]);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
