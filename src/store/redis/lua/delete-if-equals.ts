/**
 * Compare-and-delete: deletes `KEYS[1]` only when it holds exactly `ARGV[1]`.
 *
 * KEYS[1] the key · ARGV[1] the expected value
 * Returns 1 when it deleted the key, else 0 (missing key, other value).
 */
export const DELETE_IF_EQUALS_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`;
