import { describe, expect, it } from 'vitest';
import { boundedMemo } from './memo.js';

describe('boundedMemo', () => {
  it('derives once per key and keeps at most max entries', () => {
    const calls: string[] = [];
    const memo = boundedMemo(2, (k) => {
      calls.push(k);
      return k.toUpperCase();
    }, 10);
    expect(memo('a')).toBe('A');
    expect(memo('a')).toBe('A');
    expect(memo('b')).toBe('B');
    expect(memo('c')).toBe('C'); // evicts a
    expect(memo('b')).toBe('B');
    expect(memo('a')).toBe('A'); // derived again
    expect(calls).toEqual(['a', 'b', 'c', 'a']);
  });

  it('keeps no key longer than maxKeyLength: derived on every call', () => {
    const calls: string[] = [];
    const memo = boundedMemo(100, (k) => {
      calls.push(k);
      return k.length;
    }, 3);
    expect([memo('abc'), memo('abc'), memo('abcd'), memo('abcd')]).toEqual([3, 3, 4, 4]);
    expect(calls).toEqual(['abc', 'abcd', 'abcd']);
  });
});
