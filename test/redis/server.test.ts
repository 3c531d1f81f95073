/**
 * `useRedisServer`'s options, which the test files that started their own `redis-server` by hand
 * (ACL users, `--requirepass`, `--timeout`, a replica of another) now pass to it: `args`, given as
 * they are or by a function called at the start, and `password`, which its own clients use; and a
 * server a failed test left paused (SIGSTOP) answers again for the next test and the teardown.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { REDIS_AVAILABLE, useRedisServer } from './server.js';

describe.skipIf(!REDIS_AVAILABLE)('useRedisServer options', () => {
  const plain = useRedisServer({ args: ['--maxmemory-policy', 'allkeys-lru'] });
  // Called once `plain` has started: its port is known then.
  const replica = useRedisServer({ args: () => ['--replicaof', '127.0.0.1', String(plain.server.port)] });
  const guarded = useRedisServer({ password: 'Pp5useRedisServer' });

  it('starts the server with `args`', async () => {
    expect(await plain.admin.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'allkeys-lru']);
  });

  it('calls an `args` function after the servers declared before it started', async () => {
    expect(await replica.admin.config('GET', 'replicaof')).toEqual(['replicaof', `127.0.0.1 ${plain.server.port}`]);
  });

  it('with `password`: the server wants it, and the admin client and stores have it', async () => {
    const stranger = spawnSync('redis-cli', ['-p', String(guarded.server.port), 'GET', 'k'], { encoding: 'utf8' });
    expect(stranger.stdout + stranger.stderr).toMatch(/NOAUTH/);
    await guarded.admin.set('k', 'v');
    await expect(guarded.open().get('k')).resolves.toBe('v');
    expect(await guarded.adminOf(1).dbsize()).toBe(0);
  });
});

describe.skipIf(!REDIS_AVAILABLE)('useRedisServer after a test that left its server paused', () => {
  const redis = useRedisServer();

  it('pauses the server (as a test failing before its resume would leave it)', () => {
    redis.server.pause();
  });

  it('the next test finds it answering', async () => {
    expect(await redis.admin.ping()).toBe('PONG');
  });
});
