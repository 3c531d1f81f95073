/**
 * The relational schema, as Kysely table types. The migrations in `./migrations/` create exactly
 * these tables, the same in SQLite and PostgreSQL. Every time is a BIGINT of milliseconds since
 * the Unix epoch (read back as a JavaScript number in both engines), set by the application from
 * its injected clock: no engine-specific date types, no database defaults.
 */

/** The key-value rows of the SQLite store (`src/store/sqlite`). */
export interface LcKvTable {
  key: string;
  /** Opaque string written by the store. */
  value: string;
  /** The row reads as absent from this time on; swept later. */
  expires_at: number;
}

export interface UsersTable {
  id: string;
  /** Normalised by the application before it is written; unique. */
  email: string;
  password_hash: string;
  name: string | null;
  created_at: number;
  updated_at: number;
}

export interface AccessTokensTable {
  id: string;
  user_id: string;
  /** Hash of the token; the token itself is never stored. */
  token_hash: string;
  /** The refresh-token family it was issued with (logout revokes both). */
  family_id: string;
  expires_at: number;
  revoked_at: number | null;
  created_at: number;
}

export interface RefreshTokensTable {
  id: string;
  user_id: string;
  /** All rotations of one sign-in share a family; reuse of a rotated token revokes it whole. */
  family_id: string;
  token_hash: string;
  /** The token this one replaced, `null` for the first of a family. */
  parent_id: string | null;
  /** The family cannot be rotated past this time (absolute lifetime of the sign-in). */
  family_expires_at: number;
  expires_at: number;
  /** Set when the token was rotated; a second use is reuse. */
  used_at: number | null;
  revoked_at: number | null;
  created_at: number;
  /**
   * SHA-256 (hex) of the companion cookie issued with the token (`__Host-lc_refresh_binding_token`),
   * which the token's rotation requires; `'unbound'` for a token issued over plain HTTP; NULL only
   * for a row written before migration `003_refresh_binding` (see there).
   */
  binding_hash: string | null;
}

export interface PasswordResetsTable {
  token_hash: string;
  user_id: string;
  expires_at: number;
  used_at: number | null;
  created_at: number;
}

/** The whole database, for `Kysely<DatabaseSchema>`. */
export interface DatabaseSchema {
  lc_kv: LcKvTable;
  users: UsersTable;
  access_tokens: AccessTokensTable;
  refresh_tokens: RefreshTokensTable;
  password_resets: PasswordResetsTable;
}
