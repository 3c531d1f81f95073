import BetterSqlite3 from 'better-sqlite3';
import Fastify from 'fastify';
import { Kysely, SqliteDialect } from 'kysely';
import { describe, expect, it } from 'vitest';
import { manualClock } from '../../core/clock.js';
import { createMemoryStore } from '../../store/memory/index.js';
import { bearerChecker } from './bearer.js';
import { prepareChecks, redisHealthCheck, runCheck, sqlHealthCheck, storeHealthCheck, worstStatus, type HealthCheck } from './checks.js';
import { createLifecycleState, InvalidOptionError, registerHealth } from './index.js';

const clock = manualClock(Date.UTC(2026, 0, 15, 10, 30));
const run = (c: HealthCheck, timeoutMs = 1000) => runCheck(prepareChecks([c])[0]!, timeoutMs, timeoutMs, clock);

describe('check factories', () => {
  it('storeHealthCheck passes on a live store and fails once it is closed', async () => {
    const store = createMemoryStore({ sweepIntervalMs: 0 });
    const check = storeHealthCheck(store);
    expect(check.name).toBe('store');
    expect(await run(check)).toMatchObject({ key: 'store:responsiveness', status: 'pass', output: undefined, time: '2026-01-15T10:30:00.000Z' });
    await store.close();
    expect(await run(check)).toMatchObject({ status: 'fail', output: expect.any(String) });
  });

  it('sqlHealthCheck runs select 1 on a real SQLite database and fails once it is destroyed', async () => {
    const db = new Kysely<unknown>({ dialect: new SqliteDialect({ database: new BetterSqlite3(':memory:') }) });
    const check = sqlHealthCheck(db);
    expect(await run(check)).toMatchObject({ key: 'sql:responsiveness', componentType: 'datastore', status: 'pass' });
    await db.destroy();
    const failed = await run(check);
    expect(failed.status).toBe('fail');
    expect(failed.output).toMatch(/destroy/i);
  });

  it('redisHealthCheck pings, and reports the rejection', async () => {
    let pings = 0;
    expect(await run(redisHealthCheck({ ping: async () => (pings++, 'PONG') }))).toMatchObject({ key: 'redis:responsiveness', status: 'pass' });
    expect(pings).toBe(1);
    const down = redisHealthCheck({ ping: () => Promise.reject(new Error('Connection is closed.')) });
    expect(await run(down)).toMatchObject({ status: 'fail', output: 'Connection is closed.' });
  });

  it('turns a synchronous throw and a non-Error rejection into a failed reading', async () => {
    const sync: HealthCheck = {
      name: 'sync',
      check: () => {
        throw new TypeError('bad wiring');
      },
    };
    expect(await run(sync)).toMatchObject({ status: 'fail', output: 'bad wiring' });
    expect(await run({ name: 'odd', check: () => Promise.reject('just text') })).toMatchObject({ status: 'fail', output: 'just text' });
  });

  it('a check that resolves with { warn } reads warn with that output; a slow one adds its time', async () => {
    expect(await run({ name: 'setting', check: async () => ({ warn: 'set it right' }) })).toMatchObject({ status: 'warn', output: 'set it right' });
    const slow = await runCheck(prepareChecks([{ name: 'slow', check: () => new Promise((r) => setTimeout(() => r({ warn: 'set it right' }), 20)) }])[0]!, 1000, 5, clock);
    expect(slow.status).toBe('warn');
    expect(slow.output).toMatch(/^set it right; answered in [\d.]+ ms, over the 5 ms warning threshold$/);
    expect(await run({ name: 'plain', check: async () => undefined })).toMatchObject({ status: 'pass', output: undefined });
  });

  it('fails a hung check at its timeout', async () => {
    const reading = await run({ name: 'hung', check: () => new Promise<void>(() => undefined) }, 15);
    expect(reading.status).toBe('fail');
    expect(reading.output).toBe('timed out after 15 ms');
  });
});

