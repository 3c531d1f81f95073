/**
 * Whose clock a rate-limit step runs on. The scripts take `nowMs` as an argument; the store passes
 * either the caller's time (a number) or `SERVER_TIME`, which makes the script read Redis's own
 * clock (`TIME`, microseconds) instead. On Redis's clock every instance computes a key's budget
 * from one time source, so instances whose clocks disagree still never over-admit (a key lives on
 * one node, also on a cluster). Redis 7 replicates a script's effects, not the script, so reading
 * `TIME` before writing is allowed.
 *
 * `NOW_FUNCTION` defines `nowOf(arg)` for the scripts that include it.
 */
export const SERVER_TIME = 'T';

export const NOW_FUNCTION = `
local function nowOf(arg)
  if arg == '${SERVER_TIME}' then
    local t = redis.call('TIME')
    return tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
  end
  return tonumber(arg)
end
`;
