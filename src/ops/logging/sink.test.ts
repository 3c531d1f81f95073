import { describe, expect, it } from 'vitest';
import { createLogger } from './index.js';
import { beforeLoggerClose, closeLogger, coloursWanted } from './sink.js';

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

describe('beforeLoggerClose', () => {
  it('runs each hook of the destination once, before it closes, also when registered on a child; a failing hook stops neither the others nor the close; a taken-back hook does not run', async () => {
    const chunks: string[] = [];
    const logger = createLogger({ format: 'json', stream: { write: (c: string) => chunks.push(c) } });
    const child = logger.child({ component: 'x' });
    const ran: string[] = [];
    beforeLoggerClose(child, () => {
      ran.push('child');
      child.warn('written before the close');
    });
    beforeLoggerClose(logger, () => {
      ran.push('failing');
      throw new Error('hook failed');
    });
    const takeBack = beforeLoggerClose(logger, () => void ran.push('taken back'));
    takeBack();
    beforeLoggerClose(logger, () => void ran.push('last'));
    await closeLogger(logger);
    expect(ran).toEqual(['child', 'failing', 'last']);
    expect(chunks.join('')).toContain('written before the close');
    logger.warn('after the close');
    expect(chunks.join('')).not.toContain('after the close');
    await closeLogger(logger);
    expect(ran).toHaveLength(3);
    // A logger without a destination of its own (a test's recorder) registers nothing.
    expect(beforeLoggerClose({}, () => undefined)()).toBeUndefined();
  });
});