// A stall of the event loop (a GC pause, a CPU spike) while the probe's checks start: here inside the
// second check's synchronous part, the first check's answer already in hand. Neither dependency is
// down: both answered, late only because the loop was held. A slow answer is `warn` (the module's
// rule); reading it as "timed out" failed /health/ready (503, the pod drained) and named the first
// check, which had answered at once, as the one that timed out.
describe('a probe during an event-loop stall', () => {
  /** Holds the event loop (no timer can run) until `ms` have passed. */
  function block(ms: number): void {
    const until = performance.now() + ms;
    while (performance.now() < until);
  }

  it('an answer in hand is not a timeout: /health/ready stays 200, each check warns as slow', async () => {
    const state = createLifecycleState();
    state.startupDone = true;
    const app = Fastify();
    const instant: HealthCheck = { name: 'store', check: () => Promise.resolve() };
    const stalled: HealthCheck = {
      name: 'sql',
      check: () => {
        block(60);
        return Promise.resolve();
      },
    };
    registerHealth(app, { checks: [instant, stalled], state, clock, timeoutMs: 40, warnMs: 20, token: 'health-token-0123456789' });
    try {
      const ready = await app.inject({ method: 'GET', url: '/health/ready' });
      expect(ready.statusCode).toBe(200);
      const full = await app.inject({ method: 'GET', url: '/health', headers: { authorization: 'Bearer health-token-0123456789' } });
      const checks = (full.json() as { checks: Record<string, { status: string; output?: string }[]> }).checks;
      for (const key of ['store:responsiveness', 'sql:responsiveness']) {
        expect(checks[key]?.[0]?.status).toBe('warn');
        expect(checks[key]?.[0]?.output).toMatch(/^answered in [\d.]+ ms, over the 20 ms warning threshold$/);
      }
    } finally {
      await app.close();
    }
  });
});

describe('worstStatus', () => {
  it('orders fail over warn over pass', () => {
    expect(worstStatus([])).toBe('pass');
    expect(worstStatus(['pass', 'warn', 'pass'])).toBe('warn');
    expect(worstStatus(['warn', 'fail', 'pass'])).toBe('fail');
  });
});

describe('prepareChecks', () => {
  const ok = (): Promise<void> => Promise.resolve();

  it('keys checks name:measurement with the default measurement', () => {
    expect(prepareChecks([{ name: 'sql', check: ok }, { name: 'sql', measurement: 'connections', check: ok }]).map((c) => c.key)).toEqual([
      'sql:responsiveness',
      'sql:connections',
    ]);
  });

  it.each([
    [[{ name: 'store', check: ok }, { name: 'store', check: ok }], /two checks report under "store:responsiveness"/],
    [[{ name: 'Store:x', check: ok }], /checks\[0\]\.name must be lower-case/],
    [[{ name: 'sql', measurement: '', check: ok }], /checks\[0\]\.measurement must be lower-case/],
    [[{ name: 'sql' }], /checks\[0\]\.check must be a function/],
    ['not an array', /checks must be an array/],
  ])('refuses %j', (checks, message) => {
    expect(() => prepareChecks(checks as never)).toThrow(message);
    expect(() => prepareChecks(checks as never)).toThrow(InvalidOptionError);
  });
});

describe('registerHealth options', () => {
  const state = createLifecycleState();
  it.each([
    [{ timeoutMs: 0 }, /timeoutMs must be a positive number/],
    [{ timeoutMs: Number.NaN }, /timeoutMs must be a positive number/],
    [{ warnMs: -1 }, /warnMs must be a positive number/],
    [{ token: 'short' }, /token must be at least 16 characters/],
    [{ token: 'has white space in it!!' }, /token must be at least 16 characters without whitespace/],
    [{ state: null }, /state must be a LifecycleState/],
  ])('refuses %j with code LC_INVALID_OPTION', (extra, message) => {
    const attempt = () => registerHealth(Fastify(), { checks: [], state, ...(extra as object) });
    expect(attempt).toThrow(message);
    try {
      attempt();
    } catch (error) {
      expect((error as InvalidOptionError).code).toBe('LC_INVALID_OPTION');
    }
  });
});

describe('bearerChecker', () => {
  const check = bearerChecker('s3cret-token-value-0123');
  it.each([
    [undefined, 'absent'],
    ['', 'absent'],
    ['Bearer s3cret-token-value-0123', 'valid'],
    ['bearer   s3cret-token-value-0123', 'valid'],
    ['Bearer s3cret-token-value-0124', 'invalid'],
    ['Bearer s3cret-token-value-01234', 'invalid'],
    ['Bearer s3cret-token-value-0123 extra', 'invalid'],
    ['Basic czNjcmV0', 'invalid'],
    ['s3cret-token-value-0123', 'invalid'],
  ])('%j is %s', (header, verdict) => {
    expect(check(header)).toBe(verdict);
  });
});
