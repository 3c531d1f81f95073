/**
 * A Redis Cluster seed list the app could not connect with, silently:
 * - IPv6 seeds (`redis://[::1]:7000,…`) were handed to ioredis with their brackets, which DNS never
 *   resolves: every page answered 503 for good;
 * - seeds that do not resolve (brackets, a typo) failed the Cluster's connection before any node
 *   was asked. ioredis hands that reason to the retry strategy only, so the app logged nothing and
 *   /health said "Redis is not connected (reconnecting)." — now both name the DNS error.
 * One cluster-enabled node holding every slot, on ::1, stands for a cluster: seeds work the same.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisTarget } from '../../src/runtime/backends.js';
import { createRedisStore } from '../../src/store/redis/index.js';
import { freePort, REDIS_AVAILABLE, sleep, startRedis, type RedisServer } from './server.js';

describe.skipIf(!REDIS_AVAILABLE)('Redis Cluster seed lists', () => {
  let node: RedisServer;
  beforeAll(async () => {
    // A cluster node needs its bus port (port + 10000) free too.
    for (let tries = 0; node === undefined; tries++) {
      const port = await freePort();
      if (port + 10_000 > 65_535) continue;
      try {
        // Announced on ::1: a lone node answers CLUSTER SLOTS with no address otherwise.
        node = await startRedis(port, ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--bind', '127.0.0.1', '::1', '--cluster-announce-ip', '::1']);
      } catch (error) {
        if (tries > 5) throw error;
      }
    }
    spawnSync('redis-cli', ['-p', String(node.port), 'cluster', 'addslotsrange', '0', '16383']);
    for (;;) {
      if (spawnSync('redis-cli', ['-p', String(node.port), 'cluster', 'info'], { encoding: 'utf8' }).stdout.includes('cluster_state:ok')) break;
      await sleep(50);
    }
  }, 30_000);
  afterAll(async () => {
    await node?.stop();
  });

  it('connects with IPv6 seeds written in brackets', async () => {
    const errors: Error[] = [];
    const store = createRedisStore({ ...redisTarget(`redis://[::1]:${node.port},redis://[::1]:${node.port}`), onConnectionError: (e) => errors.push(e) });
    try {
      await store.set('seeds:v6', 'yes', 5_000);
      expect(await store.get('seeds:v6')).toBe('yes');
      await expect(store.health()).resolves.toBeUndefined();
      expect(errors).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it('seeds that do not resolve: the DNS error is reported and named by refused calls and health', async () => {
    const errors: Error[] = [];
    const password = 'Ww3SECRETww';
    const store = createRedisStore({
      ...redisTarget(`redis://:${password}@no-such-host.invalid:7000,redis://:${password}@other.invalid:7001`),
      onConnectionError: (e) => errors.push(e),
    });
    try {
      // The first call waits for the first attempt, which fails at DNS.
      await expect(store.get('x')).rejects.toThrow(/^Redis is not connected \(\w+; last error: getaddrinfo (ENOTFOUND|EAI_AGAIN) [\w.-]+\.invalid\)\.$/);
      await expect(store.health()).rejects.toThrow(/last error: getaddrinfo (ENOTFOUND|EAI_AGAIN)/);
      expect(errors.length).toBeGreaterThan(0);
      expect(errors[0]?.message).toMatch(/^getaddrinfo (ENOTFOUND|EAI_AGAIN) [\w.-]+\.invalid$/);
      for (const e of errors) expect(e.message).not.toContain(password);
    } finally {
      await store.close();
    }
  });
});
