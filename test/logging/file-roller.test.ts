/**
 * The roller's time-driven switches (src/ops/logging/file-roller.ts), on fake `Date` and timers: the
 * file system stays real, so sonic-boom opens and writes files as in production.
 */
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RollingFile } from '../../src/ops/logging/file-roller.js';

/** One second before local midnight between 14 and 15 March 2026. */
const BEFORE_MIDNIGHT = new Date(2026, 2, 14, 23, 59, 59, 0);

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lc-roll-'));
  // Only time: fs callbacks, nextTick and promises run as usual.
  vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout'], now: BEFORE_MIDNIGHT });
});
afterEach(() => {
  vi.useRealTimers();
});

const once = (roller: RollingFile, event: 'ready' | 'close') => new Promise<void>((resolve) => roller.once(event, resolve));
const flushed = (roller: RollingFile) => new Promise<void>((resolve, reject) => roller.flush((error) => (error ? reject(error) : resolve())));
/** The files written, by name (the configured path's symbolic link left out: see the link test). */
const contents = () =>
  Object.fromEntries(
    readdirSync(dir)
      .sort()
      .filter((name) => !lstatSync(join(dir, name)).isSymbolicLink())
      .map((name) => [name, readFileSync(join(dir, name), 'utf8')]),
  );

/** Ends the roller and waits for its link and clean-up too (they may still be renaming a temporary link). */
async function close(roller: RollingFile): Promise<void> {
  const closed = once(roller, 'close');
  roller.end();
  await closed;
  await roller.cleaned;
}

describe('RollingFile, daily', () => {
  it('switches to the new day’s file number 1 at local midnight', async () => {
    const roller = await RollingFile.open({ file: join(dir, 'app.log'), size: 10 * 1024 * 1024, frequency: 'daily', keep: 5 });
    await once(roller, 'ready');
    roller.write('before\n');
    await flushed(roller);
    const next = once(roller, 'ready');
    vi.advanceTimersByTime(1_500);
    await next;
    roller.write('after\n');
    await close(roller);
    expect(contents()).toEqual({ 'app.2026-03-14.1.log': 'before\n', 'app.2026-03-15.1.log': 'after\n' });
  });

  it('a midnight that comes while a size switch is in flight is not lost: the new day still gets its own file', async () => {
    const roller = await RollingFile.open({ file: join(dir, 'app.log'), size: 10, frequency: 'daily', keep: 5 });
    await once(roller, 'ready');
    // The line passes the size: its 'write' starts a switch to app.2026-03-14.2.log; midnight strikes
    // before that file is open.
    const stream = (roller as unknown as { stream: { once(event: 'write', listener: () => void): void } }).stream;
    stream.once('write', () => vi.advanceTimersByTime(1_500));
    roller.write('a long line before midnight\n');
    // Two opens: the size switch's, then the day's.
    await once(roller, 'ready');
    await once(roller, 'ready');
    roller.write('after\n');
    await close(roller);
    const files = contents();
    expect(files['app.2026-03-14.1.log']).toBe('a long line before midnight\n');
    expect(files['app.2026-03-15.1.log']).toBe('after\n');
    // The size switch's file is there, empty: nothing was logged between it and midnight.
    expect(files).toEqual({ 'app.2026-03-14.1.log': 'a long line before midnight\n', 'app.2026-03-14.2.log': '', 'app.2026-03-15.1.log': 'after\n' });
    // (Without the second open the test waits for ever: a short limit.)
  }, 5_000);

  it('a size roll just after midnight, before the timer, starts the new day at number 1, and the late timer adds no file', async () => {
    const roller = await RollingFile.open({ file: join(dir, 'app.log'), size: 10, frequency: 'daily', keep: 5 });
    await once(roller, 'ready');
    // Time moves past midnight without the timer running (a busy event loop delays it).
    vi.setSystemTime(new Date(2026, 2, 15, 0, 0, 1));
    const next = once(roller, 'ready');
    roller.write('a long line after midnight\n');
    await next;
    vi.advanceTimersByTime(0);
    vi.runOnlyPendingTimers();
    roller.write('later\n');
    await close(roller);
    expect(contents()).toEqual({ 'app.2026-03-14.1.log': 'a long line after midnight\n', 'app.2026-03-15.1.log': 'later\n' });
  });
});

