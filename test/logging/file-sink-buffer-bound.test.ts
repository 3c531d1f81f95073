/**
 * The file sink's buffer (sonic-boom's, and the sink's own before its first writer is ready) is
 * bounded: lines logged while the disk does not take them wait in memory up to `maxBuffered` bytes
 * (16 MiB by default), and past it are dropped and counted. Without a bound, a stalled disk (an NFS
 * server that stopped answering, a throttled volume) kept every line of every request in the
 * process's memory for as long as it stalled: the app's memory grew with its request rate until the
 * OOM killer ended it. The stall is a FIFO with no reader at the file's path: opening it for writing
 * waits, as a write to a hung disk does, until the test opens its other end.
 */
import { execFileSync } from 'node:child_process';
import { createReadStream, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFileSink } from '../../src/ops/logging/file.js';
import { RollingFile } from '../../src/ops/logging/file-roller.js';
import { waitUntil } from '../helpers/wait-until.js';

/** Daily files are named by the local date. */
const now = new Date();
const DAY = `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, '0')}-${String(now.getDate()).padStart(2, '0')}`;

/** A line of exactly 1 KiB, newline included. */
const line = (i: number): string => `${String(i).padStart(8, '0')}${'x'.repeat(1024 - 9)}\n`;

/** A file sink on `app.log` in a new folder whose current file is a FIFO nobody reads yet. */
function stalledSink(options: { maxBuffered?: string; size?: string } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'lc-log-stall-'));
  const fifo = join(dir, `app.${DAY}.1.log`);
  execFileSync('mkfifo', [fifo]);
  const errors: string[] = [];
  let dropped = 0;
  const sink = createFileSink(join(dir, 'app.log'), options, { onError: (e) => errors.push(e.message), onDropped: (n) => (dropped += n) });
  /** Opens the FIFO's other end: the disk "answers" again; resolves what it read once the sink closed it. */
  const unstall = (): { text: () => string; ended: Promise<void> } => {
    let text = '';
    const reader = createReadStream(fifo, { encoding: 'latin1' });
    reader.on('data', (chunk) => (text += String(chunk)));
    const ended = new Promise<void>((resolve) => reader.once('close', () => resolve()));
    return { text: () => text, ended };
  };
  return { sink, errors, dropped: () => dropped, unstall };
}

