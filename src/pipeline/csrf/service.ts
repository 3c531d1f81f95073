/**
 * The CSRF token service: issues masked tokens bound to the session's derived secret and verifies
 * them (token layout in `token.ts`).
 *
 * - `per-session` (default): every masked token of the session's current secret is valid, so
 *   several tabs, the back button and concurrent requests keep working. Issuing and verifying
 *   touch no store. The secret rotates with the session id (sign-in, sign-out).
 * - `per-action`: each token is single-use. Its nonce is recorded in one of `maxOutstanding`
 *   store slots of the session (see `slots.ts`) and consumed atomically on first use; the newest
 *   `maxOutstanding` tokens of a session stay valid, so concurrent requests from one page pass.
 *   The action pipeline splits the work so that the mode costs no round trip of its own: `open`
 *   (no store) before the first batch, the consuming op in it (`settle` reads its result), and the
 *   claim placing the response's token in the batch after the action (`issueOp`, `placed`).
 */
import { randomBytes } from '../../core/random.js';
import { boundedMemo } from '../../core/memo.js';
import { systemClock, type Clock } from '../../core/clock.js';
import type { Session } from '../../session/types.js';
import { MAX_SESSION_ID } from '../../session/index.js';
import type { Store, StoreOp, StoreOpResult } from '../../store/types.js';
import { createSlotRing, stampOf, type SlotRing } from './slots.js';
import {
  ACTION_PAYLOAD_BYTES,
  NONCE_BYTES,
  NONCE_RANDOM_BYTES,
  SESSION_PAYLOAD_BYTES,
  actionTag,
  buildNonce,
  deriveSessionSecret,
  maskToken,
  safeEqual,
  sessionTag,
  unmaskToken,
} from './token.js';

export type CsrfRotation = 'per-session' | 'per-action';

/**
 * What `check` found: `valid` (and, in `per-action` mode, now consumed); `forged` — malformed, or
 * not made with this session's secret (another session's, an old session id's, a guess); `spent` —
 * made with this session's secret, but its `per-action` slot no longer holds it (used, pushed out
 * by newer tokens, or unused past `tokenTtlMs`). Only `per-action` mode answers `spent`.
 */
export type CsrfCheck = 'valid' | 'forged' | 'spent';

export interface CsrfServiceOptions {
  /**
   * The server secret (`LC_SESSION_SECRET`), at least 32 bytes. Each session's CSRF secret is
   * derived from it and the session id. The service keeps its own copy.
   */
  secret: Buffer;
  /**
   * `per-session`: any token of the session's current secret is valid until the session id changes.
   * `per-action`: tokens are single-use, at most `maxOutstanding` outstanding per session.
   * @default 'per-session'
   */
  rotation?: CsrfRotation;
  /** Where `per-action` nonces live (required in that mode; unused otherwise). */
  store?: Store;
  /**
   * Outstanding single-use tokens per session in `per-action` mode (1 to 256); issuing one more
   * invalidates the oldest.
   * @default 32
   */
  maxOutstanding?: number;
  /**
   * Lifetime of an unused `per-action` token, in ms.
   * @default 7_200_000 (2 hours)
   */
  tokenTtlMs?: number;
  /** Random source for masks and nonces; must be a CSPRNG outside tests. @default crypto.randomBytes */
  random?: (size: number) => Buffer;
  /** Orders `per-action` tokens by issue time. @default systemClock */
  clock?: Clock;
}

/**
 * What `open` found for a `per-action` token that passed every check but its single use: the store
 * op that uses it up (a `deleteIfEquals` of its slot; `true` when it did). Hand it back to `settle`
 * with that result, or to `consume`, which sends it.
 */
export interface CsrfSpend {
  readonly op: StoreOp;
  /** The slot the token names, and its stored value (hex nonce). */
  readonly slot: number;
  readonly value: string;
}

