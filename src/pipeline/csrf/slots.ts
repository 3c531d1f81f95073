/**
 * Outstanding single-use CSRF nonces of one session, kept in at most `size` store keys
 * (`storeKeys.csrfNonce(sessionKey, "0")` … `"size-1"`), so a session can never hold more.
 *
 * Why slots rather than one key per nonce plus a counter: the `Store` has no atomic increment, and
 * a read-then-write counter hands the same position to two concurrent requests, silently killing
 * one of the tokens they were given. Instead each slot holds the hex nonce of its token; the nonce
 * names its slot and carries an issue stamp, so:
 *
 * - consuming is one `deleteIfEquals(slot, nonce)`: true exactly once, and false for a token whose
 *   slot has since been given to a newer one;
 * - placing reads every slot in one `getMany` and takes the first empty slot (`claim`), or else the
 *   oldest by stamp (`deleteIfEquals` of the value read, then `claim`, in one `batch`). Both are
 *   compare-and-set steps: of two writers racing for a slot one wins and the other retries, so two
 *   issues never share a slot. Within this process, in-flight placements reserve their slot so
 *   concurrent issues pick different slots at once, and the newest `size` tokens of a session stay
 *   valid; across instances a lost race retries on a randomly spread choice among the oldest, which
 *   may hold a token placed by the same burst, so there a recent token now and then goes before an
 *   older one (its tab gets a 403 and reloads; an atomic "first empty, else oldest" op would close it);
 * - a token issued right after one was consumed (an action response) first tries the slot that
 *   consumption freed, with one `claim` and no read. The action pipeline sends both as ops of its
 *   own batches (`consumeOp` in the one before the action, `claimOp` in the one after), so on the
 *   success path strict mode adds no round trip; only a lost claim falls back to `place`.
 *
 * "Oldest" is by stamp, and instance clocks disagree (skew, an NTP step back), so a stamp made from
 * the local clock alone can sort below the tokens it follows, and the next issue would push out the
 * newest token instead of the oldest. So `build` gets the largest stamp among the values read, and
 * the new stamp goes above it: stamps increase per session whatever the clocks do.
 */
import { storeKeys } from '../../store/keys.js';
import { compareAndReplace } from '../../store/ops.js';
import type { Store, StoreOp } from '../../store/types.js';
import { STAMP_OFFSET } from './token.js';

/** Compare-and-set rounds before placing overwrites its last choice regardless. */
const MAX_ROUNDS = 8;
/** Hex characters of the stamp inside a hex nonce (big-endian, so text order is stamp order). */
const STAMP_HEX_START = STAMP_OFFSET * 2;
const STAMP_HEX_END = STAMP_HEX_START + 16;
const NONE: ReadonlyMap<number, number> = new Map();
const STAMP_HEX_RE = /^[0-9a-f]{16}$/;

/** The issue stamp in a stored hex nonce; 0 for a value it cannot read (or beyond a safe integer). */
export function stampOf(value: string | null): number {
  const hex = value?.slice(STAMP_HEX_START, STAMP_HEX_END) ?? '';
  if (!STAMP_HEX_RE.test(hex)) return 0;
  const stamp = Number.parseInt(hex, 16);
  return stamp <= Number.MAX_SAFE_INTEGER ? stamp : 0;
}

export interface SlotRing {
  /**
   * Stores the value `build(slot, after)` returns in a slot of the session and resolves that value.
   * `after` is the largest stamp among the session's values read for this placement (0 when none
   * was read): the stamp of the new value must be above it. `preferred` is a slot the caller just freed.
   */
  place(sessionKey: string, build: Build, preferred: number | undefined): Promise<string>;
  /** Consumes `value` from `slot`: true only for the first caller, and only while it is current. */
  consume(sessionKey: string, slot: number, value: string): Promise<boolean>;
  /** `consume` as a store op (`deleteIfEquals`: true when it consumed), to send in a batch; `null` for a slot out of range. */
  consumeOp(sessionKey: string, slot: number, value: string): StoreOp | null;
  /**
   * The `claim` of `slot` for `value`, to send in a batch (it resolves `null` when it placed the
   * value), for a slot the caller just freed; `null` when a placement in flight here holds that slot.
   * The slot stays reserved in this process until `endClaim`: call it once the op was answered (or failed).
   */
  claimOp(sessionKey: string, slot: number, value: string): StoreOp | null;
  endClaim(sessionKey: string, slot: number): void;
}

/** Builds the value for `slot`, stamped above `after`. */
type Build = (slot: number, after: number) => string;

interface Choice {
  slot: number;
  /** The value read in the slot (`null`: empty). */
  current: string | null;
}

/**
 * Where to place: the empty slots in index order, else the occupied ones oldest first, leaving out
 * slots `reserved` by other placements in flight here (unless nothing else is left). On `round` 0
 * the first; after a lost race a random one among the first 2^round, to spread racing instances.
 */
