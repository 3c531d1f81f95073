/**
 * `livecomponents revoke-sessions`: the sessions' keys and what they count as. A session is its record,
 * `lc:{s:<key>}:session` (src/store/keys.ts), whose JSON names its user (`u`: `null` when anonymous,
 * the user id, or `<user id>/<sign-in id>` for a sign-in of the auth module, src/auth/accounts.ts),
 * and the keys of its hash tag that only it reads: its sealed component states and its CSRF nonces
 * (counted), and its instance locks (left to expire).
 */

/** Which sessions to end: all of them, or those whose record names this user id. */
export type SessionTarget = { readonly all: true } | { readonly all: false; readonly userId: string };

/** What one run ended (or, dry, would end). */
export interface SessionCounts {
  /** Session records naming a user. */
  signedIn: number;
  /** Session records of no user. */
  anonymous: number;
  componentStates: number;
  csrfNonces: number;
}

export function emptySessionCounts(): SessionCounts {
  return { signedIn: 0, anonymous: 0, componentStates: 0, csrfNonces: 0 };
}

/** The first key of the sessions' family and the first one past it (`;` follows `:`). */
export const SESSION_FAMILY = 'lc:{s:';
export const PAST_SESSION_FAMILY = 'lc:{s;';

/** A session-family key split: the session's key (the hash tag's content) and what the key holds. */
export function parseSessionKey(key: string): { session: string; part: 'session' | 'state' | 'csrf' | 'lock' | 'other' } | null {
  const match = /^lc:\{s:([^}]*)\}:(session$|state:|csrf:|lock:)?/s.exec(key);
  if (match === null) return null;
  const part = match[2] === undefined ? 'other' : match[2] === 'session' ? 'session' : (match[2].slice(0, -1) as 'state' | 'csrf' | 'lock');
  return { session: match[1] as string, part };
}

/**
 * The user a session record names, `null` for an anonymous one, `undefined` for a value that is no
 * record (the app reads it as no session either).
 */
export function recordUser(raw: string): string | null | undefined {
  try {
    const value = JSON.parse(raw) as { u?: unknown };
    if (typeof value !== 'object' || value === null) return undefined;
    return value.u === null ? null : typeof value.u === 'string' ? value.u : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a record naming `user` is a session of `userId`: the id itself, or a sign-in of it. */
export function namesUser(user: string | null | undefined, userId: string): boolean {
  return typeof user === 'string' && (user === userId || user.startsWith(`${userId}/`));
}

/** Counts one key that is deleted (or would be) into `counts`; a record by the user it names. */
export function countKey(counts: SessionCounts, part: string, user: string | null | undefined): void {
  if (part === 'session') {
    if (typeof user === 'string') counts.signedIn++;
    else counts.anonymous++;
  } else if (part === 'state') counts.componentStates++;
  else if (part === 'csrf') counts.csrfNonces++;
}

/** Adds the counts of one piece to the run's. */
export function addCounts(total: SessionCounts, piece: SessionCounts): void {
  total.signedIn += piece.signedIn;
  total.anonymous += piece.anonymous;
  total.componentStates += piece.componentStates;
  total.csrfNonces += piece.csrfNonces;
}