describe('RollingFile, the configured path', () => {
  it('is a symbolic link to the file being written, moved along at every switch', async () => {
    const path = join(dir, 'app.log');
    const roller = await RollingFile.open({ file: path, size: 40, frequency: 'daily', keep: 5 });
    await once(roller, 'ready');
    await roller.cleaned;
    expect(readlinkSync(path)).toBe('app.2026-03-14.1.log');
    // Past the size: the next file, and the path follows it.
    const next = once(roller, 'ready');
    roller.write('a line of more than forty bytes, to roll over\n');
    await next;
    await roller.cleaned;
    expect(readlinkSync(path)).toBe('app.2026-03-14.2.log');
    roller.write('read through the path\n');
    await close(roller);
    expect(readFileSync(path, 'utf8')).toBe('read through the path\n');
    expect(readdirSync(dir).sort()).toEqual(['app.2026-03-14.1.log', 'app.2026-03-14.2.log', 'app.log']);
  });

  it('leaves a regular file or a folder at that path alone (no link then), and writes the dated files all the same', async () => {
    writeFileSync(join(dir, 'app.log'), 'an operator file\n');
    mkdirSync(join(dir, 'other.log'));
    for (const name of ['app.log', 'other.log']) {
      const roller = await RollingFile.open({ file: join(dir, name), size: 1024, frequency: 'daily', keep: 5 });
      await once(roller, 'ready');
      roller.write(`${name}\n`);
      await roller.cleaned;
      await close(roller);
    }
    expect(readFileSync(join(dir, 'app.log'), 'utf8')).toBe('an operator file\n');
    expect(lstatSync(join(dir, 'other.log')).isDirectory()).toBe(true);
    expect(readFileSync(join(dir, 'app.2026-03-14.1.log'), 'utf8')).toBe('app.log\n');
    expect(readFileSync(join(dir, 'other.2026-03-14.1.log'), 'utf8')).toBe('other.log\n');
  });
});

describe('RollingFile, every N ms', () => {
  const THIRTY_DAYS = 30 * 24 * 3600 * 1000;

  it('a frequency past setTimeout’s limit (2^31−1 ms) rolls once, at the period’s end, not every millisecond', async () => {
    // Periods are counted from the epoch, as for any `frequency` in ms: one just begun, so ~30 days remain.
    vi.setSystemTime(Math.ceil(Date.now() / THIRTY_DAYS) * THIRTY_DAYS + 1_000);
    const roller = await RollingFile.open({ file: join(dir, 'app.log'), size: 10 * 1024 * 1024, frequency: THIRTY_DAYS, keep: 7 });
    await once(roller, 'ready');
    roller.write('start\n');
    await flushed(roller);
    // Node (and the fake clock) fire a delay over 2^31−1 ms after 1 ms: this second would have rolled.
    vi.advanceTimersByTime(1_000);
    roller.write('a second later\n');
    await flushed(roller);
    expect(contents()).toEqual({ 'app.1.log': 'start\na second later\n' });
    // The rest of the period (over 2^31−1 ms) is waited in two timer steps.
    const now = Date.now();
    const boundary = now - (now % THIRTY_DAYS) + THIRTY_DAYS;
    vi.advanceTimersByTime(boundary - now - 1);
    roller.write('just before the end\n');
    await flushed(roller);
    expect(contents()).toEqual({ 'app.1.log': 'start\na second later\njust before the end\n' });
    const next = once(roller, 'ready');
    vi.advanceTimersByTime(1);
    await next;
    roller.write('next period\n');
    await close(roller);
    expect(contents()).toEqual({ 'app.1.log': 'start\na second later\njust before the end\n', 'app.2.log': 'next period\n' });
  }, 5_000);
});

describe('RollingFile, a continued file whose last record was cut short', () => {
  /** The local date of today's daily file, on the real clock. */
  const today = (): string => {
    vi.useRealTimers();
    const day = new Date();
    return `${day.getFullYear()}-${String(day.getMonth() + 1).padStart(2, '0')}-${String(day.getDate()).padStart(2, '0')}`;
  };

  it.each([
    ['starts the next record on a line of its own (a disk that filled mid-write left half a line)', '{"msg":"whole"}\n{"msg":"cut sh', '{"msg":"whole"}\n{"msg":"cut sh\n{"msg":"next"}\n'],
    ['adds nothing to a file that ends with a line break', '{"msg":"whole"}\n', '{"msg":"whole"}\n{"msg":"next"}\n'],
  ])('%s', async (_what, before, after) => {
    const file = `app.${today()}.1.log`;
    writeFileSync(join(dir, file), before);
    const roller = await RollingFile.open({ file: join(dir, 'app.log'), size: 10 * 1024 * 1024, frequency: 'daily', keep: 5 });
    roller.write('{"msg":"next"}\n');
    await close(roller);
    expect(contents()).toEqual({ [file]: after });
  });
});
