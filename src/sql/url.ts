/**
 * `DATABASE_URL` parsing (PROTOCOL §1): `sqlite:PATH` (relative to the working directory, or
 * `sqlite::memory:`) or `postgres://…` / `postgresql://…`. Nothing here touches a database.
 */
import { isAbsolute, resolve } from 'node:path';

/** The embedded default of `npm start`. */
export const DEFAULT_DATABASE_URL = 'sqlite:./data/livecomponents.db';

export type DatabaseTarget =
  | { readonly engine: 'sqlite'; /** Absolute file path, or `:memory:`. */ readonly path: string }
  | { readonly engine: 'postgres'; readonly connectionString: string };

/**
 * Reads a database URL.
 *
 * @param cwd - the folder a relative SQLite path is resolved against
 * @throws TypeError for an empty URL or an unsupported scheme (the message never repeats the URL,
 *   which may hold a password)
 * @example
 * parseDatabaseUrl('sqlite:./data/app.db', '/srv/app'); // { engine: 'sqlite', path: '/srv/app/data/app.db' }
 */
export function parseDatabaseUrl(url: string, cwd: string = process.cwd()): DatabaseTarget {
  const text = url.trim();
  if (text.startsWith('sqlite:')) {
    // `sqlite:PATH`, also spelled `sqlite://PATH` (so `sqlite:///abs/file.db` is an absolute path).
    let path = text.slice('sqlite:'.length);
    if (path.startsWith('//')) path = path.slice(2);
    if (path === '') throw new TypeError('DATABASE_URL: "sqlite:" needs a file path, for example sqlite:./data/app.db');
    if (path === ':memory:') return { engine: 'sqlite', path };
    // Forms other tools read differently: taken literally they named a file nobody meant
    // (`<cwd>/~/app.db`, `<cwd>/file:/tmp/app.db`, `app.db?mode=ro`), quietly, with a new empty database.
    if (path.startsWith('~')) throw new TypeError('DATABASE_URL: "~" is not expanded in sqlite:PATH; write the path out (sqlite:/home/app/data/app.db)');
    if (/^file:/i.test(path)) throw new TypeError('DATABASE_URL: sqlite:file:… URIs are not supported; use sqlite:PATH (sqlite:/srv/app/data/app.db)');
    if (path.includes('?')) throw new TypeError('DATABASE_URL: sqlite:PATH takes no ?parameters (mode, cache…); the file name may not contain "?"');
    return { engine: 'sqlite', path: isAbsolute(path) ? path : resolve(cwd, path) };
  }
  if (text.startsWith('postgres://') || text.startsWith('postgresql://')) {
    return { engine: 'postgres', connectionString: text };
  }
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(text)?.[0] ?? '(none)';
  throw new TypeError(`DATABASE_URL: unsupported scheme ${scheme}; use sqlite:PATH or postgres://…`);
}

/**
 * A printable description of a database URL: the SQLite path, or the PostgreSQL host and database
 * without user name or password.
 */
export function describeDatabaseUrl(url: string, cwd: string = process.cwd()): string {
  const target = parseDatabaseUrl(url, cwd);
  if (target.engine === 'sqlite') return `sqlite:${target.path}`;
  try {
    const parsed = new URL(target.connectionString);
    return `postgres://${parsed.host}${parsed.pathname}`;
  } catch {
    return 'postgres://(unparsable URL)';
  }
}
