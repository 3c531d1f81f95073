import { describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../../core/errors.js';
import { REDIS_AVAILABLE, useRedisServer } from '../../../test/redis/server.js';
import { runStoreContract } from '../contract.js';
import { Cluster, Redis } from 'ioredis';
import {
  CLUSTER_NODE_REFUSAL,
  commandTimeoutOf,
  createRedisStore,
  explainWriteRefusal,
  redisClientOptions,
  redisClusterOptions,
  redisSentinelOptions,
  SENTINEL_REFUSAL,
  serverModeRefusal,
  type RedisStoreOperation,
} from './index.js';
import { BATCH_LUA, GCRA_LUA } from './lua/index.js';

describe.skipIf(!REDIS_AVAILABLE)('redis store', () => {
  const redis = useRedisServer();
  /** A store on the test server, closed after the test. */
  const open = redis.open;

  // Redis measures TTLs on its own clock: the contract sleeps instead of moving the manual clock. Its
  // rate-limit steps travel in time (`now + 60_000`), so they run on the caller's clock here; the
  // default, Redis's clock, has its own tests (clock.test.ts).
  runStoreContract('redis', async () => createRedisStore({ url: redis.server.url, rateLimitClock: 'caller' }), { realTimeTtl: true });

  it('is kind "redis" and checks its options', () => {
    expect(open().kind).toBe('redis');
    expect(() => createRedisStore({})).toThrow(TypeError);
    expect(() => createRedisStore({ url: redis.server.url, client: redis.admin })).toThrow(TypeError);
    expect(() => createRedisStore({ url: redis.server.url, commandTimeoutMs: 0 })).toThrow(TypeError);
    expect(() => createRedisStore({ url: redis.server.url, keyPrefix: 'app{1}:' })).toThrow(TypeError);
  });

  it('refuses a commandTimeoutMs whose socket timeout (four of them) a timer cannot wait', () => {
    // 2^29: ioredis armed its socket timer for 2^31 ms, Node fired it after 1 ms, and every call answered 503.
    for (const commandTimeoutMs of [536_870_912, 2 ** 29 + 0.5, 2 ** 31]) {
      const bound = /commandTimeoutMs must be a positive number of ms, at most 536870911 /;
      expect(() => createRedisStore({ url: redis.server.url, commandTimeoutMs }), String(commandTimeoutMs)).toThrow(bound);
      expect(() => redisClientOptions(commandTimeoutMs)).toThrow(bound);
      expect(() => redisClusterOptions(commandTimeoutMs)).toThrow(bound);
    }
  });

  it('answers with the longest commandTimeoutMs, without an overflow warning', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => void (warning.name === 'TimeoutOverflowWarning' && warnings.push(warning));
    process.on('warning', onWarning);
    try {
      const store = open({ commandTimeoutMs: 536_870_911 });
      await store.set('lc:{max}:a', 'A', 10_000);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(await store.get('lc:{max}:a')).toBe('A');
      expect(redisClusterOptions(536_870_911).redisOptions?.socketTimeout).toBe(2_147_483_644);
      expect(warnings).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('counts one round trip per call, one per batch, none for empty calls', async () => {
    const trips: RedisStoreOperation[] = [];
    const store = open({ onRoundTrip: (op) => trips.push(op) });
    const policy = { algorithm: 'gcra' as const, limit: 5, windowMs: 1_000 };
    await store.set('lc:{rt}:a', 'A', 10_000);
    await store.getMany(['lc:{rt}:a', 'lc:{rt}:b', 'lc:{rt}:c']);
    await store.getMany([]);
    await store.batch([]);
    await store.batch([
      { op: 'rateLimit', key: 'lc:{rt}:rl', policy, nowMs: Date.now() },
      { op: 'claim', key: 'lc:{rt}:idem', value: 'pending', ttlMs: 10_000 },
      { op: 'get', key: 'lc:{rt}:session' },
      { op: 'get', key: 'lc:{rt}:state' },
    ]);
    await store.health();
    expect(trips).toEqual(['set', 'getMany', 'batch', 'health']);
  });

  it('rounds fractional TTLs up to whole milliseconds', async () => {
    const store = open();
    await store.set('lc:{ttl}:a', 'v', 1.2);
    expect(await store.claim('lc:{ttl}:b', 'v', 0.5)).toBeNull();
    expect(await redis.admin.pttl('lc:{ttl}:a')).toBeLessThanOrEqual(2);
    await store.set('lc:{ttl}:c', 'v', Number.MAX_VALUE);
    expect(await redis.admin.pttl('lc:{ttl}:c')).toBeGreaterThan(1e15);
  });

  it('prefixes every key, scripts included', async () => {
    const store = open({ keyPrefix: 'app1:' });
    await store.batch([
      { op: 'set', key: 'lc:{p}:a', value: 'A', ttlMs: 10_000 },
      { op: 'rateLimit', key: 'lc:{p}:rl', policy: { algorithm: 'sliding-window', limit: 2, windowMs: 1_000 }, nowMs: 1 },
    ]);
    expect(await redis.admin.get('app1:lc:{p}:a')).toBe('A');
    expect(await redis.admin.zcard('app1:lc:{p}:rl')).toBe(1);
    expect(await store.get('lc:{p}:a')).toBe('A');
    expect(await store.deleteIfEquals('lc:{p}:a', 'A')).toBe(true);
    expect(await redis.admin.exists('app1:lc:{p}:a', 'lc:{p}:a')).toBe(0);
  });

  it('treats state of the other algorithm as none when a policy switches algorithm', async () => {
    const store = open();
    const key = 'lc:{switch}:rl';
    const gcra = { algorithm: 'gcra' as const, limit: 1, windowMs: 60_000 };
    const window = { algorithm: 'sliding-window' as const, limit: 1, windowMs: 60_000 };
    expect((await store.rateLimit(key, gcra, 1_000)).allowed).toBe(true);
    expect((await store.rateLimit(key, window, 1_000)).allowed).toBe(true);
    expect((await store.rateLimit(key, window, 1_000)).allowed).toBe(false);
    expect((await store.rateLimit(key, gcra, 1_000)).allowed).toBe(true);
    expect(await redis.admin.type(key)).toBe('string');
  });

  it('rejects malformed rate-limit policies with TypeError before sending', async () => {
    const trips: RedisStoreOperation[] = [];
    const store = open({ onRoundTrip: (op) => trips.push(op) });
    const bad = [
      { algorithm: 'leaky' as never, limit: 1, windowMs: 1 },
      { algorithm: 'gcra' as const, limit: 1.5, windowMs: 1 },
      { algorithm: 'gcra' as const, limit: 1, windowMs: 0 },
    ];
    for (const policy of bad) await expect(store.rateLimit('lc:{bad}:rl', policy, 0)).rejects.toBeInstanceOf(TypeError);
    await expect(store.rateLimit('lc:{bad}:rl', { algorithm: 'gcra', limit: 1, windowMs: 1 }, Number.NaN)).rejects.toBeInstanceOf(TypeError);
    await expect(store.batch([{ op: 'nope' } as never])).rejects.toBeInstanceOf(TypeError);
    expect(trips).toEqual([]);
  });

  it('never sends PX 0 from the GCRA script, even at a time the store refuses (2^44 ms, where a 2^-10 ms interval vanishes)', async () => {
    // The store refuses such a time (TypeError, the contract); the scripts still keep every SET's PX at 1 ms or more.
    const [alone, batched] = ['lc:{far}:rl-a', 'lc:{far}:rl-b'];
    expect(await redis.admin.eval(GCRA_LUA, 1, alone, 1_000, 0.5, 2 ** 44)).toEqual([1, 1_000, 0, 0, 1]);
    expect(await redis.admin.eval(BATCH_LUA, 1, batched, 'r', 1_000, 0.5, 2 ** 44)).toEqual([[1, 1_000, 0, 0, 1]]);
    for (const key of [alone, batched]) expect(await redis.admin.pttl(key)).toBeLessThanOrEqual(1);
  });

  it('reloads its scripts by itself after SCRIPT FLUSH', async () => {
    const store = open();
    expect(await store.deleteIfEquals('lc:{flush}:a', 'x')).toBe(false);
    await redis.admin.script('FLUSH');
    const policy = { algorithm: 'gcra' as const, limit: 2, windowMs: 1_000 };
    expect(await store.deleteIfEquals('lc:{flush}:a', 'x')).toBe(false);
    await redis.admin.script('FLUSH');
    // A batch is one script call too: ioredis answers NOSCRIPT by sending the script itself.
    const [decision] = await store.batch([{ op: 'rateLimit', key: 'lc:{flush}:rl', policy, nowMs: 0 }]);
    expect(decision).toMatchObject({ allowed: true, remaining: 1 });
  });

  it('rejects a batch whose op fails (a key of another type) with StoreUnavailableError, without keys or values', async () => {
    const store = open();
    await redis.admin.zadd('lc:{wrong}:z', 1, 'm');
    const batch = store.batch([
      { op: 'set', key: 'lc:{wrong}:a', value: 'secret-value', ttlMs: 10_000 },
      { op: 'get', key: 'lc:{wrong}:z' },
      { op: 'set', key: 'lc:{wrong}:b', value: 'B', ttlMs: 10_000 },
    ]);
    const error = await batch.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect(String((error as Error).message)).not.toMatch(/secret-value|lc:\{wrong\}/);
    // The script stopped at the failing op: what came after it did not run, what came before it stays
    // (Redis does not roll a script back: the `batch` doc in src/store/types.ts says so).
    expect(await redis.admin.exists('lc:{wrong}:b')).toBe(0);
    expect(await redis.admin.get('lc:{wrong}:a')).toBe('secret-value');
  });

  it('uses a client it is given, with the recommended options, and quits it on close', async () => {
    const client = new Redis(redis.server.url, redisClientOptions(300));
    const store = createRedisStore({ client, commandTimeoutMs: 300 });
    await store.set('lc:{given}:a', 'A', 10_000);
    expect(await redis.admin.get('lc:{given}:a')).toBe('A');
    await store.close();
    await new Promise((resolve) => (client.status === 'end' ? resolve(undefined) : client.once('end', resolve)));
    await expect(store.get('lc:{given}:a')).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  it('refuses a URL whose path is not a database number', () => {
    for (const path of ['/abc', '/3x', '/1/2', '/?db=5']) expect(() => createRedisStore({ url: `${redis.server.url}${path}` }), path).toThrow(TypeError);
  });

  it('stays unavailable, and never writes database 0, when Redis refuses the database of the URL', async () => {
    const reported: Error[] = [];
    const store = open({ url: `${redis.server.url}/99`, keyPrefix: 'refused-db:', onConnectionError: (e) => reported.push(e) });
    await expect(store.set('lc:{db}:a', 'A', 10_000)).rejects.toThrow(/Redis refused to select the database of the URL \(ERR DB index is out of range\)/);
    // Later calls too, once the start-up wait is over: the refusal is for good, not a reconnect away.
    await expect(store.health()).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(store.batch([{ op: 'set', key: 'lc:{db}:b', value: 'B', ttlMs: 10_000 }])).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(await redis.admin.keys('refused-db:*')).toEqual([]);
    expect(reported.map((e) => e.message)).toEqual([
      "Redis refused to select the database of the URL (ERR DB index is out of range); the store stays unavailable rather than use database 0: check the number after the port in REDIS_URL against the databases setting of the server.",
    ]);
  });

  it("answers the health check with a refused database as it is, not as a refusal of the store's scripts (an ACL user without SELECT)", async () => {
    await redis.admin.acl('SETUSER', 'no-select', 'on', '>no-select-pw', '~*', '&*', '+@all', '-select');
    const url = new URL(redis.server.url);
    url.username = 'no-select';
    url.password = 'no-select-pw';
    url.pathname = '/2';
    const store = open({ url: url.href, onConnectionError: () => undefined });
    const refusal = /^Redis refused to select the database of the URL \(NOPERM this user has no permissions to run the 'select' command\)/;
    await expect(store.get('lc:{db}:a')).rejects.toThrow(refusal);
    // The NOPERM of SELECT was explained as the scripts' ("needs EVAL/EVALSHA"): the health output sent operators to the wrong grant.
    const health = await store.health().catch((error: unknown) => error as Error);
    expect(health).toBeInstanceOf(StoreUnavailableError);
    expect(health?.message).toMatch(refusal);
    expect(health?.message).not.toMatch(/script|EVAL/);
    // And the advice is the ACL's, not the databases setting's.
    expect(health?.message).toContain(": REDIS_URL's user may not run SELECT (its ACL rules): allow +select for it, or drop the number after the port to use database 0.");
  });

  it('uses the database of the URL', async () => {
    const store = open({ url: `${redis.server.url}/9`, keyPrefix: 'db9:' });
    await store.set('lc:{db}:a', 'A', 10_000);
    const db9 = new Redis(`${redis.server.url}/9`);
    try {
      expect([await db9.get('db9:lc:{db}:a'), await redis.admin.get('db9:lc:{db}:a')]).toEqual(['A', null]);
      await db9.flushdb();
    } finally {
      db9.disconnect();
    }
  });

  // No timed assertion (shared, noisy machines): the command deadline is far beyond the test's own
  // timeout, so a call that waited for it instead of failing on the refused connection fails the test.
  it('fails fast when Redis cannot be reached at start-up, not at the command deadline', { timeout: 10_000 }, async () => {
    const store = open({ url: 'redis://127.0.0.1:1', commandTimeoutMs: 120_000 });
    await expect(store.get('k')).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(store.health()).rejects.toBeInstanceOf(StoreUnavailableError);
  });
});

describe('commandTimeoutOf', () => {
  it('refuses a fraction below 1 ms: Node waited 1 ms for it, a deadline the caller did not ask for', () => {
    const bound = /^redisClientOptions: commandTimeoutMs must be a positive number of ms, at most 536870911 \(the socket timeout is 4 of them, and Node's timers wait from 1 to 2147483647 ms\)$/;
    for (const commandTimeoutMs of [0.5, 0.999]) expect(() => redisClientOptions(commandTimeoutMs), String(commandTimeoutMs)).toThrow(bound);
    expect(() => redisClusterOptions(0.5)).toThrow(TypeError);
    expect(commandTimeoutOf('doctor', 1.5, 'timeoutMs')).toBe(1.5);
    expect(redisClientOptions(1).socketTimeout).toBe(2_000);
  });
});

describe('splitsBatchesByHashTag', () => {
  it('is true on a Redis Cluster (one script per hash tag), false on a single Redis', async () => {
    // Lazy clients: nothing connects, the store only looks at what kind of client it was given.
    const cluster = createRedisStore({ client: new Cluster([{ host: '127.0.0.1', port: 7000 }], { ...redisClusterOptions(), lazyConnect: true }) });
    const single = createRedisStore({ client: new Redis({ ...redisClientOptions(), lazyConnect: true }) });
    expect(cluster.splitsBatchesByHashTag).toBe(true);
    expect(single.splitsBatchesByHashTag).toBe(false);
    await Promise.all([cluster.close(), single.close()]);
  });
});

describe('redisClusterOptions: TRYAGAIN', () => {
  it('lets ioredis retry the owner for about one deadline: each TRYAGAIN may cost a MOVED back from the random master it is sent to', () => {
    for (const deadline of [100, 500, 2_000]) {
      const options = redisClusterOptions(deadline);
      const delay = options.retryDelayOnTryAgain as number;
      // Tries of the owner, each TRYAGAIN followed by a MOVED: their pauses must cover the deadline.
      expect(Math.floor((options.maxRedirections as number) / 2) * delay, String(deadline)).toBeGreaterThanOrEqual(deadline);
      // And not much more: a call ioredis still retried after the store answered 503 runs late.
      expect((options.maxRedirections as number) * delay, String(deadline)).toBeLessThanOrEqual(2 * deadline);
    }
    expect(redisClusterOptions(50).maxRedirections).toBe(2);
  });
});

describe('redisSentinelOptions', () => {
  it("is redisClientOptions plus the failover detector, a READONLY reconnect and the store's capped backoff for the sentinels", () => {
    const options = redisSentinelOptions(300);
    expect(options).toMatchObject({ ...redisClientOptions(300), failoverDetector: true, sentinelCommandTimeout: 2_000 });
    // ioredis's default left the client on a demoted master until Sentinel demoted it (~11 s of lost writes).
    const backoff = [1, 2, 10, 100].map((attempt) => [options.sentinelRetryStrategy?.(attempt), options.sentinelReconnectStrategy?.(attempt)]);
    expect(backoff).toEqual([
      [100, 100],
      [200, 200],
      [1_000, 1_000],
      [1_000, 1_000],
    ]);
    expect(options.reconnectOnError?.(new Error("READONLY You can't write against a read only replica. script: 7f44…, on @user_script:1."))).toBe(true);
    expect(options.reconnectOnError?.(new Error('NOPERM this user has no permissions'))).toBe(false);
    expect(() => redisSentinelOptions(0.5)).toThrow(/^redisSentinelOptions: commandTimeoutMs must be/);
  });

  it('health words: a Sentinel master answering as a replica is no wrong REDIS_URL', () => {
    const readonly = "Redis failed: READONLY You can't write against a read only replica.";
    expect(explainWriteRefusal(readonly)).toContain('REDIS_URL names a replica');
    expect(explainWriteRefusal(readonly, 'mymaster')).toBe(
      "Redis refuses writes (READONLY You can't write against a read only replica.): the master Redis Sentinel names 'mymaster' answers as a replica (a failover under way?)",
    );
  });

  it('a Sentinel or a cluster node is refused by what INFO says', () => {
    expect(serverModeRefusal('# Server\r\nredis_version:7.0.15\r\nredis_mode:sentinel\r\n')).toBe(SENTINEL_REFUSAL);
    expect(serverModeRefusal('redis_mode:standalone\r\n# Cluster\r\ncluster_enabled:1\r\n')).toBe(CLUSTER_NODE_REFUSAL);
    expect(serverModeRefusal('redis_mode:standalone\r\n# Cluster\r\ncluster_enabled:0\r\n')).toBeUndefined();
    expect(serverModeRefusal('')).toBeUndefined();
  });
});
