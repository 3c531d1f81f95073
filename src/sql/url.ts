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
 * @throws TypeError for an empty URL, an unsupported scheme, or a PostgreSQL URL that does not
 *   parse, names no host or port 1–65535, or shows a password that is not percent-encoded (the
 *   message never repeats the URL, which may hold a password)
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
    postgresUrl(text);
    return { engine: 'postgres', connectionString: text };
  }
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(text)?.[0] ?? '(none)';
  throw new TypeError(`DATABASE_URL: unsupported scheme ${scheme}; use sqlite:PATH or postgres://…`);
}

/** How to write the characters that end or split a URL's user name and password. */
const ENCODE_HINT = 'percent-encode the user name and password: write @ as %40, / as %2F, # as %23, ? as %3F, % as %25';

/**
 * A `postgres://` URL read as pg reads it, or a TypeError that quotes none of it. A password with
 * `/`, `?` or `#` written as is ends the host part early: pg then takes the text before it for the
 * host (and prints it: `ENOTFOUND s3cr3tPart`), or `new URL` gives up with an error that holds the
 * whole URL. Such a password leaves the URL's real `@` after the host part, which is how it is told.
 */
function postgresUrl(text: string): URL {
  const afterScheme = text.indexOf('//') + 2;
  const hostEnd = text.slice(afterScheme).search(/[/?#]/);
  const rest = hostEnd === -1 ? '' : text.slice(afterScheme + hostEnd);
  if (passwordSpilled(rest)) {
    throw new TypeError(`DATABASE_URL: has an "@" after the host, the sign of a password that is not percent-encoded; ${ENCODE_HINT} (an "@" in the database name too)`);
  }
  // `postgres://user@/db?host=/socket/folder`: no host, which `new URL` refuses and pg reads with
  // a stand-in (with the `@` check above, "@/" can only end the user name and password).
  const noHost = text.includes('@/');
  let parsed: URL;
  try {
    parsed = new URL(noHost ? text.replace('@/', '@socket/') : text);
  } catch {
    throw new TypeError(`DATABASE_URL: is not a valid postgres://user:password@host:port/database URL; a port is 1–65535; ${ENCODE_HINT}`);
  }
  if (parsed.port === '0') throw new TypeError('DATABASE_URL: the port must be 1–65535');
  if ((noHost || parsed.hostname === '') && !parsed.searchParams.has('host')) {
    throw new TypeError('DATABASE_URL: names no host (postgres://user:password@host:port/database, or ?host=/socket/folder)');
  }
  for (const [part, what] of [[parsed.username, 'user name'], [parsed.password, 'password']] as const) {
    try {
      decodeURIComponent(part);
    } catch {
      throw new TypeError(`DATABASE_URL: has a ${what} with a "%" that is not percent-encoded (write a literal "%" as %25)`);
    }
  }
  return parsed;
}

/**
 * Whether the text after the host part holds the URL's real `@`: in the path (`/ss@host/db`, a
 * password with `/`), in a query parameter's name (`?ss@host/db`, a password with `?`, which has no
 * `=` before the `@`) or in the fragment (`#ss@host/db`). An `@` in a query value is pg's own
 * (`?application_name=ops@web1`, `?sslcert=/home/a@b/c.pem`) and a fragment without one is ignored.
 * A database name with an `@` is told apart from a spilled password by nothing: it is written `%40`.
 */
function passwordSpilled(rest: string): boolean {
  const hash = rest.indexOf('#');
  const beforeHash = hash === -1 ? rest : rest.slice(0, hash);
  if (hash !== -1 && rest.slice(hash).includes('@')) return true;
  const query = beforeHash.indexOf('?');
  if ((query === -1 ? beforeHash : beforeHash.slice(0, query)).includes('@')) return true;
  if (query === -1) return false;
  return beforeHash
    .slice(query + 1)
    .split('&')
    .some((param) => param.split('=', 1)[0]!.includes('@'));
}

/**
 * A printable description of a database URL: the SQLite path, or the PostgreSQL scheme, host (or
 * `?host=` socket folder), port and database name — never user name, password, query or fragment.
 */
export function describeDatabaseUrl(url: string, cwd: string = process.cwd()): string {
  const target = parseDatabaseUrl(url, cwd);
  if (target.engine === 'sqlite') return `sqlite:${target.path}`;
  const parsed = postgresUrl(target.connectionString);
  const socket = parsed.searchParams.get('host');
  const host = socket !== null ? socket : parsed.host;
  return `${parsed.protocol}//${host}/${parsed.pathname.slice(1)}`;
}
