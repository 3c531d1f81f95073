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
    return { engine: 'postgres', connectionString: withSslModeAsPgReadsIt(text) };
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

/** The sslmodes pg 8 reads as verify-full unless `uselibpqcompat=true` (pg-connection-string 2.x). */
const VERIFY_FULL_ALIASES = new Set(['prefer', 'require', 'verify-ca']);

/**
 * `text` with `sslmode=prefer|require|verify-ca` written `verify-full`, which is what pg 8 does with
 * them (the server's certificate checked against Node's CAs, and its host name): the same
 * connection, without pg-connection-string's multi-line "SECURITY WARNING: The SSL modes 'prefer',
 * 'require', and 'verify-ca' are treated as aliases for 'verify-full'…" on stderr at start-up, which
 * named no setting. It also keeps that meaning when pg 9 gives these modes libpq's (require: encrypt,
 * verify nothing). `uselibpqcompat=true` asks for libpq's meaning now: left as written. What each
 * mode means is said once, by `postgresTlsNote` (the doctor's database line).
 */
function withSslModeAsPgReadsIt(text: string): string {
  const query = text.indexOf('?');
  if (query === -1) return text;
  const hash = text.indexOf('#', query);
  const end = hash === -1 ? text.length : hash;
  const params = text.slice(query + 1, end).split('&');
  if (new URLSearchParams(text.slice(query + 1, end)).get('uselibpqcompat') === 'true') return text;
  const pinned = params.map((param) => {
    const [name, value] = param.split('=', 2);
    return name === 'sslmode' && value !== undefined && VERIFY_FULL_ALIASES.has(value) ? 'sslmode=verify-full' : param;
  });
  return `${text.slice(0, query + 1)}${pinned.join('&')}${text.slice(end)}`;
}

/**
 * What the TLS settings of a `postgres://` URL mean, when they differ from what its words suggest or
 * verify less than `verify-full`; `undefined` for `verify-full`, `disable` and no sslmode. For the
 * doctor's database line: one sentence naming DATABASE_URL instead of pg's warning.
 */
export function postgresTlsNote(url: string): string | undefined {
  const query = url.indexOf('?');
  if (query === -1) return undefined;
  const params = new URLSearchParams(url.slice(query + 1).split('#', 1)[0]);
  const mode = params.get('sslmode') ?? (params.get('ssl') === 'no-verify' ? 'no-verify' : null);
  const libpq = params.get('uselibpqcompat') === 'true';
  const unverified = "encrypts without verifying the server's certificate, so anyone on the network path can pose as the server; use sslmode=verify-full (a private CA: sslrootcert=/path/ca.pem or NODE_EXTRA_CA_CERTS)";
  if (mode === 'no-verify') return `DATABASE_URL: sslmode=no-verify ${unverified}`;
  if (libpq && (mode === 'require' || mode === 'prefer')) {
    if (mode === 'require' && params.has('sslrootcert')) return "DATABASE_URL: uselibpqcompat=true&sslmode=require with sslrootcert verifies the server's certificate but not its host name (libpq's verify-ca); use sslmode=verify-full";
    return `DATABASE_URL: uselibpqcompat=true&sslmode=${mode} ${unverified}`;
  }
  if (libpq && mode === 'verify-ca') return "DATABASE_URL: uselibpqcompat=true&sslmode=verify-ca verifies the server's certificate but not its host name; use sslmode=verify-full";
  if (mode !== null && VERIFY_FULL_ALIASES.has(mode)) {
    return `DATABASE_URL: sslmode=${mode} is read as verify-full (pg's meaning, not libpq's): the server's certificate and host name are verified, so a private CA needs sslrootcert=/path/ca.pem or NODE_EXTRA_CA_CERTS; for libpq's weaker meaning write uselibpqcompat=true&sslmode=${mode}`;
  }
  return undefined;
}
