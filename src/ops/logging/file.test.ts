/**
 * The file strategy's descriptors: a writer that fails (a full disk) must close its file. Linux only
 * (counts `/proc/self/fd`); the behaviour tests of the strategy are in test/logging/file.test.ts.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, symlinkSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { closeLogger, createLogger, flushLogger } from './index.js';
import { waitUntil } from '../../../test/helpers/wait-until.js';

/** Daily files are named by the local date. */
const now = new Date();
const DAY = `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, '0')}-${String(now.getDate()).padStart(2, '0')}`;

/** Where each open descriptor of this process points. */
function openFds(): string[] {
  const fds: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      fds.push(readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      // the descriptor readdir itself used, closed by now
    }
  }
  return fds;
}

const countTo = (target: string): number => openFds().filter((link) => link === target).length;

describe.runIf(existsSync('/proc/self/fd') && existsSync('/dev/full'))('file strategy descriptors', () => {
  it('closes the file of every writer that failed with a full disk, and writes again once there is room', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lc-log-fd-'));
    // The file the sink appends to is /dev/full: it opens, and every write fails with ENOSPC.
    const current = join(dir, `app.${DAY}.1.log`);
    symlinkSync('/dev/full', current);
    const before = openFds().length;
    const errors: Error[] = [];
    const logger = createLogger({ destination: `file:${join(dir, 'app.log')}`, file: { reopenMs: 10, maxReopenMs: 10 }, onError: (e) => errors.push(e) });
    try {
      await waitUntil('the first write to /dev/full to fail', () => (logger.info('on a full disk'), errors.length > 0));
      // A replacement every 10 ms or so, each failing on the first line it takes: many failed writers.
      for (const stop = Date.now() + 400; Date.now() < stop; ) {
        logger.info('on a full disk');
        await new Promise((r) => setTimeout(r, 5));
      }
      expect(errors.map((e) => e.message)).toEqual([expect.stringMatching(/: ENOSPC: no space left on device/)]);

      unlinkSync(current); // room again: the next writer creates a real file
      let n = 0;
      await waitUntil('the sink to report writing again', () => (logger.info(`after ${n++}`), errors.length > 1), { seen: () => errors.map((e) => e.message) });
      logger.info('last');
      await flushLogger(logger);
    } finally {
      await closeLogger(logger);
    }
    expect(errors[1]?.message).toMatch(/writing again; dropped \d+ line\(s\)/);
    expect(readFileSync(current, 'utf8').trim().split('\n').at(-1)).toContain('"msg":"last"');
    // Closing a failed writer's file takes a moment; none may stay open, and nothing else leaked.
    await waitUntil('every failed writer to close /dev/full', () => countTo('/dev/full') === 0, { seen: () => `${countTo('/dev/full')} open` });
    expect(countTo(current)).toBe(0);
    expect(openFds().length).toBe(before);
  });
});

describe('closing a file sink whose writer cannot open its file', () => {
  it('finishes, right after start-up too (sonic-boom closes such a writer only once it is ready, which never comes)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lc-log-close-'));
    // The file the sink opens is a dangling link into a folder that does not exist: its open fails (ENOENT).
    symlinkSync(join(dir, 'missing', 'target.log'), join(dir, `app.${DAY}.1.log`));
    const errors: Error[] = [];
    const logger = createLogger({ destination: `file:${join(dir, 'app.log')}`, file: { reopenMs: 10, maxReopenMs: 10 }, onError: (e) => errors.push(e) });
    logger.info('one line');
    const closed = await Promise.race([closeLogger(logger).then(() => 'closed'), new Promise((r) => setTimeout(() => r('still pending after 3 s'), 3_000))]);
    expect(closed).toBe('closed');
    expect(errors.map((e) => e.message)).toEqual([`file ${join(dir, 'app.log')}: ENOENT: no such file or directory, open '${join(dir, `app.${DAY}.1.log`)}'`]);
  });
});

