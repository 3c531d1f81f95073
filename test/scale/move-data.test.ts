/**
 * `livecomponents move-data` end to end (docs/scaling.md, "Moving from one machine to several"): the
 * reference app on its embedded SQLite file makes real data (a user, a sign-in with a rotated refresh
 * token, a payment with an idempotency key, counter state), is stopped, the data is moved into the
 * real PostgreSQL (a schema of its own) and a test-owned redis-server, and the app started on
 * PostgreSQL + Redis carries on: the same password signs in, the refresh cookie rotates and its
 * rotated one revokes the family, the payment retried with its key replays without running again,
 * the counter goes on. Around it: a live app refuses the move, a dry run writes nothing, expired
 * records are not moved, a target holding other users is refused with nothing written, a violation
 * half-way leaves the target as it was, and a run repeated after it copies what is left.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/index.js';
import { migrateCommand } from '../../src/cli/migrate.js';
import { sessionKeyOf } from '../../src/session/index.js';
import { storeKeys } from '../../src/store/keys.js';
import { createSqliteStore } from '../../src/store/sqlite/index.js';
import { createTestSchema, postgresAvailability, warnSkipped } from '../../src/sql/test-postgres.js';
import { waitUntil } from '../helpers/wait-until.js';
import { REDIS_AVAILABLE, startRedis, type RedisServer } from '../redis/server.js';
import { startInstances, type Instance } from './instances.js';

const keys = { LC_STATE_KEYS: randomBytes(32).toString('base64'), LC_SESSION_SECRET: randomBytes(32).toString('base64') };
const PASSWORD = 'correct horse battery staple 42';
const TABLES = ['users', 'access_tokens', 'refresh_tokens', 'password_resets'];

const availability = await postgresAvailability();
if (availability.state === 'fail') throw new Error(availability.reason);
if (availability.state === 'skip') warnSkipped('move-data (PostgreSQL + Redis)', availability.reason);
const skip = availability.state !== 'up' || !REDIS_AVAILABLE;

interface App {
  url: string;
  stop(): Promise<void>;
}

const running = new Set<() => Promise<void>>();

/** The reference app on `env` (its DATABASE_URL, REDIS_URL) with this file's keys, ready. */
async function startApp(env: Record<string, string>): Promise<App> {
  const { instances, stop } = await startInstances(1, { ...keys, NODE_ENV: 'development', ...env });
  running.add(stop);
  return {
    url: (instances[0] as Instance).url,
    async stop() {
      running.delete(stop);
      await stop();
    },
  };
}

/** A browser: its cookies by name (sent on every request, whatever their path). */
class Browser {
  readonly cookies = new Map<string, string>();
  token = '';

  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  take(res: Response): Response {
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const at = (pair as string).indexOf('=');
      this.cookies.set((pair as string).slice(0, at), (pair as string).slice(at + 1));
    }
    return res;
  }

  async auth(url: string, route: string, body: object = {}): Promise<Response> {
    const res = await fetch(`${url}/api/v1/auth/${route}`, { method: 'POST', headers: { 'content-type': 'application/json', cookie: this.header() }, body: JSON.stringify(body) });
    return this.take(res);
  }

  async page(url: string, path: string): Promise<string> {
    const html = await this.take(await fetch(`${url}${path}`, { headers: { cookie: this.header() } })).text();
    this.token = /<meta name="csrf-token" content="([^"]+)"/.exec(html)?.[1] ?? '';
    return html;
  }

  async action(url: string, component: string, action: string, params: object, key?: string): Promise<Response> {
    const headers: Record<string, string> = { 'content-type': 'application/json', cookie: this.header(), 'x-csrf-token': this.token };
    if (key !== undefined) headers['idempotency-key'] = key;
    const res = await fetch(`${url}/api/livecomponents/action`, { method: 'POST', headers, body: JSON.stringify({ component_id: component, action, params }) });
    const body = (await res.clone().json()) as { csrf_token?: string };
    if (body.csrf_token) this.token = body.csrf_token;
    return res;
  }
}

