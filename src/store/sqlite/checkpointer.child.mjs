// A second process on a SQLite file, for checkpointer.test.ts (forked with tsx, from the sources).
// argv: mode ('writer' | 'never-closed' | 'sweep-only'), url, and for 'writer': rows, value bytes, checkpoint pages.
import BetterSqlite3 from 'better-sqlite3';
import { createDatabase, migrateToLatest, sqliteConnectionOf } from '../../sql/index.ts';
import { createSqliteStore } from './index.ts';
import { checkpointerOf } from './checkpointer.ts';

const [mode, url, rowsArg, bytesArg, pagesArg] = process.argv.slice(2);
const path = url.slice('sqlite:'.length);

if (mode === 'never-closed') {
  const store = await createSqliteStore({ url });
  await store.set('never-closed', 'v', 60_000);
  // A store opened by URL keeps its database to itself: its checkpointer is found through a
  // second database on the same file (one checkpointer per file per process).
  const probe = createDatabase(url);
  const running = checkpointerOf(sqliteConnectionOf(probe))?.running === true;
  process.stdout.write(`${JSON.stringify({ running })}\n`);
  // Neither is closed: the process must still end by itself.
} else if (mode === 'sweep-only') {
  // A maintenance script: nothing but the sweep's await keeps the event loop busy.
  const store = await createSqliteStore({ url, sweepIntervalMs: 0 });
  for (let i = 0; i < 50; i++) await store.set(`gone:${i}`, 'v', 1);
  await new Promise((resolve) => setTimeout(resolve, 20));
  const swept = await store.sweepExpired();
  await store.close();
  process.stdout.write(`${JSON.stringify({ swept, closed: true })}\n`);
} else {
  const db = createDatabase(url, { walCheckpointPages: Number(pagesArg) });
  await migrateToLatest(db);
  const store = await createSqliteStore({ db, sweepIntervalMs: 0 });
  const value = 'c'.repeat(Number(bytesArg));
  let committed = 0;
  let reopened = 0;
  for (let i = 0; i < Number(rowsArg); i += 10) {
    const writes = [];
    for (let j = i; j < i + 10 && j < Number(rowsArg); j++) writes.push(store.set(`child:${j}`, value, 3_600_000).then(() => committed++));
    await Promise.all(writes);
    // Opens (and closes) the file again and again meanwhile, as a second app instance starting would.
    if (i % 100 === 0) {
      const other = new BetterSqlite3(path, { timeout: 2_000 });
      other.prepare('SELECT count(*) FROM lc_kv').get();
      other.close();
      reopened++;
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const stats = checkpointerOf(sqliteConnectionOf(db)).stats();
  await store.close();
  await db.destroy();
  process.stdout.write(`${JSON.stringify({ committed, reopened, stats })}\n`);
}
