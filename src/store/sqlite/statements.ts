/**
 * The SQL of the SQLite store (STYLE §5): constants, prepared once per store, bound only to
 * parameters. `?` order is given beside each. Times are ms since the epoch on the store's clock;
 * a row whose `expires_at` is not after `now` reads as absent.
 */

/** `(key, now)` → `value` of the live row. */
export const GET = 'SELECT value FROM lc_kv WHERE key = ? AND expires_at > ?';

/** `(key, value, expiresAt)`: insert or overwrite, renewing the expiry. */
export const SET =
  'INSERT INTO lc_kv (key, value, expires_at) VALUES (?, ?, ?) ' +
  'ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at';

/**
 * `(key, value, expiresAt, now)`: a claim in one statement — inserts the row, or takes over an
 * expired one in place; changes nothing (0 changes) when a live row holds the key.
 */
export const CLAIM =
  'INSERT INTO lc_kv (key, value, expires_at) VALUES (?, ?, ?) ' +
  'ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at WHERE lc_kv.expires_at <= ?';

/**
 * `(value, expiresAt, key, expected, now)`: `deleteIfEquals(key, expected)` then `claim(key, value)`
 * in one in-place update, when the live row holds exactly `expected` (an idempotency claim becoming
 * its result); 0 changes otherwise.
 */
export const REPLACE_IF_EQUALS = 'UPDATE lc_kv SET value = ?, expires_at = ? WHERE key = ? AND value = ? AND expires_at > ?';

/** `(expiresAt, key, now)`: renews the expiry of the live row, value untouched; 0 changes when none is live. */
export const TOUCH = 'UPDATE lc_kv SET expires_at = ? WHERE key = ? AND expires_at > ?';

/** `(key, value, now)`: deletes the live row only when it holds exactly `value` (BINARY collation). */
export const DELETE_IF_EQUALS = 'DELETE FROM lc_kv WHERE key = ? AND value = ? AND expires_at > ?';

/** `(key)` */
export const DELETE = 'DELETE FROM lc_kv WHERE key = ?';

/**
 * `(now, limit, maxBytes)`: deletes up to `limit` expired rows (through the `expires_at` index),
 * stopping after the row that brings the values deleted to `maxBytes` or past (at least one row).
 * Freeing a value's overflow pages costs about its size: 500 states of 1.4 MB took 316 ms in one
 * statement. `octet_length` reads the size from the record header, not the value itself.
 */
export const SWEEP =
  'DELETE FROM lc_kv WHERE key IN (SELECT key FROM (' +
  'SELECT key, sum(size) OVER (ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before FROM (' +
  'SELECT key, octet_length(value) AS size FROM lc_kv WHERE expires_at <= ? LIMIT ?)) ' +
  'WHERE coalesce(before, 0) < ?)';

/** `(now)` → `1` when an expired row is left (after a sweep chunk that ended early by bytes). */
export const ANY_EXPIRED = 'SELECT 1 FROM lc_kv WHERE expires_at <= ? LIMIT 1';