/** `livecomponents move-data …`, in this process: exit code and lines. */
async function move(...args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['move-data', ...args], { env: {}, out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

async function query<T>(url: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text)).rows as T[];
  } finally {
    await client.end();
  }
}

async function counts(url: string): Promise<Record<string, number>> {
  const result: Record<string, number> = {};
  for (const table of TABLES) result[table] = Number((await query<{ n: string }>(url, `select count(*) as n from ${table}`))[0]?.n);
  return result;
}

async function tableNames(url: string, schema: string): Promise<string[]> {
  return (await query<{ t: string }>(url, `select table_name as t from information_schema.tables where table_schema = '${schema}' order by 1`)).map((r) => r.t);
}

describe.skipIf(skip)('livecomponents move-data: SQLite file → PostgreSQL + Redis', { timeout: 180_000 }, () => {
  const folders: string[] = [];
  const drops: (() => Promise<void>)[] = [];
  let redis: RedisServer;
  let redisClient: Redis;
  let dir: string;
  let from: string;
  let target: { url: string; schema: string };
  const user = new Browser();
  const visitor = new Browser();
  const rotated: { first: string; second: string } = { first: '', second: '' };
  let sessionKey = '';

  beforeAll(async () => {
    redis = await startRedis();
    redisClient = new Redis(redis.url);
    dir = mkdtempSync(join(tmpdir(), 'lc-move-'));
    folders.push(dir);
    from = `sqlite:${join(dir, 'app.db')}`;
    const schema = await createTestSchema('move_data');
    drops.push(schema.drop);
    target = schema;
  });

  afterAll(async () => {
    await Promise.all([...running].map((stop) => stop()));
    redisClient?.disconnect();
    await redis?.stop();
    for (const drop of drops) await drop().catch(() => undefined);
    for (const folder of folders) rmSync(folder, { recursive: true, force: true });
  });

  it('seeds the file with the app, and refuses to move while the app has it open (nothing written)', async () => {
    const app = await startApp({ DATABASE_URL: from });
    try {
      expect((await user.auth(app.url, 'register', { email: 'ada@example.com', password: PASSWORD })).status).toBe(201);
      expect((await user.auth(app.url, 'login', { email: 'ada@example.com', password: PASSWORD })).status).toBe(200);
      rotated.first = user.cookies.get('refresh_token') as string;
      expect((await user.auth(app.url, 'refresh-token')).status).toBe(200);
      rotated.second = user.cookies.get('refresh_token') as string;
      expect(rotated.second).not.toBe(rotated.first);

      await visitor.page(app.url, '/payment');
      sessionKey = sessionKeyOf(decodeURIComponent(visitor.cookies.get('lc_session') as string));
      const paid = await visitor.action(app.url, 'payment:main', 'processPayment', { amount: 100 }, 'pay-1');
      expect(paid.status).toBe(200);
      expect(((await paid.json()) as { state: { balance: number } }).state.balance).toBe(900);
      await visitor.page(app.url, '/');
      for (let i = 0; i < 2; i++) expect((await visitor.action(app.url, 'counter:main', 'increment', {})).status).toBe(200);

      const live = await move('--from', from, '--to-database', target.url, '--to-redis', redis.url);
      expect(live.code).toBe(1);
      expect(live.err.join('\n')).toMatch(/is open in another process \(pid \d+: the app, another instance, a sqlite3 shell, a backup\): stop every process that uses it/);
      expect(await tableNames(target.url, target.schema)).toEqual([]);
      expect(await redisClient.dbsize()).toBe(0);
    } finally {
      await app.stop();
    }
    // A record that expired (its row not yet swept) is not moved.
    const store = await createSqliteStore({ url: from, sweepIntervalMs: 0 });
    await store.set(storeKeys.session('expired-one'), '{"expired":true}', 1);
    await waitUntil('the record to expire', async () => (await store.get(storeKeys.session('expired-one'))) === null);
    await store.close();
  });

  it('a dry run counts and writes nothing', async () => {
    const dry = await move('--from', from, '--to-database', target.url, '--to-redis', redis.url, '--dry-run');
    expect(dry.err).toEqual([]);
    expect(dry.code).toBe(0);
    expect(dry.out).toContain('move-data: table users: 1 rows would be copied');
    expect(dry.out).toContain('move-data: key-value idempotency record: 1 would be copied');
    expect(await tableNames(target.url, target.schema)).toEqual([]);
    expect(await redisClient.dbsize()).toBe(0);
  });

  it('moves: tables row for row in one transaction, key-value records with their TTL left; expired ones stay behind', async () => {
    const file = new BetterSqlite3(join(dir, 'app.db'), { readonly: true });
    const rows = file.prepare('select key, expires_at from lc_kv').all() as { key: string; expires_at: number }[];
    file.close();
    // The counter's GCRA state lives as long as its two increments take to refill (about 2 s): past
    // it, so that it is among the expired on a fast machine as on a slow one.
    const counter = rows.filter((r) => r.key.endsWith(':rl:counter:increment'));
    expect(counter).toHaveLength(1);
    await waitUntil('the counter\'s rate-limit state to expire', async () => Date.now() > (counter[0] as { expires_at: number }).expires_at);
    const moved = await move('--from', from, '--to-database', target.url, '--to-redis', redis.url);
    // Expired by the time of the move: the planted record, and state whose TTL ran out since (a
    // counter's GCRA state lives as long as its budget takes to refill).
    const expired = rows.filter((r) => r.expires_at <= Date.now()).length;
    expect(rows.filter((r) => r.key === storeKeys.session('expired-one'))).toHaveLength(1);
    expect(moved.err).toEqual([]);
    expect(moved.code).toBe(0);
    expect(moved.out).toContain('move-data: table users: 1 rows copied');
    expect(moved.out).toContain('move-data: table refresh_tokens: 2 rows copied');
    expect(moved.out).toContain('move-data: key-value idempotency record: 1 copied');
    expect(moved.out).toContain('move-data: key-value component state: 2 copied');
    expect(moved.out).toContain(`move-data: key-value expired: ${expired} not moved (past their TTL)`);
    // The auth limiter's sliding windows (register, login, the account's attempts) become the sorted sets the Redis store keeps.
    // The payment's GCRA state moves as the same `g:<tat>` string.
    expect(moved.out).toContain('move-data: key-value rate-limit counter: 5 copied');
    const windows = rows.filter((r) => /:rl:~auth:(register|login|refresh-token)$|:auth:attempts$/.test(r.key));
    expect(windows).toHaveLength(4);
    for (const { key } of windows) expect([key, await redisClient.type(key), await redisClient.zcard(key)]).toEqual([key, 'zset', 1]);
    const gcra = rows.filter((r) => r.key.endsWith(':rl:payment:processPayment'));
    expect(gcra).toHaveLength(1);
    expect(await redisClient.get((gcra[0] as { key: string }).key)).toMatch(/^g:\d/);
    // Row for row: the same ids, hashes and times.
    const source = new BetterSqlite3(join(dir, 'app.db'), { readonly: true });
    try {
      for (const table of TABLES) {
        const order = table === 'password_resets' ? 'token_hash' : 'id';
        const want = source.prepare(`select * from ${table} order by ${order}`).all();
        const got = await query<Record<string, unknown>>(target.url, `select * from ${table} order by ${order}`);
        expect(got.map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === 'string' && /^\d+$/.test(v) && k.endsWith('_at') ? Number(v) : v])))).toEqual(want);
      }
    } finally {
      source.close();
    }
    expect(await redisClient.exists(storeKeys.session('expired-one'))).toBe(0);
    // The TTL left, never more: the state key's old expiry was at most a day (the session TTL) away.
    const stateTtl = await redisClient.pttl(storeKeys.componentState(sessionKey, 'counter:main'));
    expect(stateTtl).toBeGreaterThan(0);
    expect(stateTtl).toBeLessThanOrEqual(24 * 3_600_000);
  });

  it('run again after it completed: refused by the completion mark, nothing written — a record deleted since stays deleted', async () => {
    // What an app on Redis deletes (a used CSRF token, an ended session, a reset window): here the
    // account's sign-in window. SET … NX alone would write it back.
    const attempts = (await redisClient.keys('*:auth:attempts'))[0] as string;
    expect(await redisClient.del(attempts)).toBe(1);
    const size = await redisClient.dbsize();
    // Refused first by the file's own mark (src/sql/moved-mark.ts), nothing written…
    const marked = await move('--from', from, '--to-database', target.url, '--to-redis', redis.url);
    expect([marked.code, marked.err]).toEqual([1, [expect.stringContaining('nothing left to move; nothing was written')]]);
    expect([await redisClient.exists(attempts), await redisClient.dbsize()]).toEqual([0, size]);
    // …and, that mark cleared (move-data --unmark), by Redis's.
    expect((await move('--unmark', '--from', from)).code).toBe(0);
    const again = await move('--from', from, '--to-database', target.url, '--to-redis', redis.url);
    expect([again.code, await redisClient.exists(attempts), await redisClient.dbsize()]).toEqual([1, 0, size]);
    const at = /"at":"([^"]+)"/.exec((await redisClient.get('lc:{move-data}:done')) ?? '')?.[1];
    expect(again.err).toEqual([`move-data: ${redis.url} holds the mark of a completed move (${at}): copying again would bring back records the app on Redis deleted since (used CSRF tokens, ended sessions); nothing was written. To move into this Redis again, delete the key lc:{move-data}:done first`]);
    expect(await counts(target.url)).toEqual({ users: 1, access_tokens: 2, refresh_tokens: 2, password_resets: 0 });
    // The mark lives as long as the longest-lived record moved (a day at least).
    expect(await redisClient.pttl('lc:{move-data}:done')).toBeGreaterThan(23 * 3_600_000);
  });

  it('the app on PostgreSQL + Redis carries on: sign-in, refresh rotation and reuse, the payment replayed, the counter', async () => {
    const app = await startApp({ DATABASE_URL: target.url, REDIS_URL: redis.url });
    try {
      // The old refresh cookie rotates; the rotated one is reuse and revokes the family.
      expect((await user.auth(app.url, 'refresh-token')).status).toBe(200);
      const third = user.cookies.get('refresh_token') as string;
      expect(third).not.toBe(rotated.second);
      user.cookies.set('refresh_token', rotated.first);
      const reuse = await user.auth(app.url, 'refresh-token');
      expect([reuse.status, ((await reuse.json()) as { code: string }).code]).toEqual([401, 'REFRESH_TOKEN_INVALID']);
      user.cookies.set('refresh_token', third);
      expect((await user.auth(app.url, 'refresh-token')).status).toBe(401);
      // The same password signs in.
      const login = await user.auth(app.url, 'login', { email: 'ada@example.com', password: PASSWORD });
      expect(login.status).toBe(200);

      // The payment retried with its key replays; the action does not run again.
      await visitor.page(app.url, '/payment');
      const retry = await visitor.action(app.url, 'payment:main', 'processPayment', { amount: 100 }, 'pay-1');
      const body = (await retry.json()) as { state: { balance: number }; idempotency: { cached: boolean } };
      expect([retry.status, retry.headers.get('idempotent-replayed'), body.idempotency.cached, body.state.balance]).toEqual([200, 'true', true, 900]);
      const html = await visitor.page(app.url, '/payment');
      expect(Number(/Payments made: (\d+)/.exec(html)?.[1])).toBe(1);
      expect(Number(/data-balance>(\d+)</.exec(html)?.[1])).toBe(900);
      // The counter's sealed state goes on from 2.
      await visitor.page(app.url, '/');
      const next = await visitor.action(app.url, 'counter:main', 'increment', {});
      expect(((await next.json()) as { state: { count: number } }).state.count).toBe(3);

      expect((await new Browser().auth(app.url, 'register', { email: 'bob@example.com', password: PASSWORD })).status).toBe(201);
    } finally {
      await app.stop();
    }
    // A target holding other users is refused, nothing written: not the tables, not Redis (a key the
    // move would copy, deleted here, stays missing).
    const before = await counts(target.url);
    expect(before.users).toBe(2);
    const stateKey = storeKeys.componentState(sessionKey, 'counter:main');
    expect(await redisClient.del(stateKey)).toBe(1);
    // The completion mark deleted, as its refusal says to: the database's refusal is next.
    expect(await redisClient.del('lc:{move-data}:done')).toBe(1);
    const refused = await move('--from', from, '--to-database', target.url, '--to-redis', redis.url);
    expect(refused.code).toBe(1);
    expect(refused.err.join('\n')).toMatch(/already holds data \(users 2, access_tokens \d+, refresh_tokens \d+, password_resets 0\) that is not this file's: move-data copies into an empty database only \(no merge\); nothing was written/);
    expect(await counts(target.url)).toEqual(before);
    expect(await redisClient.exists(stateKey)).toBe(0);
  });

  it('refuses a target whose applied migrations differ from this release\'s (the migrate code\'s refusal), writing nothing', async () => {
    const other = await createTestSchema('move_data_changed');
    drops.push(other.drop);
    expect(await migrateCommand({ DATABASE_URL: other.url }, { out: () => undefined })).toBe(0);
    await query(other.url, `update lc_migration_checksums set checksum = 'edited' where name = '002_auth'`);
    const refused = await move('--from', from, '--to-database', other.url);
    expect(refused.code).toBe(1);
    expect(refused.err.join('\n')).toMatch(/migration 002_auth differs from the one applied to this database: its checksum is/);
    expect(await counts(other.url)).toEqual({ users: 0, access_tokens: 0, refresh_tokens: 0, password_resets: 0 });
  });

  it('a violation half-way (a refresh token of a user that does not exist) leaves the target as it was; fixed, the run completes', async () => {
    const other = await createTestSchema('move_data_fail');
    drops.push(other.drop);
    expect(await migrateCommand({ DATABASE_URL: other.url }, { out: () => undefined })).toBe(0);
    const broken = join(dir, 'broken.db');
    const source = new BetterSqlite3(join(dir, 'app.db'));
    source.exec(`VACUUM INTO '${broken}'`);
    source.close();
    const edit = new BetterSqlite3(broken);
    edit.pragma('foreign_keys = OFF');
    // A copy of a moved file carries its marks: cleared, this copy is a source of its own.
    edit.prepare('delete from lc_moved').run();
    edit.prepare(`insert into refresh_tokens (id, user_id, family_id, token_hash, parent_id, family_expires_at, expires_at, created_at, binding_hash)
      values ('orphan', 'no-such-user', 'f', 'h-orphan', null, 1, ${Date.now() + 60_000}, 1, 'unbound')`).run();
    edit.close();

    await redisClient.del('lc:{move-data}:done');
    const failed = await move('--from', `sqlite:${broken}`, '--to-database', other.url, '--to-redis', redis.url);
    expect(failed.code).toBe(1);
    expect(failed.err.join('\n')).toMatch(/foreign key/);
    expect(await counts(other.url)).toEqual({ users: 0, access_tokens: 0, refresh_tokens: 0, password_resets: 0 });

    const fix = new BetterSqlite3(broken);
    fix.prepare(`delete from refresh_tokens where id = 'orphan'`).run();
    fix.close();
    const fixed = await move('--from', `sqlite:${broken}`, '--to-database', other.url);
    expect(fixed.code).toBe(0);
    expect(await counts(other.url)).toEqual({ users: 1, access_tokens: 2, refresh_tokens: 2, password_resets: 0 });
  });
});
