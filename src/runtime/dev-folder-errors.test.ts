/**
 * Development without LC_STATE_KEYS or LC_SESSION_SECRET writes them into `dataDir` (./data). When
 * that folder cannot be made or written — a read-only root file system, a volume owned by root —
 * start-up stops with the absolute folder that refuses, why, and the variable to set; Node's words
 * named a relative path and neither variable (ENOENT on a read-only root). The tests run as root in
 * CI: the cases run in a child process with a folder mounted read-only, or as nobody
 * (test/helpers/restricted.ts).
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nobodyUnsupported, outcomeRestricted, readOnlyUnsupported, type runRestricted, src } from '../../test/helpers/restricted.js';

const dir = mkdtempSync(join(tmpdir(), 'lc-dev-folder-'));
chmodSync(dir, 0o755);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const STATE_KEY = 'K34hh3bMFd8nLdtsI5Lft+zAeghYCToSRkqFW2OU8u8=';

/** A folder of its own under `dir`, that nobody may enter. */
function folder(prefix: string): string {
  const made = mkdtempSync(join(dir, prefix));
  chmodSync(made, 0o755);
  return made;
}

/** What start-up says, run in a restricted child: `started`, or the message it throws. */
function startIn(options: { dataDir?: string; stateKeys?: string }, restriction: Parameters<typeof runRestricted>[1]): string {
  return outcomeRestricted(
    `import { createLiveComponents } from ${JSON.stringify(src('src/runtime/setup.ts'))};
import { defineComponent } from ${JSON.stringify(src('src/core/component.ts'))};
import { html } from ${JSON.stringify(src('src/core/html.ts'))};
const counter = defineComponent({ name: 'counter', initialState: { n: 0 }, publicState: ['n'], actions: {}, render: (s) => html\`\${s.n}\` });`,
    `await createLiveComponents({ components: [counter], appOrigin: 'https://app.example.com', warn: () => {}, ...${JSON.stringify(options)} });`,
    'started',
    restriction,
  );
}

const KEYGEN = '(`npx livecomponents keygen` prints one) or make it writable for the app\'s user';

describe.skipIf(readOnlyUnsupported !== undefined)('development keys on a read-only file system', () => {
  it('no LC_STATE_KEYS, ./data to be made: the absolute folder, EROFS and LC_STATE_KEYS (was: ENOENT, mkdir \'data/state-keys\')', () => {
    const volume = folder('ro-');
    expect(startIn({}, { readOnly: [volume], cwd: volume })).toBe(
      `LC_STATE_KEYS is not set and ${volume}/data/state-keys cannot be created: ${volume} is not writable (EROFS: read-only file system), so the development state key cannot be written: set LC_STATE_KEYS ${KEYGEN}`,
    );
  });

  it('no LC_SESSION_SECRET: the same for the session secret', () => {
    const volume = folder('ro-');
    expect(startIn({ stateKeys: STATE_KEY }, { readOnly: [volume], cwd: volume })).toBe(
      `LC_SESSION_SECRET is not set and ${volume}/data cannot be created: ${volume} is not writable (EROFS: read-only file system), so the development session secret cannot be written: set LC_SESSION_SECRET ${KEYGEN}`,
    );
  });
});

describe.skipIf(nobodyUnsupported !== undefined)('development keys in a data folder this user may not write (a volume owned by root)', () => {
  it('no LC_STATE_KEYS: names the data folder and EACCES', () => {
    const dataDir = join(folder('data-'), 'data');
    mkdirSync(dataDir, { mode: 0o555 });
    expect(startIn({ dataDir }, { asNobody: true })).toBe(
      `LC_STATE_KEYS is not set and ${dataDir}/state-keys cannot be created: ${dataDir} is not writable (EACCES: permission denied), so the development state key cannot be written: set LC_STATE_KEYS ${KEYGEN}`,
    );
  });

  it('no LC_SESSION_SECRET: the folder exists, its file cannot be made', () => {
    const dataDir = join(folder('data-'), 'data');
    mkdirSync(dataDir, { mode: 0o555 });
    expect(startIn({ dataDir, stateKeys: STATE_KEY }, { asNobody: true })).toBe(
      `LC_SESSION_SECRET is not set and ${dataDir} is not writable (EACCES: permission denied), so the development session secret cannot be written: set LC_SESSION_SECRET ${KEYGEN}`,
    );
  });

  it('no LC_STATE_KEYS, a key file too open that this user does not own: says so, not "cannot be read (EPERM)" of a file it read', () => {
    const dataDir = join(folder('data-'), 'data');
    mkdirSync(join(dataDir, 'state-keys'), { recursive: true, mode: 0o755 });
    const file = join(dataDir, 'state-keys', 'LC_STATE_KEYS');
    writeFileSync(file, `${STATE_KEY}\n`);
    chmodSync(file, 0o644);
    expect(startIn({ dataDir }, { asNobody: true })).toBe(
      `LC_STATE_KEYS is not set and the development file ${file} is too open (mode 0644) and cannot be reset to 0600 (EPERM: operation not permitted), so start-up cannot use it: fix or delete the file (start-up then generates a new one), or set LC_STATE_KEYS (\`npx livecomponents keygen\` prints one)`,
    );
  });
});

if (readOnlyUnsupported !== undefined) console.warn(`dev-folder-errors.test.ts: SKIPPED the read-only file system cases: ${readOnlyUnsupported}`);
if (nobodyUnsupported !== undefined) console.warn(`dev-folder-errors.test.ts: SKIPPED the cases as nobody: ${nobodyUnsupported}`);
