import type BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { manualClock } from '../../core/clock.js';
import { createDatabase, sqliteConnectionOf } from '../../sql/database.js';
import { migrateToLatest } from '../../sql/migrate.js';
import { createSqliteStore } from './index.js';

/** Spies on the sweep's DELETE statement: the rows each run of it deleted. */
function countSweeps(native: BetterSqlite3.Database): number[] {
  const runs: number[] = [];
  const prepare = native.prepare.bind(native);
  native.prepare = ((source: string) => {
    const statement = prepare(source);
    if (!source.startsWith('DELETE FROM lc_kv WHERE key IN')) return statement;
    const run = statement.run.bind(statement);
    statement.run = (...params: unknown[]) => {
      const result = run(...params);
      runs.push(result.changes);
      return result;
    };
    return statement;
  }) as typeof native.prepare;
  return runs;
}

describe('sqlite store sweep', () => {
  it('caps each delete statement by bytes as well as rows: 24 expired values of 2 MiB go 8 per statement', async () => {
    const db = createDatabase('sqlite::memory:');
    await migrateToLatest(db);
    const native = sqliteConnectionOf(db) as BetterSqlite3.Database;
    const runs = countSweeps(native);
    const clock = manualClock();
    const store = await createSqliteStore({ db, clock, sweepIntervalMs: 0 });
    const big = 'b'.repeat(2 * 1_048_576);
    for (let i = 0; i < 24; i++) await store.set(`big-${i}`, big, 1_000);
    await store.set('young', big, 60_000);
    clock.advance(1_000);
    // 16 MiB per statement: the chunk ends with the row that reaches it.
    expect(await store.sweepExpired()).toBe(24);
    expect(runs).toEqual([8, 8, 8]);
    expect(await store.get('young')).toBe(big);
    // Small rows: the row cap (500) as before.
    runs.length = 0;
    await store.batch(Array.from({ length: 1_200 }, (_, i) => ({ op: 'set' as const, key: `small-${i}`, value: 'v', ttlMs: 1_000 })));
    clock.advance(1_000);
    expect(await store.sweepExpired()).toBe(1_200);
    expect(runs).toEqual([500, 500, 200]);
    await store.close();
    await db.destroy();
  });
});
