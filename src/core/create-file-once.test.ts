/**
 * createFileOnce's temporary files: a process killed between writing `<file>.<pid>.<hex>.tmp` (mode
 * 0600, key material) and unlinking it left it for good. The next call removes those of processes
 * that no longer run, and never another running process's, which may be about to link it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createFileOnce, TEMP_FILE_GRACE_MS } from './create-file-once.js';
import { DEV_KEYS_FILE } from '../pipeline/state/keyring.js';
import { loadSecrets } from '../runtime/setup.js';

const dir = mkdtempSync(join(tmpdir(), 'lc-create-once-'));
const children: ReturnType<typeof spawn>[] = [];
afterAll(() => {
  for (const child of children) child.kill();
  rmSync(dir, { recursive: true, force: true });
});

/** Writes a leftover as a process that ended a while ago did: older than the grace. */
function leftover(path: string, text = 'left behind'): void {
  writeFileSync(path, text, { mode: 0o600 });
  const then = new Date(Date.now() - 10 * TEMP_FILE_GRACE_MS);
  utimesSync(path, then, then);
}

/** The pid of a process that has run and exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '']);
  expect(child.status).toBe(0);
  return child.pid;
}

/** The pid of a child that runs until the tests end. */
async function livePid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], { stdio: 'ignore' });
  children.push(child);
  await new Promise((resolve, reject) => child.once('spawn', resolve).once('error', reject));
  return child.pid as number;
}

describe('createFileOnce', () => {
  it("removes the temporary files of its file that exited processes left, and keeps running processes' and other files'", async () => {
    const file = join(dir, 'session-secret');
    const dead = `session-secret.${deadPid()}.0123456789ab.tmp`;
    const live = `session-secret.${await livePid()}.abcdef012345.tmp`;
    const own = `session-secret.${process.pid}.a1b2c3d4e5f6.tmp`;
    const other = `other-secret.${deadPid()}.0123456789ab.tmp`;
    for (const name of [dead, live, own, other]) leftover(join(dir, name));

    expect(createFileOnce(file, 'the secret')).toBe(true);
    expect(readFileSync(file, 'utf8')).toBe('the secret');
    expect(readdirSync(dir).sort()).toEqual([other, 'session-secret', live, own].sort());
  });

  it('sweeps also when another process created the file first', () => {
    const file = join(dir, 'keys');
    writeFileSync(file, 'theirs');
    const dead = `keys.${deadPid()}.fedcba987654.tmp`;
    leftover(join(dir, dead));
    expect(createFileOnce(file, 'mine')).toBe(false);
    expect(readFileSync(file, 'utf8')).toBe('theirs');
    expect(readdirSync(dir)).not.toContain(dead);
  });

  it("leaves a fresh temporary file of a pid not running here: another PID namespace's process (a container on the same volume) is about to link it", () => {
    const sub = mkdtempSync(join(dir, 'ns-'));
    const file = join(sub, 'LC_STATE_KEYS');
    // Just written by a process whose pid this one cannot see; its next step is linkSync(temp, file).
    const theirs = join(sub, `LC_STATE_KEYS.${deadPid()}.0123456789ab.tmp`);
    writeFileSync(theirs, 'their key', { mode: 0o600 });
    writeFileSync(file, 'first');
    expect(createFileOnce(file, 'mine')).toBe(false);
    // Removed, their link failed with ENOENT and stopped their start-up.
    expect(readdirSync(sub).sort()).toEqual(['LC_STATE_KEYS', basename(theirs)].sort());
  });
});

describe('the development secrets sweep on every start', () => {
  // A process killed after its link left its temporary file beside a file that exists; one killed
  // before it, restarted within the grace, created the file and skipped the young leftover. Sweeping
  // only when creating, no later start removed either.
  it('removes an old leftover of an exited process though the key file and the secret file exist', () => {
    const dataDir = mkdtempSync(join(dir, 'data-'));
    const env = { keys: process.env.LC_STATE_KEYS, secret: process.env.LC_SESSION_SECRET };
    delete process.env.LC_STATE_KEYS;
    delete process.env.LC_SESSION_SECRET;
    try {
      const first = loadSecrets({ dataDir, production: false, warn: () => {} });
      const keyLeftover = join(dataDir, 'state-keys', `${DEV_KEYS_FILE}.${deadPid()}.0123456789ab.tmp`);
      const secretLeftover = join(dataDir, `session-secret.${deadPid()}.0123456789ab.tmp`);
      leftover(keyLeftover);
      leftover(secretLeftover);
      expect(loadSecrets({ dataDir, production: false, warn: () => {} })).toEqual(first);
      expect(readdirSync(join(dataDir, 'state-keys'))).toEqual([DEV_KEYS_FILE]);
      expect(readdirSync(dataDir).sort()).toEqual(['session-secret', 'state-keys']);
    } finally {
      if (env.keys !== undefined) process.env.LC_STATE_KEYS = env.keys;
      if (env.secret !== undefined) process.env.LC_SESSION_SECRET = env.secret;
    }
  });
});
