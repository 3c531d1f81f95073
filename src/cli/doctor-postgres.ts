/**
 * `doctor --connect`'s `database` check on PostgreSQL: the server DATABASE_URL names, asked read-only
 * whether it answers, takes writes, keeps the app's server-side timeouts and holds this release's
 * schema (doctor-schema.ts), and its clock, for the `clock` check (the list: doctor-services.ts).
 */
import { sql, type Kysely } from 'kysely';
import { failed, checked, type CheckResult } from './doctor-check.js';
import { messageOf } from '../core/errors.js';
import { createDatabase, DEFAULT_QUERY_TIMEOUT_MS, serverTimeouts } from '../sql/database.js';
import { quoteIdentifier } from '../sql/identifiers.js';
import { postgresReadOnlyReason } from '../sql/read-only.js';
import { postgresTlsNote } from '../sql/url.js';
import { measureSkew, postgresTime, type ClockSkew } from '../ops/clock-skew/index.js';
import { schemaCheck } from './doctor-schema.js';

/**
 * The PostgreSQL server at `url` (`where`, as messages name it); its clock's skew is pushed onto `readings`.
 */
export async function checkPostgres(url: string, where: string, timeoutMs: number, now: () => number, readings: ClockSkew[]): Promise<CheckResult<'database'>> {
  const db = createDatabase(url, { connectTimeoutMs: timeoutMs, queryTimeoutMs: timeoutMs, poolMax: 1 });
  // What the URL's sslmode means, in place of pg's warning (src/sql/url.ts): with a failure too, which a certificate may be.
  const tls = postgresTlsNote(url);
  const note = tls === undefined ? '' : `; note: ${tls}`;
  try {
    readings.push({ service: 'postgresql', skewMs: await measureSkew(postgresTime(db), now) });
    const timeouts = await missingServerTimeouts(db, url, where);
    const readOnly = await readOnlyRefusal(db, where);
    const schema = await schemaCheck(db, where, 'answers', 'DATABASE_URL: ');
    const problems = [readOnly, ...schema.problems, timeouts].filter((p): p is string => p !== undefined);
    return checked('database', problems, `${schema.summary}${note}`);
  } catch (error) {
    // A server that refused (PgBouncer's "unsupported startup parameter", a wrong password) did answer.
    const answered = sqlStateOf(error) === undefined ? 'did not answer' : 'answered with an error';
    return failed('database', `DATABASE_URL: ${where} ${answered} (${messageOf(error)})${note}`);
  } finally {
    await db.destroy();
  }
}

/**
 * Why the server-side timeouts the app sends when it connects (`serverTimeouts`) are not in force,
 * when any reads 0 (no limit): a pooler told to ignore them (PgBouncer's `ignore_startup_parameters`)
 * drops them, and then a query waiting on a lock outlives the app's own bound, its backend left
 * behind past the pool. The doctor connects as the app does, so it reads what the app would get.
 */
async function missingServerTimeouts<DB>(db: Kysely<DB>, url: string, where: string): Promise<string | undefined> {
  const expected = serverTimeouts(DEFAULT_QUERY_TIMEOUT_MS);
  const names = Object.keys(expected) as (keyof typeof expected)[];
  const { rows } = await sql<Record<string, string>>`select ${sql.join(names.map((n) => sql`current_setting(${n}) as ${sql.ref(n)}`))}`.execute(db);
  const off = names.filter((n) => rows[0]?.[n] === '0');
  if (off.length === 0) return undefined;
  const role = decodeURIComponent(new URL(url).username) || 'the app\'s role';
  // One statement per setting: ALTER ROLE … SET takes a single parameter.
  const statements = names.map((n) => `ALTER ROLE ${quoteIdentifier(role)} SET ${n} = '${expected[n] / 1000}s';`).join(' ');
  return `DATABASE_URL: ${where}: ${off.join(', ')} ${off.length === 1 ? 'is' : 'are'} 0 (no limit), though the app sends them when it connects: a pooler drops them (PgBouncer's ignore_startup_parameters), so queries waiting on a lock outlive the app's ${DEFAULT_QUERY_TIMEOUT_MS / 1000} s bound and their backends pile up beyond its pool; set them on the role: ${statements} (docs/scaling.md, "PgBouncer")`;
}

/**
 * Why the app could not write to the server, when it is a hot standby (after a failover the URL may
 * still name the old primary) or sessions start read-only (`default_transaction_read_only`): it answers
 * every read, so it passed as "up to date", while every sign-in, refresh and logout answers 503.
 * Readiness asks the same (`postgresReadOnlyReason`, src/sql/read-only.ts).
 */
async function readOnlyRefusal<DB>(db: Kysely<DB>, where: string): Promise<string | undefined> {
  const why = await postgresReadOnlyReason(db);
  if (why === undefined) return undefined;
  return `DATABASE_URL: ${where} is read-only (${why}): sign-in, refresh and logout would answer 503; point DATABASE_URL at the primary (after a failover: the promoted server)`;
}

/**
 * The SQLSTATE of an error the server sent, or of the error it wraps (`cause`). Only the server's
 * errors carry a `severity` (a socket's EPIPE has a five-letter code too).
 */
function sqlStateOf(error: unknown): string | undefined {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const { code, severity } = e as { code?: unknown; severity?: unknown };
    if (typeof code === 'string' && typeof severity === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}
