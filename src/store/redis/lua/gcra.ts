/**
 * One GCRA step: the Lua port of `gcraStep` in `src/pipeline/rate-limit/algorithms.ts`, with the
 * same arithmetic on the same 2^-10 ms grid, so Redis and the JavaScript backends agree decision by
 * decision (`test/redis/lua-vs-js.test.ts` checks it on random sequences).
 *
 * State: one string key holding the theoretical arrival time (TAT) in the format of the JavaScript
 * backends (`rateLimitStep`): `g:` and a decimal number (`GCRA_STATE` there), written with `%.17g`
 * so it reads back as the exact same double; it expires (PX) when it would read as a full bucket.
 * Anything else under the key (another format, `tonumber`'s hex or padded forms, a key of another
 * type: the action switched algorithm) counts as no state, as in JavaScript.
 *
 * Time is Redis's own clock when the store passes `SERVER_TIME` (its default: see `time.ts`), else
 * the caller's `nowMs` (tests that inject a clock). Key expiry always runs on the Redis clock, which
 * only drops state that already reads as a full bucket. The key's TTL (PX, PEXPIRE) is the step's
 * `resetMs` but at least 1 ms: 0 would make Redis refuse the `SET` (`ERR invalid expire time`). It
 * is 0 only from a time the store refuses (2^43 ms or more: `checkRateLimitNumbers`), where a small
 * interval vanishes in the rounding; the reply keeps the step's own `resetMs`.
 *
 * When time has gone backwards (either clock), a stored TAT above `now + depth` is clamped to it, as
 * in JavaScript: an empty bucket, not a debt the size of the step (which would lock the client out
 * for as long), and not a fresh budget either. The clamped TAT is written back (a refusal otherwise
 * leaves the key as it is), so the next step reads what JavaScript would have stored; a clock that
 * is then corrected forward reads it as long past (a full budget: the limit algorithms.ts describes).
 *
 * `GCRA_FUNCTION` defines `gcra(key, limit, windowMs, nowMs)` (numbers) for the batch script;
 * `GCRA_LUA` is the same function as a script of its own:
 * KEYS[1] the counter · ARGV[1] limit (positive integer) · ARGV[2] windowMs · ARGV[3] nowMs or `SERVER_TIME`
 * Returns {allowed (1|0), remaining, resetMs, retryAfterMs, nextMs}, all integers.
 */
import { NOW_FUNCTION } from './time.js';

/**
 * The start of both GCRA functions, the step here and the peek (`peek.ts`), inside a function of
 * `limit`, `windowMs` and `nowMs`: the 2^-10 ms grid, the emission interval, the bucket depth, `now`
 * on the grid, and `gcraTat(held)`, the TAT of a stored value in the JavaScript format exactly
 * (\`g:\`, digits, an optional fraction and exponent: GCRA_STATE), else nil.
 */
export const GCRA_PRELUDE = `local TICKS_PER_MS = 1024

-- JavaScript's Math.round: halves round up, towards +infinity.
local function round(x)
  local f = math.floor(x)
  if x - f >= 0.5 then return f + 1 end
  return f
end
local function onGrid(ms)
  return round(ms * TICKS_PER_MS) / TICKS_PER_MS
end

local interval = math.max(1, math.floor((windowMs * TICKS_PER_MS) / limit)) / TICKS_PER_MS
local depth = interval * limit
local now = onGrid(nowMs)

local function gcraTat(held)
  if type(held) == 'string' and (string.find(held, '^g:%-?%d+%.?%d*$') or string.find(held, '^g:%-?%d+%.?%d*[eE][%+%-]?%d+$')) then
    return tonumber(string.sub(held, 3))
  end
  return nil
end
`;

export const GCRA_FUNCTION = `
local function gcra(key, limit, windowMs, nowMs)
${GCRA_PRELUDE}
-- One call, not TYPE then GET: pcall answers an error table for a key of another type.
local held = redis.pcall('GET', key)
if type(held) == 'table' then redis.call('DEL', key) end
local tat = gcraTat(held)
local stored = now
-- An admitted step never leaves a TAT above now + depth: one above it is a clock that went back.
local ceiling = now + depth
local clamped = false
if tat ~= nil and tat == tat and tat ~= math.huge and tat ~= -math.huge then
  stored = onGrid(tat)
  if stored > ceiling then
    stored = ceiling
    clamped = true
  end
end
local base = now
if stored > now then base = stored end
local debt = base + interval - now

if debt > depth then
  -- Refused: nothing is charged; the state stays (clamped, when the clock went back), kept until it
  -- would read as a full bucket.
  local untilFull = math.ceil(base - now)
  -- The key's TTL (resetMs) is at least 1 ms: see the note on PX above.
  local resetMs = math.max(1, untilFull)
  if clamped then
    redis.call('SET', key, 'g:' .. string.format('%.17g', base), 'PX', resetMs)
  else
    redis.call('PEXPIRE', key, resetMs)
  end
  local retryAfterMs = math.max(1, math.ceil(debt - depth))
  return {0, 0, untilFull, retryAfterMs, retryAfterMs}
end
local untilFull = math.ceil(debt)
local remaining = math.floor((depth - debt) / interval)
local resetMs = math.max(1, untilFull)
redis.call('SET', key, 'g:' .. string.format('%.17g', now + debt), 'PX', resetMs)
return {1, remaining, untilFull, 0, math.ceil(debt - (limit - remaining - 1) * interval)}
end
`;

export const GCRA_LUA = `${NOW_FUNCTION}
${GCRA_FUNCTION}
return gcra(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), nowOf(ARGV[3]))
`;
