/**
 * What `createDatabase` says when SQLite cannot open its file: the writability hint is for SQLite
 * or the file system refusing to open it (here a folder where the file should be); a driver that
 * does not load gets its own message (sqlite-driver-not-built.test.ts). A file this process may only
 * read is refused at once (SQLite opened it read-only without a word, and every write answered 503),
 * and a folder that cannot be made names the folder that refuses (on a read-only root file system
 * Node said ENOENT). The tests run as root in CI, who writes through file modes: those cases run in
 * a child process as nobody, or with a folder mounted read-only (test/helpers/restricted.ts).
 */
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { runRestricted} from '../../test/helpers/restricted.js';
import { chownToNobody, NOBODY_ID, nobodyUnsupported, outcomeRestricted, readOnlyUnsupported, src } from '../../test/helpers/restricted.js';
import { createDatabase } from './database.js';

const dir = mkdtempSync(join(tmpdir(), 'lc-sqlite-open-'));
chmodSync(dir, 0o755);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What `createDatabase(url)` does in a restricted child: `opened`, or the message it throws. */
function openIn(url: string, restriction: Parameters<typeof runRestricted>[1]): string {
  return outcomeRestricted(
    `import { createDatabase } from ${JSON.stringify(src('src/sql/database.ts'))};`,
    `await createDatabase(${JSON.stringify(url)}).destroy();`,
    'opened',
    restriction,
  );
}

/** A migrated-looking SQLite file (WAL mode, one table) in a folder of its own that nobody may write. */
async function databaseFile(name: string): Promise<string> {
  const folder = join(dir, name);
  mkdirSync(folder, { mode: 0o755 });
  const file = join(folder, 'app.db');
  const db = createDatabase(`sqlite:${file}`);
  await db.schema.createTable('t').addColumn('x', 'integer').execute();
  await db.destroy();
  if (chownToNobody) chownSync(folder, NOBODY_ID, NOBODY_ID);
  return file;
}

const FOLDER_HINT = 'the file and its folder must be writable by this process; point DATABASE_URL at a writable folder, such as a mounted volume (/app/data in the image)';
const READ_ONLY_HINT = 'the file and its folder must be writable by this process (WAL mode keeps app.db-wal and -shm beside it)';

describe('createDatabase on an SQLite file it cannot open', () => {
  it('names the file, SQLite’s reason and, for a folder, that it is one (was: that the file and its folder must be writable)', () => {
    const folder = join(dir, 'app.db');
    mkdirSync(folder);
    expect(() => createDatabase(`sqlite:${folder}`)).toThrow(
      new Error(`SQLite: cannot open ${folder} (unable to open database file): it is a folder, not an SQLite file; name a file in it, such as sqlite:${folder}/app.db`),
    );
  });

  it('says a file that is not a database is not one (was: SQLite’s bare words)', () => {
    const file = join(dir, 'garbage.db');
    writeFileSync(file, 'not a database, but long enough to have a header '.repeat(4));
    expect(() => createDatabase(`sqlite:${file}`)).toThrow(
      new Error(`SQLite: cannot open ${file} (file is not a database): it is not an SQLite database; name the app's database file, or a new file to create`),
    );
  });

  it.skipIf(nobodyUnsupported !== undefined)('refuses a file it may only read (chmod 444) at once, with the writability hint (was: opened read-only)', async () => {
    const file = await databaseFile('mode-444');
    if (chownToNobody) chownSync(file, NOBODY_ID, NOBODY_ID);
    chmodSync(file, 0o444);
    expect(openIn(`sqlite:${file}`, { asNobody: true })).toBe(`SQLite: cannot open ${file} (attempt to write a readonly database): ${READ_ONLY_HINT}`);
  });

  it.skipIf(!chownToNobody || nobodyUnsupported !== undefined)('refuses a file owned by root, mode 0644, for another user (a copy restored as root)', async () => {
    const file = await databaseFile('root-0644');
    chmodSync(file, 0o644);
    expect(openIn(`sqlite:${file}`, { asNobody: true })).toBe(`SQLite: cannot open ${file} (attempt to write a readonly database): ${READ_ONLY_HINT}`);
  });

  it.skipIf(nobodyUnsupported !== undefined)('refuses an empty file it may only read, in a folder it may write, with the same message (was: SQLite’s bare words, from the switch to WAL mode)', () => {
    const folder = join(dir, 'empty-444');
    mkdirSync(folder, { mode: 0o755 });
    const file = join(folder, 'app.db');
    writeFileSync(file, '');
    if (chownToNobody) for (const path of [folder, file]) chownSync(path, NOBODY_ID, NOBODY_ID);
    chmodSync(file, 0o444);
    expect(openIn(`sqlite:${file}`, { asNobody: true })).toBe(`SQLite: cannot open ${file} (attempt to write a readonly database): ${READ_ONLY_HINT}`);
  });

  it.skipIf(!chownToNobody || nobodyUnsupported !== undefined)('refuses a migrated file owned by root, mode 0644, in a folder of root’s, for another user (was: SQLite’s bare words)', async () => {
    const folder = join(dir, 'root-folder');
    mkdirSync(folder, { mode: 0o755 });
    const file = join(folder, 'app.db');
    const db = createDatabase(`sqlite:${file}`);
    await db.schema.createTable('t').addColumn('x', 'integer').execute();
    await db.destroy();
    rmSync(`${file}-wal`, { force: true });
    rmSync(`${file}-shm`, { force: true });
    chmodSync(file, 0o644);
    expect(openIn(`sqlite:${file}`, { asNobody: true })).toBe(`SQLite: cannot open ${file} (attempt to write a readonly database): ${READ_ONLY_HINT}`);
  });

  it('opens a file it may write, in-memory databases too (the write check changes nothing)', async () => {
    const file = await databaseFile('writable');
    const db = createDatabase(`sqlite:${file}`);
    await db.destroy();
    await createDatabase('sqlite::memory:').destroy();
  });
});

describe('createDatabase when the SQLite file’s folder cannot be made', () => {
  it.skipIf(readOnlyUnsupported !== undefined)('on a read-only file system: names the folder that refuses, EROFS and DATABASE_URL (was: ENOENT, mkdir, no hint)', () => {
    const volume = mkdtempSync(join(dir, 'ro-'));
    const file = join(volume, 'db', 'app.db');
    expect(openIn(`sqlite:${file}`, { readOnly: [volume] })).toBe(
      `SQLite: cannot open ${file} (${volume}/db cannot be created: ${volume} is not writable (EROFS: read-only file system)): ${FOLDER_HINT}`,
    );
  });

  it.skipIf(nobodyUnsupported !== undefined)('in a folder this user may not write: names that folder and EACCES', () => {
    const parent = mkdtempSync(join(dir, 'not-mine-'));
    chmodSync(parent, 0o555);
    const file = join(parent, 'db', 'app.db');
    expect(openIn(`sqlite:${file}`, { asNobody: true })).toBe(
      `SQLite: cannot open ${file} (${parent}/db cannot be created: ${parent} is not writable (EACCES: permission denied)): ${FOLDER_HINT}`,
    );
  });
});

if (nobodyUnsupported !== undefined) console.warn(`database-open-errors.test.ts: SKIPPED the read-only file cases: ${nobodyUnsupported}`);
if (readOnlyUnsupported !== undefined) console.warn(`database-open-errors.test.ts: SKIPPED the read-only file system case: ${readOnlyUnsupported}`);
