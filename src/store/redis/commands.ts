/**
 * How each `Store` primitive becomes one Redis command, and how its reply becomes the documented
 * result: `issue` for a single call (and each op of a batch on a cluster), `batchArgs` for the
 * batch script of a single Redis (`lua/batch.ts`, which runs the same Redis calls and Lua
 * functions), and `decode` for the replies of both.
 */
import type { ClientContext, RedisCommander, Result } from 'ioredis';
import { wholeMs } from '../checks.js';
import type { RateLimitDecision, StoreOp, StoreOpResult } from '../types.js';
import { BATCH_CODES, SERVER_TIME, type RateLimitReply } from './lua/index.js';

/**
 * Whose clock rate-limit steps run on: `redis` (the script reads Redis's `TIME`; the caller's
 * `nowMs` is ignored) or `caller` (the `nowMs` passed in). See `lua/time.ts`.
 */
export type RateLimitClock = 'redis' | 'caller';

/** The time argument of a rate-limit script for `nowMs` on `clock`. */
function timeArg(clock: RateLimitClock, nowMs: number): number | string {
  return clock === 'redis' ? SERVER_TIME : nowMs;
}

/**
 * A TTL as `PX`/`PEXPIRE` takes it: whole milliseconds rounded up as in every backend (`wholeMs`),
 * capped far beyond any real use, where Redis would refuse it.
 */
export function toPx(ttlMs: number): number {
  return Math.min(wholeMs(ttlMs), Number.MAX_SAFE_INTEGER);
}

/**
 * Issues `op` (already checked) on `target`, under the final Redis key `key`. `member` is a unique
 * id for a sliding-window entry (ignored by other ops); `clock` applies to rate-limit ops.
 *
 * @returns a promise of the raw reply on a client, the chain itself on a `multi()` or `pipeline()`
 */
export function issue<C extends ClientContext>(
  target: RedisCommander<C>,
  op: StoreOp,
  key: string,
  member: string,
  clock: RateLimitClock,
): Result<unknown, C> {
  switch (op.op) {
    case 'get':
      return target.get(key);
    case 'set':
      return target.set(key, op.value, 'PX', toPx(op.ttlMs));
    case 'claim':
      // Atomic since Redis 7.0: sets only when missing (NX) and answers the value already there (GET).
      return target.set(key, op.value, 'PX', toPx(op.ttlMs), 'NX', 'GET');
    case 'touch':
      // 1 when the key exists (its TTL renewed, value untouched), 0 when missing: nothing is made.
      return target.pexpire(key, toPx(op.ttlMs));
    case 'deleteIfEquals':
      return target.lcDeleteIfEquals(key, op.expected);
    case 'delete':
      return target.del(key);
    case 'rateLimit': {
      const { limit, windowMs } = op.policy;
      const now = timeArg(clock, op.nowMs);
      return op.policy.algorithm === 'gcra' ? target.lcGcra(key, limit, windowMs, now) : target.lcSlidingWindow(key, limit, windowMs, now, member);
    }
    case 'rateLimitPeek': {
      const { limit, windowMs } = op.policy;
      const now = timeArg(clock, op.nowMs);
      return op.policy.algorithm === 'gcra' ? target.lcGcraPeek(key, limit, windowMs, now) : target.lcSlidingWindowPeek(key, limit, windowMs, now);
    }
    case 'setIfAllowed':
      // Guarded by the step before it in a batch: only the batch script runs it.
      throw new TypeError('Store op "setIfAllowed" runs only in a batch, after its rateLimit step');
    case 'replaceIfEquals':
      // A batch op (no `Store` method): only the batch script runs it.
      throw new TypeError('Store op "replaceIfEquals" runs only in a batch');
  }
}

/** The documented result of `op` from its raw reply. */
export function decode(op: StoreOp, reply: unknown): StoreOpResult {
  switch (op.op) {
    case 'get':
    case 'claim':
      return reply === null ? null : String(reply);
    case 'set':
    case 'delete':
      return null;
    case 'touch':
    case 'deleteIfEquals':
    case 'setIfAllowed':
    case 'replaceIfEquals':
      return reply === 1;
    case 'rateLimit':
    case 'rateLimitPeek':
      return toDecision(reply as RateLimitReply, op.policy.limit);
  }
}

export function toDecision(reply: RateLimitReply, limit: number): RateLimitDecision {
  const [allowed, remaining, resetMs, retryAfterMs, nextMs] = reply;
  return { allowed: allowed === 1, limit, remaining, resetMs, retryAfterMs, nextMs };
}

/** The context of a client's own methods (they answer promises). */
export type Direct = { type: 'default' };

/** Issues `op` on a client (or cluster) and resolves its raw reply. */
export function send(client: RedisCommander<Direct>, op: StoreOp, key: string, member: string, clock: RateLimitClock): Promise<unknown> {
  return issue<Direct>(client, op, key, member, clock);
}

/**
 * The arguments of the batch script (`lua/batch.ts`) for `ops` (already checked): the number of
 * keys, every op's final key, then each op's code and arguments, in op order.
 */
export function batchArgs(
  ops: readonly StoreOp[],
  keyOf: (key: string) => string,
  member: () => string,
  clock: RateLimitClock,
): (string | number)[] {
  const n = ops.length;
  const args: (string | number)[] = new Array<string | number>(n + 1);
  args[0] = n;
  for (let i = 0; i < n; i++) {
    const op = ops[i] as StoreOp;
    args[i + 1] = keyOf(op.key);
    switch (op.op) {
      case 'get':
        args.push(BATCH_CODES.get);
        break;
      case 'set':
        args.push(BATCH_CODES.set, op.value, toPx(op.ttlMs));
        break;
      case 'claim':
        args.push(BATCH_CODES.claim, op.value, toPx(op.ttlMs));
        break;
      case 'touch':
        args.push(BATCH_CODES.touch, toPx(op.ttlMs));
        break;
      case 'deleteIfEquals':
        args.push(BATCH_CODES.deleteIfEquals, op.expected);
        break;
      case 'delete':
        args.push(BATCH_CODES.delete);
        break;
      case 'rateLimit': {
        const { limit, windowMs } = op.policy;
        const now = timeArg(clock, op.nowMs);
        if (op.policy.algorithm === 'gcra') args.push(BATCH_CODES.gcra, limit, windowMs, now);
        else args.push(BATCH_CODES.slidingWindow, limit, windowMs, now, member());
        break;
      }
      case 'rateLimitPeek': {
        const { limit, windowMs } = op.policy;
        const now = timeArg(clock, op.nowMs);
        args.push(op.policy.algorithm === 'gcra' ? BATCH_CODES.gcraPeek : BATCH_CODES.slidingWindowPeek, limit, windowMs, now);
        break;
      }
      case 'setIfAllowed':
        args.push(BATCH_CODES.setIfAllowed, op.value, toPx(op.ttlMs));
        break;
      case 'replaceIfEquals':
        args.push(BATCH_CODES.replaceIfEquals, op.expected, op.value, toPx(op.ttlMs));
        break;
    }
  }
  return args;
}
