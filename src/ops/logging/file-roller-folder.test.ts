/**
 * `LOG_DESTINATION=file:PATH` whose folder cannot be made: the app starts and tries again later (by
 * design, file.ts), and the one error it reports names the folder that refuses, why, and what to
 * change. Node said `ENOENT: no such file or directory, mkdir '/var/log/livecomponents'` on a
 * read-only root file system, which reads as a typo. The read-only case runs in a child process with
 * a folder mounted read-only (the tests run as root in CI: test/helpers/restricted.ts).
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readOnlyUnsupported, runRestricted, src } from '../../../test/helpers/restricted.js';
import { closeLogger, createLogger } from './index.js';

const dir = mkdtempSync(join(tmpdir(), 'lc-log-folder-'));
chmodSync(dir, 0o755);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const FIX = "so log lines are lost until that is fixed (the app tries again); make it writable for the app's user, point LOG_DESTINATION at a writable folder (a mounted volume on a read-only root), or log to stdout";

/** The errors a file logger reports for `path` within its first attempt, then closed. */
const FIRST_ERRORS = (path: string): string => `
const errors = [];
const logger = createLogger({ destination: ${JSON.stringify(`file:${path}`)}, file: { reopenMs: 60000 }, onError: (e) => errors.push(e.message) });
logger.info('one line');
for (let i = 0; i < 300 && errors.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
await closeLogger(logger);
`;

describe('a log file whose folder cannot be made', () => {
  it('under a file: names the file that is not a folder (was: ENOTDIR, mkdir)', async () => {
    writeFileSync(join(dir, 'plain'), '');
    const path = join(dir, 'plain', 'logs', 'app.log');
    const errors: string[] = [];
    const logger = createLogger({ destination: `file:${path}`, file: { reopenMs: 60_000 }, onError: (e) => errors.push(e.message) });
    logger.info('one line');
    for (let i = 0; i < 300 && errors.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    await closeLogger(logger);
    expect(errors[0]).toBe(`file ${path}: LOG_DESTINATION: ${dir}/plain/logs cannot be created: ${dir}/plain is not a folder, ${FIX}`);
  });

  it.skipIf(readOnlyUnsupported !== undefined)('on a read-only file system: names the folder that refuses and EROFS (was: ENOENT, mkdir)', () => {
    const volume = mkdtempSync(join(dir, 'ro-'));
    const path = join(volume, 'livecomponents', 'app.log');
    const run = runRestricted(
      `import { closeLogger, createLogger } from ${JSON.stringify(src('src/ops/logging/index.ts'))};
${FIRST_ERRORS(path)}
console.log(errors[0]);`,
      { readOnly: [volume] },
    );
    expect(run.stdout).toBe(`file ${path}: LOG_DESTINATION: ${volume}/livecomponents cannot be created: ${volume} is not writable (EROFS: read-only file system), ${FIX}`);
  });

  // In a child: on the old source Node's recursive mkdir never returned there, a thread of the pool
  // spinning, and the logger's close waited for it forever (spawnSync's timeout ends the child).
  it.skipIf(process.platform !== 'linux')('in a parent that takes no folders (/proc): reports it, naming LOG_DESTINATION (was: no report at all, a pool thread at 100 %)', () => {
    const path = '/proc/lc-no-such-folder/app.log';
    const run = runRestricted(
      `import { closeLogger, createLogger } from ${JSON.stringify(src('src/ops/logging/index.ts'))};
${FIRST_ERRORS(path)}
console.log(errors[0]);`,
      {},
    );
    expect(run.stdout).toMatch(new RegExp(`^file ${path}: LOG_DESTINATION: /proc/lc-no-such-folder cannot be created(: /proc is not writable)? \\((ENOENT|EACCES): [a-z ]+\\), `));
    expect(run.stdout.endsWith(FIX)).toBe(true);
  });
});

if (readOnlyUnsupported !== undefined) console.warn(`file-roller-folder.test.ts: SKIPPED the read-only file system case: ${readOnlyUnsupported}`);
