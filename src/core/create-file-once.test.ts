/**
 * createFileOnce's temporary files: a process killed between writing `<file>.<pid>.<hex>.tmp` (mode
 * 0600, key material) and unlinking it left it for good. The next call removes those of processes
 * that no longer run, and never another running process's, which may be about to link it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createFileOnce } from './create-file-once.js';

const dir = mkdtempSync(join(tmpdir(), 'lc-create-once-'));
const children: ReturnType<typeof spawn>[] = [];
afterAll(() => {
  for (const child of children) child.kill();
  rmSync(dir, { recursive: true, force: true });
});

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
    for (const name of [dead, live, own, other]) writeFileSync(join(dir, name), 'left behind', { mode: 0o600 });

    expect(createFileOnce(file, 'the secret')).toBe(true);
    expect(readFileSync(file, 'utf8')).toBe('the secret');
    expect(readdirSync(dir).sort()).toEqual([other, 'session-secret', live, own].sort());
  });

  it('sweeps also when another process created the file first', () => {
    const file = join(dir, 'keys');
    writeFileSync(file, 'theirs');
    const dead = `keys.${deadPid()}.fedcba987654.tmp`;
    writeFileSync(join(dir, dead), 'left behind');
    expect(createFileOnce(file, 'mine')).toBe(false);
    expect(readFileSync(file, 'utf8')).toBe('theirs');
    expect(readdirSync(dir)).not.toContain(dead);
  });
});
