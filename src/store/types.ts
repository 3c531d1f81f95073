/**
 * The storage contract every backend (memory, SQLite, Redis) implements.
 *
 * Backends implement these primitives only; the logic built on them (sessions, CSRF nonces,
 * idempotency records, rate-limit policies) lives once, in the stages. Keys are built by
 * `src/store/keys.ts` only, never from raw request data. Values are opaque strings.
 *
 * Keys, values and `expected` must be well-formed strings (`String.prototype.isWellFormed`: no lone
 * UTF-16 surrogate, which UTF-8 cannot carry): every method, batch ops included, rejects anything
 * else with a `TypeError` before touching storage, as it does for a bad TTL or policy
 * (`src/store/checks.ts`, shared by every backend).
 *
 * Every method either resolves or rejects with a `StoreUnavailableError` (the store is down or
 * too slow); the HTTP layer maps that to 503 `SERVICE_UNAVAILABLE`.
 *
 * A key used by `rateLimit` is for `rateLimit` (and the read-only batch op `rateLimitPeek`) only (the
 * framework keeps rate-limit keys apart, `src/store/keys.ts`): any other op on it is undefined and may fail. Its state is a string in the
 * embedded stores but a sorted set on Redis for `sliding-window`, where `get`, `claim`,
 * `deleteIfEquals` or a batch touching it reject (WRONGTYPE, as `StoreUnavailableError`).
 */
export interface Store {
  /** Human name for logs and health checks (`memory`, `sqlite`, `redis`). */
  readonly kind: string;

  /**
   * Whether a `batch` may apply some hash tags' ops and not others: true for a store from
   * `createRedisStore` on a Redis Cluster, which sends each tag's ops to that tag's node as a script
   * of its own (see `batch`), so a node lost mid-batch leaves the other tags' ops applied. Absent or
   * false: a batch applies entirely or not at all (memory, SQLite, a single Redis).
   *
   * The prefetch stage reads it from the store it is given: when true, the after-action batch
   * completes idempotency records in a step of their own, after the new state is stored, so a record
   * is never marked done over a state that was lost (`src/pipeline/prefetch/split-flush.ts`). A store
   * that wraps another (a metrics or logging decorator, any object delegating to a store) must
   * forward it — `{ ...inner, batch }` copies it; a class or a hand-written object must say
   * `splitsBatchesByHashTag: inner.splitsBatchesByHashTag` — or a wrapped Cluster store is taken for
   * an atomic one and an action may be half-saved.
   * @default false
   */
  readonly splitsBatchesByHashTag?: boolean | undefined;

  get(key: string): Promise<string | null>;

  /** Reads several keys in one round trip; `null` where a key is missing or expired. */
  getMany(keys: readonly string[]): Promise<(string | null)[]>;

  /**
   * Writes `value`, expiring after `ttlMs` milliseconds. Every TTL in this interface (`set`, `claim`,
   * `touch`, batch ops) must be a positive finite number: anything else rejects with a `TypeError`.
   * TTLs count in whole milliseconds, a fraction rounded up (`1e-6` keeps the value 1 ms), in every
   * backend alike.
   */
  set(key: string, value: string, ttlMs: number): Promise<void>;

  /**
   * Atomic claim: writes `value` with `ttlMs` only when `key` holds nothing (or expired).
   * Resolves `null` when this caller claimed the key, else the value already there.
   * Exactly one of any number of concurrent callers gets `null`.
   */
  claim(key: string, value: string, ttlMs: number): Promise<string | null>;

  /**
   * Renews the TTL of a live `key` to `ttlMs` from now, without changing its value; resolves whether
   * the key was there. A missing or expired key resolves `false` and nothing is written (no key is
   * made). This is how a value that is read but not written stays alive while in use: a page view
   * keeps its component's state for another session lifetime (Redis: `PEXPIRE`).
   */
  touch(key: string, ttlMs: number): Promise<boolean>;

  /** Deletes `key` only when it still holds exactly `expected`; resolves whether it did. */
  deleteIfEquals(key: string, expected: string): Promise<boolean>;

  delete(key: string): Promise<void>;

  /**
   * One atomic rate-limit step for `key` (a key for `rateLimit` only: see above) under `policy` at
   * time `nowMs` (the caller's clock; a store shared by several instances may use its own instead:
   * Redis does, see `rateLimitClock`), with the shared algorithms of
   * `src/pipeline/rate-limit/algorithms.ts`. Refused steps consume nothing.
   * `nowMs` must be finite and under 2^43 ms (about the year 2248) either side of zero
   * (`MAX_RATE_LIMIT_NOW_MS`), where the algorithms' arithmetic is exact; else the step rejects with
   * a `TypeError`, on every store (Redis too, whose own clock it would not use).
   */
  rateLimit(key: string, policy: RateLimitPolicy, nowMs: number): Promise<RateLimitDecision>;

  /**
   * Runs several primitives in ONE round trip (Redis: one script per hash tag; embedded stores: in
   * order, in one go). Results come back in op order. This is how an action stays within two round
   * trips (one before the action, one after).
   *
   * The ops on keys of one hash tag (`{…}`) apply together: no other call runs between them, so a
   * compare-and-replace (`deleteIfEquals` then `claim`, how an idempotency claim becomes its
   * result) is never split. Across hash tags the batch is not a transaction (Redis Cluster sends
   * each tag to its own node).
   *
   * Argument errors (`TypeError`: a bad key, value, TTL, policy or op) are refused before anything
   * is written, on every store, whatever the store's state. A batch that fails at run time writes
   * nothing on the embedded stores (SQLite rolls it back; memory's ops cannot fail). On Redis, one
   * that fails on the server partway (an op on a key of another type, such as a `rateLimit` key:
   * see above) may have applied the ops before the failing one — Redis does not roll a script
   * back — while those after it do not run.
   */
  batch(ops: readonly StoreOp[]): Promise<StoreOpResult[]>;

