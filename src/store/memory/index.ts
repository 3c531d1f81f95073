/**
 * The in-process store: one `Map`, TTLs measured on an injected clock. For tests, development and
 * a single instance; several instances need a shared store (Redis).
 *
 * Every operation runs synchronously between its check and its write (no `await` inside), so
 * `claim`, `touch`, `deleteIfEquals` and `rateLimit` are atomic in single-threaded JavaScript; a `batch`
 * runs all its ops in one synchronous go, so in this store it is even atomic as a whole.
 */
import { systemClock, type Clock } from '../../core/clock.js';
import { StoreUnavailableError } from '../../core/errors.js';
import { rateLimitPeek, rateLimitStep } from '../../pipeline/rate-limit/algorithms.js';
import type { RateLimitDecision, RateLimitPolicy, Store, StoreOp, StoreOpResult } from '../types.js';
import { checkCompare, checkGuard, checkKey, checkKeys, checkOp, checkRateLimitCall, checkTouch, checkTtl, checkWrite, sweepIntervalOf, wholeMs } from '../checks.js';
import { keyFamily } from '../keys.js';
import { runBatch, type PlainOp } from '../embedded-batch.js';
import { compact, compactIfWellFormed, expand, MIN_LENGTH, type Compact } from './compact.js';

export interface MemoryStoreOptions {
  /**
   * Time source for expiry. Tests pass a manual clock and move it by hand.
   * @default systemClock
   */
  clock?: Clock;
  /**
   * How often expired entries are swept out in the background, in ms (entries are also dropped
   * lazily when read). The timer is `unref()`ed and stopped by `close()`. `0` turns the sweep off.
   * At most 2^31 − 1 (a timer's limit).
   * @default 60_000
   */
  sweepIntervalMs?: number;
}

interface Entry {
  /** The value as `compact` keeps it: read it with `valueOf`. */
  text: string;
  /** Whether `text` holds the value's UTF-8 bytes (`compact`). */
  utf8: boolean;
  /** Clock time (ms) at which the entry stops existing. */
  expiresAt: number;
}

function valueOf(entry: Entry): string {
  return expand(entry.text, entry.utf8);
}

/**
 * A `Store` kept in this process's memory.
 *
 * @example
 * const store = createMemoryStore({ clock: manualClock() });
 * await store.set('k', 'v', 1_000);
 */
