/**
 * `createRedisStore`: the `Store` on Redis or Redis Cluster, wired from the parts of this folder —
 * its options checked (`options.ts`), the client's connection tracked (`connection-state.ts`), every
 * call one round trip within the deadline (`calls.ts`), `batch` one script per hash tag
 * (`batch.ts`), `health` (`health.ts`). The primitives themselves are one command each, here.
 */
import { randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { checkCompare, checkKey, checkKeys, checkRateLimitCall, checkTouch, checkWrite, rejection } from '../checks.js';
import type { RateLimitDecision, Store } from '../types.js';
import { redisBatch } from './batch.js';
import { createCalls, storeClosed } from './calls.js';
import { redisClientOptions } from './client-options.js';
import { decode, send, toPx } from './commands.js';
import { trackConnection } from './connection-state.js';
import { loadIoredis } from './driver.js';
import { healthCheck } from './health.js';
import { ignore } from './ignore.js';
import { defineLuaCommands } from './lua/index.js';
import { storeSettingsOf, type RedisStoreOptions } from './options.js';

/** The client behind each store `createRedisStore` built (for checks that need Redis itself). */
const clients = new WeakMap<Store, Redis | Cluster>();

/** The ioredis client of a store from `createRedisStore`, `undefined` for any other store. */
export function redisClientOf(store: Store): Redis | Cluster | undefined {
  return clients.get(store);
}

/**
 * A `Store` on Redis or Redis Cluster. On a Cluster its `splitsBatchesByHashTag` is true (one script
 * per hash tag, see `Store.batch`).
 *
 * @example
 * const store = createRedisStore({ url: process.env.REDIS_URL });
 * await store.health();
 */
export function createRedisStore(options: RedisStoreOptions): Store {
  const { timeoutMs, prefix, rateLimitClock } = storeSettingsOf(options);
  const client = options.client ?? new (loadIoredis().Redis)(options.url as string, redisClientOptions(timeoutMs));
  defineLuaCommands(client);
  const state = trackConnection(client, options);
  const { call, close } = createCalls(client, state, timeoutMs, options.onRoundTrip);

  // Sliding-window entries need ids unique across instances: a random prefix and a counter.
  const memberPrefix = `${randomBytes(9).toString('base64url')}:`;
  let memberSeq = 0;
  const member = () => memberPrefix + (memberSeq++).toString(36);
  const keyOf = prefix === '' ? (key: string) => key : (key: string) => prefix + key;

  function getMany(keys: readonly string[]): Promise<(string | null)[]> {
    const invalid = rejection(() => checkKeys(keys));
    if (invalid !== undefined) return invalid;
    if (keys.length === 0) return state.closed ? Promise.reject(storeClosed()) : Promise.resolve([]);
    if (client.isCluster) {
      // MGET needs every key in one slot; concurrent GETs reach each node in one round trip.
      return call('getMany', () => Promise.all(keys.map((key) => client.get(keyOf(key)))));
    }
    return call('getMany', () => client.mget(keys.map(keyOf)));
  }

  const store: Store = {
    kind: 'redis',
    // A Cluster runs a batch as one script per hash tag, each on its tag's node (`batch.ts`).
    splitsBatchesByHashTag: client.isCluster,
    get: (key) => rejection(() => checkKey(key)) ?? call('get', () => client.get(keyOf(key))),
    getMany,
    set: (key, value, ttlMs) =>
      rejection(() => checkWrite(key, value, ttlMs)) ?? call('set', () => client.set(keyOf(key), value, 'PX', toPx(ttlMs))).then(ignore),
    claim: (key, value, ttlMs) =>
      rejection(() => checkWrite(key, value, ttlMs)) ?? call('claim', () => client.set(keyOf(key), value, 'PX', toPx(ttlMs), 'NX', 'GET')),
    touch: (key, ttlMs) =>
      rejection(() => checkTouch(key, ttlMs)) ?? call('touch', () => client.pexpire(keyOf(key), toPx(ttlMs))).then((n) => n === 1),
    deleteIfEquals: (key, expected) =>
      rejection(() => checkCompare(key, expected)) ?? call('deleteIfEquals', () => client.lcDeleteIfEquals(keyOf(key), expected)).then((n) => n === 1),
    delete: (key) => rejection(() => checkKey(key)) ?? call('delete', () => client.del(keyOf(key))).then(ignore),
    rateLimit(key, policy, nowMs) {
      const op = { op: 'rateLimit', key, policy, nowMs } as const;
      return (
        rejection(() => checkRateLimitCall(key, policy, nowMs)) ??
        call('rateLimit', () => send(client, op, keyOf(key), member(), rateLimitClock)).then((reply) => decode(op, reply) as RateLimitDecision)
      );
    },
    batch: redisBatch({ client, state, call, keyOf, member, rateLimitClock }),
    health: healthCheck(client, call, keyOf, rateLimitClock, timeoutMs),
    close,
  };
  clients.set(store, client);
  return store;
}