export interface CsrfService {
  readonly rotation: CsrfRotation;
  /**
   * `check` in two halves, so the action pipeline sends the store step with its other reads. `open`
   * makes every check that needs no store (format, HMAC) and answers `forged`, `valid` (the
   * `per-session` mode: nothing more to check), `spent` (a slot out of range), or a `CsrfSpend`.
   */
  open(session: Session, token: string | undefined): CsrfCheck | CsrfSpend;
  /** The result of `spend.op` read: `valid` (consumed; a `per-action` token now) or `spent`. */
  settle(session: Session, spend: CsrfSpend, consumed: boolean): 'valid' | 'spent';
  /** Sends `spend.op` and settles it (one store call). */
  consume(session: Session, spend: CsrfSpend): Promise<'valid' | 'spent'>;
  /**
   * After a `settle`d valid spend: the store op placing the token this request's response will carry
   * into the slot its token freed (a `claim`), for the batch after the action; pass its result to
   * `placed`. `null` when there is nothing to place that way (`per-session` mode, no freed slot, the
   * slot taken by a placement in flight here): `issue` then places the token itself.
   */
  issueOp(session: Session): StoreOp | null;
  /**
   * The result of the `issueOp` op (`undefined`: its batch failed). When the claim won, the next
   * `issue(session)` answers that token with no store call; else `issue` places one (reading the slots).
   */
  placed(session: Session, result: StoreOpResult | undefined): void;
  /** A freshly masked token for `session` (one per page and per action response). */
  issue(session: Session): Promise<string>;
  /**
   * Whether `token` is valid for `session` now. In `per-action` mode a `true` consumes it.
   * Malformed input resolves `false`; only a failing store rejects.
   */
  verify(session: Session, token: string | undefined): Promise<boolean>;
  /**
   * `verify` with the reason of a refusal (see `CsrfCheck`), for the action route: a `spent` token
   * may be a user back at a tab whose session has expired since, which is no attack.
   */
  check(session: Session, token: string | undefined): Promise<CsrfCheck>;
}

export const MIN_SECRET_BYTES = 32;
const MAX_SLOTS = 256;

/**
 * @example
 * const csrf = createCsrfService({ secret: Buffer.from(process.env.LC_SESSION_SECRET!, 'base64') });
 * const token = await csrf.issue(session);
 * await csrf.verify(session, token); // true
 */
export function createCsrfService(options: CsrfServiceOptions): CsrfService {
  if (!Buffer.isBuffer(options.secret) || options.secret.length < MIN_SECRET_BYTES) {
    throw new TypeError(`createCsrfService: secret must be a Buffer of at least ${MIN_SECRET_BYTES} bytes`);
  }
  const serverSecret = Buffer.from(options.secret);
  const random = options.random ?? randomBytes;
  const rotation = options.rotation ?? 'per-session';
  if (rotation === 'per-session') return perSession(serverSecret, random);
  if (rotation !== 'per-action') throw new TypeError(`createCsrfService: unknown rotation "${String(rotation)}"`);

  const max = options.maxOutstanding ?? 32;
  if (!Number.isInteger(max) || max < 1 || max > MAX_SLOTS) {
    throw new TypeError(`createCsrfService: maxOutstanding must be an integer from 1 to ${MAX_SLOTS}`);
  }
  const ttlMs = options.tokenTtlMs ?? 7_200_000;
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new TypeError('createCsrfService: tokenTtlMs must be a positive number');
  if (options.store === undefined) throw new TypeError("createCsrfService: rotation 'per-action' needs a store");
  const ring = createSlotRing(options.store, max, ttlMs, (n) => random(4).readUInt32BE(0) % n);
  return perAction(serverSecret, random, ring, options.clock ?? systemClock);
}

/** Sessions whose derived secrets stay memoised (the derivation is two HMACs). */
const MEMO_SESSIONS = 10_000;

function perSession(serverSecret: Buffer, random: (size: number) => Buffer): CsrfService {
  const tagOfId = boundedMemo(MEMO_SESSIONS, (id) => sessionTag(deriveSessionSecret(serverSecret, id)), MAX_SESSION_ID);
  const tagOf = (session: Session): Buffer => tagOfId(session.id);
  const valid = (session: Session, token: string | undefined): boolean => {
    const payload = unmaskToken(token, SESSION_PAYLOAD_BYTES);
    return payload !== null && safeEqual(payload, tagOf(session));
  };
  const check = (session: Session, token: string | undefined): CsrfCheck => (valid(session, token) ? 'valid' : 'forged');
  return {
    rotation: 'per-session',
    issue: (session) => Promise.resolve(maskToken(tagOf(session), random(SESSION_PAYLOAD_BYTES))),
    verify: (session, token) => Promise.resolve(valid(session, token)),
    check: (session, token) => Promise.resolve(check(session, token)),
    open: check,
    // Never given a spend (`open` answers none): nothing is stored in this mode.
    settle: () => 'spent',
    consume: () => Promise.resolve('spent'),
    issueOp: () => null,
    placed: () => {},
  };
}

/**
 * Where a `per-action` session's next token goes, per request (keyed by its `Session` object):
 * `freed` — its token was consumed from `slot`; `claiming` — the claim of that slot for `value` is
 * in the batch after the action; `placed` — that claim won, `value` is the response's token.
 */