export function createMemoryStore(options: MemoryStoreOptions = {}): Store {
  const clock = options.clock ?? systemClock;
  const sweepIntervalMs = sweepIntervalOf('createMemoryStore', options.sweepIntervalMs ?? 60_000);
  /**
   * One Map per key family (`keyFamily`: sessions and state, idempotency records, rate-limit
   * counters, other keys). Idempotency records pile up — one per action with a key, kept for an hour
   * — and in a single Map of hundreds of thousands every lookup of a session's few hot keys missed
   * the CPU cache: ~8% of an action's server CPU in the bench. Apart, the hot families stay small.
   */
  const families: (Map<string, Entry> | undefined)[] = [];
  function mapOf(key: string): Map<string, Entry> {
    const family = keyFamily(key);
    return (families[family] ??= new Map<string, Entry>());
  }
  let closed = false;

  /** The live entry under `key` in its `map`, dropping it when expired. */
  function live(map: Map<string, Entry>, key: string, now: number): Entry | undefined {
    const entry = map.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt > now) return entry;
    map.delete(key);
    return undefined;
  }

  /**
   * Writes `key`, whose current entry (if any) the caller already looked up. A key written again
   * (a component's state, a client's rate-limit counter, every action) keeps its entry: no new object.
   */
  function write(map: Map<string, Entry>, entry: Entry | undefined, key: string, value: string, ttlMs: number, now: number): void {
    const { text, utf8 } = compactedOf(value);
    const expiresAt = now + wholeMs(ttlMs);
    if (entry === undefined) {
      map.set(key, { text, utf8, expiresAt });
    } else {
      entry.text = text;
      entry.utf8 = utf8;
      entry.expiresAt = expiresAt;
    }
  }

  function get(key: string, now: number): string | null {
    const entry = live(mapOf(key), key, now);
    return entry === undefined ? null : valueOf(entry);
  }

  function put(key: string, value: string, ttlMs: number, now: number): void {
    const map = mapOf(key);
    write(map, map.get(key), key, value, ttlMs, now);
  }

  function claim(key: string, value: string, ttlMs: number, now: number): string | null {
    const map = mapOf(key);
    const existing = live(map, key, now);
    if (existing !== undefined) return valueOf(existing);
    write(map, undefined, key, value, ttlMs, now);
    return null;
  }

  /** Renews the live entry's expiry in place; the value is untouched. */
  function touch(key: string, ttlMs: number, now: number): boolean {
    const entry = live(mapOf(key), key, now);
    if (entry === undefined) return false;
    entry.expiresAt = now + wholeMs(ttlMs);
    return true;
  }

  function deleteIfEquals(key: string, expected: string, now: number): boolean {
    const map = mapOf(key);
    const entry = live(map, key, now);
    if (entry === undefined || valueOf(entry) !== expected) return false;
    map.delete(key);
    return true;
  }

  function remove(key: string): void {
    mapOf(key).delete(key);
  }

  function rateLimit(key: string, policy: RateLimitPolicy, nowMs: number, now: number): RateLimitDecision {
    const map = mapOf(key);
    const entry = live(map, key, now);
    const step = rateLimitStep(entry === undefined ? null : valueOf(entry), policy, nowMs);
    if (step.ttlMs > 0) write(map, entry, key, step.state, step.ttlMs, now);
    else map.delete(key);
    return step.decision;
  }

  /** The `rateLimitPeek` op: the budget as it stands, nothing written. */
  function peek(key: string, policy: RateLimitPolicy, nowMs: number, now: number): RateLimitDecision {
    const entry = live(mapOf(key), key, now);
    return rateLimitPeek(entry === undefined ? null : valueOf(entry), policy, nowMs);
  }

  /** Compare-and-replace for `runBatch`: the entry keeps its object, takes the new value in place. */
  function replace(key: string, expected: string, value: string, ttlMs: number, now: number): boolean {
    const map = mapOf(key);
    const entry = live(map, key, now);
    if (entry === undefined || valueOf(entry) !== expected) return false;
    write(map, entry, key, value, ttlMs, now);
    return true;
  }

  /** One op of a batch; every op reads the same `now`. */
  function apply(op: PlainOp, now: number): StoreOpResult {
    switch (op.op) {
      case 'get':
        return get(op.key, now);
      case 'set':
        put(op.key, op.value, op.ttlMs, now);
        return null;
      case 'claim':
        return claim(op.key, op.value, op.ttlMs, now);
      case 'touch':
        return touch(op.key, op.ttlMs, now);
      case 'deleteIfEquals':
        return deleteIfEquals(op.key, op.expected, now);
      case 'delete':
        remove(op.key);
        return null;
      case 'rateLimit':
        return rateLimit(op.key, op.policy, op.nowMs, now);
      case 'rateLimitPeek':
        return peek(op.key, op.policy, op.nowMs, now);
    }
  }

  /**
   * Checks the call's arguments (`check`, a `TypeError` when they are bad), then runs `op`
   * synchronously and wraps its result (or throw) in a promise; rejects once closed. Arguments come
   * first, as in every store: a bad call is a bug in the caller whatever the store's state.
   */
  function run<T>(check: () => void, op: () => T): Promise<T> {
    try {
      check();
      if (closed) return Promise.reject(new StoreUnavailableError('The memory store is closed.'));
      return Promise.resolve(op());
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /**
   * Long values a batch's check already compacted (`checkBatchOp`), for its writes to take instead of
   * compacting them again; emptied once the batch has run or was refused. Found by `===` (the same
   * string object: a pointer comparison).
   */
  const compacted: { value: string; kept: Compact }[] = [];

  function compactedOf(value: string): Compact {
    for (let i = 0; i < compacted.length; i++) {
      const c = compacted[i] as { value: string; kept: Compact };
      if (c.value === value) return c.kept;
    }
    return compact(value);
  }

  /**
   * `checkOp`, except that a long value to write (an idempotency record, on every keyed action) is
   * proven well-formed by its compacted copy (`compactIfWellFormed`), kept for the write, rather than
   * by `isWellFormed`; the same refusals, with the same errors (a possible lone surrogate goes
   * through `checkOp`), in the same order (key, value, TTL).
   */
  function checkBatchOp(op: StoreOp): void {
    if ((op.op === 'set' || op.op === 'claim') && typeof op.value === 'string' && op.value.length >= MIN_LENGTH) {
      checkKey(op.key);
      const kept = compactIfWellFormed(op.value);
      if (kept !== null) {
        checkTtl(op.ttlMs);
        compacted.push({ value: op.value, kept });
        return;
      }
    }
    checkOp(op);
  }

  const nothing = (): void => undefined;

  const embedded = { apply, replace };

  function sweep(): void {
    const now = clock.now();
    for (const map of families) {
      if (map !== undefined) for (const [key, entry] of map) if (entry.expiresAt <= now) map.delete(key);
    }
  }

  const timer = sweepIntervalMs > 0 ? setInterval(sweep, sweepIntervalMs) : undefined;
  timer?.unref();

  return {
    kind: 'memory',
    get: (key) =>
      run(
        () => checkKey(key),
        () => get(key, clock.now()),
      ),
    getMany: (keys) =>
      run(
        () => checkKeys(keys),
        () => {
          const now = clock.now();
          return keys.map((key) => get(key, now));
        },
      ),
    set: (key, value, ttlMs) =>
      run(
        () => checkWrite(key, value, ttlMs),
        () => put(key, value, ttlMs, clock.now()),
      ),
    claim: (key, value, ttlMs) =>
      run(
        () => checkWrite(key, value, ttlMs),
        () => claim(key, value, ttlMs, clock.now()),
      ),
    touch: (key, ttlMs) =>
      run(
        () => checkTouch(key, ttlMs),
        () => touch(key, ttlMs, clock.now()),
      ),
    deleteIfEquals: (key, expected) =>
      run(
        () => checkCompare(key, expected),
        () => deleteIfEquals(key, expected, clock.now()),
      ),
    delete: (key) =>
      run(
        () => checkKey(key),
        () => remove(key),
      ),
    rateLimit: (key, policy, nowMs) =>
      run(
        () => checkRateLimitCall(key, policy, nowMs),
        () => rateLimit(key, policy, nowMs, clock.now()),
      ),
    batch(ops) {
      try {
        return run(
          // Check every op before running any, so a malformed batch changes nothing.
          () => {
            for (let i = 0; i < ops.length; i++) {
              checkBatchOp(ops[i] as StoreOp);
              checkGuard(ops, i);
            }
          },
          () => runBatch(ops, embedded, clock.now()),
        );
      } finally {
        // `run` checks and runs synchronously: the batch is over, refused or not.
        compacted.length = 0;
      }
    },
    health: () => run(nothing, nothing),
    close() {
      if (!closed) {
        closed = true;
        if (timer !== undefined) clearInterval(timer);
        families.length = 0;
      }
      return Promise.resolve();
    },
  };
}
