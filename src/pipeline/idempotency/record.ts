/**
 * The idempotency record kept in the store under `storeKeys.idempotency(scope, key)`, as JSON:
 *
 * - in flight: `{ "s": "pending", "fp": "<fingerprint>", "lock": "<random token>", "exp": <lock expiry, ms> }`
 * - completed: `{ "s": "done", "fp": "<fingerprint>", "html": "…", "state": {…public state…},
 *   "created_at": "2026-01-15T10:30:00Z", "exp": <replay expiry, ms> }`
 *
 * The store's own TTL removes a record when it expires; `exp` is kept so a replay can tell the
 * remaining `ttl` without another round trip. The random `lock` makes each pending value unique,
 * so `deleteIfEquals` only ever releases the caller's own claim.
 */
import { rememberJsonString } from '../../core/json.js';

export interface PendingRecord {
  readonly s: 'pending';
  readonly fp: string;
  readonly lock: string;
  readonly exp: number;
}

export interface DoneRecord {
  readonly s: 'done';
  readonly fp: string;
  readonly html: string;
  /** The public state only; the full state never goes into this record. */
  readonly state: Record<string, unknown>;
  readonly created_at: string;
  readonly exp: number;
}

export type IdempotencyRecord = PendingRecord | DoneRecord;

/**
 * `JSON.stringify(record)`, the same text byte for byte, built field by field so the HTML goes
 * through `rememberJsonString`: the response body encodes the same HTML next, and finds it there.
 */
export function doneRecordText(record: DoneRecord): string {
  return (
    `{"s":"done","fp":${JSON.stringify(record.fp)},"html":${rememberJsonString(record.html)},"state":${JSON.stringify(record.state)}` +
    `,"created_at":${JSON.stringify(record.created_at)},"exp":${JSON.stringify(record.exp)}}`
  );
}

/**
 * `JSON.stringify(record)` of a pending record, the same text byte for byte, built without the
 * object: one is made on every action with a key.
 */
export function pendingRecordText(fp: string, lock: string, exp: number): string {
  return `{"s":"pending","fp":${JSON.stringify(fp)},"lock":${JSON.stringify(lock)},"exp":${JSON.stringify(exp)}}`;
}

/** Parses a stored record; `null` when the text is not a record this module wrote. */
export function parseRecord(text: string): IdempotencyRecord | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const r = value as Record<string, unknown>;
  if (typeof r.fp !== 'string' || typeof r.exp !== 'number') return null;
  if (r.s === 'pending') return typeof r.lock === 'string' ? (r as unknown as PendingRecord) : null;
  if (r.s !== 'done' || typeof r.html !== 'string' || typeof r.created_at !== 'string') return null;
  const state = r.state;
  if (typeof state !== 'object' || state === null || Array.isArray(state)) return null;
  return r as unknown as DoneRecord;
}

let lastSecond = NaN;
let lastText = '';

/**
 * ISO 8601 UTC with seconds precision, like `2026-01-15T10:30:00Z`. Memoised per second: every
 * action with a key formats the current time, and `Date#toISOString` shows up in profiles.
 */
export function isoSeconds(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second !== lastSecond) {
    lastText = `${new Date(second * 1000).toISOString().slice(0, 19)}Z`;
    lastSecond = second;
  }
  return lastText;
}
