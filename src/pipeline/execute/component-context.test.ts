import { afterEach, describe, expect, it, vi } from 'vitest';
import { ActionComponentContext } from './component-context.js';

describe('ActionComponentContext: one deadline budget for the async steps of an action', () => {
  afterEach(() => vi.restoreAllMocks());

  it('starts the budget at the first async step and hands later steps what is left, never below 0', () => {
    const now = vi.spyOn(performance, 'now');
    const cc = new ActionComponentContext(null, 'cart:main', 'main', 300);
    now.mockReturnValue(1_000);
    expect(cc.remainingMs()).toBe(300);
    // An async authorize took 220 ms: the action gets the 80 left, not another 300.
    now.mockReturnValue(1_220);
    expect(cc.remainingMs()).toBe(80);
    now.mockReturnValue(1_400);
    expect(cc.remainingMs()).toBe(0);
  });
});
