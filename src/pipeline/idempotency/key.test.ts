import { describe, expect, it } from 'vitest';
import { LiveError } from '../../core/errors.js';
import { parseIdempotencyKey, parseSfString } from './key.js';

const UUID = '5f0c2a4e-8b1d-4c3e-9f7a-2d6b8e1c4a90';

/** The key, `null`, or `'INVALID'` for a refusal. */
function parse(header: string | readonly string[] | undefined, body?: unknown): string | null {
  const result = parseIdempotencyKey(header, body);
  if (result instanceof LiveError) {
    expect(result.code).toBe('IDEMPOTENCY_KEY_INVALID');
    expect(result.statusCode).toBe(400);
    return 'INVALID';
  }
  return result;
}

describe('parseIdempotencyKey', () => {
  it('returns null when no key came', () => {
    expect(parse(undefined, undefined)).toBeNull();
  });

  it.each([
    ['bare UUID', UUID, UUID],
    ['quoted UUID', `"${UUID}"`, UUID],
    ['quoted with \\" and \\\\ escapes', String.raw`"order \"7\" a\\b"`, 'order "7" a\\b'],
    ['quoted with spaces inside and around', '" a b "', ' a b '],
    ['one character', 'k', 'k'],
    ['255 characters', 'k'.repeat(255), 'k'.repeat(255)],
    ['255 characters quoted', `"${'k'.repeat(255)}"`, 'k'.repeat(255)],
    ['bare with inner quote and symbols', 'a"b;c=1', 'a"b;c=1'],
  ])('header: accepts %s', (_name, header, key) => {
    expect(parse(header)).toBe(key);
  });

  it.each([
    ['empty', ''],
    ['empty quoted', '""'],
    ['256 characters', 'k'.repeat(256)],
    ['256 characters quoted', `"${'k'.repeat(256)}"`],
    ['control character', 'abc\x01def'],
    ['tab', 'abc\tdef'],
    ['DEL', 'abc\x7f'],
    ['control character quoted', '"abc\x01"'],
    ['non-ASCII', 'clé-1'],
    ['non-ASCII quoted', '"clé-1"'],
    ['unterminated quote', '"abc'],
    ['text after the closing quote', '"ab"c'],
    ['parameters after the string', '"abc";p=1'],
    ['two list members', '"a", "b"'],
    ['unknown escape', String.raw`"a\nb"`],
    ['lone backslash at the end', '"abc\\'],
    ['leading whitespace', ' abc'],
    ['trailing whitespace', 'abc '],
    ['a comma (two header lines joined)', 'a, b'],
  ])('header: refuses %s', (_name, header) => {
    expect(parse(header)).toBe('INVALID');
  });

  it('refuses a header sent more than once', () => {
    expect(parse(['a', 'b'])).toBe('INVALID');
  });

  it.each([
    ['a UUID', UUID, UUID],
    ['255 characters', 'k'.repeat(255), 'k'.repeat(255)],
    ['spaces and commas', ' a, b ', ' a, b '],
  ])('body: accepts %s', (_name, body, key) => {
    expect(parse(undefined, body)).toBe(key);
  });

  it.each([
    ['empty', ''],
    ['256 characters', 'k'.repeat(256)],
    ['control character', 'a\nb'],
    ['non-ASCII', 'ключ'],
    ['a number', 42],
    ['null', null],
    ['an object', { key: 'a' }],
  ])('body: refuses %s', (_name, body) => {
    expect(parse(undefined, body)).toBe('INVALID');
  });

  it('accepts header and body naming the same key (quoted or bare)', () => {
    expect(parse(UUID, UUID)).toBe(UUID);
    expect(parse(String.raw`"a\"b"`, 'a"b')).toBe('a"b');
  });

  it('refuses header and body naming different keys', () => {
    expect(parse('key-1', 'key-2')).toBe('INVALID');
  });

  it('refuses a valid body when the header is invalid, and the reverse', () => {
    expect(parse('"abc', 'abc')).toBe('INVALID');
    expect(parse('abc', '')).toBe('INVALID');
  });
});

describe('parseSfString', () => {
  it('decodes only a whole, well-formed sf-string', () => {
    expect(parseSfString('"abc"')).toBe('abc');
    expect(parseSfString('""')).toBe('');
    expect(parseSfString('abc')).toBeNull();
    expect(parseSfString('"')).toBeNull();
    expect(parseSfString('"a"b"')).toBeNull();
  });
});
