/** `quoteIdentifier`: a name with a double quote inside stays one identifier, in statements and PRAGMAs. */
import BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { quoteIdentifier } from './identifiers.js';

describe('quoteIdentifier', () => {
  it('doubles a double quote inside the name', () => {
    expect(quoteIdentifier('users')).toBe('"users"');
    expect(quoteIdentifier('a"b')).toBe('"a""b"');
    expect(quoteIdentifier('"); DROP TABLE x; --')).toBe('"""); DROP TABLE x; --"');
  });

  it('names the table it quotes in SQLite, a PRAGMA included', () => {
    const native = new BetterSqlite3(':memory:');
    try {
      const name = 'odd "name"';
      native.exec(`CREATE TABLE ${quoteIdentifier(name)} (${quoteIdentifier('col"1')} TEXT)`);
      expect(native.prepare(`PRAGMA table_info(${quoteIdentifier(name)})`).all()).toMatchObject([{ name: 'col"1' }]);
      expect(native.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all()).toEqual([name]);
    } finally {
      native.close();
    }
  });
});