type NextToken =
  | { readonly kind: 'freed'; readonly slot: number; readonly stamp: number }
  | { readonly kind: 'claiming'; readonly slot: number; readonly value: string }
  | { readonly kind: 'placed'; readonly value: string };

function perAction(serverSecret: Buffer, random: (size: number) => Buffer, ring: SlotRing, clock: Clock): CsrfService {
  const secretOf = boundedMemo(MEMO_SESSIONS, (id) => deriveSessionSecret(serverSecret, id), MAX_SESSION_ID);
  /** Each request's next token (see `NextToken`), from its verified token on. */
  const nextOf = new WeakMap<Session, NextToken>();
  /**
   * Issue stamps: ms × 1024, strictly increasing within this process even on a frozen clock, and
   * above `after` — the newest stamp seen in the session — so they increase per session even when
   * this instance's clock is behind another's, or steps back.
   */
  let lastStamp = 0;
  const nextStamp = (after: number): number => (lastStamp = Math.max(Math.floor(clock.now() * 1024), lastStamp + 1, after + 1));
  /** The stored value of a new token in `slot`: its hex nonce. */
  const build = (slot: number, after: number): string => buildNonce(slot, nextStamp(after), random(NONCE_RANDOM_BYTES)).toString('hex');
  /** The masked token of a stored hex nonce. */
  const tokenOf = (session: Session, value: string): string => {
    const nonce = Buffer.from(value, 'hex');
    const payload = Buffer.concat([nonce, actionTag(secretOf(session.id), nonce)]);
    return maskToken(payload, random(ACTION_PAYLOAD_BYTES));
  };

  function open(session: Session, token: string | undefined): CsrfCheck | CsrfSpend {
    const payload = unmaskToken(token, ACTION_PAYLOAD_BYTES);
    if (payload === null) return 'forged';
    const nonce = payload.subarray(0, NONCE_BYTES);
    const tag = payload.subarray(NONCE_BYTES);
    // The HMAC first: a forged or foreign token never reaches the store.
    if (!safeEqual(tag, actionTag(secretOf(session.id), nonce))) return 'forged';
    const slot = nonce[0] as number;
    const value = nonce.toString('hex');
    const op = ring.consumeOp(session.key, slot, value);
    return op === null ? 'spent' : { op, slot, value };
  }

  function settle(session: Session, spend: CsrfSpend, consumed: boolean): 'valid' | 'spent' {
    if (!consumed) return 'spent';
    nextOf.set(session, { kind: 'freed', slot: spend.slot, stamp: stampOf(spend.value) });
    return 'valid';
  }

  async function consume(session: Session, spend: CsrfSpend): Promise<'valid' | 'spent'> {
    return settle(session, spend, await ring.consume(session.key, spend.slot, spend.value));
  }

  async function check(session: Session, token: string | undefined): Promise<CsrfCheck> {
    const opened = open(session, token);
    return typeof opened === 'string' ? opened : consume(session, opened);
  }

  return {
    rotation: 'per-action',
    async issue(session) {
      const next = nextOf.get(session);
      nextOf.delete(session);
      if (next?.kind === 'placed') return tokenOf(session, next.value);
      // A claim never answered (`placed` not called): its slot is no longer reserved; read the slots.
      if (next?.kind === 'claiming') ring.endClaim(session.key, next.slot);
      const preferred = next?.kind === 'freed' ? next : undefined;
      // Into a freed slot nothing is read: at least stamp the new token above the one it replaces.
      const floor = preferred?.stamp ?? 0;
      const placed = await ring.place(session.key, (slot, after) => build(slot, Math.max(after, floor)), preferred?.slot);
      return tokenOf(session, placed);
    },
    verify: async (session, token) => (await check(session, token)) === 'valid',
    check,
    open,
    settle,
    consume,
    issueOp(session) {
      const next = nextOf.get(session);
      if (next?.kind !== 'freed') return null;
      // Stamped above the token it replaces, as `issue` does into a freed slot.
      const value = build(next.slot, next.stamp);
      const op = ring.claimOp(session.key, next.slot, value);
      if (op !== null) nextOf.set(session, { kind: 'claiming', slot: next.slot, value });
      return op;
    },
    placed(session, result) {
      const next = nextOf.get(session);
      if (next?.kind !== 'claiming') return;
      ring.endClaim(session.key, next.slot);
      // `claim` answers null when it placed the value. Lost (another token of the session took the
      // slot meanwhile) or unknown (the batch failed): `issue` places the token the full way.
      if (result === null) nextOf.set(session, { kind: 'placed', value: next.value });
      else nextOf.delete(session);
    },
  };
}
