import { describe, expect, it } from 'vitest';
import { coloursWanted } from './sink.js';

describe('pretty output colours', () => {
  it('colours a terminal only, and never when NO_COLOR is set to anything but ""', () => {
    expect(coloursWanted({}, true)).toBe(true);
    expect(coloursWanted({ NO_COLOR: '' }, true)).toBe(true);
    expect(coloursWanted({ NO_COLOR: '1' }, true)).toBe(false);
    expect(coloursWanted({ NO_COLOR: '0' }, true)).toBe(false);
    expect(coloursWanted({}, false)).toBe(false);
    expect(coloursWanted({}, undefined)).toBe(false);
  });
});
