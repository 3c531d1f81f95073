import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CHECK_NAMES } from '../ops/config-rules.js';
import { loadConfig } from '../ops/config.js';
import { MIGRATIONS } from '../sql/index.js';
import { main, usage, type CliIo } from './index.js';

const dir = mkdtempSync(join(tmpdir(), 'lc-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the CLI in-process, capturing its output. */
async function run(argv: string[], env: Record<string, string> = {}, extra: Partial<CliIo> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { env, out: (l) => out.push(l), err: (l) => err.push(l), ...extra });
  return { code, out, err };
}

const b64 = (): string => randomBytes(32).toString('base64');
const PRODUCTION = {
  NODE_ENV: 'production',
  LC_STATE_KEYS: b64(),
  LC_SESSION_SECRET: b64(),
  APP_URL: 'https://app.example.com',
  METRICS_TOKEN: b64(),
};

describe('livecomponents doctor', () => {
  it('exits 0 with one ok line per check on a good production environment', async () => {
    const { code, out, err } = await run(['doctor'], PRODUCTION);
    expect([code, out.length, err]).toEqual([0, CHECK_NAMES.length, []]);
    expect(out.every((line) => line.startsWith('ok  '))).toBe(true);
  });

  it('exits 1 and prints FAIL lines on a bad one', async () => {
    const { code, out } = await run(['doctor'], { ...PRODUCTION, METRICS_TOKEN: '', APP_URL: 'http://app.example.com' });
    expect(code).toBe(1);
    expect(out.filter((line) => line.startsWith('FAIL '))).toEqual([
      'FAIL https: APP_URL must start with https:// in production',
      'FAIL cookies: APP_URL is not https, so cookies could not be Secure (the session cookie needs its __Host- prefix)',
      'FAIL metrics: METRICS_TOKEN and METRICS_PORT are both unset: /metrics would be open to anyone (its counters tell the traffic and failures of every route, sign-in failures and the other security events); set one of them',
    ]);
  });

  it('checks a development environment as production with --production', async () => {
    expect((await run(['doctor'])).code).toBe(0);
    const { code, out } = await run(['doctor', '--production']);
    expect(code).toBe(1);
    expect(out.filter((line) => line.startsWith('FAIL ')).map((line) => line.split(':')[0])).toEqual([
      'FAIL keys',
      'FAIL secrets',
      'FAIL https',
      'FAIL metrics',
    ]);
  });

  it('prints the report as JSON with --json', async () => {
    const { code, out } = await run(['doctor', '--json'], { ...PRODUCTION, LC_SESSION_SECRET: 'x'.repeat(40) });
    expect(code).toBe(1);
    expect(out).toHaveLength(1);
    const report = JSON.parse(out[0] as string) as { ok: boolean; production: boolean; checks: { name: string; ok: boolean; problems: string[] }[] };
    expect([report.ok, report.production]).toEqual([false, true]);
    expect(report.checks.map((c) => c.name)).toEqual([...CHECK_NAMES]);
    expect(report.checks.filter((c) => !c.ok)).toEqual([
      expect.objectContaining({ name: 'secrets', problems: ['LC_SESSION_SECRET is weak (one value repeated); `npx livecomponents keygen` prints one'] }),
    ]);
  });
});

describe('livecomponents keygen', () => {
  const pattern = /^(LC_STATE_KEYS|LC_SESSION_SECRET)=([A-Za-z0-9+/]{43}=)$/;

  it('prints a state key and a session secret, each the base64 of 32 random bytes', async () => {
    const { code, out, err } = await run(['keygen']);
    expect([code, out.length, err]).toEqual([0, 2, []]);
    expect(out.map((line) => pattern.exec(line)?.[1])).toEqual(['LC_STATE_KEYS', 'LC_SESSION_SECRET']);
    for (const line of out) expect(Buffer.from(pattern.exec(line)?.[2] as string, 'base64')).toHaveLength(32);
  });

  it('prints different values on each run, which production accepts', async () => {
    const first = (await run(['keygen'])).out;
    const second = (await run(['keygen'])).out;
    expect(new Set([...first, ...second]).size).toBe(4);
    const env = Object.fromEntries(first.map((line) => line.split(/=(.*)/s).slice(0, 2)));
    expect(loadConfig({ ...env, NODE_ENV: 'production', APP_URL: 'https://app.example.com' }).production).toBe(true);
  });

  it('--rotate puts a new key in front of the current ones', async () => {
    const current = [b64(), b64()];
    const { code, out, err } = await run(['keygen', '--rotate'], { LC_STATE_KEYS: ` ${current[0]} , ${current[1]}` });
    expect([code, out.length, err]).toEqual([0, 1, []]);
    const keys = (out[0] as string).replace(/^LC_STATE_KEYS=/, '').split(',');
    expect(keys.slice(1)).toEqual(current);
    expect(keys).toHaveLength(3);
    expect(Buffer.from(keys[0] as string, 'base64')).toHaveLength(32);
    expect(current).not.toContain(keys[0]);
  });

  it('--rotate reminds to retire old keys past three', async () => {
    const { code, out, err } = await run(['keygen', '--rotate'], { LC_STATE_KEYS: [b64(), b64(), b64()].join(',') });
    expect([code, out.length]).toEqual([0, 1]);
    expect(err).toEqual(['keygen --rotate: LC_STATE_KEYS now holds 4 keys; drop the oldest once the state it sealed has expired']);
  });

  it('--rotate refuses a missing or invalid current value, exit 1, without printing a key', async () => {
    expect(await run(['keygen', '--rotate'])).toEqual({
      code: 1,
      out: [],
      err: ['keygen --rotate: LC_STATE_KEYS is not set, so there is nothing to rotate; run `keygen` without --rotate'],
    });
    const key = b64();
    expect(await run(['keygen', '--rotate'], { LC_STATE_KEYS: `${key},${key}` })).toEqual({
      code: 1,
      out: [],
      err: [expect.stringMatching(/^keygen --rotate: state keys at index 0 and 1 have the same key id [0-9a-f]{8} \(the same key twice\?\)$/)],
    });
  });
});

describe('livecomponents usage', () => {
  it('answers an unknown command with the usage text and exit 2', async () => {
    const { code, out, err } = await run(['deploy']);
    expect([code, out]).toEqual([2, []]);
    expect(err).toEqual(['livecomponents: unknown command "deploy"', ...usage()]);
  });

  it('answers no command with exit 2 and an unknown option with the command usage and exit 2', async () => {
    expect((await run([])).code).toBe(2);
    expect(await run(['doctor', '--fast'])).toEqual({
      code: 2,
      out: [],
      err: [expect.stringMatching(/^livecomponents doctor: Unknown option '--fast'/), 'usage: livecomponents doctor [--production] [--connect] [--json]'],
    });
    expect((await run(['keygen', 'extra'])).code).toBe(2);
  });

  it('refuses an option that takes a value given twice (parseArgs kept the last: --user a --user b signed out b alone), exit 2, nothing run', async () => {
    for (const args of [['revoke-sessions', '--user', 'a@example.com', '--user', 'b@example.com'], ['revoke-sessions', '--user=a@example.com', '--all', '--user', 'a@example.com'], ['move-data', '--to-database', 'postgres://a/x', '--to-database=postgres://b/y']]) {
      const { code, out, err } = await run(args);
      expect([code, out], args.join(' ')).toEqual([2, []]);
      expect(err[0]).toMatch(new RegExp(`^livecomponents ${args[0]}: --(user|to-database) is given more than once; it takes one value`));
      expect(err[1]).toMatch(/^usage: livecomponents /);
    }
  });

  it('prints help with exit 0, for the whole command and for one', async () => {
    const { code, out } = await run(['help']);
    expect([code, out]).toEqual([0, usage()]);
    expect(out.slice(3).map((line) => line.trim().split(' ')[0])).toEqual(['serve', 'doctor', 'keygen', 'migrate', 'move-data', 'revoke-sessions', 'tokens:cleanup', 'help']);
    expect(await run(['keygen', '--help'])).toEqual({
      code: 0,
      out: [
        'usage: livecomponents keygen [--rotate] [--rotate-session-secret]',
        '  print new LC_STATE_KEYS and LC_SESSION_SECRET (--rotate: a new key before the current ones; --rotate-session-secret: a new LC_SESSION_SECRET, the current one in LC_SESSION_SECRET_FALLBACKS)',
      ],
      err: [],
    });
  });
});

describe('livecomponents move-data: usage', () => {
  it('exits 2 with nothing to move to, a target that is not PostgreSQL, or a source that is not a file; touching nothing', async () => {
    expect(await run(['move-data'])).toEqual({
      code: 2,
      out: [],
      err: ['move-data: nothing to move to: give --to-database postgres://… and/or --to-redis redis://… (or set DATABASE_URL to a postgres:// URL, REDIS_URL)'],
    });
    // DATABASE_URL naming the SQLite file itself is no target.
    expect((await run(['move-data'], { DATABASE_URL: 'sqlite:./data/livecomponents.db' })).code).toBe(2);
    const sqliteTarget = await run(['move-data', '--to-database', 'sqlite:./other.db']);
    expect([sqliteTarget.code, sqliteTarget.err]).toEqual([2, ['move-data: --to-database must be a postgres:// URL (to move a SQLite file elsewhere, copy the file while the app is stopped)']]);
    const memory = await run(['move-data', '--from', 'sqlite::memory:', '--to-redis', 'redis://127.0.0.1:1']);
    expect([memory.code, memory.err]).toEqual([2, ['move-data: --from must name a SQLite file (sqlite:PATH)']]);
    const missing = await run(['move-data', '--from', 'sqlite:/nonexistent/lc-move/app.db', '--to-redis', 'redis://127.0.0.1:1']);
    expect(missing.code).toBe(1);
    expect(missing.err[0]).toMatch(/^move-data: cannot open \/nonexistent\/lc-move\/app\.db: /);
  });
});

describe('livecomponents serve, migrate, tokens:cleanup', () => {
  it('serve starts the app it is given', async () => {
    let started = 0;
    const { code } = await run(['serve'], {}, { serve: async () => void started++ });
    expect([code, started]).toEqual([0, 1]);
  });

  it('migrate delegates to the SQL layer', async () => {
    const { code, out, err } = await run(['migrate'], { DATABASE_URL: `sqlite:${join(dir, 'app.db')}` });
    expect([code, err]).toEqual([0, []]);
    expect(out).toEqual(Object.keys(MIGRATIONS).map((name) => `migrate: applied ${name}`));
  });

  it('tokens:cleanup delegates to the auth module with the environment', async () => {
    const seen: unknown[] = [];
    const module = { cleanupTokensCommand: async (env: unknown) => (seen.push(env), 0) };
    const env = { DATABASE_URL: 'sqlite::memory:' };
    expect(await run(['tokens:cleanup'], env, { loadTokensCleanup: async () => module })).toEqual({ code: 0, out: [], err: [] });
    expect(seen).toEqual([env]);
  });

  it('tokens:cleanup exits 2 when the auth module is not there, and 1 when it is broken', async () => {
    const missing = Object.assign(new Error("Cannot find module '/app/dist/src/auth/cleanup.js' imported from /app/dist/src/cli/index.js"), {
      code: 'ERR_MODULE_NOT_FOUND',
    });
    expect(await run(['tokens:cleanup'], {}, { loadTokensCleanup: () => Promise.reject(missing) })).toEqual({
      code: 2,
      out: [],
      err: ['livecomponents tokens:cleanup: not available in this build (the auth module with cleanupTokensCommand is missing)'],
    });
    const broken = Object.assign(new Error("Cannot find package 'nodemailer' imported from /app/dist/src/auth/cleanup.js"), {
      code: 'ERR_MODULE_NOT_FOUND',
    });
    expect(await run(['tokens:cleanup'], {}, { loadTokensCleanup: () => Promise.reject(broken) })).toEqual({
      code: 1,
      out: [],
      err: ["livecomponents tokens:cleanup: Cannot find package 'nodemailer' imported from /app/dist/src/auth/cleanup.js"],
    });
  });
});

describe('livecomponents: output that cannot be written', () => {
  const ROOT = join(import.meta.dirname, '../..');
  /** As bin/livecomponents.js runs it, from the sources: stdout is `stdout`. */
  const cli = (args: string[]) => ({
    command: process.execPath,
    args: ['--import', 'tsx', '--input-type=module', '-e', "import { main } from './src/cli/index.ts'; process.exitCode = await main(process.argv.slice(1));", ...args],
    options: { cwd: ROOT, env: { PATH: process.env.PATH, ...PRODUCTION }, encoding: 'utf8' as const, timeout: 30_000 },
  });

  it.each(['keygen', 'doctor --json'])('%s > /dev/full exits 1 with one line on stderr', { timeout: 60_000 }, (line) => {
    const full = openSync('/dev/full', 'w');
    try {
      const { command, args: argv, options } = cli(line.split(' '));
      const r = spawnSync(command, argv, { ...options, stdio: ['ignore', full, 'pipe'] });
      expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 1, stderr: 'livecomponents: cannot write the output (ENOSPC: no space left on device, write)\n' });
    } finally {
      closeSync(full);
    }
  });

  it('a reader that stopped reading (| head) is no error: no message, no crash', { timeout: 60_000 }, async () => {
    const { command, args, options } = cli(['doctor', '--json']);
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy(); // closed before the CLI writes: its writes fail with EPIPE
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const status = await new Promise((resolve) => child.once('close', resolve));
    expect({ status, stderr }).toEqual({ status: 0, stderr: '' });
  });
});
