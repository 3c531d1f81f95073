import { describe, expect, it } from 'vitest';
import { DEFAULT_DATABASE_URL, describeDatabaseUrl, parseDatabaseUrl } from './url.js';

describe('parseDatabaseUrl', () => {
  it('reads SQLite paths relative to cwd, absolute, or in memory', () => {
    expect(parseDatabaseUrl(DEFAULT_DATABASE_URL, '/srv/app')).toEqual({ engine: 'sqlite', path: '/srv/app/data/livecomponents.db' });
    expect(parseDatabaseUrl('sqlite:db.sqlite', '/srv')).toEqual({ engine: 'sqlite', path: '/srv/db.sqlite' });
    expect(parseDatabaseUrl('sqlite:/var/lib/lc.db')).toEqual({ engine: 'sqlite', path: '/var/lib/lc.db' });
    expect(parseDatabaseUrl('sqlite:///var/lib/lc.db')).toEqual({ engine: 'sqlite', path: '/var/lib/lc.db' });
    expect(parseDatabaseUrl('sqlite::memory:')).toEqual({ engine: 'sqlite', path: ':memory:' });
  });

  it('passes PostgreSQL URLs through', () => {
    for (const url of ['postgres://u:p@db:5432/app', 'postgresql://db/app?sslmode=require']) {
      expect(parseDatabaseUrl(url)).toEqual({ engine: 'postgres', connectionString: url });
    }
  });

  it('refuses empty paths and other schemes without echoing the URL', () => {
    expect(() => parseDatabaseUrl('sqlite:')).toThrow(TypeError);
    expect(() => parseDatabaseUrl('')).toThrow(/unsupported scheme \(none\)/);
    expect(() => parseDatabaseUrl('mysql://root:secret@db/app')).toThrow(/^DATABASE_URL: unsupported scheme mysql:;/);
    expect(() => parseDatabaseUrl('mysql://root:secret@db/app')).not.toThrow(/secret/);
  });

  it('refuses SQLite forms other tools read differently, instead of naming a file nobody meant', () => {
    // Before: <cwd>/~/lc.db, <cwd>/file:/tmp/x.db and a file called "x.db?mode=ro", each a new empty database.
    expect(() => parseDatabaseUrl('sqlite:~/lc.db', '/srv')).toThrow(/"~" is not expanded/);
    expect(() => parseDatabaseUrl('sqlite:file:///tmp/x.db', '/srv')).toThrow(/file:… URIs are not supported/);
    expect(() => parseDatabaseUrl('sqlite:FILE:x.db', '/srv')).toThrow(/file:… URIs are not supported/);
    expect(() => parseDatabaseUrl('sqlite:./x.db?mode=ro', '/srv')).toThrow(/takes no \?parameters/);
    expect(parseDatabaseUrl('sqlite:./a~b/file.db', '/srv')).toEqual({ engine: 'sqlite', path: '/srv/a~b/file.db' });
  });
});

describe('describeDatabaseUrl', () => {
  it('drops user and password', () => {
    expect(describeDatabaseUrl('postgres://app:hunter2@db.internal:5432/app?sslmode=require')).toBe('postgres://db.internal:5432/app');
    expect(describeDatabaseUrl('sqlite:./x.db', '/srv')).toBe('sqlite:/srv/x.db');
  });
});
