/**
 * One exact sliding-window step: the Lua port of `slidingWindowStep` in
 * `src/pipeline/rate-limit/algorithms.ts` (`test/redis/lua-vs-js.test.ts` checks they agree).
 *
 * State: a sorted set whose scores are the admission times still inside the window (at most
 * `limit` of them); members are unique ids chosen by the caller, because two admissions may share a
 * time. The set expires (PEXPIRE) when its newest entry leaves the window. A key of another type
 * (the action switched algorithm) counts as no state.
 *
 * Time is Redis's clock or the caller's `nowMs`, as in `gcra.ts`. When time has gone backwards
 * (either clock), entries scored after `nowMs` are rescored to `nowMs` before anything else, as
 * JavaScript clamps them (`min(t, nowMs)`): they hold the window for one more window from now, not
 * for the size of the step on top of it, and count as made now, so the step buys no fresh budget
 * (until a clock corrected forward reads them as long past: the limit algorithms.ts describes).
 * The new entry is then recorded at `nowMs`.
 *
 * `SLIDING_WINDOW_FUNCTION` defines `slidingWindow(key, limit, windowMs, nowMs, member)` for the
 * batch script; `SLIDING_WINDOW_LUA` is the same function as a script of its own:
 * KEYS[1] the log · ARGV[1] limit (positive integer) · ARGV[2] windowMs · ARGV[3] nowMs or `SERVER_TIME` ·
 * ARGV[4] a member id unique to this call
 * Returns {allowed (1|0), remaining, resetMs, retryAfterMs, nextMs}, all integers.
 */
import { NOW_FUNCTION } from './time.js';

export const SLIDING_WINDOW_FUNCTION = `
local function slidingWindow(key, limit, windowMs, nowMs, member)

local kind = redis.call('TYPE', key)['ok']
if kind ~= 'zset' and kind ~= 'none' then
  redis.call('DEL', key)
end
redis.call('ZREMRANGEBYSCORE', key, '-inf', string.format('%.17g', nowMs - windowMs))
-- Entries ahead of nowMs (time went backwards) count as made now; only ever found after a step back.
local nowScore = string.format('%.17g', nowMs)
local ahead = redis.call('ZRANGEBYSCORE', key, '(' .. nowScore, '+inf')
for i = 1, #ahead do
  redis.call('ZADD', key, nowScore, ahead[i])
end
local count = redis.call('ZCARD', key)
local last = nowMs
if count > 0 then
  last = tonumber(redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')[2])
end

if count >= limit then
  -- Refused: count - limit + 1 entries must leave before one more fits; the last of them blocks.
  local blocking = tonumber(redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')[2])
  local resetMs = math.ceil(last + windowMs - nowMs)
  redis.call('PEXPIRE', key, resetMs)
  local retryAfterMs = math.max(1, math.ceil(blocking + windowMs - nowMs))
  return {0, 0, resetMs, retryAfterMs, retryAfterMs}
end
-- Every entry is at or before nowMs now, so the new one is the newest.
local at = nowMs
-- One more fits when the oldest admission in the window leaves it (this one, when it is the only one).
local oldest = at
if count > 0 then
  oldest = tonumber(redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2])
end
redis.call('ZADD', key, string.format('%.17g', at), member)
local resetMs = math.ceil(at + windowMs - nowMs)
redis.call('PEXPIRE', key, resetMs)
return {1, limit - count - 1, resetMs, 0, math.max(1, math.ceil(oldest + windowMs - nowMs))}
end
`;

export const SLIDING_WINDOW_LUA = `${NOW_FUNCTION}
${SLIDING_WINDOW_FUNCTION}
return slidingWindow(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), nowOf(ARGV[3]), ARGV[4])
`;
