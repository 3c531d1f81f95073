/**
 * `livecomponents revoke-sessions`: whether `REDIS_KEY_PREFIX` is where the app keeps its sessions,
 * from the survey of the Redis (`surveyPrefixes`, `revoke-sessions-redis-survey.ts`), before anything changes.
 */
import { Refusal } from './command.js';
import { SURVEY_CAP, type PrefixSurvey } from './revoke-sessions-redis-survey.js';

/** A key prefix, quoted, for a message; the empty one said plainly. */
function prefixName(prefix: string): string {
  return prefix === '' ? '"" (no prefix)' : JSON.stringify(prefix);
}

/**
 * Refuses a `REDIS_KEY_PREFIX` that is not the app's — no session of this framework under it,
 * sessions of it under other prefixes — naming those prefixes, before anything changed: the walk
 * under a wrong prefix ended no session and the run said "0 ended". Other keys of the framework under
 * the prefix (a rate limit, an idempotency record) do not let it through: an old deployment or a test
 * leaves them under a mistyped prefix as well, and they outlive the sessions the app's last run ended.
 * A Redis holding no session under any prefix (a fresh deploy, every session expired or ended) is no
 * refusal: the line returned says so plainly.
 * `confirmedEmpty` (`--key-prefix-empty`): the operator knows the app has no session there now (a
 * Redis emptied or lost beside a restored database, every session expired or ended by an earlier run,
 * a fresh deploy, on a Redis shared with other apps): no refusal; the other prefixes' sessions are
 * named and left alone. Without it that deployment could not run the command at all, and the
 * database's tokens stayed live.
 */
export function emptyStoreNote(survey: PrefixSurvey, where: string, keyPrefix: string, confirmedEmpty: boolean): string | undefined {
  if (survey.inUse) return undefined;
  /** Keys of the framework under the prefix, none a session. */
  const ownKeys = survey.elsewhere.has(keyPrefix);
  const others = [...survey.elsewhere].filter(([prefix]) => prefix !== keyPrefix).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const withSessions = others.filter(([, n]) => n > 0);
  if (withSessions.length > 0) {
    const list = withSessions.map(([prefix, n]) => `${prefixName(prefix)} (${n}${n >= SURVEY_CAP ? ' or more' : ''} ${n === 1 ? 'session' : 'sessions'})`).join(', ');
    if (confirmedEmpty) {
      return `none to end: no ${ownKeys ? 'session' : 'key of this app'} under the key prefix ${prefixName(keyPrefix)} in ${where} (--key-prefix-empty); the sessions under ${list} are left alone`;
    }
    if (ownKeys) {
      throw new Refusal(
        `${where}: no session under the key prefix ${prefixName(keyPrefix)} (REDIS_KEY_PREFIX; only other keys of this framework, rate limits or idempotency records, which an old deployment or a test may leave there), ` +
          `but sessions under ${list}: set REDIS_KEY_PREFIX as the app's environment sets it (or, when the app has no session now — a fresh deploy, every session expired or ended by an earlier run — add --key-prefix-empty); nothing was changed`,
      );
    }
    throw new Refusal(
      `${where}: no key of this app under the key prefix ${prefixName(keyPrefix)} (REDIS_KEY_PREFIX), but sessions under ${list}: set REDIS_KEY_PREFIX as the app's environment sets it ` +
        `(or, when the app has no key there now, its Redis emptied and the app stopped, add --key-prefix-empty); nothing was changed`,
    );
  }
  const named = others.map(([prefix]) => prefixName(prefix));
  return `none to end: no session under any key prefix in ${where}${named.length > 0 ? ` (other keys of this framework under ${named.join(', ')})` : ''}`;
}
