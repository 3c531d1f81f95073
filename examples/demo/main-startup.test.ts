/**
 * Start-up of the reference app (main.ts, run from the sources) against what `livecomponents doctor`
 * says of the same environment:
 * - a HOST start-up cannot listen on ended it with Node's error and stack (`listen EADDRNOTAVAIL:
 *   address not available 192.0.2.1:3000`), naming no variable; it is now one line naming HOST, in
 *   the words of `doctor --connect`'s `listen` check;
 * - a check the doctor fails without it stopping a start (`metrics`, `logging`, `redis`…) was not
 *   said at all by start-up: it is now a warning in the doctor's words.
 */
import { spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { chmodSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createDatabase } from '../../src/sql/database.js';
import { migrateToLatest } from '../../src/sql/migrate.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** tsx by path: the app runs in a folder of its own, outside the checkout's node_modules. */
const TSX = pathToFileURL(join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
const KEY = Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 37 + 11) % 256)).toString('base64');
const SECRET = Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 53 + 7) % 256)).toString('base64');
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

interface LogLine {
  level: number;
  msg: string;
  check?: string;
  err?: unknown;
}

/**
 * Runs main.ts with `env` (JSON logs, a fresh working directory) until it exits, or until it listens,
 * then stops it with SIGTERM. Resolves with the exit code and the log lines before shutdown began.
 */
function start(env: Record<string, string>): Promise<{ code: number | null; listened: boolean; lines: LogLine[]; text: string }> {
  const cwd = mkdtempSync(join(tmpdir(), 'lc-main-startup-'));
  dirs.push(cwd);
  const child = spawn(process.execPath, ['--import', TSX, join(ROOT, 'examples/demo/main.ts')], {
    cwd,
    env: { PATH: process.env.PATH ?? '', PORT: '0', LOG_FORMAT: 'json', LC_STATE_KEYS: KEY, LC_SESSION_SECRET: SECRET, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  let listened = false;
  const onData = (chunk: Buffer) => {
    text += chunk.toString();
    // The app's own listener, not the separate metrics server's (METRICS_PORT), which listens first.
    if (!listened && text.split('\n').some((l) => l.includes('Server listening at') && !l.includes('"server":"metrics"'))) {
      listened = true;
      child.kill('SIGTERM');
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  return new Promise((resolve) => {
    child.on('close', (code) => {
      const all = text.split('\n');
      const end = all.findIndex((l) => l.includes('shutdown: readiness is now 503'));
      const lines = all.slice(0, end === -1 ? undefined : end).flatMap((l) => (l.startsWith('{') ? [JSON.parse(l) as LogLine] : []));
      resolve({ code, listened, lines, text });
    });
  });
}

/** A port free now (listened on, then closed), for a start-up whose address is http://HOST:PORT. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('reference app start-up', () => {
  it('once listening, names the address to open: the app\'s origin, http://HOST:PORT without APP_URL (was: Fastify\'s bind address only)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lc-main-startup-open-'));
    dirs.push(dir);
    const port = await freePort();
    const run = await start({ HOST: '0.0.0.0', PORT: String(port), DATABASE_URL: `sqlite:${join(dir, 'app.db')}` });
    expect(run.listened, run.text).toBe(true);
    expect(run.lines.filter((l) => l.msg.startsWith('open ')).map((l) => [l.level, l.msg])).toEqual([[30, `open http://localhost:${port}`]]);
  }, 60_000);

  it('a HOST it cannot listen on: exit 1 with one line naming HOST, no stack', async () => {
    // 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never an address of this machine.
    const dir = mkdtempSync(join(tmpdir(), 'lc-main-startup-host-'));
    dirs.push(dir);
    const run = await start({ HOST: '192.0.2.1', DATABASE_URL: `sqlite:${join(dir, 'app.db')}` });
    expect([run.code, run.listened]).toEqual([1, false]);
    const fatal = run.lines.filter((l) => l.level === 60);
    expect(fatal).toEqual([
      expect.objectContaining({
        msg: 'start-up failed: HOST=192.0.2.1 is not an address of this machine (EADDRNOTAVAIL): set HOST to an address of this machine (127.0.0.1, or 0.0.0.0 for every interface) or a name that resolves to one',
      }),
    ]);
    expect(fatal[0]?.err).toBeUndefined();
    expect(run.text).not.toMatch(/\n\s+at /);
    // The database it had opened and migrated is closed, not left with its WAL files (they were).
    expect(readdirSync(dir).sort()).toEqual(['app.db']);
  }, 60_000);

  it('another failure: the fatal line itself says why (it said only "start-up failed")', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lc-main-startup-db-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'app.db'), 'not a database '.repeat(100));
    const run = await start({ DATABASE_URL: `sqlite:${join(dir, 'app.db')}` });
    expect([run.code, run.listened]).toEqual([1, false]);
    expect(run.lines.filter((l) => l.level === 60).map((l) => l.msg)).toEqual([
      `start-up failed: DATABASE_URL: SQLite: cannot open ${join(dir, 'app.db')} (file is not a database): it is not an SQLite database; name the app's database file, or a new file to create`,
    ]);
  }, 60_000);

  it('a file the doctor --connect fails (a database file other users may read, in production) is logged as a warning, in its words', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lc-main-startup-mode-'));
    dirs.push(dir);
    const file = join(dir, 'app.db');
    const db = createDatabase(`sqlite:${file}`);
    await migrateToLatest(db);
    await db.destroy();
    chmodSync(file, 0o644);
    const run = await start({ NODE_ENV: 'production', APP_URL: 'https://app.example.com', METRICS_PORT: '0', DATABASE_URL: `sqlite:${file}` });
    expect(run.listened, run.text).toBe(true);
    const warnings = run.lines.filter((l) => l.level === 40 && l.check === 'database-files').map((l) => l.msg);
    expect(warnings).toEqual([expect.stringMatching(new RegExp(`^files: DATABASE_URL: ${file}(-wal|-shm)? \\(mode 0644\\).* can be read by other local users, .*\\(doctor: FAIL database-files\\)$`))]);
  }, 60_000);

  it('a check the doctor fails but that does not stop a start is logged as a warning, in the doctor\'s words', async () => {
    const run = await start({ NODE_ENV: 'production', APP_URL: 'https://app.example.com', LOG_LEVEL: 'debug' });
    expect(run.listened, run.text).toBe(true);
    // Once listening: the address to open, APP_URL's origin (Fastify's line names the address bound).
    expect(run.lines.filter((l) => l.msg.startsWith('open ')).map((l) => [l.level, l.msg])).toEqual([[30, 'open https://app.example.com']]);
    const warnings = run.lines.filter((l) => l.level === 40 && l.check !== undefined).map((l) => `${l.check}: ${l.msg}`);
    expect(warnings).toEqual([
      'metrics: configuration: METRICS_TOKEN and METRICS_PORT are both unset: /metrics would be open to anyone (its counters tell the traffic and failures of every route, sign-in failures and the other security events); set one of them (doctor: FAIL metrics)',
      'redaction: configuration: LOG_LEVEL=debug in production: use info or higher so request details stay out of the logs (doctor: FAIL redaction)',
    ]);
  }, 60_000);
});
