/**
 * The CSRF token service: issues masked tokens bound to the session's derived secret and verifies
 * them (token layout in `token.ts`). Tokens are made with the server secret; those of the fallback
 * secrets (a rotation under way) still verify.
 *
 * - `per-session` (default): every masked token of the session's current secret is valid, so
 *   several tabs, the back button and concurrent requests keep working. Issuing and verifying
 *   touch no store. The secret rotates with the session id (sign-in, sign-out).
 * - `per-action`: each token is single-use. Its nonce is recorded in one of `maxOutstanding`
 *   store slots of the session (see `slots.ts`) and consumed atomically on first use; the newest
 *   `maxOutstanding` tokens of a session stay valid, so concurrent requests from one page pass.
 *   The action pipeline splits the work so that the mode costs no round trip of its own: `open`
 *   (no store) before the first batch, the consuming op in it (`settle` reads its result), and the
 *   claim placing the response's token in the batch after the action (`issueOp`, `placed`). What
 *   one request needs between these steps (its spend, its claim) goes through the caller, never
 *   through state kept per `Session` object: several requests may share one (a transport that reads
 *   the cookie once, a test harness).
 */
import { randomBytes } from '../../core/random.js';
import { boundedMemo } from '../../core/memo.js';
import { systemClock, type Clock } from '../../core/clock.js';
import type { Session } from '../../session/types.js';
import { MAX_SESSION_ID } from '../../session/index.js';
import type { Store, StoreOp, StoreOpResult } from '../../store/types.js';
import { createSlotRing, stampOf, type SlotRing } from './slots.js';
import { guardOptionalObserver, type ObserverFailureReport } from '../../ops/observer-guard.js';
import {
  ACTION_PAYLOAD_BYTES,
  MAX_SECRET_FALLBACKS,
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
 * not made with this session's secret under the server secret or a fallback (another session's, an
 * old session id's, a retired server secret's, a guess); `spent` —
 * made with this session's secret, but its `per-action` slot no longer holds it (used, pushed out
 * by newer tokens, or unused past `tokenTtlMs`). Only `per-action` mode answers `spent`.
 */
export type CsrfCheck = 'valid' | 'forged' | 'spent';

