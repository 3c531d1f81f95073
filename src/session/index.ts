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
import type { Store, StoreOp } from '../store/types.js';
import { storeKeys } from '../store/keys.js';
import type { Session } from './types.js';

export type { Session } from './types.js';

/** 16 random bytes in base64url (22 characters), then `.` and the base64url user id when signed in. */
const SESSION_ID_RE = /^[A-Za-z0-9_-]{22}(?:\.[A-Za-z0-9_-]{1,172})?$/;

interface SessionRecord {
  /** user id */
  u: string | null;
  /** created at (ms) */
  c: number;
  /** last written (ms), for sliding expiry */
  t: number;
}

export interface SessionManagerOptions {
  store: Store;
  clock?: Clock;
  /**
   * Idle lifetime of a session in milliseconds; activity extends it (written at most once per half-lifetime).
   * @default 86_400_000 (24 hours)
   */
  ttlMs?: number;
  /** Random source, injectable for tests. @default crypto.randomBytes */
  randomBytes?: (size: number) => Buffer;
}

export interface SessionManager {
  readonly ttlMs: number;
  /** The session a cookie value names, or `null` when the value is malformed, unknown or expired. */
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
   * missing, unreadable or names another user; `touch` is the write that extends an active
   * session's lifetime (at most once per half-lifetime), to be flushed by the caller.
   */
  checkRecord(session: Session, raw: string | null): { session: Session | null; touch: (StoreOp & { op: 'set' }) | null };
  /** Creates and stores a new anonymous session. */
  create(): Promise<Session>;
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

export function createSessionManager(options: SessionManagerOptions): SessionManager {
  const { store } = options;
  const clock = options.clock ?? systemClock;
  const ttlMs = options.ttlMs ?? 86_400_000;
  const random = options.randomBytes ?? randomBytes;
  /** Every action request hashes its cookie value: once per session while it stays among the recent ones. */
  const keyOfCookie = boundedMemo(10_000, sessionKeyOf);

  function newSession(userId: string | null, now: number): Session {
    const random22 = random(16).toString('base64url');
    const id = userId === null ? random22 : `${random22}.${Buffer.from(userId, 'utf8').toString('base64url')}`;
    return { id, key: sessionKeyOf(id), userId, createdAt: now };
  }

  async function write(session: Session, now: number): Promise<void> {
    const record: SessionRecord = { u: session.userId, c: session.createdAt, t: now };
    await store.set(storeKeys.session(session.key), JSON.stringify(record), ttlMs);
  }

  function fromCookie(cookieValue: string | undefined): Session | null {
    if (cookieValue === undefined || !SESSION_ID_RE.test(cookieValue)) return null;
    return { id: cookieValue, key: keyOfCookie(cookieValue), userId: claimedUserId(cookieValue), createdAt: 0 };
  }

  function recordOp(session: Session): StoreOp & { op: 'get' } {
    return { op: 'get', key: storeKeys.session(session.key) };
  }

  function checkRecord(session: Session, raw: string | null): { session: Session | null; touch: (StoreOp & { op: 'set' }) | null } {
    const record = raw === null ? null : parseRecord(raw);
    if (record === null || record.u !== session.userId) return { session: null, touch: null };
    const verified: Session = { id: session.id, key: session.key, userId: record.u, createdAt: record.c };
    const now = clock.now();
    if (now - record.t <= ttlMs / 2) return { session: verified, touch: null };
    const touched: SessionRecord = { u: record.u, c: record.c, t: now };
    return {
      session: verified,
      touch: { op: 'set', key: storeKeys.session(session.key), value: JSON.stringify(touched), ttlMs },
    };
  }

  return {
    ttlMs,
    async load(cookieValue) {
      const session = fromCookie(cookieValue);
      if (session === null) return null;
      const checked = checkRecord(session, await store.get(storeKeys.session(session.key)));
      if (checked.session === null) return null;
      if (checked.touch !== null) await store.set(checked.touch.key, checked.touch.value, checked.touch.ttlMs);
      return checked.session;
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
    if ((r.u !== null && typeof r.u !== 'string') || typeof r.c !== 'number' || typeof r.t !== 'number') return null;
    return { u: r.u, c: r.c, t: r.t };
  } catch {
    return null;
  }
}
