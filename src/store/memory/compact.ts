/**
 * How the memory store holds a long-lived value: as one flat string of one-byte characters.
 *
 * A value arrives as V8 built it. An idempotency record is a concatenation whose HTML part is
 * itself the chunked output of `JSON.stringify` — a tree of a dozen or more string pieces — and a
 * single character beyond Latin-1 (a `−` in a button) makes V8 store every character of the HTML in
 * two bytes. Kept as it came, a 700-byte record of the reference counter occupied ~1.8 KB of heap
 * in 20 objects. Records are kept for an hour, so every one of them is copied by the young-generation
 * GC, promoted, and pages of fresh memory are faulted in for it. Kept as below, the bench server took
 * half the page faults per keyed action (0.58 → 0.28) and 12% less CPU (docs/performance.md).
 *
 * So a value of `MIN_LENGTH` characters or more is copied into one flat one-byte string: its own
 * characters when it is ASCII (the same string, so nothing to undo), else its UTF-8 bytes, one per
 * character (`latin1`), decoded again when read. That round trip is exact because every store
 * refuses a value with a lone surrogate, which UTF-8 cannot carry (`checkValue` in
 * `src/store/checks.ts`). Short values (counters, session records) stay as they are: the copy would
 * cost more than it saves.
 */
import { Buffer } from 'node:buffer';

/** Values shorter than this (in UTF-16 units) are kept as given. */
export const MIN_LENGTH = 256;

/** A value as the store keeps it. */
export interface Compact {
  /** The value itself, or its UTF-8 bytes as one-byte characters when `utf8` is true. */
  readonly text: string;
  readonly utf8: boolean;
}

/** Reused for every value that fits (UTF-8 needs at most 3 bytes per UTF-16 unit). */
const scratch = Buffer.allocUnsafeSlow(64 * 1024);

/** `value` as the store keeps it; `value` is well-formed (no lone surrogate: the store checked it). */
export function compact(value: string): Compact {
  if (value.length < MIN_LENGTH) return { text: value, utf8: false };
  const bytes = value.length * 3 <= scratch.length ? scratch : Buffer.allocUnsafeSlow(Buffer.byteLength(value));
  const written = bytes.write(value, 'utf8');
  // As many bytes as characters: all ASCII, and the latin1 reading is the very same text.
  if (written === value.length) return { text: bytes.toString('latin1', 0, written), utf8: false };
  return { text: bytes.toString('latin1', 0, written), utf8: true };
}

/** U+FFFD's UTF-8 bytes as one-byte characters: what `Buffer#write` puts for a lone surrogate. */
const REPLACEMENT = '\u00ef\u00bf\u00bd';

/**
 * `compact(value)` when that proves `value` well-formed (no lone surrogate), else `null`: the caller
 * then checks it with `checkValue` (src/store/checks.ts), which refuses a lone surrogate or passes a
 * genuine U+FFFD. UTF-8 has no form for a lone surrogate and `Buffer#write` encodes one as U+FFFD
 * (EF BF BD), so bytes without that sequence come from a well-formed string; all-ASCII bytes have
 * none. For a long value this replaces `isWellFormed` (src/store/checks.ts), which scans a two-byte
 * string a second time: a search of the one-byte copy made anyway costs a fraction of it (an action's
 * idempotency record: ~10,000 instructions less, 1.3% of an action in the memory-store bench,
 * `node bench/instructions.mjs`). `value` must be a string of `MIN_LENGTH` characters or more.
 */
export function compactIfWellFormed(value: string): Compact | null {
  const kept = compact(value);
  return kept.utf8 && kept.text.includes(REPLACEMENT) ? null : kept;
}

/** The value `compact` was given. */
export function expand(text: string, utf8: boolean): string {
  return utf8 ? Buffer.from(text, 'latin1').toString('utf8') : text;
}
