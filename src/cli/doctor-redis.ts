/**
 * `doctor --connect`'s `redis-server` check when REDIS_URL is set: the Redis or Redis Cluster it
 * names, asked read-only what the app's store needs of it (the list: doctor-services.ts), and its
 * clock, for the `clock` check.
 */
import type { Cluster, Redis } from 'ioredis';
import { failed, checked, type CheckResult } from './doctor-check.js';
import { withDeadline } from '../core/deadline.js';
import { messageOf } from '../core/errors.js';
import { redisTarget } from '../runtime/backends.js';
import { isAclRefusal, onNode, readNodeMemory } from '../store/redis/eviction.js';
import { isSelectFailure, schemeHintOf, selectFailureAdvice, withoutEchoedArguments } from '../store/redis/connection.js';
import { explainWriteRefusal, probeWrite, redisClientOptions, serverModeRefusal, WRITE_CHECK_KEY } from '../store/redis/index.js';
import { loadIoredis } from '../store/redis/driver.js';
import { defineLuaCommands } from '../store/redis/lua/index.js';
import { measureSkew, redisTime, type ClockSkew } from '../ops/clock-skew/index.js';

/** The Redis at `url` (seed nodes comma-separated: a Cluster); its clock's skew is pushed onto `readings`. */
export async function checkRedis(url: string, keyPrefix: string, timeoutMs: number, now: () => number, readings: ClockSkew[]): Promise<CheckResult<'redis-server'>> {
  const target = redisTarget(url, true);
  // One attempt, no reconnecting: the doctor reports and exits.
  const client: Redis | Cluster = 'url' in target ? new (loadIoredis().Redis)(target.url, { ...redisClientOptions(timeoutMs), lazyConnect: true, retryStrategy: () => null }) : target.client;
  // ioredis rejects a failed connect with "Connection is closed."; the cause came as an event.
  let cause: Error | undefined;
  // Read when the cause comes: the client's state then tells a TLS mismatch from an outage.
  let hint: string | undefined;
  client.on('error', (error: Error) => {
    if (cause !== undefined) return;
    cause = error;
    hint = schemeHintOf(client, error);
  });
  try {
    await within(() => client.connect(), timeoutMs, 'connecting');
    // ioredis reports a refused SELECT as an event only, then carries on with database 0.
    if (cause !== undefined && isSelectFailure(cause)) {
      return failed('redis-server', `REDIS_URL: Redis refused the database the URL names (${messageOf(cause)}), so the app's store would answer 503: ${selectFailureAdvice(cause)}`);
    }
    await within(() => client.ping(), timeoutMs, 'PING');
    // One URL is a single Redis: a cluster node or a Sentinel answers PING, then refuses most of what the store sends.
    if (!client.isCluster) {
      const refusal = serverModeRefusal(await within(() => (client as Redis).info(), timeoutMs, 'INFO').catch(() => ''));
      if (refusal !== undefined) return failed('redis-server', `${refusal}, so the app's store would answer 503`);
    }
    // PING passes on a replica and for a user barred from scripts; every action of the app would not.
    defineLuaCommands(client);
    // Twice on one socket: ioredis sends a script by EVAL the first time, by EVALSHA after, so an
    // ACL user refused EVALSHA alone passed one probe while every action after the first answered 503.
    for (const attempt of ['a scripted write', 'a scripted write by EVALSHA']) {
      try {
        await within(() => probeWrite(client, `${keyPrefix}${WRITE_CHECK_KEY}`), timeoutMs, attempt);
      } catch (error) {
        const message = withoutEchoedArguments(messageOf(error));
        if (/\bNOPERM\b.*'evalsha'/i.test(message)) {
          return failed('redis-server', `REDIS_URL: Redis refuses EVALSHA (${message}) though it ran the store's script by EVAL: the store sends each script by EVALSHA once loaded, so its actions would answer 503; grant the ACL user +evalsha`);
        }
        const refusal = explainWriteRefusal(message);
        if (refusal === undefined) throw error;
        return failed('redis-server', `REDIS_URL: ${refusal}, so the app's store would answer 503`);
      }
    }
    const problems: string[] = [];
    const refused = (what: string, consequence: string) => (error: unknown) => {
      problems.push(`REDIS_URL: cannot read ${what} (${withoutEchoedArguments(messageOf(error))}): ${consequence}`);
      return undefined;
    };
    const memory = await aclRefusalAs(within(() => readNodeMemory(client), timeoutMs, 'INFO memory'), refused('INFO memory', 'the eviction policy and how full Redis is cannot be checked; grant the ACL user +info'));
    for (const { node, evictionRisk, pressure } of memory ?? []) {
      if (evictionRisk !== null) problems.push(`Redis ${onNode(node, evictionRisk)}`);
      if (pressure !== null) problems.push(onNode(node, pressure));
    }
    const node = client.isCluster ? ((client as Cluster).nodes('master')[0] as Redis) : (client as Redis);
    const persistence = await aclRefusalAs(within(() => node.info('persistence'), timeoutMs, 'INFO persistence'), refused('INFO persistence', 'how Redis persists cannot be checked; grant the ACL user +info'));
    const skewMs = await aclRefusalAs(
      within(() => measureSkew(redisTime(client), now), timeoutMs, 'TIME'),
      refused('TIME', "rate-limited actions would fail (their scripts read Redis's clock) and the clocks cannot be compared; grant the ACL user +time"),
    );
    if (skewMs !== undefined) readings.push({ service: 'redis', skewMs });
    const aof = persistence !== undefined && /^aof_enabled:1\s*$/m.test(persistence);
    const kind = client.isCluster ? `a Redis Cluster of ${(client as Cluster).nodes('master').length} masters` : 'Redis';
    const persists = aof ? 'persists with AOF' : 'AOF is off (a restart loses what was written since the last snapshot, or everything without RDB — idempotency records, sessions, rate-limit budgets: see docs/scaling.md)';
    return checked('redis-server', problems, `${kind} answers, never evicts our keys; ${persists}`);
  } catch (error) {
    // Redis echoes the arguments of a command it lacks (a renamed EVAL): the script and its keys.
    // No cause: the doctor's own deadline passed, in the state the client is still in.
    const fix = cause === undefined ? schemeHintOf(client) : hint;
    return failed('redis-server', `REDIS_URL: Redis did not answer (${withoutEchoedArguments(messageOf(cause ?? error))})${fix === undefined ? '' : `: ${fix}`}`);
  } finally {
    client.disconnect();
  }
}

/**
 * `promise`, or what `onRefusal` makes of an ACL refusal (`NOPERM`): a user barred from one read
 * the doctor makes is named precisely, not "Redis did not answer". Other errors reject as before.
 */
async function aclRefusalAs<T>(promise: Promise<T>, onRefusal: (error: unknown) => undefined): Promise<T | undefined> {
  try {
    return await promise;
  } catch (error) {
    if (!isAclRefusal(error)) throw error;
    return onRefusal(error);
  }
}

/**
 * What `probe` answers, or an error naming `what` once `ms` pass. The deadline calls `probe` after
 * arming its timer, so a probe's own synchronous part (building the command) counts too.
 */
function within<T>(probe: () => Promise<T>, ms: number, what: string): Promise<T> {
  return withDeadline(probe, ms, () => new Error(`${what} timed out after ${ms} ms`));
}
