/**
 * The Lua scripts of the Redis store, registered once per client with `defineCommand` (ioredis
 * then sends EVALSHA, and the script body only the first time on each connection). Every script
 * takes its keys in KEYS (one key each, so they run on Redis Cluster) and its parameters in ARGV;
 * none is ever assembled from request data.
 *
 * `claim` needs no script: `SET key value PX ttl NX GET` does it atomically (Redis 7.0 or newer).
 */
import type { Cluster, Redis, Result } from 'ioredis';
import { BATCH_LUA } from './batch.js';
import { DELETE_IF_EQUALS_LUA } from './delete-if-equals.js';
import { GCRA_LUA } from './gcra.js';
import { GCRA_PEEK_LUA, SLIDING_WINDOW_PEEK_LUA } from './peek.js';
import { SLIDING_WINDOW_LUA } from './sliding-window.js';

export { BATCH_LUA, DELETE_IF_EQUALS_LUA, GCRA_LUA, GCRA_PEEK_LUA, SLIDING_WINDOW_LUA, SLIDING_WINDOW_PEEK_LUA };
export { BATCH_CODES } from './batch.js';
export { SERVER_TIME } from './time.js';

/** Command name → definition; the names are the methods `defineCommand` adds to the client. */
export const LUA_COMMANDS = {
  lcDeleteIfEquals: { numberOfKeys: 1, lua: DELETE_IF_EQUALS_LUA },
  lcGcra: { numberOfKeys: 1, lua: GCRA_LUA },
  lcSlidingWindow: { numberOfKeys: 1, lua: SLIDING_WINDOW_LUA },
  lcGcraPeek: { numberOfKeys: 1, lua: GCRA_PEEK_LUA },
  lcSlidingWindowPeek: { numberOfKeys: 1, lua: SLIDING_WINDOW_PEEK_LUA },
  /** Any number of keys: the caller passes their count first. */
  lcBatch: { lua: BATCH_LUA },
} as const;

/** Registers every script on `client` (idempotent: defining a command again replaces it). */
export function defineLuaCommands(client: Redis | Cluster): void {
  client.defineCommand('lcDeleteIfEquals', LUA_COMMANDS.lcDeleteIfEquals);
  client.defineCommand('lcGcra', LUA_COMMANDS.lcGcra);
  client.defineCommand('lcSlidingWindow', LUA_COMMANDS.lcSlidingWindow);
  client.defineCommand('lcGcraPeek', LUA_COMMANDS.lcGcraPeek);
  client.defineCommand('lcSlidingWindowPeek', LUA_COMMANDS.lcSlidingWindowPeek);
  client.defineCommand('lcBatch', LUA_COMMANDS.lcBatch);
}

/** The reply of the rate-limit scripts (steps and peeks): allowed (1|0), remaining, resetMs, retryAfterMs, nextMs. */
export type RateLimitReply = [number, number, number, number, number];

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** Added by `defineLuaCommands`: see `delete-if-equals.ts`. */
    lcDeleteIfEquals(key: string, expected: string): Result<number, Context>;
    /** Added by `defineLuaCommands`: see `gcra.ts` (`nowMs` may be `SERVER_TIME`). */
    lcGcra(key: string, limit: number, windowMs: number, nowMs: number | string): Result<RateLimitReply, Context>;
    /** Added by `defineLuaCommands`: see `sliding-window.ts`. */
    lcSlidingWindow(key: string, limit: number, windowMs: number, nowMs: number | string, member: string): Result<RateLimitReply, Context>;
    /** Added by `defineLuaCommands`: see `peek.ts` (read-only). */
    lcGcraPeek(key: string, limit: number, windowMs: number, nowMs: number | string): Result<RateLimitReply, Context>;
    /** Added by `defineLuaCommands`: see `peek.ts` (read-only). */
    lcSlidingWindowPeek(key: string, limit: number, windowMs: number, nowMs: number | string): Result<RateLimitReply, Context>;
    /** Added by `defineLuaCommands`: see `batch.ts` (the number of keys, the keys, then ARGV). */
    lcBatch(args: (string | number)[]): Result<unknown[], Context>;
  }
}
