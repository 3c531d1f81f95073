/**
 * The rotating file behind `file:PATH`: a sonic-boom stream (asynchronous writes on libuv's thread
 * pool, so the disk never blocks a request) that this module switches to a new file itself.
 *
 * Why not pino-roll (used before): it counted bytes on sonic-boom's 'write' event and switched files
 * only on the next 'drain' — which sonic-boom emits only when its buffer runs empty, i.e. in a lull.
 * Under steady heavy logging there is none, so files grew 10–40× past `size` (and it counted the bytes
 * written to the old file meanwhile for the new one). Driving its rotation from outside was not
 * enough either: its own numbering would then collide with ours on timed (`frequency: ms`) rolls.
 * So the size is counted here on the same 'write' event (bytes that reached this file), and past it
 * the switch is requested at once with sonic-boom's `reopen()`, which lets the write in flight finish
 * in the old file and sends everything still buffered to the new one: a file passes `size` by at most
 * one write (sonic-boom groups records into writes of at most 16 KB, but never splits one: a larger
 * record is one write of its own size). Only this process's bytes are counted: two processes given
 * one path overrun `size` and delete each other's files (docs/logging.md). Counting lines as they are handed over
 * instead would not bound it: under load sonic-boom's buffer holds megabytes not yet written, and
 * all of it would land in the new file. A close first drains the buffer (rolling as it goes), since
 * sonic-boom no longer switches files once it is ending.
 * Naming is pino-roll's: `app.2026-01-15.1.log` (daily), `app.2026-01-15-13.1.log` (hourly),
 * `app.1.log` (every N ms), numbers continuing from the files already there; the configured path
 * itself (`app.log`) is a symbolic link to the file being written (`pointLink`).
 */
