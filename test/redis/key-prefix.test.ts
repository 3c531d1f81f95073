/**
 * Two apps on one Redis (one database, or a Cluster, which has no other) share every key unless each
 * has its own prefix: one app's clients spent the other's rate-limit budget. `REDIS_KEY_PREFIX`
 * reaches the store through `openBackends`.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/ops/config.js';
import { openBackends } from '../../src/runtime/backends.js';
import { REDIS_AVAILABLE, useRedisServer } from './server.js';

const POLICY = { algorithm: 'gcra', limit: 2, windowMs: 60_000 } as const;

describe.skipIf(!REDIS_AVAILABLE)('REDIS_KEY_PREFIX', () => {
  const redis = useRedisServer();

  it('keeps two apps on one Redis apart: their keys carry their prefix, and one app’s budget is not the other’s', async () => {
    const open = (prefix: string) => {
      const config = loadConfig({ REDIS_URL: redis.server.url, REDIS_KEY_PREFIX: prefix });
      const dir = mkdtempSync(join(tmpdir(), 'lc-prefix-'));
      return openBackends({ databaseUrl: `sqlite:${join(dir, 'app.db')}`, redisUrl: config.REDIS_URL, redisKeyPrefix: config.REDIS_KEY_PREFIX });
    };
    const [shop, blog] = await Promise.all([open('shop:'), open('blog:')]);
    try {
      const key = 'lc:{r:203.0.113.7}:rl:counter:increment';
      const now = Date.now();
      const spent = [];
      for (let i = 0; i < 3; i++) spent.push((await shop.store.rateLimit(key, POLICY, now)).allowed);
      expect(spent).toEqual([true, true, false]);
      expect((await blog.store.rateLimit(key, POLICY, now)).allowed).toBe(true);
      expect((await redis.admin.keys('*')).sort()).toEqual([`blog:${key}`, `shop:${key}`]);
    } finally {
      await Promise.all([shop.close(), blog.close()]);
    }
  });

  it('is checked at start-up', () => {
    for (const prefix of ['with space', 'tag{x}', 'x'.repeat(65)]) {
      expect(() => loadConfig({ REDIS_KEY_PREFIX: prefix }), prefix).toThrow(/REDIS_KEY_PREFIX: must be 1 to 64 printable characters/);
    }
  });
});
