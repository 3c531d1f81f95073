/**
 * The read-only rate-limit peeks (the `rateLimitPeek` store op): the Lua ports of `gcraPeek` and
 * `slidingWindowPeek` in `src/pipeline/rate-limit/algorithms.ts`, with the same arithmetic and the
 * same reading of the state the steps write (`gcra.ts`, `sliding-window.ts`): `g:<TAT>` in the
 * format of the JavaScript backends, or a sorted set of admission times. They write nothing — no
 * `SET`, `DEL`, `PEXPIRE` or rescoring: state of another type, or unreadable, reads as none (a full
 * budget), where a step would delete it; a TAT above `now + depth` or entries after `nowMs` (time
 * went backwards) are clamped in the arithmetic only, as the steps would clamp them.
 *
 * Time is Redis's clock or the caller's `nowMs`, as for the steps (`time.ts`).
 *
 * `GCRA_PEEK_FUNCTION` defines `gcraPeek(key, limit, windowMs, nowMs)` and
 * `SLIDING_WINDOW_PEEK_FUNCTION` `slidingWindowPeek(key, limit, windowMs, nowMs)` for the batch
 * script; `GCRA_PEEK_LUA` and `SLIDING_WINDOW_PEEK_LUA` are the same functions as scripts of their own:
 * KEYS[1] the counter · ARGV[1] limit (positive integer) · ARGV[2] windowMs · ARGV[3] nowMs or `SERVER_TIME`
 * Returns {allowed (1|0), remaining, resetMs, retryAfterMs, nextMs}, all integers.
 */
import { GCRA_PRELUDE } from './gcra.js';
import { NOW_FUNCTION } from './time.js';

export const GCRA_PEEK_FUNCTION = `
local function gcraPeek(key, limit, windowMs, nowMs)
${GCRA_PRELUDE}
-- pcall: a key of another type answers an error table, read as no state (nothing is deleted).
local tat = gcraTat(redis.pcall('GET', key))
local stored = now
local ceiling = now + depth
if tat ~= nil and tat == tat and tat ~= math.huge and tat ~= -math.huge then
  stored = onGrid(tat)
  if stored > ceiling then stored = ceiling end
end
local debt = 0
if stored > now then debt = stored - now end
if debt == 0 then
  return {1, limit, 0, 0, 0}
end
local remaining = math.floor((depth - debt) / interval)
local resetMs = math.ceil(debt)
if remaining == 0 then
  local retryAfterMs = math.max(1, math.ceil(debt + interval - depth))
  return {0, 0, resetMs, retryAfterMs, retryAfterMs}
end
return {1, remaining, resetMs, 0, math.ceil(debt - (limit - remaining - 1) * interval)}
end
`;

export const SLIDING_WINDOW_PEEK_FUNCTION = `
local function slidingWindowPeek(key, limit, windowMs, nowMs)
if redis.call('TYPE', key)['ok'] ~= 'zset' then
  return {1, limit, 0, 0, 0}
end
-- The entries still in the window (scores after nowMs - windowMs), ascending, with their scores.
local live = redis.call('ZRANGEBYSCORE', key, '(' .. string.format('%.17g', nowMs - windowMs), '+inf', 'WITHSCORES')
local count = #live / 2
if count == 0 then
  return {1, limit, 0, 0, 0}
end
-- The i-th entry (from 0), an entry after nowMs (time went backwards) counted as made now.
local function at(i)
  local t = tonumber(live[2 * i + 2])
  if t > nowMs then return nowMs end
  return t
end
local resetMs = math.ceil(at(count - 1) + windowMs - nowMs)
if count >= limit then
  local retryAfterMs = math.max(1, math.ceil(at(count - limit) + windowMs - nowMs))
  return {0, 0, resetMs, retryAfterMs, retryAfterMs}
end
return {1, limit - count, resetMs, 0, math.max(1, math.ceil(at(0) + windowMs - nowMs))}
end
`;

export const GCRA_PEEK_LUA = `${NOW_FUNCTION}
${GCRA_PEEK_FUNCTION}
return gcraPeek(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), nowOf(ARGV[3]))
`;

export const SLIDING_WINDOW_PEEK_LUA = `${NOW_FUNCTION}
${SLIDING_WINDOW_PEEK_FUNCTION}
return slidingWindowPeek(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), nowOf(ARGV[3]))
`;
