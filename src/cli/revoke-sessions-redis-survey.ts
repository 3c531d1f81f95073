/**
 * `livecomponents revoke-sessions`: the survey of a Redis's key prefixes, made before anything
 * changes, that tells whether `REDIS_KEY_PREFIX` holds the app's sessions (what is said of it:
 * `revoke-sessions-prefix.ts`).
 */
import type { Cluster, Redis } from 'ioredis';
import { globEscape, nodesOf, SCAN_COUNT } from './revoke-sessions-redis-commands.js';
import { parseSessionKey, SESSION_FAMILY } from './revoke-sessions-session-keys.js';
import { NEVER, stopIfAsked, type StopCheck } from './revoke-sessions-stop.js';

/** A key of this framework (src/store/keys.ts, src/auth/keys.ts) under some prefix: the prefix, the family letter, whether it is a session record. */
const FRAMEWORK_KEY = /^([^{]*)lc:\{([a-z]+)[:}]/s;

/**
 * Session records of one other prefix the survey counts (each once: it remembers their keys) before it
 * says "or more": a neighbour's millions of sessions cost it 10,000 keys of memory, not millions.
 */
export const SURVEY_CAP = 10_000;

/** What a Redis holds of this framework's keys when no session is under the configured prefix. */
export interface PrefixSurvey {
  /** Whether a session record of this framework is under the configured prefix: the app's sessions are there. */
  readonly inUse: boolean;
  /**
   * When not: per prefix (`''`: none) holding keys of this framework, its session records (at most
   * `SURVEY_CAP`: or more). The configured prefix is in it (with 0) when it holds other keys of this
   * framework (a rate limit, an idempotency record), which say nothing of where the sessions are.
   */
  readonly elsewhere: ReadonlyMap<string, number>;
}

/**
 * Whether `keyPrefix` holds the app's sessions: a session record of this framework under it, on any
 * node, is enough (the walk stops at the first). When there is none, every node is SCANned for this
 * framework's keys under any prefix (a key prefix holds no `{`, so the prefix is what comes before
 * the first `lc:{`), counting their session records per prefix. A wrong or missing
 * `REDIS_KEY_PREFIX` walked a key range without the app's sessions, ended none, and said "0 ended":
 * the operator believed everyone signed out. Any key of the framework under the prefix used to count
 * as the app's: a rate-limit or idempotency key an old deployment or a test left under a mistyped
 * prefix passed it too. On a Redis of millions of keys the walks take a while: `stop` is asked before
 * each SCAN (`Interrupted`; nothing has changed yet).
 */
export async function surveyPrefixes(client: Redis | Cluster, keyPrefix: string, stop: StopCheck = NEVER): Promise<PrefixSurvey> {
  const nodes = nodesOf(client);
  // `*` matches `}` too: a state key of a component named `…}:session` is told apart by parseSessionKey.
  const records = `${globEscape(keyPrefix)}${globEscape(SESSION_FAMILY)}*${globEscape('}:session')}`;
  const isRecord = (key: string) => parseSessionKey(key.slice(keyPrefix.length))?.part === 'session';
  for (const node of nodes) {
    let cursor = '0';
    do {
      stopIfAsked(stop);
      const [next, keys] = await node.scan(cursor, 'MATCH', records, 'COUNT', SCAN_COUNT);
      if (keys.some(isRecord)) return { inUse: true, elsewhere: new Map() };
      cursor = next;
    } while (cursor !== '0');
  }
  const elsewhere = new Map<string, number>();
  const seen = new Set<string>();
  for (const node of nodes) {
    let cursor = '0';
    do {
      stopIfAsked(stop);
      const [next, keys] = await node.scan(cursor, 'MATCH', `*${globEscape('lc:{')}*`, 'COUNT', SCAN_COUNT);
      cursor = next;
      for (const key of keys) {
        const match = FRAMEWORK_KEY.exec(key);
        if (match === null) continue;
        const prefix = match[1] as string;
        if (!elsewhere.has(prefix)) elsewhere.set(prefix, 0);
        // A key SCAN returns twice is counted once; past the cap, none is remembered.
        if (match[2] === 's' && (elsewhere.get(prefix) as number) < SURVEY_CAP && parseSessionKey(key.slice(prefix.length))?.part === 'session' && !seen.has(key)) {
          seen.add(key);
          elsewhere.set(prefix, (elsewhere.get(prefix) as number) + 1);
        }
      }
    } while (cursor !== '0');
  }
  // A session the app wrote under the prefix between the two walks: it is in use after all.
  if ((elsewhere.get(keyPrefix) ?? 0) > 0) return { inUse: true, elsewhere: new Map() };
  return { inUse: false, elsewhere };
}