export interface CsrfServiceOptions {
  /**
   * The server secret (`LC_SESSION_SECRET`), at least 32 bytes. Each session's CSRF secret is
   * derived from it and the session id. The service keeps its own copy. Every token it issues is
   * made with this secret.
   */
  secret: Buffer;
  /**
   * Secrets whose tokens still verify but are never issued (`LC_SESSION_SECRET_FALLBACKS`): the
   * previous secret during a rotation, or the next one in the first step of a rolling one. Each at
   * least 32 bytes, none equal to `secret` or to another, at most `MAX_SECRET_FALLBACKS` (4): a token
   * the secret refuses (a forged one too) is tried against each. A token of a fallback passes in both
   * rotation modes (in `per-action` mode it is still single-use: its slot is the same whatever
   * secret made it), and the response carries a token of `secret`. Tokens of the current secret
   * cost nothing more; only a token that fails it is tried against these.
   * @default []
   * @example createCsrfService({ secret: next, fallbacks: [previous] })
   */
  fallbacks?: readonly Buffer[];
  /**
   * Told each time a token is found valid only because a fallback made it (`check`, `verify`, and the
   * action route's `open` then `settle`, in both modes: after the session is found): wire it to the
   * secret-fallback counter, which tells when the fallbacks are no longer needed. Not for a token of
   * `secret`, a forged one, a `per-action` one found `spent`, nor one `open` alone found valid (a
   * request whose session is gone, or that names no known action). Called synchronously. An observer:
   * a throw or a rejected promise from it is caught and reported (`onHookFailure`), never the request's
   * answer.
   * @default none
   * @example createCsrfService({ secret, fallbacks, onFallback: () => metrics.countSecretFallback('session_secret') })
   */
  onFallback?: (() => unknown) | undefined;
  /**
   * Where a failure of `onFallback` is reported: the first at once, then at most one report a minute
   * with the count since the last (`guardObserver`).
   * @default console.error
   */
  onHookFailure?: ObserverFailureReport | undefined;
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
 * op that uses it up (a `deleteIfEquals` of its slot; `true` when it did). Send the op and tell
 * `settle` its result, or hand the spend to `consume`, which sends it. In `per-session` mode, a
 * token valid only by a fallback secret: nothing to use up (`op` `null`), to `settle(true, spend)`
 * once the request is let in (its session found), so that it is counted then (`onFallback`).
 */
export interface CsrfSpend {
  readonly op: StoreOp | null;
  /** The slot the token names, and its stored value (hex nonce). */
  readonly slot: number;
  readonly value: string;
  /** Made with a fallback secret, not the current one: counted (`onFallback`) once it settles valid. */
  readonly fallback: boolean;
}

/**
 * The placement of one request's next token into the slot its spent token freed (`issueOp`): the
 * store op (a `claim`: `null` when it placed the value), the slot, reserved in this process until
 * `placed` is told the op's result, and the value (hex nonce) claimed.
 */
export interface CsrfClaim {
  readonly op: StoreOp;
  readonly slot: number;
  readonly value: string;
}

export interface CsrfService {
  readonly rotation: CsrfRotation;
  /**
   * Whether `open` may answer a `per-session` token of a fallback secret (a `CsrfSpend` whose `op` is
   * `null`): the action pipeline then settles it after the session check (`CsrfStages.spend`).
   * @default false
   */
  readonly fallbackSpends?: boolean;
  /**
   * `check` in two halves, so the action pipeline sends the store step with its other reads. `open`
   * makes every check that needs no store (format, HMAC) and answers `forged`, `valid` (the
   * `per-session` mode, a token of `secret`: nothing more to check), `spent` (a slot out of range),
   * or a `CsrfSpend` (in `per-session` mode, a token of a fallback secret, `op` `null`). It tells
   * `onFallback` nothing: `settle` does, once the spend proves valid.
   */
  open(session: Session, token: string | undefined): CsrfCheck | CsrfSpend;
  /**
   * The result of a `CsrfSpend`'s op read (`true`: it consumed the token): `valid` or `spent`. Give
   * `spend` too, so a token of a fallback secret is counted (`onFallback`) when it proves valid.
   */
  settle(consumed: boolean, spend?: CsrfSpend): 'valid' | 'spent';
  /**
   * Sends `spend.op` and settles it (one store call). When it consumed the token, the next `issue`
   * of this `Session` object first tries the slot it freed (one `claim`, no read).
   */
  consume(session: Session, spend: CsrfSpend): Promise<'valid' | 'spent'>;
  /**
   * After `settle` found `spend` valid: the claim placing the token this request's response will
   * carry into the slot `spend` freed, stamped above the spent token, for the batch after the action.
   * Send `claim.op` and tell `placed` its result — always, once: until then the slot stays reserved
   * in this process. `null` when there is nothing to place that way (`per-session` mode, the slot
   * taken by a placement in flight here): `issue` then places the token the full way.
   */
  issueOp(session: Session, spend: CsrfSpend): CsrfClaim | null;
  /**
   * The result of `claim.op` (`undefined`: its batch failed); releases the slot's reservation. The
   * response's masked token when the claim won (no store call); `null` when it lost or is unknown:
   * `issue` then places one the full way (reading the slots).
   */
  placed(session: Session, claim: CsrfClaim, result: StoreOpResult | undefined): string | null;
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
  const fallbacks = fallbackSecrets(serverSecret, options.fallbacks);
  const random = options.random ?? randomBytes;
  if (options.onFallback !== undefined && typeof options.onFallback !== 'function') throw new TypeError('createCsrfService: onFallback must be a function');
  // Bound once: a hook that fails is reported, and the request it observed goes on.
  const onFallback = guardOptionalObserver("onSecretFallback('session_secret')", options.onFallback, { report: options.onHookFailure });
  const rotation = options.rotation ?? 'per-session';
  if (rotation === 'per-session') return perSession(serverSecret, fallbacks, random, onFallback);
  if (rotation !== 'per-action') throw new TypeError(`createCsrfService: unknown rotation "${String(rotation)}"`);

