import { describe, expect, it } from 'vitest';
import { listFirst } from './list-first.js';

describe('listFirst', () => {
  it('lists every item when there are at most max', () => {
    expect(listFirst([], 3)).toBe('');
    expect(listFirst(['a'], 3)).toBe('a');
    expect(listFirst(['a', 'b', 'c'], 3)).toBe('a, b, c');
  });

  it('lists the first max, then how many more', () => {
    expect(listFirst(['a', 'b', 'c', 'd'], 3)).toBe('a, b, c and 1 more');
    expect(listFirst(['a', 'b', 'c', 'd', 'e'], 2, '…and')).toBe('a, b …and 3 more');
  });
});
