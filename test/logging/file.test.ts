import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { closeLogger, createLogger, flushLogger } from '../../src/ops/logging/index.js';

const DAY = new Date().toISOString().slice(0, 10);

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
  it('creates missing folders and writes JSON lines that a flush makes visible', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'lc-log-')), 'nested', 'logs');
    const logger = createLogger({ destination: `file:${join(dir, 'app.log')}`, format: 'pretty' });
    for (let i = 0; i < 5; i++) logger.info({ i, password: 'p' }, `line ${i}`);
    await flushLogger(logger);
    const files = readRecords(dir);
    expect(files.map((f) => f.file)).toEqual([`app.${DAY}.1.log`]);
    expect(files[0]?.msgs).toEqual(['line 0', 'line 1', 'line 2', 'line 3', 'line 4']);
    // `format: pretty` concerns stdout only: the file holds JSON records, redacted like every line.
    expect(readFileSync(join(dir, `app.${DAY}.1.log`), 'utf8')).toContain('"password":"[Redacted]"');
    await closeLogger(logger);
  });

  it('rolls to a new file past the size and keeps only the newest `keep` rotated files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lc-log-'));
    const logger = createLogger({ destination: `file:${join(dir, 'app.log')}`, file: { size: '1k', keep: 2 } });
    const filler = 'x'.repeat(600);
    // Each line is ~700 bytes, so every second line crosses 1 KiB and rolls: lines 0-1, 2-3, 4-5, 6
    // in four files (the last line stays under the size, so no roll races the close).
    for (let i = 0; i < 7; i++) {
      logger.info({ filler }, `line ${i}`);
      // pino-roll checks the size after each write completes; a flush lets it see every write.
      await flushLogger(logger);
    }
    await closeLogger(logger);
    const files = readRecords(dir);
    // keep: 2 → the current file plus two rotated ones.
    expect(files.map((f) => f.file)).toEqual([`app.${DAY}.2.log`, `app.${DAY}.3.log`, `app.${DAY}.4.log`]);
    expect(files.map((f) => f.msgs)).toEqual([
      ['line 2', 'line 3'],
      ['line 4', 'line 5'],
      ['line 6'],
    ]);
  });
});