  const max = options.maxOutstanding ?? 32;
  if (!Number.isInteger(max) || max < 1 || max > MAX_SLOTS) {
    throw new TypeError(`createCsrfService: maxOutstanding must be an integer from 1 to ${MAX_SLOTS}`);
  }
  const ttlMs = options.tokenTtlMs ?? 7_200_000;
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new TypeError('createCsrfService: tokenTtlMs must be a positive number');
  if (options.store === undefined) throw new TypeError("createCsrfService: rotation 'per-action' needs a store");
  const ring = createSlotRing(options.store, max, ttlMs, (n) => random(4).readUInt32BE(0) % n);
  return perAction(serverSecret, fallbacks, random, ring, options.clock ?? systemClock, onFallback);
}

/** Copies of the fallback secrets, checked: at most MAX_SECRET_FALLBACKS Buffers of 32+ bytes, none equal to the secret or to another. */
function fallbackSecrets(secret: Buffer, given: readonly Buffer[] | undefined): readonly Buffer[] {
  if (given === undefined) return [];
  if (!Array.isArray(given)) throw new TypeError('createCsrfService: fallbacks must be an array of Buffers');
  if (given.length > MAX_SECRET_FALLBACKS) {
    throw new TypeError(`createCsrfService: fallbacks holds ${given.length} secrets, more than ${MAX_SECRET_FALLBACKS}: each is tried on every token the secret refuses`);
  }
  const copies: Buffer[] = [];
  given.forEach((fallback: unknown, index) => {
    if (!Buffer.isBuffer(fallback) || fallback.length < MIN_SECRET_BYTES) {
      throw new TypeError(`createCsrfService: fallbacks[${index}] must be a Buffer of at least ${MIN_SECRET_BYTES} bytes`);
    }
    if (fallback.equals(secret)) throw new TypeError(`createCsrfService: fallbacks[${index}] is the secret itself`);
    const twin = copies.findIndex((c) => c.equals(fallback));
    if (twin !== -1) throw new TypeError(`createCsrfService: fallbacks[${index}] repeats fallbacks[${twin}]`);
    copies.push(Buffer.from(fallback));
  });
  return copies;
}

/**
 * Whether `matches` holds for any of `candidates`, each tried (no early exit: the time does not
 * say which one, or whether a later one, matched). Called only after the current secret failed.
 */
function anyOf<T>(candidates: readonly T[], matches: (candidate: T) => boolean): boolean {
  let found = false;
  for (const candidate of candidates) found = matches(candidate) || found;
  return found;
}

/** What a `per-session` `open` answers for a token valid only by a fallback secret: nothing to use up. */
const FALLBACK: CsrfSpend = Object.freeze({ op: null, slot: -1, value: '', fallback: true });

/** Sessions whose derived secrets stay memoised (the derivation is two HMACs). */
const MEMO_SESSIONS = 10_000;

function perSession(serverSecret: Buffer, fallbacks: readonly Buffer[], random: (size: number) => Buffer, onFallback: (() => void) | undefined): CsrfService {
  const tagMemo = (secret: Buffer) => boundedMemo(MEMO_SESSIONS, (id) => sessionTag(deriveSessionSecret(secret, id)), MAX_SESSION_ID);
  const tagOfId = tagMemo(serverSecret);
  // Built once: with no fallback, a token that fails the current secret costs one length check more.
  const fallbackTags = fallbacks.map(tagMemo);
  const tagOf = (session: Session): Buffer => tagOfId(session.id);
  /** `valid`, `forged`, or `FALLBACK` (valid, made by a fallback secret: not told yet). */
  const open = (session: Session, token: string | undefined): CsrfCheck | CsrfSpend => {
    const payload = unmaskToken(token, SESSION_PAYLOAD_BYTES);
    if (payload === null) return 'forged';
    if (safeEqual(payload, tagOf(session))) return 'valid';
    // Past the current secret only: a token of it costs nothing more.
    return fallbackTags.length !== 0 && anyOf(fallbackTags, (tagOfFallback) => safeEqual(payload, tagOfFallback(session.id))) ? FALLBACK : 'forged';
  };
  const settle = (consumed: boolean, spend?: CsrfSpend): 'valid' | 'spent' => {
    if (!consumed || spend === undefined) return 'spent';
    if (spend.fallback) onFallback?.();
    return 'valid';
  };
  /** `check` and `verify` are given a loaded session (`verifyForm`): a fallback's token counts at once. */
  const check = (session: Session, token: string | undefined): CsrfCheck => {
    const opened = open(session, token);
    return typeof opened === 'string' ? opened : settle(true, opened);
  };
  return {
    rotation: 'per-session',
    fallbackSpends: fallbacks.length !== 0,
    issue: (session) => Promise.resolve(maskToken(tagOf(session), random(SESSION_PAYLOAD_BYTES))),
    verify: (session, token) => Promise.resolve(check(session, token) === 'valid'),
    check: (session, token) => Promise.resolve(check(session, token)),
    open,
    // Given only `FALLBACK` spends (nothing is stored in this mode): valid, and counted, when told consumed.
    settle,
    consume: (_session, spend) => Promise.resolve(settle(spend.op === null, spend)),
    issueOp: () => null,
    placed: () => null,
  };
}

function perAction(
  serverSecret: Buffer,
  fallbacks: readonly Buffer[],
  random: (size: number) => Buffer,
  ring: SlotRing,
  clock: Clock,
  onFallback: (() => void) | undefined,
): CsrfService {
  const secretMemo = (secret: Buffer) => boundedMemo(MEMO_SESSIONS, (id) => deriveSessionSecret(secret, id), MAX_SESSION_ID);
  const secretOf = secretMemo(serverSecret);
  const fallbackSecretsOf = fallbacks.map(secretMemo);
  /**
   * The last token `consume` used up with this `Session` object, a hint for its next `issue` (the
   * `check`/`verify` path: a form handler, the spend stage run without a prefetch): that slot is
   * likely empty. Only a hint: should requests sharing the object overwrite it, or the slot be taken
   * meanwhile, `issue` places its token the full way. The action pipeline's batches never use it.
   */
  const freedOf = new WeakMap<Session, CsrfSpend>();
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

  const ofFallback = (id: string, nonce: Buffer, tag: Buffer): boolean =>
    fallbackSecretsOf.length !== 0 && anyOf(fallbackSecretsOf, (secretOfFallback) => safeEqual(tag, actionTag(secretOfFallback(id), nonce)));

  function open(session: Session, token: string | undefined): CsrfCheck | CsrfSpend {
    const payload = unmaskToken(token, ACTION_PAYLOAD_BYTES);
    if (payload === null) return 'forged';
    const nonce = payload.subarray(0, NONCE_BYTES);
    const tag = payload.subarray(NONCE_BYTES);
    // The HMAC first: a forged or foreign token never reaches the store. A token of a fallback
    // secret goes on to the same slot: single use does not depend on the secret that made it.
    const fallback = !safeEqual(tag, actionTag(secretOf(session.id), nonce));
    if (fallback && !ofFallback(session.id, nonce, tag)) return 'forged';
    const slot = nonce[0] as number;
    const value = nonce.toString('hex');
    const op = ring.consumeOp(session.key, slot, value);
    return op === null ? 'spent' : { op, slot, value, fallback };
  }

  /** `valid` or `spent`; a fallback's token counted only once it proves valid (a replay is no use of the fallback). */
  function settle(consumed: boolean, spend: CsrfSpend | undefined): 'valid' | 'spent' {
    if (!consumed) return 'spent';
    if (spend?.fallback === true) onFallback?.();
    return 'valid';
  }

  async function consume(session: Session, spend: CsrfSpend): Promise<'valid' | 'spent'> {
    const check = settle(await ring.consume(session.key, spend.slot, spend.value), spend);
    if (check === 'valid') freedOf.set(session, spend);
    return check;
  }

  async function check(session: Session, token: string | undefined): Promise<CsrfCheck> {
    const opened = open(session, token);
    return typeof opened === 'string' ? opened : consume(session, opened);
  }

  return {
    rotation: 'per-action',
    async issue(session) {
      const freed = freedOf.get(session);
      freedOf.delete(session);
      // Into a freed slot nothing is read: at least stamp the new token above the one it replaces.
      const floor = freed === undefined ? 0 : stampOf(freed.value);
      const placed = await ring.place(session.key, (slot, after) => build(slot, Math.max(after, floor)), freed?.slot);
      return tokenOf(session, placed);
    },
    verify: async (session, token) => (await check(session, token)) === 'valid',
    check,
    open,
    settle,
    consume,
    issueOp(session, spend) {
      // Stamped above the token it replaces, as `issue` does into a freed slot.
      const value = build(spend.slot, stampOf(spend.value));
      const op = ring.claimOp(session.key, spend.slot, value);
      return op === null ? null : { op, slot: spend.slot, value };
    },
    placed(session, claim, result) {
      ring.endClaim(session.key, claim.slot);
      // `claim` answers null when it placed the value. Lost (another token of the session took the
      // slot meanwhile) or unknown (the batch failed): `issue` places the token the full way.
      return result === null ? tokenOf(session, claim.value) : null;
    },
  };
}
