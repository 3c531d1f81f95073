/**
 * Why Redis cannot be reached is said, once, without the password: a wrong password (WRONGPASS)
 * used to leave the app reconnecting forever with only "Redis is not connected (reconnecting)."
 * in every request's log line and in /health.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster } from 'ioredis';
import { describe, expect, it, vi } from 'vitest';
import { createDemoApp } from '../../examples/demo/app.js';
import { loadConfig } from '../../src/ops/config.js';
import { closeLogger, createLogger } from '../../src/ops/logging/index.js';
import { createRedisStore, redisClusterOptions } from '../../src/store/redis/index.js';
import { capture } from '../logging/capture.js';
import { REDIS_AVAILABLE, sleep, startRedis, useRedisServer } from './server.js';

const PASSWORD = 'Zz9SECRETzz-right';
const WRONG = 'Zz9SECRETzz-wrong';
const TOKEN = 'h'.repeat(32);

describe.skipIf(!REDIS_AVAILABLE)('Redis connection errors', () => {
  const redis = useRedisServer({ password: PASSWORD });
  const wrongUrl = () => `redis://:${WRONG}@127.0.0.1:${redis.server.port}`;
  /** Connections the server has accepted so far (each reconnect attempt is one). */
  const connections = async () => Number(/total_connections_received:(\d+)/.exec(await redis.admin.info('stats'))?.[1]);

  it('calls refused while reconnecting name the last error; reported errors carry no command or password', async () => {
    const reported: Error[] = [];
    const store = createRedisStore({ url: wrongUrl(), onConnectionError: (e) => reported.push(e) });
    try {
      // The start-up wait, then a call once the first attempt is over.
      await expect(store.get('lc:{e}:a')).rejects.toThrow(/^Redis is not connected \(\w+; last error: WRONGPASS invalid username-password pair/);
      await sleep(300);
      // `connecting` when the call falls inside one of the retries (seen on a loaded CI machine), else `reconnecting`.
      await expect(store.health()).rejects.toThrow(/^Redis is not connected \((?:re)?connecting; last error: WRONGPASS invalid username-password pair/);
      expect(reported.length).toBeGreaterThan(0);
      for (const error of reported) {
        expect(error.message).toMatch(/^WRONGPASS/);
        expect(Object.keys(error)).not.toContain('command');
        expect(JSON.stringify({ ...error, message: error.message, stack: error.stack })).not.toContain('Zz9SECRETzz');
      }
    } finally {
      await store.close();
    }
  });

  it('without onConnectionError, a refused password is written to stderr once over several reconnects', async () => {
    const spy = vi.spyOn(console, 'error').mockImplementation(() => {});
    const store = createRedisStore({ url: wrongUrl() });
    try {
      const before = await connections();
      await store.get('lc:{e}:a').catch(() => {});
      await sleep(1_500);
      expect((await connections()) - before).toBeGreaterThanOrEqual(3);
      const lines = spy.mock.calls.map((args) => args.join(' '));
      expect(lines).toEqual([expect.stringMatching(/^livecomponents: Redis refused the connection \(WRONGPASS invalid username-password pair/)]);
      expect(lines.join('\n')).not.toContain('Zz9SECRETzz');
    } finally {
      await store.close();
      spy.mockRestore();
    }
  });

  it('a Cluster URL on a single Redis names the reason too', async () => {
    const plain = await startRedis();
    const store = createRedisStore({ client: new Cluster([{ host: '127.0.0.1', port: plain.port }], redisClusterOptions()) });
    try {
      await store.get('lc:{e}:a').catch(() => {});
      await sleep(300);
      await expect(store.get('lc:{e}:a')).rejects.toThrow(/last error: Failed to refresh slots cache\. \(ERR This instance has cluster support disabled\)/);
    } finally {
      await store.close();
      await plain.stop();
    }
  });

  it('the reference app logs WRONGPASS once over several reconnects, names it in /health, and never logs the password', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'lc-redis-errors-'));
    const config = loadConfig({
      LC_STATE_KEYS: randomBytes(32).toString('base64'),
      LC_SESSION_SECRET: randomBytes(32).toString('base64'),
      DATABASE_URL: `sqlite:${join(dataDir, 'test.db')}`,
      REDIS_URL: wrongUrl(),
      HEALTH_TOKEN: TOKEN,
    });
    const out = capture();
    const logger = createLogger({ format: 'json', level: 'trace', stream: out });
    const app = await createDemoApp({ config, loggerInstance: logger, framework: { dataDir } });
    try {
      await app.ready();
      const before = await connections();
      await sleep(2_000);
      expect((await connections()) - before).toBeGreaterThanOrEqual(3);
      const health = await app.inject({ method: 'GET', url: '/health', headers: { authorization: `Bearer ${TOKEN}` } });
      expect(health.statusCode).toBe(503);
      expect(health.json().checks['store:responsiveness'][0].output).toMatch(/^Redis is not connected \(reconnecting; last error: WRONGPASS invalid username-password pair/);
      const page = await app.inject({ method: 'GET', url: '/' });
      expect(page.statusCode).toBe(503);
      await sleep(50);
      const lines = out.text().split('\n').filter((l) => l !== '');
      const connectionLines = lines.filter((l) => l.includes('Redis connection failed'));
      expect(connectionLines).toHaveLength(1);
      expect(JSON.parse(connectionLines[0] as string)).toMatchObject({ level: 50, msg: expect.stringMatching(/^Redis connection failed: WRONGPASS invalid username-password pair/) });
      // The page's 503 is logged with the reason too.
      expect(lines.some((l) => !l.includes('Redis connection failed') && l.includes('last error: WRONGPASS'))).toBe(true);
      expect(lines.filter((l) => l.includes('Zz9SECRETzz'))).toEqual([]);
    } finally {
      await app.close();
      await closeLogger(logger);
    }
  });
});