import { lstat, mkdir, open as openFile, readdir, rename, stat, symlink, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { MAX_TIMER_MS } from '../../core/deadline.js';
import { lazyRequire } from '../../core/lazy-require.js';
import { refusingFolder, writeRefusal } from '../writable-path.js';

export interface RollerOptions {
  /** The configured path, absolute (`/var/log/app.log`). */
  file: string;
  /** Bytes. */
  size: number;
  frequency: 'daily' | 'hourly' | number;
  /** Rotated files kept besides the current one (also counting those of earlier runs). */
  keep: number;
  /**
   * Most bytes waiting for the disk (sonic-boom's `maxLength`); a line past it is dropped (`write`
   * answers false). @default DEFAULT_MAX_BUFFERED
   */
  maxBuffered?: number;
}

/** The file sink's default `maxBuffered`: 16 MiB, some 30,000 lines of a few hundred bytes. */
export const DEFAULT_MAX_BUFFERED = 16 * 1024 * 1024;

/** What the file sink uses of sonic-boom. */
interface SonicBoomStream {
  write(chunk: string): boolean;
  flush(cb: (error?: Error | null) => void): void;
  flushSync(): void;
  reopen(file: string): void;
  end(): void;
  destroy(): void;
  once(event: string, listener: (...args: never[]) => void): void;
  on(event: string, listener: (...args: never[]) => void): void;
  readonly fd: number;
  readonly destroyed: boolean;
  /** The file open (or being opened). */
  readonly file: string;
}

/**
 * sonic-boom, the stream pino.destination() returns (pino loads it anyway: no import cost). Keep the
 * major pino depends on (pino 10: ^4): with sonic-boom 5 here, pino would load its own 4.x besides it,
 * and stdout and files would be written by two versions that flush and drain differently.
 */
const loadSonicBoom = lazyRequire<new (options: object) => SonicBoomStream>('sonic-boom');

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/** The date part of a name, local time as pino-roll wrote it; '' for timed (ms) rolls. */
function datePart(frequency: RollerOptions['frequency'], at: Date): string {
  if (typeof frequency === 'number') return '';
  const day = `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}`;
  return frequency === 'daily' ? day : `${day}-${pad(at.getHours())}`;
}

/** When the current period ends. */
function nextBoundary(frequency: RollerOptions['frequency'], now: number): number {
  const at = new Date(now);
  if (frequency === 'daily') return new Date(at.getFullYear(), at.getMonth(), at.getDate() + 1).getTime();
  if (frequency === 'hourly') return new Date(at.getFullYear(), at.getMonth(), at.getDate(), at.getHours() + 1).getTime();
  return now - (now % frequency) + frequency;
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The names this roller writes for `base` (`app.2026-01-15.3.log`), also those of earlier runs: group 1
 * the date part ('' for timed rolls), group 2 the number.
 */
function namePattern(base: string, extension: string, frequency: RollerOptions['frequency']): RegExp {
  const date = frequency === 'daily' ? '(\\d{4}-\\d{2}-\\d{2})\\.' : frequency === 'hourly' ? '(\\d{4}-\\d{2}-\\d{2}-\\d{2})\\.' : '()';
  return new RegExp(`^${escape(basename(base))}\\.${date}(\\d+)\\.${escape(extension)}$`);
}

/** Where a roller started at `now` writes first, given the names in the folder (`entries`). */
export interface StartingFile {
  /** The file's full path (`/var/log/app.2026-01-15.3.log`). */
  path: string;
  /** The file may be there already, to be appended to (daily and hourly rolls continue the period's newest file). */
  continued: boolean;
  base: string;
  extension: string;
  date: string;
  number: number;
  /** The names of this roller's files (`namePattern`), to find the old ones to delete. */
  pattern: RegExp;
}

/**
 * The file a start writes to: the newest of the current day or hour (number 1 when there is none),
 * or the next number for timed (ms) rolls, which always start a new file. Shared with
 * `doctor --connect`, which checks that this very file can be appended to.
 */
export function startingFile(file: string, frequency: RollerOptions['frequency'], entries: readonly string[], now: Date): StartingFile {
  const name = basename(file);
  const dot = name.lastIndexOf('.');
  const base = dot > 0 ? file.slice(0, file.length - (name.length - dot)) : file;
  const extension = dot > 0 ? name.slice(dot + 1) : 'log';
  const date = datePart(frequency, now);
  const pattern = namePattern(base, extension, frequency);
  let highest = 0;
  for (const entry of entries) {
    const match = pattern.exec(entry);
    if (match !== null && match[1] === date) highest = Math.max(highest, Number(match[2]));
  }
  const continued = typeof frequency !== 'number';
  const number = continued ? Math.max(highest, 1) : highest + 1;
  return { path: `${base}.${date === '' ? '' : `${date}.`}${number}.${extension}`, continued, base, extension, date, number, pattern };
}

/** Whether the file of `size` bytes at `path` ends with a line break; true when it cannot be read (nothing to mend then). */
async function endsWithLineBreak(path: string, size: number): Promise<boolean> {
  let handle: FileHandle | undefined;
  try {
    handle = await openFile(path, 'r');
    const last = Buffer.alloc(1);
    await handle.read(last, 0, 1, size - 1);
    return last[0] === 0x0a;
  } catch {
    return true;
  } finally {
    await handle?.close().catch(() => {});
  }
}

/**
 * Makes the configured path (`file:/var/log/app.log`) a symbolic link to the file being written, so
 * `tail -F /var/log/app.log`, a log shipper or a script reading that path finds the current lines.
 * Replaced atomically (a new link renamed over the old one); the target is the bare name (same
 * folder), so the link survives the folder being moved or mounted elsewhere. A regular file or a
 * folder already at that path (an operator's, or written by an earlier version) is left alone: no
 * link then. A file system refusing links loses only the link, never a line.
 */
async function pointLink(link: string, target: string): Promise<void> {
  try {
    const existing = await lstat(link).catch(() => null);
    if (existing !== null && !existing.isSymbolicLink()) return;
    const temporary = `${link}.${process.pid}.link`;
    await unlink(temporary).catch(() => {});
    await symlink(basename(target), temporary);
    await rename(temporary, link);
  } catch {
    // no link: the lines still go to the dated files
  }
}

export class RollingFile {
  private readonly stream: SonicBoomStream;
  private readonly base: string;
  private readonly extension: string;
  private readonly dir: string;
  private readonly pattern: RegExp;
  private date: string;
  private number: number;
  /** Bytes in the current file. */
  private written: number;
  /** A switch was requested and the next file is not open yet. */
  private switching = false;
  /** A new day or hour began during a switch: rolled again once that switch is done. */
  private periodDue = false;
  private timer: NodeJS.Timeout | undefined;
  /** Deleting old files, one pass at a time; close() waits for it. */
  private cleaning: Promise<void> = Promise.resolve();
  /** Set by sonic-boom's 'drop' (emitted within `write`): the line did not fit under `maxBuffered`. */
  private refused = false;

  private constructor(
    private readonly options: RollerOptions,
    start: StartingFile,
    /** Bytes already in the starting file (a continued one). */
    written: number,
  ) {
    this.base = start.base;
    this.extension = start.extension;
    this.dir = dirname(start.base);
    this.date = start.date;
    this.number = start.number;
    this.written = written;
    this.pattern = start.pattern;
    const SonicBoom = loadSonicBoom();
    this.stream = new SonicBoom({
      dest: this.name(),
      mkdir: true,
      // New files are not world-readable: logs carry addresses, emails and security events.
      mode: 0o640,
      // sonic-boom's flush() waits for the disk only when minLength > 0 (with 0 it returns at
      // once); 1 byte still writes every line straight away.
      minLength: 1,
      // Unbounded, a disk that stalls (an NFS server gone quiet, a throttled volume) held every line
      // logged meanwhile in memory, at the app's request rate, until the process ran out of it.
      maxLength: options.maxBuffered ?? DEFAULT_MAX_BUFFERED,
    });
    this.stream.on('drop', () => (this.refused = true));
    this.stream.once('close', () => clearTimeout(this.timer));
    this.stream.on('write', (bytes: number) => {
      this.written += bytes;
      if (this.written >= this.options.size) this.roll(false);
    });
    this.stream.on('ready', () => {
      if (this.stream.file !== this.name()) return;
      const current = this.name();
      // The configured path names every file opened, the first one included.
      const linked = this.cleaning.then(() => pointLink(this.options.file, current));
      if (!this.switching) {
        this.cleaning = linked;
        return;
      }
      this.switching = false;
      this.written = 0;
      this.cleaning = linked.then(() => this.removeOld(current));
      if (this.periodDue) this.roll(true);
    });
    this.schedule();
  }

  /** Picks the file to write (the newest of this period, or the next number for timed rolls) and opens it. */
  static async open(options: RollerOptions): Promise<RollingFile> {
    const dir = dirname(options.file);
    try {
      await makeFolder(dir);
    } catch (error) {
      throw folderRefused(dir, error as Error);
    }
    let entries: string[] = [];
    try {
      entries = await readdir(dir);
    } catch {
      // an unusable folder (the file's open reports that)
    }
    const start = startingFile(options.file, options.frequency, entries, new Date());
    let written = 0;
    try {
      written = (await stat(start.path)).size;
    } catch {
      // a new file
    }
    const cut = written > 0 && !(await endsWithLineBreak(start.path, written));
    const roller = new RollingFile(options, start, written);
    // A file continued whose last record was cut short (the disk filled mid-write, the process was
    // killed): the next record starts a line of its own instead of being glued to the cut one,
    // which would make both unreadable.
    if (cut) roller.write('\n');
    return roller;
  }

  private name(): string {
    return `${this.base}.${this.date === '' ? '' : `${this.date}.`}${this.number}.${this.extension}`;
  }

  get fd(): number {
    return this.stream.fd;
  }

  get destroyed(): boolean {
    return this.stream.destroyed;
  }

  /** False when `line` was dropped: `maxBuffered` bytes are already waiting for the disk. */
  write(line: string): boolean {
    this.refused = false;
    this.stream.write(line);
    return !this.refused;
  }

  /** Asks sonic-boom to continue in the next file (once the write in flight is done). */
  private roll(newPeriod: boolean): void {
    if (this.stream.destroyed) return;
    const date = datePart(this.options.frequency, new Date());
    // A day or hour whose file a size roll has opened already (the timer came late): nothing to do.
    if (newPeriod && date !== '' && date === this.date) return;
    // One switch at a time: bytes written until the next file is open still belong to this one. A
    // size roll is then moot; a new period is not, or the new day's lines would go on in the old
    // day's file until the next size roll (a timer missed is not run again before the next period).
    if (this.switching) {
      this.periodDue ||= newPeriod;
      return;
    }
    this.periodDue = false;
    // The first file of a new day or hour is number 1 (a size roll past midnight starts one too).
    this.number = date === this.date ? this.number + 1 : 1;
    this.date = date;
    this.switching = true;
    try {
      // While a write is in flight, sonic-boom switches once it finished; one still opening the
      // previous file switches once that is open. The 'ready' listener above completes the switch.
      this.stream.reopen(this.name());
    } catch {
      // destroyed: nothing more goes to this stream
    }
  }

  /** Deletes all but the newest `keep` rotated files (also of earlier runs) besides `current`. */
  private async removeOld(current: string): Promise<void> {
    try {
      const names = new Set(await readdir(this.dir));
      names.add(basename(current));
      const files: { name: string; date: string; number: number }[] = [];
      for (const name of names) {
        const match = this.pattern.exec(name);
        if (match) files.push({ name, date: match[1] ?? '', number: Number(match[2]) });
      }
      files.sort((a, b) => (a.date === b.date ? a.number - b.number : a.date < b.date ? -1 : 1));
      const old = files.slice(0, Math.max(files.length - this.options.keep - 1, 0)).filter((f) => f.name !== basename(current));
      await Promise.allSettled(old.map((f) => unlink(join(this.dir, f.name))));
    } catch {
      // the folder is gone or unreadable: writing fails too, and that is reported
    }
  }

  /**
   * Rolls at `boundary` (the end of the current period). setTimeout cannot wait longer than
   * MAX_TIMER_MS (a longer delay fires after 1 ms, with a TimeoutOverflowWarning: a new file every
   * millisecond for `frequency: 30 days`), so a far boundary is reached in steps of at most that, and
   * a timer that fires before it (a step, or a clock set back) only waits again.
   */
  private schedule(boundary = nextBoundary(this.options.frequency, Date.now())): void {
    const wait = Math.min(Math.max(boundary - Date.now(), 0), MAX_TIMER_MS);
    this.timer = setTimeout(() => {
      if (Date.now() < boundary) {
        this.schedule(boundary);
        return;
      }
      this.roll(true);
      this.schedule();
    }, wait).unref();
  }

  flush(cb: (error?: Error | null) => void): void {
    this.stream.flush(cb);
  }

  flushSync(): void {
    this.stream.flushSync();
  }

  /**
   * Writes what is buffered (still rolling: sonic-boom does not switch files once ending), closes the
   * file ('close'). A failure is the stream's 'error'.
   */
  end(): void {
    clearTimeout(this.timer);
    this.stream.flush((error) => {
      if (this.stream.destroyed) return;
      // A flush that failed (fsync refused) is not always an 'error' of the stream: closed here, so
      // 'close' still comes and a close of the sink does not wait for ever.
      if (error) this.stream.destroy();
      else this.stream.end();
    });
  }

  /** Settles once the old files of the rolls so far are deleted. */
  get cleaned(): Promise<void> {
    return this.cleaning;
  }

  destroy(): void {
    clearTimeout(this.timer);
    this.stream.destroy();
  }

  /** sonic-boom's 'drain': what waited for the disk is written (its buffer ran empty), or a roll found none waiting. */
  onDrain(listener: () => void): void {
    this.stream.on('drain', listener);
  }

  once(event: 'close' | 'ready', listener: () => void): void {
    this.stream.once(event, listener);
  }

  on(event: 'error', listener: (error: Error) => void): void {
    this.stream.on(event, (error: Error) => listener(folderRefused(this.dir, error)));
  }
}

/**
 * Makes `dir` and its missing parents, one `mkdir` at a time, from the nearest that exists. Node's
 * recursive mkdir (sonic-boom's `mkdir: true`) never returns where a folder cannot be made in a
 * parent that exists with ENOENT (`/proc/nonexistent`): it tries the parent again, finds it, and
 * loops, one thread of libuv's pool at 100 % — the app ran with no log line and no error at all.
 */
async function makeFolder(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let folder = dir; !(await exists(folder)) && dirname(folder) !== folder; folder = dirname(folder)) missing.unshift(folder);
  for (const folder of missing) {
    try {
      await mkdir(folder);
    } catch (error) {
      // Another process (or a second logger) made it meanwhile.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * `error` reworded when the log's folder `dir` could not be made, or take a new file: on a read-only
 * root file system Node's recursive mkdir says ENOENT for the folder asked for (`ENOENT: no such
 * file or directory, mkdir '/var/log/livecomponents'`), which reads as a typo. Now it names the
 * variable, the folder that refuses, why, and what to change, as `doctor --connect`'s log-file
 * check does. A file that refuses in a folder that does not keeps Node's words, which name the
 * file. Starting anyway and trying again later is by design (file.ts): only the words change.
 */
function folderRefused(dir: string, error: Error): Error {
  const { code, syscall } = error as NodeJS.ErrnoException;
  let refused: string | undefined;
  if (syscall === 'mkdir') refused = writeRefusal(dir, error);
  else if (syscall === 'open' && (code === 'EACCES' || code === 'EPERM' || code === 'EROFS')) refused = refusingFolder(dir);
  if (refused === undefined) return error;
  return new Error(`LOG_DESTINATION: ${refused}, so log lines are lost until that is fixed (the app tries again); ${FOLDER_FIX}`, { cause: error });
}

/** What to change when the log's folder refuses. */
const FOLDER_FIX = "make it writable for the app's user, point LOG_DESTINATION at a writable folder (a mounted volume on a read-only root), or log to stdout";

/** `10m` → bytes, as pino-roll read it (k, m, g; a bare number is megabytes). */
export function parseSize(size: string): number {
  const match = /^(\d+(?:\.\d+)?)([kmg]?)$/i.exec(size);
  if (!match) return Number.NaN;
  const unit = (match[2] ?? '').toLowerCase();
  return Number(match[1]) * (unit === 'g' ? 1024 ** 3 : unit === 'k' ? 1024 : 1024 ** 2);
}
