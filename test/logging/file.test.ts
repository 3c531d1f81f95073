import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { describe, expect, it } from 'vitest';
import { closeLogger, createLogger, flushLogger } from '../../src/ops/logging/index.js';

/** pino-roll names daily files by the local date. */
const now = new Date();
const DAY = `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, '0')}-${String(now.getDate()).padStart(2, '0')}`;

function readRecords(dir: string): { file: string; msgs: string[] }[] {
  return readdirSync(dir)
    .sort((a, b) => Number(/\.(\d+)\.log$/.exec(a)?.[1]) - Number(/\.(\d+)\.log$/.exec(b)?.[1]))
    .map((file) => ({
      file,
      msgs: readFileSync(join(dir, file), 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => (JSON.parse(l) as { msg: string }).msg),
    }));
}

describe('file strategy (pino-roll in a worker thread)', () => {
  it('creates missing folders; a flush makes lines visible and a close delivers the rest', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'lc-log-')), 'nested', 'logs');
    const logger = createLogger({ destination: `file:${join(dir, 'app.log')}`, format: 'pretty' });
    for (let i = 0; i < 5; i++) logger.info({ i, password: 'p' }, `line ${i}`);
    await flushLogger(logger);
    const files = readRecords(dir);
    expect(files.map((f) => f.file)).toEqual([`app.${DAY}.1.log`]);
    expect(files[0]?.msgs).toEqual(['line 0', 'line 1', 'line 2', 'line 3', 'line 4']);
    // `format: pretty` concerns stdout only: the file holds JSON records, redacted like every line.
    expect(readFileSync(join(dir, `app.${DAY}.1.log`), 'utf8')).toContain('"password":"[Redacted]"');
    for (let i = 5; i < 8; i++) logger.info(`line ${i}`);
    await closeLogger(logger);
    expect(readRecords(dir)[0]?.msgs).toEqual(Array.from({ length: 8 }, (_, i) => `line ${i}`));
  });

  it('rolls to a new file once a file has passed the size, losing no line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lc-log-'));
    const logger = createLogger({ destination: `file:${join(dir, 'app.log')}`, file: { size: '1k' } });
    await writeLines(logger, 12);
    await closeLogger(logger);
    const files = readRecords(dir);
    // pino-roll checks the size after each write and switches files asynchronously, so the limit is
    // soft (how many lines a file gets depends on timing); what holds is that files rolled and that
    // every line is there once, in order.
    expect(files.length).toBeGreaterThanOrEqual(2);
    expect(files.flatMap((f) => f.msgs)).toEqual(Array.from({ length: 12 }, (_, i) => `line ${i}`));
  });

  it('keeps only the newest `keep` rotated files besides the current one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lc-log-'));
    const logger = createLogger({ destination: `file:${join(dir, 'app.log')}`, file: { size: '1k', keep: 2 } });
    await writeLines(logger, 20);
    await closeLogger(logger);
    const files = readRecords(dir);
    // keep: 2 → the current file and the two newest rotated ones. Old files are deleted
    // asynchronously after each roll, so a roll in the last moments before the close may leave one
    // more until the next roll.
    expect(files.length).toBeGreaterThanOrEqual(3);
    expect(files.length).toBeLessThanOrEqual(4);
    expect(files.slice(0, -1).every((f) => f.msgs.length > 0)).toBe(true);
    // What is left is the tail of the sequence, in order.
    const msgs = files.flatMap((f) => f.msgs);
    const first = Number(msgs[0]?.slice('line '.length));
    expect(msgs).toEqual(Array.from({ length: 20 - first }, (_, i) => `line ${first + i}`));
  });
});

describe('file strategy across restarts', () => {
  it('counts the files of an earlier run toward `keep`', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lc-log-'));
    for (const run of ['first', 'second']) {
      const logger = createLogger({ destination: `file:${join(dir, 'app.log')}`, file: { size: '1k', keep: 2 } });
      await writeLines(logger, 10, run);
      await closeLogger(logger);
    }
    const files = readRecords(dir);
    // Each run rolled several times; without counting the first run's files there would be 5 or more.
    expect(files.length).toBeGreaterThanOrEqual(3);
    expect(files.length).toBeLessThanOrEqual(4);
    expect(files.at(-1)?.msgs.every((m) => m.startsWith('second'))).toBe(true);
  });
});

/** ~700-byte lines; a flush after each lets pino-roll see every write's size. */
async function writeLines(logger: Logger, count: number, prefix = 'line'): Promise<void> {
  const filler = 'x'.repeat(600);
  for (let i = 0; i < count; i++) {
    logger.info({ filler }, `${prefix} ${i}`);
    await flushLogger(logger);
  }
}

describe('file strategy failures', () => {
  it('reports an unusable folder once, drops lines instead of throwing, and still closes', async () => {
    const notADir = join(mkdtempSync(join(tmpdir(), 'lc-log-')), 'plain-file');
    writeFileSync(notADir, '');
    const errors: Error[] = [];
    const logger = createLogger({ destination: `file:${join(notADir, 'logs', 'app.log')}`, onError: (e) => errors.push(e) });
    logger.info('first');
    await expect(flushLogger(logger)).rejects.toThrow();
    for (let i = 0; i < 5; i++) logger.info(`dropped ${i}`);
    await closeLogger(logger);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.message).toMatch(/^ENOTDIR: not a directory, mkdir /);
  });
});
