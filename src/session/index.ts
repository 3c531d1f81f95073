/**
 * Server-side sessions behind the `Store`. The cookie holds a 128-bit random id; the store only
 * ever sees its SHA-256 (`Session.key`), so a leaked store dump does not hand out live sessions.
 *
 * A signed-in session's cookie also names its user: `<random id>.<base64url user id>`. The user part
 * is not trusted on its own — the stored record must agree — but it lets the pipeline know the
 * rate-limit client before its first store round trip. Tampering with it changes the cookie value,
 * and with it the session key and the CSRF secret derived from the value, so a forged value has
 * neither a session nor a valid token.
 */
import { hash } from 'node:crypto';
import { boundedMemo } from '../core/memo.js';
import { randomBytes } from '../core/random.js';
import { type Clock, systemClock } from '../core/clock.js';
import { MAX_LIFETIME_MS } from '../pipeline/options.js';
import type { Store, StoreOp } from '../store/types.js';
import { storeKeys } from '../store/keys.js';
import type { Session } from './types.js';

export type { Session } from './types.js';

/** 16 random bytes in base64url (22 characters), then `.` and the base64url user id when signed in. */
const SESSION_ID_RE = /^[A-Za-z0-9_-]{22}(?:\.[A-Za-z0-9_-]{1,172})?$/;

/** The longest session id `SESSION_ID_RE` admits: the bound of the memos keyed by session ids. */
export const MAX_SESSION_ID = 22 + 1 + 172;

interface SessionRecord {
  /** user id */
  u: string | null;
  /** created at (ms) */
  c: number;
  /**
   * Written at (ms). No longer read: the sliding expiry is the store's TTL, renewed by a `touch` on
   * every use. Still written, because versions before that refuse a record without it (see `write`).
   */
  t?: number;
}

/** The write that renews a live session record's TTL; on a deleted or expired record it writes nothing. */
export type SessionTouchOp = StoreOp & { op: 'touch' };

/**
 * A claimed session checked against its record: the verified session and the touch that renews it,
 * or neither (record missing, unreadable or naming another user).
 */
export type CheckedSession = { session: Session; touch: SessionTouchOp } | { session: null; touch: null };

export interface SessionManagerOptions {
  store: Store;
  clock?: Clock;
  /**
   * Idle lifetime of a session in milliseconds: every verified use (a page view, an action) renews
   * the record's TTL to this from now (`Store.touch`), so a session lives exactly this long past its
   * last use. The renewal never recreates a record that is gone (signed out, expired). A whole
   * number from `MIN_SESSION_TTL_MS` (1 s) to `MAX_LIFETIME_MS` (100 years), checked at start-up.
   * @default 86_400_000 (24 hours)
   */
  ttlMs?: number;
  /** Random source, injectable for tests. @default crypto.randomBytes */
  randomBytes?: (size: number) => Buffer;
}

export interface SessionManager {
  readonly ttlMs: number;
  /**
   * The session a cookie value names, or `null` when the value is malformed, unknown or expired.
   * A session found is renewed (`touch`, in the same round trip as the read).
   */
  load(cookieValue: string | undefined): Promise<Session | null>;
  /**
   * The session a cookie value claims, without any I/O (`null` when malformed). Not yet verified:
   * the action pipeline fetches its record (`recordOp`) in its one prefetch round trip and checks
   * it with `checkRecord`.
   */
  fromCookie(cookieValue: string | undefined): Session | null;
  recordOp(session: Session): StoreOp & { op: 'get' };
  /**
   * Verifies a claimed session against its stored record: `session` is `null` when the record is
   * missing, unreadable or names another user; else `touch` is the op that renews the session's
   * lifetime (`ttlMs` from now), for the caller to send with its next batch. It is a `touch`, not a
   * rewrite of the record: sent after a sign-out (or expiry) deleted the record, it writes nothing,
   * so a request still in flight cannot bring the old session id back.
   */
  checkRecord(session: Session, raw: string | null): CheckedSession;
  /** Creates and stores a new anonymous session. */
  create(): Promise<Session>;
  /**
   * A new anonymous session and the write that stores it, not sent: for a caller that sends it in a
   * round trip it makes anyway (a page view without a session: with its new-session limit step,
   * which guards it). The session exists once that write is done; until then, hand out nothing of it.
   */
  prepare(): { session: Session; write: StoreOp & { op: 'set' } };
  /**
   * A new session id for the same browser (sign-in and sign-out): the old record is deleted, so the
   * old id and every CSRF token derived from it stop working.
   */
  regenerate(old: Session | null, userId: string | null): Promise<Session>;
  destroy(session: Session): Promise<void>;
  /** A session object that exists nowhere: used where a request has no valid session. */
  ephemeral(): Session;
}

export function sessionKeyOf(id: string): string {
  return hash('sha256', id, 'base64url');
}

/** The shortest session lifetime: a session that ends before its page's first action is no session. */
export const MIN_SESSION_TTL_MS = 1_000;