describe('the file sink while the disk does not take its lines', () => {
  it('keeps at most 16 MiB of them by default, drops and counts the rest, and says so once', async () => {
    // A size past all of it: the 16 MiB all go to the FIFO, with no roll to a second file at 10 MiB.
    const s = stalledSink({ size: '1g' });
    const total = 20_000;
    for (let i = 0; i < total; i++) s.sink.write(line(i));
    const kept = (16 * 1024 * 1024) / 1024;
    expect(s.dropped()).toBe(total - kept);
    expect(s.errors).toHaveLength(1);
    expect(s.errors[0]).toMatch(/not keeping up/);
    const reader = s.unstall();
    await s.sink.close();
    await reader.ended;
    const lines = reader.text().split('\n').filter((l) => l !== '');
    // The first 16,384 lines, in order: the ones that waited.
    expect(lines.length).toBe(kept);
    expect(lines[0]?.slice(0, 8)).toBe('00000000');
    expect(lines[kept - 1]?.slice(0, 8)).toBe(String(kept - 1).padStart(8, '0'));
  });

  it('takes `maxBuffered`, and takes lines again once the disk has caught up', async () => {
    const s = stalledSink({ maxBuffered: '64k' });
    for (let i = 0; i < 1_000; i++) s.sink.write(line(i));
    expect(s.dropped()).toBe(1_000 - 64);
    const reader = s.unstall();
    await waitUntil('the 64 lines that waited reached the reader', () => reader.text().length === 64 * 1024, { seen: () => `${reader.text().length} bytes` });
    s.sink.write(line(1_000));
    expect(s.dropped()).toBe(1_000 - 64);
    await s.sink.close();
    await reader.ended;
    expect(reader.text().length).toBe(65 * 1024);
    expect(reader.text().slice(64 * 1024, 64 * 1024 + 8)).toBe('00001000');
  });

  it('says so once while the disk stays behind, though a shorter line still fits, and again only after it caught up', async () => {
    const s = stalledSink({ maxBuffered: '64k' });
    /** `bytes` long, newline included. */
    const sized = (i: number, bytes: number): string => `${String(i).padStart(8, '0')}${'x'.repeat(bytes - 9)}\n`;
    // 65 lines of 1,000 bytes wait (536 bytes left): a 1,000-byte line is dropped, a 100-byte one fits.
    for (let i = 0; i < 65; i++) s.sink.write(sized(i, 1_000));
    s.sink.write(sized(65, 1_000));
    s.sink.write(sized(66, 100));
    s.sink.write(sized(67, 1_000));
    s.sink.write(sized(68, 100));
    s.sink.write(sized(69, 1_000));
    expect(s.dropped()).toBe(3);
    // One report: the disk has not caught up (a line that fits in what is left says nothing about it).
    expect(s.errors).toHaveLength(1);
    const reader = s.unstall();
    const kept = 65 * 1_000 + 2 * 100;
    await waitUntil('the lines that waited reached the reader', () => reader.text().length === kept, { seen: () => `${reader.text().length} bytes` });
    // Caught up: falling behind again is a new report.
    for (let i = 0; i < 200; i++) s.sink.write(sized(100 + i, 1_000));
    expect(s.errors).toHaveLength(2);
    await s.sink.close();
    await reader.ended;
  });

  it('bounds the writer itself (sonic-boom), not only the lines logged before it is ready', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lc-log-stall-'));
    const fifo = join(dir, `app.${DAY}.1.log`);
    execFileSync('mkfifo', [fifo]);
    // Resolves once the writer exists; its file's open waits for a reader, so every line waits.
    const roller = await RollingFile.open({ file: join(dir, 'app.log'), size: 1024 ** 3, frequency: 'daily', keep: 1, maxBuffered: 64 * 1024 });
    const taken = Array.from({ length: 1_000 }, (_, i) => roller.write(line(i)));
    expect(taken.filter(Boolean).length).toBe(64);
    expect(taken.indexOf(false)).toBe(64);
    let text = '';
    const reader = createReadStream(fifo, { encoding: 'latin1' }).on('data', (chunk) => (text += String(chunk)));
    const ended = new Promise<void>((resolve) => reader.once('close', () => resolve()));
    roller.end();
    await ended;
    expect(text.length).toBe(64 * 1024);
  });

  it('counts bytes, not characters: lines of 513 characters and 1 KiB keep 64 under 64k, before the writer and in it', async () => {
    // 'é' is 2 bytes in UTF-8: 511 of them, an 'x' and the newline make 1,024 bytes in 513 characters.
    const wide = (i: number): string => `${'é'.repeat(511)}${i % 10}\n`;
    const s = stalledSink({ maxBuffered: '64k' });
    for (let i = 0; i < 100; i++) s.sink.write(wide(i));
    expect(s.dropped()).toBe(100 - 64);
    const reader = s.unstall();
    await s.sink.close();
    await reader.ended;
    expect(Buffer.byteLength(reader.text(), 'latin1')).toBe(64 * 1024);
    const dir = mkdtempSync(join(tmpdir(), 'lc-log-stall-'));
    execFileSync('mkfifo', [join(dir, `app.${DAY}.1.log`)]);
    const roller = await RollingFile.open({ file: join(dir, 'app.log'), size: 1024 ** 3, frequency: 'daily', keep: 1, maxBuffered: 64 * 1024 });
    expect(Array.from({ length: 100 }, (_, i) => roller.write(wide(i))).filter(Boolean).length).toBe(64);
    const ended = new Promise<void>((resolve) => createReadStream(join(dir, `app.${DAY}.1.log`)).resume().once('close', () => resolve()));
    roller.end();
    await ended;
  });

  it('refuses a `maxBuffered` that is not a size above 0', () => {
    for (const maxBuffered of ['0', '-1', 'lots', '']) {
      expect(() => createFileSink(join(mkdtempSync(join(tmpdir(), 'lc-log-never-')), 'app.log'), { maxBuffered }, { onError: () => undefined, onDropped: () => undefined }), maxBuffered).toThrow(/file\.maxBuffered/);
    }
  });
});
