/**
 * Why Redis refused the store's scripted write, in words an operator can act on: a replica
 * (READONLY), an ACL user barred from scripts (NOPERM) or from a command a script runs (TIME,
 * PEXPIRE…, named from Redis's error even where Redis 7.0 names only the script and its line).
 * What the health check and `doctor --connect` answer.
 */
import { createHash } from 'node:crypto';
import { StoreUnavailableError } from '../../core/errors.js';
import { LUA_COMMANDS } from './lua/index.js';

/**
 * The command a script was refused by an ACL, from Redis's error `message` (upper case), or
 * `undefined` when it does not tell. Redis 7.2+ names it (`ACL failure in script: User u has no
 * permissions to run the 'time' command script: …`); Redis 7.0 does not (`The user executing the
 * script can't run this command or subcommand script: <sha1>, on @user_script:<line>.`), but names
 * the script and the line, which is one of the store's own: that line's `redis.call`.
 */
export function refusedScriptCommand(message: string): string | undefined {
  const named = /no permissions to run the '([^']+)' command/i.exec(message)?.[1];
  if (named !== undefined) return named.toUpperCase();
  const at = /script: ([0-9a-f]{40}), on @user_script:(\d+)/i.exec(message);
  if (at === null) return undefined;
  const line = scriptSources().get((at[1] as string).toLowerCase())?.split('\n')[Number(at[2]) - 1];
  return line === undefined ? undefined : /redis\.p?call\('([A-Za-z]+)'/.exec(line)?.[1]?.toUpperCase();
}

let sources: Map<string, string> | undefined;

/** The store's scripts by SHA-1, as Redis names them in errors. */
function scriptSources(): Map<string, string> {
  sources ??= new Map(Object.values(LUA_COMMANDS).map(({ lua }) => [createHash('sha1').update(lua).digest('hex'), lua]));
  return sources;
}

/** What the store needs each command for that a script may be refused, in an operator's words. */
const NEEDED_FOR: Readonly<Record<string, string>> = {
  TIME: "rate limits run on Redis's clock",
  PEXPIRE: 'sessions and state have their lifetimes renewed',
};

/**
 * Why Redis refused the store's scripted write, in words an operator can act on, or `undefined`
 * when `message` is no such refusal. `sentinelMaster`: the master's name when the client found the
 * server through Sentinel (a replica then is no wrong URL: the node was demoted under it).
 */
export function explainWriteRefusal(message: string, sentinelMaster?: string): string | undefined {
  // An ACL refusal inside a script (Redis 7.0 words, then 7.2+): a plain ERR, without NOPERM.
  const inScript = /(?:The user executing the script can't (?:run this command or subcommand|access at least one of the keys)|ACL failure in script:).*?(?= script: |$)/.exec(message)?.[0];
  if (inScript !== undefined) {
    if (/\baccess\b.*\bkeys?\b/.test(inScript)) {
      return `Redis refuses a command of the store's scripts on the app's keys (${inScript}): the ACL user of REDIS_URL needs read/write access to them (~* or ~<keyPrefix>*)`;
    }
    const command = refusedScriptCommand(message);
    if (command === undefined) {
      return `Redis refuses a command the store's scripts run (${inScript}): the ACL user of REDIS_URL needs every command they run (GET, SET, PEXPIRE, DEL, TIME, TYPE, the sorted sets': +@read +@write +time, or +@all)`;
    }
    const why = NEEDED_FOR[command];
    return `Redis refuses the ${command} command the store's scripts run (${inScript})${why === undefined ? '' : `: ${why}`}; grant the ACL user of REDIS_URL +${command.toLowerCase()}`;
  }
  const reply = /\b(READONLY|NOPERM)\b.*/.exec(message)?.[0];
  if (reply === undefined) return undefined;
  if (reply.startsWith('READONLY')) {
    return sentinelMaster === undefined
      ? `Redis refuses writes (${reply}): REDIS_URL names a replica, as after a failover; point it at the master`
      : `Redis refuses writes (${reply}): the master Redis Sentinel names '${sentinelMaster}' answers as a replica (a failover under way?)`;
  }
  return `Redis refuses the store's scripts (${reply}): the ACL user of REDIS_URL needs EVAL/EVALSHA (+@scripting) and read/write access to the app's keys`;
}

/** Rethrows `error` as the `StoreUnavailableError` of `explainWriteRefusal` when it is such a refusal, else as it is. */
export function explainRefusedWrite(error: unknown, sentinelMaster?: string): never {
  const explained = explainWriteRefusal(error instanceof Error ? error.message : String(error), sentinelMaster);
  throw explained === undefined ? error : new StoreUnavailableError(`${explained}.`, error);
}
