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
 */
import { randomBytes } from '../../core/random.js';
import { boundedMemo } from '../../core/memo.js';
import { systemClock, type Clock } from '../../core/clock.js';
import type { Session } from '../../session/types.js';
import { MAX_SESSION_ID } from '../../session/index.js';
import type { Store } from '../../store/types.js';
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

export interface CsrfService {
  readonly rotation: CsrfRotation;
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
  return {
    rotation: 'per-session',
    issue: (session) => Promise.resolve(maskToken(tagOf(session), random(SESSION_PAYLOAD_BYTES))),
    verify: (session, token) => Promise.resolve(valid(session, token)),
    check: (session, token) => Promise.resolve(valid(session, token) ? 'valid' : 'forged'),
  };
}

function perAction(serverSecret: Buffer, random: (size: number) => Buffer, ring: SlotRing, clock: Clock): CsrfService {
  const secretOf = boundedMemo(MEMO_SESSIONS, (id) => deriveSessionSecret(serverSecret, id), MAX_SESSION_ID);
  /** The slot and stamp of each request's verified token, for the token its response carries. */
  const freed = new WeakMap<Session, { slot: number; stamp: number }>();
  /**
   * Issue stamps: ms × 1024, strictly increasing within this process even on a frozen clock, and
   * above `after` — the newest stamp seen in the session — so they increase per session even when
   * this instance's clock is behind another's, or steps back.
   */
  let lastStamp = 0;
  const nextStamp = (after: number): number => (lastStamp = Math.max(Math.floor(clock.now() * 1024), lastStamp + 1, after + 1));
  /** The stored value of a new token in `slot`: its hex nonce. */
  const build = (slot: number, after: number): string => buildNonce(slot, nextStamp(after), random(NONCE_RANDOM_BYTES)).toString('hex');

  async function check(session: Session, token: string | undefined): Promise<CsrfCheck> {
    const payload = unmaskToken(token, ACTION_PAYLOAD_BYTES);
    if (payload === null) return 'forged';
    const nonce = payload.subarray(0, NONCE_BYTES);
    const tag = payload.subarray(NONCE_BYTES);
    // The HMAC first: a forged or foreign token never reaches the store.
    if (!safeEqual(tag, actionTag(secretOf(session.id), nonce))) return 'forged';
    const slot = nonce[0] as number;
    const hex = nonce.toString('hex');
    if (!(await ring.consume(session.key, slot, hex))) return 'spent';
    freed.set(session, { slot, stamp: stampOf(hex) });
    return 'valid';
  }

  return {
    rotation: 'per-action',
    async issue(session) {
      const secret = secretOf(session.id);
      const preferred = freed.get(session);
      freed.delete(session);
      // Into a freed slot nothing is read: at least stamp the new token above the one it replaces.
      const floor = preferred?.stamp ?? 0;
      const placed = await ring.place(session.key, (slot, after) => build(slot, Math.max(after, floor)), preferred?.slot);
      const nonce = Buffer.from(placed, 'hex');
      const payload = Buffer.concat([nonce, actionTag(secret, nonce)]);
      return maskToken(payload, random(ACTION_PAYLOAD_BYTES));
    },
    verify: async (session, token) => (await check(session, token)) === 'valid',
    check,
  };
}
