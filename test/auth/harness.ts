/**
 * The reference app with the auth module on a database of the test's own, on SQLite (a temporary
 * file) and on PostgreSQL (a schema of its own, see src/sql/test-postgres.ts), driven through
 * Fastify `inject`. Everything that varies is controlled: a manual clock shared by the framework,
 * the store and the auth service; a captured mail transport; every log line kept; fast argon2
 * parameters (the OWASP ones have their own tests).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LightMyRequestResponse } from 'fastify';
import { sql, type Kysely } from 'kysely';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createDemoApp } from '../../examples/demo/app.js';
import { BINDING_COOKIE } from '../../src/auth/cookie.js';
import { hashToken } from '../../src/auth/tokens.js';
import { capturedMailTransport, type RegisterAuthOptions } from '../../src/auth/index.js';
import { manualClock, type Clock } from '../../src/core/clock.js';
import { parseEnv } from '../../src/ops/config.js';
import type { SecurityEvent } from '../../src/ops/security-events.js';
import { createSecurityLogger } from '../../src/ops/security-logger.js';
import type { Backends } from '../../src/runtime/backends.js';
import { createDatabase, migrateToLatest, type DatabaseSchema } from '../../src/sql/index.js';
import { serializeError } from '../../src/ops/logging/error-serializer.js';
import { MIGRATIONS } from '../../src/sql/migrations/index.js';
import { createTestSchema, postgresAvailability, warnSkipped } from '../../src/sql/test-postgres.js';
import { createMemoryStore } from '../../src/store/memory/index.js';

export const FAST_ARGON2 = { memoryCost: 1024, timeCost: 1, parallelism: 1 };
export const T0 = Date.UTC(2026, 0, 15, 10, 30);
export const PASSWORD = 'correct horse battery staple';

export type EngineName = 'sqlite' | 'postgres';

export interface Engine {
  readonly name: EngineName;
  /** A fresh, migrated database and how to throw it away. */
  open(): Promise<{ db: Kysely<DatabaseSchema>; drop: () => Promise<void> }>;
}

/** A database on a new temporary SQLite file (not migrated yet), its URL, and how to delete the file. */
function sqliteFile(label: string): { db: Kysely<DatabaseSchema>; url: string; drop: () => Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), `lc-${label}-`));
  const url = `sqlite:${join(dir, 'auth.db')}`;
  return { db: createDatabase(url), url, drop: async () => rmSync(dir, { recursive: true, force: true }) };
}

/** SQLite: each `open()` a new temporary file, migrated. */
export const sqliteEngine: Engine = {
  name: 'sqlite',
  async open() {
    const { db, drop } = sqliteFile('auth');
    await migrateToLatest(db);
    return { db, drop };
  },
};

/**
 * One migrated SQLite database for a whole test file that wires the auth service or its routes
 * itself (with a store of its own), or runs a command on it (`url`, its `DATABASE_URL`): opened at
 * once, so it can be passed around at the module's top level, migrated before the file's tests,
 * closed and deleted after them. `label` names its folder.
 */
export function useSqliteAuthDatabase(label: string): { db: Kysely<DatabaseSchema>; url: string } {
  const { db, url, drop } = sqliteFile(label);
  beforeAll(async () => {
    await migrateToLatest(db);
  });
  afterAll(async () => {
    await db.destroy();
    await drop();
  });
  return { db, url };
}

const postgres: Engine = {
  name: 'postgres',
  async open() {
    const { url, drop } = await createTestSchema('auth');
    const db = createDatabase(url);
    await migrateToLatest(db);
    return { db, drop };
  },
};

const pgState = await postgresAvailability();

/**
 * Runs `suite` once per engine. Without PostgreSQL: under CI (`CI` set) its suite fails; elsewhere
 * it is skipped with one loud warning.
 */
export function eachEngine(title: string, suite: (engine: Engine) => void): void {
  describe(`${title} (SQLite)`, () => suite(sqliteEngine));
  if (pgState.state === 'skip') {
    warnSkipped(`${title} (PostgreSQL)`, pgState.reason);
    describe.skip(`${title} (PostgreSQL)`, () => suite(postgres));
    return;
  }
  describe(`${title} (PostgreSQL)`, () => {
    if (pgState.state === 'fail') {
      it('needs PostgreSQL under CI', () => {
        throw new Error(pgState.reason);
      });
      return;
    }
    suite(postgres);
  });
}

