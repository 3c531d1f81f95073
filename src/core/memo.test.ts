import { describe, expect, it } from 'vitest';
import { boundedMemo } from './memo.js';

describe('boundedMemo', () => {
  it('derives once per key and keeps at most max entries', () => {
    const calls: string[] = [];
    const memo = boundedMemo(2, (k) => {
      calls.push(k);
      return k.toUpperCase();
    });
    expect(memo('a')).toBe('A');
    expect(memo('a')).toBe('A');
    expect(memo('b')).toBe('B');
    expect(memo('c')).toBe('C'); // evicts a
    expect(memo('b')).toBe('B');
    expect(memo('a')).toBe('A'); // derived again
    expect(calls).toEqual(['a', 'b', 'c', 'a']);
  });
});
