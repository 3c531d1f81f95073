/** A server-side session. The raw `id` lives only in the cookie and in memory; stores see `key`. */
export interface Session {
  /** 128-bit random id (base64url), the cookie value. Never logged, never a store key. */
  readonly id: string;
  /** SHA-256 of `id` (base64url): the session's part of every store key. */
  readonly key: string;
  /** Signed-in user id, or `null`. */
  readonly userId: string | null;
  /** Creation time, ms since the epoch. */
  readonly createdAt: number;
}
