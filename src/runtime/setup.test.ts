import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { defineComponent } from '../core/component.js';
import { html } from '../core/html.js';
import { createMemoryStore } from '../store/memory/index.js';
import { readDevStateKeys } from '../pipeline/state/keyring.js';
import { createLiveComponents, loadSecrets } from './setup.js';

const counter = defineComponent({ name: 'counter', initialState: { n: 0 }, publicState: ['n'], actions: {}, render: (s) => html`${s.n}` });
const appOrigin = 'https://app.example.com';

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('createLiveComponents and the environment', () => {
  it('takes LC_STATE_KEYS and LC_SESSION_SECRET from the environment: two instances share tokens and state', async () => {
    vi.stubEnv('LC_STATE_KEYS', randomBytes(32).toString('base64'));
    vi.stubEnv('LC_SESSION_SECRET', randomBytes(32).toString('base64'));
    const store = createMemoryStore();
    // Each with a folder of its own, as on two machines: nothing generated may be shared.
    const [a, b] = await Promise.all(
      [1, 2].map(() => createLiveComponents({ components: [counter], store, appOrigin, dataDir: mkdtempSync(join(tmpdir(), 'lc-setup-')), warn: () => expect.fail('no key may be generated') })),
    );
    const session = await a!.sessions.create();
    await a!.mount(session, 'counter:main', { n: 7 });
    expect(await b!.states.load(session, 'counter:main')).toMatchObject({ type: 'found', state: { n: 7 } });
    expect(await b!.csrf.verify(session, await a!.csrf.issue(session))).toBe(true);
  });

  it('options win over the environment', async () => {
    vi.stubEnv('LC_STATE_KEYS', 'not a key ring');
    const runtime = await createLiveComponents({ components: [counter], appOrigin, stateKeys: randomBytes(32).toString('base64'), sessionSecret: randomBytes(32).toString('base64') });
    expect(runtime.registry.get('counter')).toBeDefined();
  });

  it('NODE_ENV=production without keys refuses to start, naming what is missing', async () => {
    vi.stubEnv('NODE_ENV', 'production');
    vi.stubEnv('LC_STATE_KEYS', '');
    await expect(createLiveComponents({ components: [counter], appOrigin })).rejects.toThrow('LC_STATE_KEYS is required in production (or the stateKeys option)');
    vi.stubEnv('LC_STATE_KEYS', randomBytes(32).toString('base64'));
    vi.stubEnv('LC_SESSION_SECRET', '');
    await expect(createLiveComponents({ components: [counter], appOrigin })).rejects.toThrow('LC_SESSION_SECRET is required in production');
  });

  it('refuses to start without appOrigin', async () => {
    await expect(createLiveComponents({ components: [counter] } as never)).rejects.toThrow(/appOrigin is required/);
  });

  it('a development key file that holds no key stops start-up in the words of doctor --connect, which reads it with the same reader', async () => {
    vi.stubEnv('LC_STATE_KEYS', '');
    const dataDir = mkdtempSync(join(tmpdir(), 'lc-setup-'));
    mkdirSync(join(dataDir, 'state-keys'));
    writeFileSync(join(dataDir, 'state-keys', 'LC_STATE_KEYS'), 'garbage\n', { mode: 0o600 });
    const sentence = `LC_STATE_KEYS is not set and the development file ${dataDir}/state-keys/LC_STATE_KEYS holds no usable key (entry at index 0 decodes to 5 bytes; a key must be exactly 32 (for example \`openssl rand -base64 32\`)), so start-up cannot use it: fix or delete the file (start-up then generates a new one), or set LC_STATE_KEYS (\`npx livecomponents keygen\` prints one)`;
    await expect(createLiveComponents({ components: [counter], appOrigin, sessionSecret: randomBytes(32).toString('base64'), dataDir, warn: () => {} })).rejects.toThrow(new Error(sentence));
    expect(() => readDevStateKeys(join(dataDir, 'state-keys', 'LC_STATE_KEYS'))).toThrow(new Error(sentence));
  });

  it('loadSecrets: the development keys and secret as createLiveComponents takes them, generated once, before anything else is made', async () => {
    vi.stubEnv('LC_STATE_KEYS', '');
    vi.stubEnv('LC_SESSION_SECRET', '');
    const dataDir = mkdtempSync(join(tmpdir(), 'lc-setup-'));
    const warnings: string[] = [];
    const secrets = loadSecrets({ dataDir, warn: (m) => warnings.push(m) });
    expect(warnings.map((w) => w.slice(0, w.indexOf(':')))).toEqual(['LC_STATE_KEYS is not set', 'LC_SESSION_SECRET is not set']);
    const store = createMemoryStore();
    const given = await createLiveComponents({ components: [counter], store, appOrigin, ...secrets, warn: () => expect.fail('read from the files again') });
    const fromFiles = await createLiveComponents({ components: [counter], store, appOrigin, dataDir, warn: () => {} });
    const session = await given.sessions.create();
    await given.mount(session, 'counter:main', { n: 3 });
    expect(await fromFiles.states.load(session, 'counter:main')).toMatchObject({ type: 'found', state: { n: 3 } });
    expect(await fromFiles.csrf.verify(session, await given.csrf.issue(session))).toBe(true);
  });
});
