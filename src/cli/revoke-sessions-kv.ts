/**
 * `livecomponents revoke-sessions`, the key-value half: ends browser sessions in the store the app
 * keeps them in — the SQLite store's `lc_kv` table, or Redis (one server, or every master of a
 * Cluster) under the app's key prefix. A session is its record, `lc:{s:<key>}:session`
 * (src/store/keys.ts), whose JSON names its user (`u`: `null` when anonymous, the user id, or
 * `<user id>/<sign-in id>` for a sign-in of the auth module, src/auth/accounts.ts). Ending one
 * deletes the record and the keys of its hash tag that only it reads: its sealed component state and
 * its CSRF nonces. Its instance locks are left to expire (seconds): an action holding one is still
 * running, and whatever it writes afterwards belongs to a session that no longer exists.
 *
 * It also forgets the trusted devices of the accounts it signs out (`revoke-sessions-devices.ts`): a
 * browser that signed in to an account keeps a sign-in budget of its own for it (src/auth/device.ts),
 * apart from the per-account one, for 90 days; after an incident, the browser of whoever signed in
 * must not keep guessing at the account's new password while everyone else is held to the account's
 * limit.
 *
 * Nothing else is touched: idempotency records, rate-limit state, other apps' keys
 * (another key prefix, or none of ours). An action running meanwhile cannot bring a deleted record
 * back: it renews its session with a `touch`, which writes nothing on a missing key
 * (src/session/index.ts).
 *
 * Its parts, gathered here for the command and its tests: the keys and what they count as
 * (`revoke-sessions-session-keys.ts`), ending sessions in SQLite (`revoke-sessions-sqlite.ts`) or
 * Redis (`revoke-sessions-redis.ts`), the Redis commands sent and checked first
 * (`revoke-sessions-redis-commands.ts`), the key prefixes' survey (`revoke-sessions-redis-survey.ts`),
 * and stopping at a safe point (`revoke-sessions-stop.ts`).
 */
export { endRedisSessions } from './revoke-sessions-redis.js';
export {
  checkRedisCommands,
  checkRedisDryRunCommands,
  globEscape,
  nodesOf,
  recordValue,
  SCAN_COUNT,
  unlinkCounted,
} from './revoke-sessions-redis-commands.js';
export { SURVEY_CAP, surveyPrefixes, type PrefixSurvey } from './revoke-sessions-redis-survey.js';
export { emptySessionCounts, type SessionCounts, type SessionTarget } from './revoke-sessions-session-keys.js';
export { endSqliteSessions, SQLITE_PIECE } from './revoke-sessions-sqlite.js';
export { Interrupted, NEVER, stopIfAsked, type StopCheck } from './revoke-sessions-stop.js';
