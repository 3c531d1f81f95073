import { describe, expect, it } from 'vitest';
import { compact, compactIfWellFormed, expand, MIN_LENGTH } from './compact.js';

describe('memory store: compact values', () => {
  const roundTrip = (value: string) => {
    const kept = compact(value);
    return { ...kept, back: expand(kept.text, kept.utf8) };
  };

  it('keeps short values as given, whatever their characters', () => {
    for (const value of ['', 'abc', '−'.repeat(MIN_LENGTH - 1), '🙂'.repeat(MIN_LENGTH / 2 - 1)]) {
      expect(compact(value)).toEqual({ text: value, utf8: false });
    }
  });

  it('copies a long ASCII value as the same text, with nothing to undo', () => {
    const value = `{"html":"${'<b>x</b>'.repeat(100)}"}`;
    expect(roundTrip(value)).toEqual({ text: value, utf8: false, back: value });
  });

  it('keeps a long non-ASCII value as its UTF-8 bytes and gives back the exact text', () => {
    const cases = ['é'.repeat(MIN_LENGTH), `<button>−</button>${'x'.repeat(MIN_LENGTH)}`, '漢字🙂'.repeat(200)];
    for (const value of cases) {
      const { text, utf8, back } = roundTrip(value);
      expect(utf8).toBe(true);
      expect(text.length).toBe(Buffer.byteLength(value, 'utf8'));
      expect(/^[\x00-\xff]*$/.test(text)).toBe(true);
      expect(back).toBe(value);
    }
  });

  it('handles values larger than its scratch buffer (64 KiB of UTF-8)', () => {
    for (const value of ['a'.repeat(100_000), '−'.repeat(30_000), `${'a'.repeat(21_845)}🙂`]) {
      expect(roundTrip(value).back).toBe(value);
    }
  });

  it('gives back U+FFFD and surrogate pairs exactly (a lone surrogate never reaches it: the store refuses it)', () => {
    for (const value of [`${'a'.repeat(MIN_LENGTH)}\ufffd`, `\ufffd${'−'.repeat(MIN_LENGTH)}`, `${'a'.repeat(MIN_LENGTH)}\ud83d\ude42`, '🙂'.repeat(200)]) {
      expect(roundTrip(value)).toMatchObject({ utf8: true, back: value });
    }
  });

  it('compactIfWellFormed: the compacted value when its bytes prove it well-formed, else null', () => {
    for (const value of ['a'.repeat(MIN_LENGTH), 'é'.repeat(MIN_LENGTH), `${'−'.repeat(MIN_LENGTH)}\ud83d\ude42`]) {
      expect(compactIfWellFormed(value)).toEqual(compact(value));
    }
    // A lone surrogate is written as U+FFFD's bytes, so both give null: the caller's isWellFormed tells them apart.
    for (const value of [`${'−'.repeat(MIN_LENGTH)}\ud800`, `\udc00${'a'.repeat(MIN_LENGTH)}`, `${'a'.repeat(MIN_LENGTH)}\ufffd`, `${'a'.repeat(100_000)}\ud83d`]) {
      expect(compactIfWellFormed(value)).toBeNull();
    }
  });
});