/** A sign-in (family) as the release before `003_refresh_binding` wrote it: no `binding_hash`. */
export interface LegacyFamily {
  familyId: string;
  refresh: string;
  access: string;
}

/**
 * `engine`, whose databases hold `user` with live `families` of the release before
 * `003_refresh_binding` (the migration rolled back, the rows written as the old code wrote them), then
 * migrated by this release as start-up would: what a deploy of the companion cookie meets.
 */
export function engineBeforeRefreshBinding(engine: Engine, user: { id: string; email: string }, families: readonly LegacyFamily[]): Engine {
  return {
    name: engine.name,
    async open() {
      const opened = await engine.open();
      const db = opened.db as unknown as Kysely<unknown>;
      // The migrations after it too: Kysely refuses an applied migration after a pending one.
      await MIGRATIONS['004_lc_moved']?.down?.(db);
      await MIGRATIONS['003_refresh_binding']?.down?.(db);
      await sql`delete from kysely_migration where name in ('003_refresh_binding', '004_lc_moved')`.execute(db);
      await sql`delete from lc_migration_checksums where name in ('003_refresh_binding', '004_lc_moved')`.execute(db);
      const now = T0 - 60_000;
      await sql`insert into users (id, email, password_hash, name, created_at, updated_at) values (${user.id}, ${user.email}, 'x', null, ${now}, ${now})`.execute(db);
      for (const family of families) {
        await sql`insert into access_tokens (id, user_id, token_hash, family_id, expires_at, revoked_at, created_at)
          values (${randomUUID()}, ${user.id}, ${hashToken(family.access)}, ${family.familyId}, ${now + 15 * 60_000}, null, ${now})`.execute(db);
        await sql`insert into refresh_tokens (id, user_id, family_id, token_hash, parent_id, family_expires_at, expires_at, used_at, revoked_at, created_at)
          values (${randomUUID()}, ${user.id}, ${family.familyId}, ${hashToken(family.refresh)}, null, ${now + 30 * 86_400_000}, ${now + 7 * 86_400_000}, null, null, ${now})`.execute(db);
      }
      const applied = await migrateToLatest(opened.db as Kysely<DatabaseSchema>);
      if (applied.join() !== '003_refresh_binding,004_lc_moved') throw new Error(`engineBeforeRefreshBinding: migrating applied [${applied.join(', ')}], not 003_refresh_binding and 004_lc_moved`);
      return opened;
    },
  };
}

export interface AuthAppOptions {
  env?: Record<string, string>;
  auth?: Partial<RegisterAuthOptions>;
  /** Build the configuration with `NODE_ENV=production` semantics (without the start-up checks). */
  production?: boolean;
}

export type AuthApp = Awaited<ReturnType<typeof authApp>>;

/** A fresh database of `engine` and a memory store on `clock`, as the reference app's backends; `close()` drops the database. */
export async function testBackends(engine: Engine, clock: Clock): Promise<Backends> {
  const { db, drop } = await engine.open();
  const store = createMemoryStore({ clock });
  return {
    db,
    store,
    async close() {
      await store.close();
      await db.destroy();
      await drop();
    },
  };
}

