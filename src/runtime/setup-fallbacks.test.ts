/**
 * `sessionSecretFallbacks` / `LC_SESSION_SECRET_FALLBACKS` at start-up: read like the secret (the
 * option, else the variable), refused when one is the secret itself (in either spelling: base64 or
 * its text), repeats another, or is short; passed on by `loadSecrets`.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { defineComponent } from '../core/component.js';
import { html } from '../core/html.js';
import { createMemoryStore } from '../store/memory/index.js';
import { createLiveComponents, loadSecrets } from './setup.js';

const counter = defineComponent({ name: 'counter', initialState: { n: 0 }, publicState: ['n'], actions: {}, render: (s) => html`${s.n}` });
const appOrigin = 'https://app.example.com';
const b64 = (): string => randomBytes(32).toString('base64');

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('session secret fallbacks at start-up', () => {
  it('LC_SESSION_SECRET_FALLBACKS: tokens of the old secret verify on the rotated instance, never the other way round', async () => {
    const [stateKeys, oldSecret, newSecret] = [b64(), b64(), b64()];
    vi.stubEnv('LC_SESSION_SECRET_FALLBACKS', ` ${oldSecret} `);
    const store = createMemoryStore();
    const rotated = await createLiveComponents({ components: [counter], store, appOrigin, stateKeys, sessionSecret: newSecret });
    vi.stubEnv('LC_SESSION_SECRET_FALLBACKS', '');
    const old = await createLiveComponents({ components: [counter], store, appOrigin, stateKeys, sessionSecret: oldSecret });
    const session = await old.sessions.create();
    expect(await rotated.csrf.verify(session, await old.csrf.issue(session))).toBe(true);
    expect(await old.csrf.verify(session, await rotated.csrf.issue(session))).toBe(false);
  });

  it('the option wins over the variable; loadSecrets hands the list on as base64', async () => {
    const [secret, fromOption, fromEnv] = [b64(), b64(), b64()];
    vi.stubEnv('LC_SESSION_SECRET_FALLBACKS', fromEnv);
    expect(loadSecrets({ stateKeys: b64(), sessionSecret: secret, sessionSecretFallbacks: [fromOption] }).sessionSecretFallbacks).toEqual([fromOption]);
    expect(loadSecrets({ stateKeys: b64(), sessionSecret: secret }).sessionSecretFallbacks).toEqual([fromEnv]);
    const text = 'an old text secret, comma and all, of 32+ bytes';
    expect(loadSecrets({ stateKeys: b64(), sessionSecret: secret, sessionSecretFallbacks: [text] }).sessionSecretFallbacks).toEqual([Buffer.from(text).toString('base64')]);
    vi.stubEnv('LC_SESSION_SECRET_FALLBACKS', '');
    expect(loadSecrets({ stateKeys: b64(), sessionSecret: secret }).sessionSecretFallbacks).toEqual([]);
  });

  it('refuses to start with a fallback equal to the current secret (also spelt as its base64), repeated, empty or short', async () => {
    const secret = b64();
    const text = 'the current secret as plain text, 32 bytes or more';
    const start = (sessionSecret: string, fallbacks: string) => {
      vi.stubEnv('LC_SESSION_SECRET_FALLBACKS', fallbacks);
      return createLiveComponents({ components: [counter], appOrigin, stateKeys: b64(), sessionSecret });
    };
    const itself = 'is the current session secret (LC_SESSION_SECRET) itself; list only other secrets (the previous one, or the next one while it rolls out)';
    await expect(start(secret, secret)).rejects.toThrow(new Error(`LC_SESSION_SECRET_FALLBACKS: entry at index 0 ${itself}`));
    await expect(start(text, `${b64()},${Buffer.from(text).toString('base64')}`)).rejects.toThrow(new Error(`LC_SESSION_SECRET_FALLBACKS: entry at index 1 ${itself}`));
    const old = b64();
    await expect(start(secret, `${old},${old}`)).rejects.toThrow(new Error('LC_SESSION_SECRET_FALLBACKS: entry at index 1 repeats the entry at index 0'));
    await expect(start(secret, `${old},`)).rejects.toThrow(new TypeError('LC_SESSION_SECRET_FALLBACKS: entry at index 1 is empty (a stray comma?)'));
    await expect(start(secret, 'short')).rejects.toThrow(new TypeError('LC_SESSION_SECRET_FALLBACKS: entry at index 0 is shorter than 32 bytes'));
    vi.stubEnv('LC_SESSION_SECRET_FALLBACKS', '');
    await expect(createLiveComponents({ components: [counter], appOrigin, stateKeys: b64(), sessionSecret: secret, sessionSecretFallbacks: [secret] })).rejects.toThrow(
      new Error(`sessionSecretFallbacks: entry at index 0 ${itself}`),
    );
    await expect(createLiveComponents({ components: [counter], appOrigin, stateKeys: b64(), sessionSecret: secret, sessionSecretFallbacks: ['short'] })).rejects.toThrow(
      new TypeError('createLiveComponents: sessionSecretFallbacks[0] is shorter than 32 bytes'),
    );
  });
});
