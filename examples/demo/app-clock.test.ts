/**
 * The reference app and the wall clock. An instance whose clock was days off PostgreSQL started
 * silently and reported ready, while its tokens lived days too long on every instance: it now says
 * so in its log and in `livecomponents_clock_skew_seconds`, and stays ready (the database's own
 * clock may be the wrong one). And the repeat of "Redis connection failed" is timed on the
 * monotonic clock: a step of the wall clock back an hour silenced it for that hour.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseEnv } from '../../src/ops/config.js';
import { createDatabase, migrateToLatest } from '../../src/sql/index.js';
import { createTestSchema, postgresAvailability } from '../../src/sql/test-postgres.js';
import { createMemoryStore } from '../../src/store/memory/index.js';
import { createDemoApp, redisErrorLog } from './app.js';

const DAY = 86_400_000;
const pg = await postgresAvailability();

describe.skipIf(pg.state !== 'up')('the reference app on a clock a day ahead of PostgreSQL', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('logs one error naming the skew, exposes it as a gauge, and stays ready', async () => {
    const { url, drop } = await createTestSchema('demo_clock');
    cleanups.push(drop);
    const db = createDatabase(url);
    await migrateToLatest(db);
    const store = createMemoryStore();
    const dataDir = mkdtempSync(join(tmpdir(), 'lc-demo-clock-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const logs: { level: number; msg: string }[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as { level: number; msg: string }) });
    const { config, issues } = parseEnv({
      LC_STATE_KEYS: randomBytes(32).toString('base64'),
      LC_SESSION_SECRET: randomBytes(32).toString('base64'),
      HOST: '127.0.0.1',
      PORT: '3000',
      NODE_ENV: 'development',
      TOKEN_CLEANUP_INTERVAL: '0',
    });
    expect(issues).toEqual([]);
    const app = await createDemoApp({
      config,
      loggerInstance: logger,
      backends: { db, store, close: async () => (await store.close(), await db.destroy()) },
      framework: { clock: { now: () => Date.now() + DAY }, dataDir },
    });
    cleanups.push(() => app.close());
    await app.ready();

    const clockLines = () => logs.filter((l) => l.msg.startsWith('clock: '));
    await vi.waitFor(() => expect(clockLines()).toHaveLength(1));
    expect(clockLines()[0]?.level).toBe(50);
    expect(clockLines()[0]?.msg).toMatch(/^clock: this machine's clock is 8640\d s ahead of PostgreSQL \(over 300 s\): /);
    expect((await app.inject('/health/ready')).statusCode).toBe(200);
    const metrics = await app.inject('/metrics');
    const gauge = /^livecomponents_clock_skew_seconds\{service="postgresql"\} (\S+)$/m.exec(metrics.body)?.[1];
    expect(Number(gauge)).toBeCloseTo(86_400, 0);
    expect(metrics.body).not.toContain('service="redis"');
  });
});

describe('redisErrorLog', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('logs the same failure again a minute later, even when the wall clock stepped back an hour meanwhile', () => {
    const lines: string[] = [];
    const log = redisErrorLog({ error: (m: string) => void lines.push(m), info: () => undefined } as never);
    let wall = Date.UTC(2026, 5, 1);
    let monotonic = 1_000;
    vi.spyOn(Date, 'now').mockImplementation(() => wall);
    vi.spyOn(performance, 'now').mockImplementation(() => monotonic);
    const refused = new Error('connect ECONNREFUSED 127.0.0.1:6379');
    log.report(refused);
    wall -= 3_600_000;
    monotonic += 30_000;
    log.report(refused);
    expect(lines).toHaveLength(1);
    wall += 31_000;
    monotonic += 31_000;
    log.report(refused);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/^Redis connection failed: connect ECONNREFUSED 127\.0\.0\.1:6379 \(/);
  });
});
