/**
 * What `createDatabase` says when SQLite cannot open its file: the writability hint is for SQLite
 * or the file system refusing to open it (here a folder where the file should be); a driver that
 * does not load gets its own message (sqlite-driver-not-built.test.ts).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createDatabase } from './database.js';

describe('createDatabase on an SQLite file it cannot open', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lc-sqlite-open-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('names the file, SQLite’s reason and that the file and its folder must be writable', () => {
    const folder = join(dir, 'app.db');
    mkdirSync(folder);
    expect(() => createDatabase(`sqlite:${folder}`)).toThrow(
      new Error(`SQLite: cannot open ${folder} (unable to open database file): the file and its folder must be writable by this process (WAL mode keeps app.db-wal and -shm beside it)`),
    );
  });
});
