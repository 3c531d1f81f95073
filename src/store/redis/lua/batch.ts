/**
 * A whole batch in ONE script call (`EVALSHA`) on a single Redis: cheaper than MULTI, N commands
 * and EXEC for both sides (one command to encode, send, parse and answer instead of N + 2), and
 * as atomic: Redis runs a script to its end before anything else, and a lost connection applies
 * all of it or none of it. On Redis Cluster, where the keys of one batch live in several slots,
 * the store sends one call per hash tag instead (see `src/store/redis/batch.ts`).
 *
 * Each op is the same Redis call (or the same Lua function) as its single-call form, so both
 * paths keep the same semantics — except that a `deleteIfEquals` that deletes, directly followed by
 * a `claim` of the same key (how an idempotency claim becomes its result, as in
 * `src/store/embedded-batch.ts`), is one `SET` instead of `DEL` and `SET NX GET`: inside the script
 * nothing runs between them, so the key is free when the claim runs and the results (1, nil) and
 * the end state are those of the two ops. An op that fails (a key of the wrong type) aborts the script:
 * the ops before it stay applied, those after it do not run, and the batch rejects.
 *
 * KEYS[i] the key of op i. ARGV: for each op in order, its code and then its arguments:
 * `g` get · `s` value px (set) · `c` value px (claim) · `t` px (touch) · `d` expected (deleteIfEquals) ·
 * `x` delete · `r` limit windowMs nowMs (GCRA) · `w` limit windowMs nowMs member (sliding window) ·
 * `p` limit windowMs nowMs (GCRA peek) · `q` limit windowMs nowMs (sliding-window peek) · `a` value px
 * (setIfAllowed: a `SET` only when the op before it, its rate-limit step, admitted) · `e` expected
 * value px (replaceIfEquals: a `SET` only while `GET` answers exactly `expected`; a missing key is
 * nil, never equal, so nothing is made); nowMs may be `SERVER_TIME` (`time.ts`).
 * Returns one reply per op: the value or nil (`g`, `c`), 1|0 (`t`, `d`, `a`, `e`), 0 (`s`, `x`), or the rate-limit
 * reply {allowed, remaining, resetMs, retryAfterMs, nextMs} (`r`, `w`, `p`, `q`).
 */
import { GCRA_FUNCTION } from './gcra.js';
import { GCRA_PEEK_FUNCTION, SLIDING_WINDOW_PEEK_FUNCTION } from './peek.js';
import { SLIDING_WINDOW_FUNCTION } from './sliding-window.js';
import { NOW_FUNCTION } from './time.js';

/** The op codes of `BATCH_LUA`, by store op. */
export const BATCH_CODES = {
  get: 'g',
  set: 's',
  claim: 'c',
  touch: 't',
  deleteIfEquals: 'd',
  delete: 'x',
  gcra: 'r',
  slidingWindow: 'w',
  gcraPeek: 'p',
  slidingWindowPeek: 'q',
  setIfAllowed: 'a',
  replaceIfEquals: 'e',
} as const;

export const BATCH_LUA = `${NOW_FUNCTION}
${GCRA_FUNCTION}
${SLIDING_WINDOW_FUNCTION}
${GCRA_PEEK_FUNCTION}
${SLIDING_WINDOW_PEEK_FUNCTION}
local out = {}
local a = 1
local i = 1
while i <= #KEYS do
  local key = KEYS[i]
  local code = ARGV[a]
  if code == 'g' then
    out[i] = redis.call('GET', key)
    a = a + 1
  elseif code == 's' then
    redis.call('SET', key, ARGV[a + 1], 'PX', ARGV[a + 2])
    out[i] = 0
    a = a + 3
  elseif code == 'c' then
    out[i] = redis.call('SET', key, ARGV[a + 1], 'PX', ARGV[a + 2], 'NX', 'GET')
    a = a + 3
  elseif code == 't' then
    out[i] = redis.call('PEXPIRE', key, ARGV[a + 1])
    a = a + 2
  elseif code == 'd' then
    if redis.call('GET', key) ~= ARGV[a + 1] then
      out[i] = 0
      a = a + 2
    elseif ARGV[a + 2] == 'c' and KEYS[i + 1] == key then
      redis.call('SET', key, ARGV[a + 3], 'PX', ARGV[a + 4])
      out[i] = 1
      out[i + 1] = false
      i = i + 1
      a = a + 5
    else
      redis.call('DEL', key)
      out[i] = 1
      a = a + 2
    end
  elseif code == 'x' then
    redis.call('DEL', key)
    out[i] = 0
    a = a + 1
  elseif code == 'r' then
    out[i] = gcra(key, tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), nowOf(ARGV[a + 3]))
    a = a + 4
  elseif code == 'w' then
    out[i] = slidingWindow(key, tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), nowOf(ARGV[a + 3]), ARGV[a + 4])
    a = a + 5
  elseif code == 'p' then
    out[i] = gcraPeek(key, tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), nowOf(ARGV[a + 3]))
    a = a + 4
  elseif code == 'q' then
    out[i] = slidingWindowPeek(key, tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), nowOf(ARGV[a + 3]))
    a = a + 4
  elseif code == 'a' then
    local step = out[i - 1]
    if type(step) == 'table' and step[1] == 1 then
      redis.call('SET', key, ARGV[a + 1], 'PX', ARGV[a + 2])
      out[i] = 1
    else
      out[i] = 0
    end
    a = a + 3
  elseif code == 'e' then
    if redis.call('GET', key) == ARGV[a + 1] then
      redis.call('SET', key, ARGV[a + 2], 'PX', ARGV[a + 3])
      out[i] = 1
    else
      out[i] = 0
    end
    a = a + 4
  else
    return redis.error_reply('lcBatch: unknown op code')
  end
  i = i + 1
end
return out
`;