  /** Resolves when the backend answers; rejects with the reason otherwise. */
  health(): Promise<void>;

  /**
   * Releases connections and timers. Later calls of every other method reject with
   * `StoreUnavailableError`; calling `close` again resolves.
   */
  close(): Promise<void>;
}

export type RateLimitAlgorithm = 'gcra' | 'sliding-window';

export interface RateLimitPolicy {
  /**
   * `gcra`: a token bucket of `limit` tokens refilled evenly over `windowMs` (O(1) state per key).
   * `sliding-window`: never more than `limit` admitted in any trailing `windowMs` (exact log).
   */
  algorithm: RateLimitAlgorithm;
  /** A positive integer, at most 2^31 − 1 (`MAX_RATE_LIMIT`); else the step rejects with a `TypeError`. */
  limit: number;
  /** Positive, at most 2^40 ms, about 34 years (`MAX_RATE_LIMIT_WINDOW_MS`); else the step rejects with a `TypeError`. */
  windowMs: number;
}

export interface RateLimitDecision {
  allowed: boolean;
  limit: number;
  /** Requests still admitted right now after this step. */
  remaining: number;
  /** Milliseconds until the budget is full again (`X-RateLimit-Reset`; how long the state matters). */
  resetMs: number;
  /** When refused: milliseconds until one request would be admitted; 0 when allowed. */
  retryAfterMs: number;
  /**
   * Milliseconds until one more request fits than `remaining` says: the `t` of the IETF `RateLimit`
   * field (draft-10: "until additional quota … is made available"). Equals `retryAfterMs` when refused.
   */
  nextMs: number;
}

export type StoreOp =
  | { readonly op: 'get'; readonly key: string }
  | { readonly op: 'set'; readonly key: string; readonly value: string; readonly ttlMs: number }
  | { readonly op: 'claim'; readonly key: string; readonly value: string; readonly ttlMs: number }
  | { readonly op: 'touch'; readonly key: string; readonly ttlMs: number }
  | { readonly op: 'deleteIfEquals'; readonly key: string; readonly expected: string }
  | { readonly op: 'delete'; readonly key: string }
  | { readonly op: 'rateLimit'; readonly key: string; readonly policy: RateLimitPolicy; readonly nowMs: number }
  /**
   * Read-only: the budget of `key` under `policy` at `nowMs` as it stands, without taking a step
   * (the numbers a refusal answered before the rate-limit step shows: it must not charge). Same key,
   * arguments, checks and clock as `rateLimit` (`src/pipeline/rate-limit/algorithms.ts`,
   * `rateLimitPeek`): `remaining` is what is admitted right now (`limit` for a missing key, or state
   * that reads as none), `resetMs` the time until the budget is full again (0 when full), `nextMs`
   * the time until one more fits than `remaining` says (0 when full), and `allowed` / `retryAfterMs`
   * say whether the next step would be admitted and when. Right after a step at the same time it
   * shows that step's `remaining`, `resetMs` and `nextMs`; before a step, the step's `remaining` + 1
   * and the same `nextMs` (0 at a full budget), or, when the step is refused, that refusal's numbers. Nothing is
   * written: any number of peeks leave the next step's decision as it was.
   */
  | { readonly op: 'rateLimitPeek'; readonly key: string; readonly policy: RateLimitPolicy; readonly nowMs: number }
  /**
   * A write that a rate-limit step guards: `set` of `key`, run only when the batch's op right before
   * it, which must be a `rateLimit` step (any other place rejects the batch with a `TypeError`,
   * before anything is written), admitted; after a refused step nothing is written. Its result:
   * `true` when written, `false` when not. How a page view without a session stores its new session
   * in the round trip of its new-session limit step, and a client past that limit stores nothing
   * (src/pipeline/rate-limit/new-sessions.ts). The two keys need not share a hash tag on the embedded
   * stores and a single Redis; on a store that splits batches by hash tag (Redis Cluster:
   * `splitsBatchesByHashTag`) they must, else the batch rejects with a `TypeError`.
   */
  | { readonly op: 'setIfAllowed'; readonly key: string; readonly value: string; readonly ttlMs: number }
  /**
   * A strict conditional write: `key` takes `value` (expiring after `ttlMs`) only while its live
   * value is exactly `expected`; a missing, expired or other value → nothing written, not even a key
   * made. Its result: `true` when it replaced, else `false`. For a write that must replace only what
   * was read — a list read then written back whole, state sealed again — where a delete meanwhile
   * must win: a sign-out's or a password reset's delete is never undone by a write that read before
   * it. Unlike `compareAndReplace` (`ops.ts`), which also places its value on a key that expired or
   * went (an idempotency claim becoming its record, an instance lock renewed). Atomic: one Redis
   * script call, one SQL `UPDATE`, one synchronous step in memory. A batch op only (no `Store`
   * method), so a store that wraps another by forwarding `batch` needs nothing new; alone it is
   * `store.batch([op])`, one round trip as well.
   */
  | { readonly op: 'replaceIfEquals'; readonly key: string; readonly expected: string; readonly value: string; readonly ttlMs: number };

/**
 * Per op: `get`/`claim` → `string | null`; `set`/`delete` → `null`; `touch`/`deleteIfEquals`/`setIfAllowed`/`replaceIfEquals` → boolean;
 * `rateLimit`/`rateLimitPeek` → decision.
 */
export type StoreOpResult = string | null | boolean | RateLimitDecision;
