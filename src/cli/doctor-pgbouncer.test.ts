/**
 * PostgreSQL behind PgBouncer (transaction pooling, its usual set-up), played by a proxy that treats the
 * startup parameters as PgBouncer does: by default it refuses the server-side timeouts the app sends
 * when it connects (`serverTimeouts`: "unsupported startup parameter", SQLSTATE 08P01); with
 * `ignore_startup_parameters` it drops them, and they are then not in force at all.
 * Before: start-up failed with the bare refusal, the doctor said the server "did not answer", and
 * with the parameters ignored it passed while the timeouts read 0.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../ops/config.js';
import { openBackends } from '../runtime/backends.js';
import { createTestSchema, postgresAvailability, postgresProxyWith, TEST_POSTGRES_URL, warnSkipped, type PostgresProxy } from '../sql/test-postgres.js';
import { runServiceChecks } from './doctor-services.js';

const TIMEOUTS = ['statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout'];

/** The startup message's parameters (after its length and protocol version), in order. */
function parameters(message: Buffer): [string, string][] {
  const fields = message.subarray(8).toString('utf8').split('\0');
  const pairs: [string, string][] = [];
  for (let i = 0; i + 1 < fields.length && fields[i] !== ''; i += 2) pairs.push([fields[i] as string, fields[i + 1] as string]);
  return pairs;
}

function startupMessage(version: number, pairs: [string, string][]): Buffer {
  const body = Buffer.from(`${pairs.map(([k, v]) => `${k}\0${v}\0`).join('')}\0`);
  const head = Buffer.alloc(8);
  head.writeInt32BE(8 + body.length, 0);
  head.writeInt32BE(version, 4);
  return Buffer.concat([head, body]);
}

/** An ErrorResponse as PgBouncer sends it for a startup parameter it does not know. */
function refusal(name: string): Buffer {
  const fields = Buffer.from(`SFATAL\0VFATAL\0C08P01\0Munsupported startup parameter: ${name}\0\0`);
  const head = Buffer.alloc(5);
  head.write('E', 0);
  head.writeInt32BE(4 + fields.length, 1);
  return Buffer.concat([head, fields]);
}

/** A stand-in for PgBouncer in front of the test server: `refuse` (its default) or `ignore` the timeouts. */
async function fakePooler(mode: 'refuse' | 'ignore'): Promise<PostgresProxy> {
  return postgresProxyWith((client, connectUpstream) => {
    client.on('error', () => undefined);
    let pending = Buffer.alloc(0);
    const onStartup = (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      if (pending.length < 4 || pending.length < pending.readInt32BE(0)) return;
      client.off('data', onStartup);
      const message = pending.subarray(0, pending.readInt32BE(0));
      const rest = pending.subarray(message.length);
      const pairs = parameters(message);
      const refused = pairs.find(([k]) => TIMEOUTS.includes(k));
      if (mode === 'refuse' && refused !== undefined) {
        client.end(refusal(refused[0]));
        return;
      }
      const upstream = connectUpstream();
      upstream.on('error', () => undefined).on('close', () => client.destroy());
      client.on('close', () => upstream.destroy());
      upstream.write(startupMessage(message.readInt32BE(4), pairs.filter(([k]) => !TIMEOUTS.includes(k))));
      if (rest.length > 0) upstream.write(rest);
      client.pipe(upstream);
      upstream.pipe(client);
    };
    client.on('data', onStartup);
  });
}

const pgState = await postgresAvailability();
if (pgState.state === 'skip') warnSkipped('PostgreSQL behind PgBouncer', pgState.reason);

const database = async (url: string) => (await runServiceChecks(loadConfig({ DATABASE_URL: url }), { timeoutMs: 3_000 }))[1];

describe.skipIf(pgState.state === 'skip')('PostgreSQL behind PgBouncer', () => {
  let schema: Awaited<ReturnType<typeof createTestSchema>>;
  beforeAll(async () => {
    if (pgState.state === 'fail') throw new Error(pgState.reason);
    schema = await createTestSchema('pgbouncer');
  });
  afterAll(() => schema?.drop());

  describe('refusing the timeouts (its default)', () => {
    let pooler: Awaited<ReturnType<typeof fakePooler>>;
    beforeAll(async () => void (pooler = await fakePooler('refuse')));
    afterAll(() => pooler?.close());

    it('the doctor says the server refused, and what to set, not that it did not answer', async () => {
      const result = await database(pooler.url(schema.url));
      expect(result?.ok).toBe(false);
      expect(result?.problems).toHaveLength(1);
      expect(result?.problems[0]).toMatch(/ answered with an error \(PostgreSQL failed: unsupported startup parameter: statement_timeout: a connection pooler \(PgBouncer\) refuses/);
      expect(result?.problems[0]).toContain('ignore_startup_parameters = statement_timeout,lock_timeout,idle_in_transaction_session_timeout');
      expect(result?.problems[0]).not.toContain('did not answer');
    });

    it('start-up fails naming the fix', async () => {
      await expect(openBackends({ databaseUrl: pooler.url(schema.url) })).rejects.toThrow(/unsupported startup parameter: statement_timeout: .*ignore_startup_parameters = statement_timeout,lock_timeout,idle_in_transaction_session_timeout.*ALTER ROLE/);
    });
  });

  describe('ignoring them (ignore_startup_parameters)', () => {
    let pooler: Awaited<ReturnType<typeof fakePooler>>;
    beforeAll(async () => void (pooler = await fakePooler('ignore')));
    afterAll(() => pooler?.close());

    it('the doctor fails the database: the timeouts read 0, and it names the ALTER ROLE to run', async () => {
      const result = await database(pooler.url(schema.url));
      expect(result?.ok).toBe(false);
      expect(result?.problems).toEqual([
        expect.stringMatching(/: statement_timeout, lock_timeout, idle_in_transaction_session_timeout are 0 \(no limit\), though the app sends them when it connects: .*ALTER ROLE "postgres" SET statement_timeout = '9s'; ALTER ROLE "postgres" SET lock_timeout = '9s'; ALTER ROLE "postgres" SET idle_in_transaction_session_timeout = '20s';/),
      ]);
      // The statements it names run as printed (each in a transaction rolled back: the role stays as it was).
      const statements = /set them on the role: ((?:ALTER ROLE [^;]+; ?)+)/.exec(result?.problems[0] ?? '')?.[1]?.trim().split(/(?<=;) /) ?? [];
      expect(statements).toHaveLength(3);
      const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
      await client.connect();
      try {
        for (const statement of statements) {
          await client.query('begin');
          try {
            await client.query(statement);
          } finally {
            await client.query('rollback');
          }
        }
      } finally {
        await client.end();
      }
    });

    it('passes once the server sets them itself (here through the URL\'s options, as a role setting would)', async () => {
      const url = new URL(pooler.url(schema.url));
      url.searchParams.set('options', `${url.searchParams.get('options')} -c statement_timeout=9s -c lock_timeout=9s -c idle_in_transaction_session_timeout=20s`);
      const result = await database(url.toString());
      expect(result).toMatchObject({ ok: true, problems: [] });
    });
  });
});
