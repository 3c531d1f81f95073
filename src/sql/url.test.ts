import { describe, expect, it } from 'vitest';
import { runRestricted, src } from '../../test/helpers/restricted.js';
import { DEFAULT_DATABASE_URL, describeDatabaseUrl, parseDatabaseUrl, postgresTlsNote } from './url.js';

describe('parseDatabaseUrl', () => {
  it('reads SQLite paths relative to cwd, absolute, or in memory', () => {
    expect(parseDatabaseUrl(DEFAULT_DATABASE_URL, '/srv/app')).toEqual({ engine: 'sqlite', path: '/srv/app/data/livecomponents.db' });
    expect(parseDatabaseUrl('sqlite:db.sqlite', '/srv')).toEqual({ engine: 'sqlite', path: '/srv/db.sqlite' });
    expect(parseDatabaseUrl('sqlite:/var/lib/lc.db')).toEqual({ engine: 'sqlite', path: '/var/lib/lc.db' });
    expect(parseDatabaseUrl('sqlite:///var/lib/lc.db')).toEqual({ engine: 'sqlite', path: '/var/lib/lc.db' });
    expect(parseDatabaseUrl('sqlite::memory:')).toEqual({ engine: 'sqlite', path: ':memory:' });
  });

  it('passes PostgreSQL URLs through', () => {
    for (const url of ['postgres://u:p@db:5432/app', 'postgresql://db/app?sslmode=verify-full']) {
      expect(parseDatabaseUrl(url)).toEqual({ engine: 'postgres', connectionString: url });
    }
  });

  it('refuses a PostgreSQL URL pg would misread, never repeating any part of the password', () => {
    // Before: accepted; pg then looked up "tPart" (a piece of the password) as the host and printed it.
    const cases: [string, RegExp][] = [
      ['postgres://app:s3cr@tPart/morePart@127.0.0.1:5432/app', /has an "@" after the host.*write @ as %40, \/ as %2F, # as %23, \? as %3F, % as %25/],
      ['postgres://app:12/tPart@127.0.0.1/app', /has an "@" after the host/],
      ['postgres://app:12?tPart@127.0.0.1/app', /has an "@" after the host/],
      ['postgres://app:12#tPart@127.0.0.1/app', /has an "@" after the host/],
      ['postgres://app:12#x=tPart@127.0.0.1/app', /has an "@" after the host/],
      ['postgres://app:12?x=y&tPart@127.0.0.1/app', /has an "@" after the host/],
      ['postgres://127.0.0.1/my@tPart', /has an "@" after the host.*\(an "@" in the database name too\)/],
      ['postgres://app:p@ss:w/rd%#?x@127.0.0.1:5432/app', /has an "@" after the host/],
      ['postgres://app:tPart/x@127.0.0.1/app', /has an "@" after the host/],
      ['postgres://app:tPart/app', /is not a valid postgres:\/\/user:password@host:port\/database URL/],
      ['postgres://u@127.0.0.1:99999/x', /a port is 1–65535/],
      ['postgres://u@127.0.0.1:0/x', /the port must be 1–65535/],
      ['postgres://tPart@/app', /names no host/],
      ['postgres:///app', /names no host/],
      ['postgres://app:tP%art@127.0.0.1/app', /has a password with a "%" that is not percent-encoded \(write a literal "%" as %25\)/],
      ['postgresql://tP%E0art:x@127.0.0.1/app', /has a user name with a "%"/],
    ];
    for (const [url, message] of cases) {
      expect(() => parseDatabaseUrl(url), url).toThrow(message);
      expect(() => parseDatabaseUrl(url), url).toThrow(/^DATABASE_URL: /);
      expect(() => parseDatabaseUrl(url), url).not.toThrow(/tPart|s3cr|rd%|99999/);
    }
  });

  it('accepts what pg reads as meant: an "@" in the password or a query value, a socket folder, an IPv6 host, a fragment', () => {
    // Refused by the first version of the "@" check (an "@" anywhere after the host).
    const queryValues = [
      'postgres://postgres@127.0.0.1/app?application_name=ops@host1',
      'postgres://127.0.0.1/app?user=app&password=s3cr@t',
      'postgres://127.0.0.1/app?options=-c%20search_path%3Dmy@schema',
      'postgres://127.0.0.1/app?sslmode=verify-full&sslcert=/home/a@b/c.pem',
      'postgres://127.0.0.1/my%40db',
      'postgres://127.0.0.1/app#x',
    ];
    for (const url of ['postgres://app@srv:p@ss@db/app', 'postgres://app@/app?host=/var/run/postgresql', 'postgres:///app?host=/tmp', 'postgres://[::1]:5432/app', 'postgres://u:a%40b%2Fc@db:1/app', ...queryValues]) {
      expect(parseDatabaseUrl(url), url).toEqual({ engine: 'postgres', connectionString: url });
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
    expect(describeDatabaseUrl('postgresql://app:a%40b@[::1]/app')).toBe('postgresql://[::1]/app');
    expect(describeDatabaseUrl('postgres://app:pw@/app?host=/var/run/postgresql&password=x')).toBe('postgres:///var/run/postgresql/app');
  });

  it('refuses a URL it cannot describe without the password, as parseDatabaseUrl does', () => {
    // Before: "postgres://tPart/morePart@127.0.0.1:5432/app".
    expect(() => describeDatabaseUrl('postgres://app:s3cr@tPart/morePart@127.0.0.1:5432/app')).toThrow(/^DATABASE_URL: has an "@" after the host/);
  });
});

describe('sslmode in a PostgreSQL URL', () => {
  it('writes prefer, require and verify-ca as verify-full, what pg 8 does with them, and nothing else of the URL changes', () => {
    for (const mode of ['prefer', 'require', 'verify-ca']) {
      expect(parseDatabaseUrl(`postgres://app:a%40b%3F@db:5432/app?application_name=x&sslmode=${mode}#f`)).toEqual({
        engine: 'postgres',
        connectionString: 'postgres://app:a%40b%3F@db:5432/app?application_name=x&sslmode=verify-full#f',
      });
    }
  });

  it('leaves the other modes, and libpq’s meaning asked for with uselibpqcompat=true, as written', () => {
    for (const url of [
      'postgres://db/app?sslmode=disable',
      'postgres://db/app?sslmode=no-verify',
      'postgres://db/app?sslmode=verify-full&sslrootcert=/etc/ca.pem',
      'postgres://db/app?uselibpqcompat=true&sslmode=require',
      'postgres://db/app?sslmode=require-not&x=sslmode=require',
    ]) {
      expect(parseDatabaseUrl(url), url).toEqual({ engine: 'postgres', connectionString: url });
    }
  });

  it('says what a mode means when it is not what its name suggests or verifies less than verify-full, naming DATABASE_URL', () => {
    expect(postgresTlsNote('postgres://db/app?sslmode=require')).toBe(
      "DATABASE_URL: sslmode=require is read as verify-full (pg's meaning, not libpq's): the server's certificate and host name are verified, so a private CA needs sslrootcert=/path/ca.pem or NODE_EXTRA_CA_CERTS; for libpq's weaker meaning write uselibpqcompat=true&sslmode=require",
    );
    const unverified = "encrypts without verifying the server's certificate, so anyone on the network path can pose as the server; use sslmode=verify-full (a private CA: sslrootcert=/path/ca.pem or NODE_EXTRA_CA_CERTS)";
    expect(postgresTlsNote('postgres://db/app?sslmode=no-verify')).toBe(`DATABASE_URL: sslmode=no-verify ${unverified}`);
    expect(postgresTlsNote('postgres://db/app?ssl=no-verify')).toBe(`DATABASE_URL: sslmode=no-verify ${unverified}`);
    expect(postgresTlsNote('postgres://db/app?uselibpqcompat=true&sslmode=require')).toBe(`DATABASE_URL: uselibpqcompat=true&sslmode=require ${unverified}`);
    expect(postgresTlsNote('postgres://db/app?uselibpqcompat=true&sslmode=verify-ca')).toMatch(/verifies the server's certificate but not its host name; use sslmode=verify-full$/);
    for (const url of ['postgres://db/app', 'postgres://db/app?sslmode=verify-full', 'postgres://db/app?sslmode=disable', 'postgres://db/app?uselibpqcompat=true&sslmode=verify-full']) {
      expect(postgresTlsNote(url), url).toBeUndefined();
    }
  });

  it('opening such a database writes nothing to stderr (was: pg-connection-string’s multi-line SECURITY WARNING)', () => {
    // Port 1: nothing listens; pg reads the URL, and warned, when it first connects.
    const run = runRestricted(
      `import { createDatabase } from ${JSON.stringify(src('src/sql/database.ts'))};
const db = createDatabase('postgres://app@127.0.0.1:1/app?sslmode=require', { connectTimeoutMs: 2000 });
const outcome = await db.selectFrom('users').selectAll().execute().then(() => 'answered', (error) => error.message);
await db.destroy();
console.log(outcome);`,
      {},
    );
    expect(run.stdout).toMatch(/ECONNREFUSED/);
    expect(run.stderr).toBe('');
  });
});