/**
 * `ttlMs` when it is a session lifetime the stores keep: a whole number of ms from
 * `MIN_SESSION_TTL_MS` to `MAX_LIFETIME_MS`. Anything else started and then failed every page view
 * (500: `0`, `-1`, `NaN`, `Infinity`, a string), or made every session last 1 ms (`0.5`).
 * The option is `createLiveComponents`' `sessionTtlMs`, and the message names it so.
 */
export function checkSessionTtl(ttlMs: number): number {
  if (!(Number.isInteger(ttlMs) && ttlMs >= MIN_SESSION_TTL_MS && ttlMs <= MAX_LIFETIME_MS)) {
    throw new TypeError(`Runtime: sessionTtlMs must be a whole number of ms from ${MIN_SESSION_TTL_MS} (1 s) to ${MAX_LIFETIME_MS} (100 years)`);
  }
  return ttlMs;
}

export function createSessionManager(options: SessionManagerOptions): SessionManager {
  const { store } = options;
  const clock = options.clock ?? systemClock;
  const ttlMs = checkSessionTtl(options.ttlMs ?? 86_400_000);
  const random = options.randomBytes ?? randomBytes;
  /** Every action request hashes its cookie value: once per session while it stays among the recent ones. */
  const keyOfCookie = boundedMemo(10_000, sessionKeyOf, MAX_SESSION_ID);

  function newSession(userId: string | null, now: number): Session {
    const random22 = random(16).toString('base64url');
    const id = userId === null ? random22 : `${random22}.${Buffer.from(userId, 'utf8').toString('base64url')}`;
    return { id, key: sessionKeyOf(id), userId, createdAt: now };
  }

  function writeOp(session: Session, now: number): StoreOp & { op: 'set' } {
    // `t` is no longer read (nothing throttles the renewal now), but versions before this one refuse
    // a record without a numeric `t`: during a rolling deploy, or after a rollback, they would take
    // every session this version creates for a missing one and sign its user out. It costs a few bytes.
    const record: SessionRecord = { u: session.userId, c: session.createdAt, t: now };
    return { op: 'set', key: storeKeys.session(session.key), value: JSON.stringify(record), ttlMs };
  }

  async function write(session: Session, now: number): Promise<void> {
    const op = writeOp(session, now);
    await store.set(op.key, op.value, op.ttlMs);
  }

  function fromCookie(cookieValue: string | undefined): Session | null {
    if (cookieValue === undefined || !SESSION_ID_RE.test(cookieValue)) return null;
    return { id: cookieValue, key: keyOfCookie(cookieValue), userId: claimedUserId(cookieValue), createdAt: 0 };
  }

  function recordOp(session: Session): StoreOp & { op: 'get' } {
    return { op: 'get', key: storeKeys.session(session.key) };
  }

  function touchOp(session: Session): SessionTouchOp {
    return { op: 'touch', key: storeKeys.session(session.key), ttlMs };
  }

  function checkRecord(session: Session, raw: string | null): CheckedSession {
    const record = raw === null ? null : parseRecord(raw);
    if (record === null || record.u !== session.userId) return { session: null, touch: null };
    const verified: Session = { id: session.id, key: session.key, userId: record.u, createdAt: record.c };
    return { session: verified, touch: touchOp(session) };
  }

  return {
    ttlMs,
    async load(cookieValue) {
      const session = fromCookie(cookieValue);
      if (session === null) return null;
      // Read and renew in one round trip, both on the record's key (one hash tag: they apply
      // together). The touch goes out before the record is checked: it only renews what is there, and
      // a record that fails the check (unreadable, another user) is no session anyway. A touch that
      // found nothing means the record went between the two (expired): no session either.
      const [raw, renewed] = await store.batch([recordOp(session), touchOp(session)]);
      if (renewed !== true) return null;
      return checkRecord(session, raw as string | null).session;
    },
    fromCookie,
    recordOp,
    checkRecord,
    async create() {
      const now = clock.now();
      const session = newSession(null, now);
      await write(session, now);
      return session;
    },
    prepare() {
      const now = clock.now();
      const session = newSession(null, now);
      return { session, write: writeOp(session, now) };
    },
    async regenerate(old, userId) {
      const now = clock.now();
      const session = newSession(userId, now);
      await write(session, now);
      if (old !== null) await store.delete(storeKeys.session(old.key));
      return session;
    },
    async destroy(session) {
      await store.delete(storeKeys.session(session.key));
    },
    ephemeral() {
      return newSession(null, clock.now());
    },
  };
}

/** The user a session cookie names (`null` for an anonymous one); trusted only once the record agrees. */
export function claimedUserId(cookieValue: string): string | null {
  const dot = cookieValue.indexOf('.');
  return dot === -1 ? null : Buffer.from(cookieValue.slice(dot + 1), 'base64url').toString('utf8');
}

function parseRecord(raw: string): SessionRecord | null {
  try {
    const value: unknown = JSON.parse(raw);
    if (typeof value !== 'object' || value === null) return null;
    const r = value as Partial<SessionRecord>;
    // `t` is not read: records of older versions and of this one carry it (see `write`); one without it is as good.
    if ((r.u !== null && typeof r.u !== 'string') || typeof r.c !== 'number') return null;
    return { u: r.u, c: r.c };
  } catch {
    return null;
  }
}