/** The reference app on a fresh database of `engine`. Close it with `close()`. */
export async function authApp(engine: Engine, options: AuthAppOptions = {}) {
  const clock = manualClock(T0);
  const backends = await testBackends(engine, clock);
  const { db, store } = backends;
  const logs: string[] = [];
  // The app's error serializer, so the lines read as the app writes them (causes once, command args censored).
  const logger = pino({ level: 'trace', serializers: { err: serializeError, error: serializeError } }, { write: (line: string) => void logs.push(line) });
  const securityLog = createSecurityLogger({ logger, clock });
  const events: SecurityEvent[] = [];
  const sink = { emit: (e: SecurityEvent) => (events.push(e), securityLog.emit(e)) };
  const mail = capturedMailTransport();
  const { config, issues } = parseEnv({
    LC_STATE_KEYS: randomBytes(32).toString('base64'),
    LC_SESSION_SECRET: randomBytes(32).toString('base64'),
    HOST: '127.0.0.1',
    PORT: '3000',
    NODE_ENV: options.production ? 'production' : 'development',
    ...(options.production ? { APP_URL: 'https://app.example.com' } : {}),
    TOKEN_CLEANUP_INTERVAL: '0',
    ...options.env,
  });
  if (issues.length > 0) throw new Error(issues.map((i) => i.message).join('; '));
  let app: Awaited<ReturnType<typeof createDemoApp>>;
  try {
    app = await createDemoApp({
      config,
      backends,
      loggerInstance: logger,
      framework: { events: sink, clock, dataDir: mkdtempSync(join(tmpdir(), 'lc-auth-keys-')) },
      auth: { mail, password: FAST_ARGON2, ...options.auth },
    });
    await app.ready();
  } catch (error) {
    await backends.close();
    throw error;
  }

  const post = (url: string, body?: unknown, headers: Record<string, string> = {}, remoteAddress?: string) =>
    app.inject({
      method: 'POST',
      url: `/api/v1/auth${url}`,
      remoteAddress,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      payload: body === undefined ? undefined : JSON.stringify(body),
    });

  return {
    app,
    db,
    clock,
    store,
    mail,
    logs,
    events,
    config,
    post,
    /** Waits for the auth service's background work (reset mail). */
    idle: () => app.livecomponentsAuth.service.idle(),
    /** Names of the security events so far (and forgets them). */
    takeEvents(): string[] {
      return events.splice(0).map((e) => e.event);
    },
    register: (email: string, password = PASSWORD, name?: string) => post('/register', { email, password, ...(name ? { name } : {}) }),
    /** Signs in; resolves the access token and the refresh cookie value. */
    async login(email: string, password = PASSWORD, remoteAddress?: string): Promise<Session> {
      const res = await post('/login', { email, password }, {}, remoteAddress);
      if (res.statusCode !== 200) throw new Error(`login answered ${res.statusCode}: ${res.body}`);
      const binding = bindingCookie(res);
      return { access: (res.json() as { access_token: string }).access_token, refresh: refreshCookie(res) as string, ...(binding === undefined ? {} : { binding }) };
    },
    refresh: (refresh: string | undefined, remoteAddress?: string) =>
      post('/refresh-token', undefined, refresh === undefined ? {} : { cookie: `refresh_token=${refresh}` }, remoteAddress),
    me: (access: string) => app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { authorization: `Bearer ${access}` } }),
    async close(): Promise<void> {
      await app.close();
    },
  };
}

export interface Session {
  access: string;
  refresh: string;
  /** The refresh token's companion cookie (production only: `__Host-`, src/auth/cookie.ts). */
  binding?: string;
}

/** The `Cookie` header of a session's refresh cookie, with its companion when it has one. */
export function refreshCookies(s: { refresh: string; binding?: string | undefined }): string {
  return s.binding === undefined ? `refresh_token=${s.refresh}` : `refresh_token=${s.refresh}; ${BINDING_COOKIE}=${s.binding}`;
}

/** The value of the companion cookie set by an answer (`''` when it was cleared, `undefined` when not set). */
export function bindingCookie(res: LightMyRequestResponse): string | undefined {
  const line = setCookies(res).find((c) => c.startsWith(`${BINDING_COOKIE}=`));
  return line === undefined ? undefined : (line.split(';')[0] as string).slice(BINDING_COOKIE.length + 1);
}

/** The `Set-Cookie` lines of an answer. */
export function setCookies(res: LightMyRequestResponse): string[] {
  const raw = res.headers['set-cookie'];
  return raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
}

/** The value of `refresh_token` set by an answer (`''` when it was cleared, `undefined` when not set). */
export function refreshCookie(res: LightMyRequestResponse): string | undefined {
  const line = setCookies(res).find((c) => c.startsWith('refresh_token='));
  return line === undefined ? undefined : (line.split(';')[0] as string).slice('refresh_token='.length);
}

/** The `refresh_token` Set-Cookie line. */
export function refreshCookieLine(res: LightMyRequestResponse): string | undefined {
  return setCookies(res).find((c) => c.startsWith('refresh_token='));
}
