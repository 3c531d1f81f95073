/**
 * A Redis that lacks a command the store sends (renamed or disabled, as managed Redis does) answers
 * `ERR unknown command 'set', with args beginning with: '<key>' '<value>'`: its echo of the call's
 * keys and values must not reach a store error (logged, shown by the health check) nor the doctor's
 * report.
 */
import { describe, expect, it } from 'vitest';
import { runServiceChecks } from '../../src/cli/doctor-services.js';
import { loadConfig } from '../../src/ops/config.js';
import { REDIS_AVAILABLE, useRedisServer } from './server.js';
import { createRedisStore } from '../../src/store/redis/index.js';

describe.skipIf(!REDIS_AVAILABLE)('a Redis without the commands the store sends', () => {
  const renamed = useRedisServer({ args: ['--rename-command', 'set', '', '--rename-command', 'eval', '', '--rename-command', 'evalsha', ''] });

  it("store errors say which command is missing, never the call's keys or values", async () => {
    const store = createRedisStore({ url: renamed.server.url });
    try {
      const failures = await Promise.all([
        store.set('lc:{s:abc}:session', '{"userId":"alice","secret":"s3cr3t-value"}', 1_000).catch((error: unknown) => error),
        store.batch([{ op: 'set', key: 'lc:{s:abc}:state', value: 'SECRET-STATE-VALUE', ttlMs: 1_000 }]).catch((error: unknown) => error),
        store.health().catch((error: unknown) => error),
      ]);
      const messages = failures.map((failure) => (failure instanceof Error ? failure.message : String(failure)));
      expect(messages[0]).toBe("Redis failed: ERR unknown command 'set'");
      expect(messages[1]).toMatch(/^Redis failed: ERR unknown command 'eval(?:sha)?'$/);
      for (const message of messages) expect(message).not.toMatch(/with args|abc|alice|s3cr3t|SECRET/);
    } finally {
      await store.close();
    }
  });

  it("doctor --connect names the missing command without the script's arguments", async () => {
    const [redis] = await runServiceChecks(loadConfig({ REDIS_URL: renamed.server.url, DATABASE_URL: 'sqlite::memory:' }), { timeoutMs: 2_000 });
    expect(redis?.ok).toBe(false);
    expect(redis?.problems).toHaveLength(1);
    expect(redis?.problems[0]).toMatch(/^REDIS_URL: Redis did not answer \(ERR unknown command 'eval(?:sha)?'\)$/);
  });
});
