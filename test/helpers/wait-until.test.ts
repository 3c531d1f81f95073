import { describe, expect, it } from 'vitest';
import { waitUntil } from './wait-until.js';

describe('waitUntil', () => {
  it('resolves with the first answer that is not undefined, null or false, checking again until then', async () => {
    const answers: unknown[] = [undefined, null, false, 0, 'late'];
    let calls = 0;
    expect(await waitUntil('the fourth check', () => answers[calls++] as number | undefined)).toBe(0);
    expect(calls).toBe(4);
  });

  it('awaits an async check', async () => {
    let n = 0;
    expect(await waitUntil('three checks', async () => ++n >= 3 && n)).toBe(3);
  });

  it('ends with the error a check throws', async () => {
    await expect(waitUntil('a check that throws', () => {
      throw new Error('broken probe');
    })).rejects.toThrow('broken probe');
  });
});