function choose(
  values: readonly (string | null)[],
  reserved: ReadonlyMap<number, number>,
  round: number,
  randomBelow: (n: number) => number,
): Choice {
  const empty: Choice[] = [];
  const occupied: Choice[] = [];
  for (let slot = 0; slot < values.length; slot++) {
    const current = values[slot] ?? null;
    if (!reserved.has(slot)) (current === null ? empty : occupied).push({ slot, current });
  }
  const stamp = (c: Choice): string => (c.current as string).slice(STAMP_HEX_START, STAMP_HEX_END);
  occupied.sort((a, b) => (stamp(a) < stamp(b) ? -1 : stamp(a) > stamp(b) ? 1 : a.slot - b.slot));
  const pool = empty.length > 0 ? empty : occupied;
  if (pool.length === 0) return choose(values, NONE, round, randomBelow);
  const spread = Math.min(2 ** round, pool.length);
  return pool[spread > 1 ? randomBelow(spread) : 0] as Choice;
}

export function createSlotRing(store: Store, size: number, ttlMs: number, randomBelow: (n: number) => number): SlotRing {
  const names: readonly string[] = Array.from({ length: size }, (_, i) => String(i));
  const keysOf = (sessionKey: string): string[] => names.map((name) => storeKeys.csrfNonce(sessionKey, name));
  /** Slots being placed right now in this process, per session key (slot → placements in flight). */
  const inFlight = new Map<string, Map<number, number>>();

  function reserve(sessionKey: string, slot: number): void {
    let slots = inFlight.get(sessionKey);
    if (slots === undefined) inFlight.set(sessionKey, (slots = new Map()));
    slots.set(slot, (slots.get(slot) ?? 0) + 1);
  }
  function release(sessionKey: string, slot: number): void {
    const slots = inFlight.get(sessionKey);
    if (slots === undefined) return;
    const left = (slots.get(slot) ?? 1) - 1;
    if (left > 0) slots.set(slot, left);
    else slots.delete(slot);
    if (slots.size === 0) inFlight.delete(sessionKey);
  }

  /** One compare-and-set attempt on `choice`; resolves the value placed, or `null` when another writer won. */
  async function attempt(sessionKey: string, key: string, choice: Choice, build: Build, after: number): Promise<string | null> {
    reserve(sessionKey, choice.slot);
    try {
      const value = build(choice.slot, after);
      const ops: StoreOp[] = choice.current === null ? [{ op: 'claim', key, value, ttlMs }] : compareAndReplace(key, choice.current, value, ttlMs);
      const results = await store.batch(ops);
      return results[results.length - 1] === null ? value : null;
    } finally {
      release(sessionKey, choice.slot);
    }
  }

  return {
    async place(sessionKey, build, preferred) {
      const keys = keysOf(sessionKey);
      if (preferred !== undefined && preferred < size && inFlight.get(sessionKey)?.has(preferred) !== true) {
        const placed = await attempt(sessionKey, keys[preferred] as string, { slot: preferred, current: null }, build, 0);
        if (placed !== null) return placed;
      }
      let last: Choice = { slot: 0, current: null };
      let maxSeen = 0;
      for (let round = 0; round < MAX_ROUNDS; round++) {
        const values = await store.getMany(keys);
        maxSeen = values.reduce((max: number, v) => Math.max(max, stampOf(v)), 0);
        last = choose(values, inFlight.get(sessionKey) ?? NONE, round, randomBelow);
        const placed = await attempt(sessionKey, keys[last.slot] as string, last, build, maxSeen);
        if (placed !== null) return placed;
      }
      // Sustained contention on one session: overwrite the last choice. Still at most `size` keys.
      const value = build(last.slot, maxSeen);
      await store.set(keys[last.slot] as string, value, ttlMs);
      return value;
    },
    consume(sessionKey, slot, value) {
      if (!inRange(slot)) return Promise.resolve(false);
      return store.deleteIfEquals(storeKeys.csrfNonce(sessionKey, names[slot] as string), value);
    },
    consumeOp(sessionKey, slot, value) {
      return inRange(slot) ? { op: 'deleteIfEquals', key: storeKeys.csrfNonce(sessionKey, names[slot] as string), expected: value } : null;
    },
    claimOp(sessionKey, slot, value) {
      if (!inRange(slot) || inFlight.get(sessionKey)?.has(slot) === true) return null;
      reserve(sessionKey, slot);
      return { op: 'claim', key: storeKeys.csrfNonce(sessionKey, names[slot] as string), value, ttlMs };
    },
    endClaim: release,
  };

  function inRange(slot: number): boolean {
    return Number.isInteger(slot) && slot >= 0 && slot < size;
  }
}
