/**
 * `livecomponents keygen --rotate-session-secret`: the final step of a session secret rotation, as
 * lines an env file takes, which start-up and the production doctor accept as they are.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../ops/config.js';
import { decodeSecret } from '../runtime/dev-files.js';
import { loadSecrets } from '../runtime/setup.js';
import { main } from './index.js';

const b64 = (): string => randomBytes(32).toString('base64');

async function run(argv: string[], env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { env, out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

/** `NAME=value` lines as an env file gives them to the app. */
const envOf = (lines: readonly string[]): Record<string, string> => Object.fromEntries(lines.map((line) => line.split(/=(.*)/s).slice(0, 2)));

const TWO_STEPS =
  'keygen --rotate-session-secret: with several instances, roll out in two steps (docs/deployment.md §9): first every instance keeps its LC_SESSION_SECRET and gets the new one in LC_SESSION_SECRET_FALLBACKS; then these lines';

describe('livecomponents keygen --rotate-session-secret', () => {
  it('prints a new secret and the current one as the first fallback; production start-up takes both lines', async () => {
    const current = b64();
    const { code, out, err } = await run(['keygen', '--rotate-session-secret'], { LC_SESSION_SECRET: ` ${current} ` });
    expect([code, out.length, err]).toEqual([0, 2, [TWO_STEPS]]);
    const env = envOf(out);
    expect(Object.keys(env)).toEqual(['LC_SESSION_SECRET', 'LC_SESSION_SECRET_FALLBACKS']);
    expect(env.LC_SESSION_SECRET_FALLBACKS).toBe(current);
    expect(decodeSecret(env.LC_SESSION_SECRET as string)).toHaveLength(32);
    expect(env.LC_SESSION_SECRET).not.toBe(current);
    // Nothing in the notes is a secret.
    expect(err.join('\n')).not.toContain(current);
    expect(err.join('\n')).not.toContain(env.LC_SESSION_SECRET);
    const config = loadConfig({ ...env, NODE_ENV: 'production', LC_STATE_KEYS: b64(), APP_URL: 'https://app.example.com' });
    expect(config.LC_SESSION_SECRET_FALLBACKS).toEqual([current]);
    const secrets = loadSecrets({ stateKeys: b64(), sessionSecret: config.LC_SESSION_SECRET, sessionSecretFallbacks: config.LC_SESSION_SECRET_FALLBACKS });
    expect(secrets.sessionSecretFallbacks).toEqual([current]);
  });

  it('keeps the fallbacks already listed after the current secret, and reminds to drop old ones past two', async () => {
    const [current, older, oldest] = [b64(), b64(), b64()];
    const { code, out, err } = await run(['keygen', '--rotate-session-secret'], { LC_SESSION_SECRET: current, LC_SESSION_SECRET_FALLBACKS: `${older} , ${oldest}` });
    expect([code, out.length]).toEqual([0, 2]);
    expect(envOf(out).LC_SESSION_SECRET_FALLBACKS).toBe([current, older, oldest].join(','));
    expect(err).toEqual([
      TWO_STEPS,
      'keygen --rotate-session-secret: LC_SESSION_SECRET_FALLBACKS now holds 3 secrets; drop the oldest once the pages and sessions of its time are gone (SESSION_TTL)',
    ]);
  });

  it('lists a text secret holding a comma as its base64, which verifies as the same secret', async () => {
    const current = 'a text secret, with a comma, of more than 32 bytes';
    const { code, out } = await run(['keygen', '--rotate-session-secret'], { LC_SESSION_SECRET: current });
    expect(code).toBe(0);
    const listed = envOf(out).LC_SESSION_SECRET_FALLBACKS as string;
    expect(listed).not.toContain(',');
    expect(decodeSecret(listed).equals(Buffer.from(current, 'utf8'))).toBe(true);
  });

  it('lists a text secret an env file would change (space and #, quotes, backslash, $) as its base64, the same secret', async () => {
    for (const current of ['a passphrase of many words #and a hash', 'a "quoted" secret of 32+ bytes here', "it's a secret\\with a backslash, $HOME"]) {
      const { code, out } = await run(['keygen', '--rotate-session-secret'], { LC_SESSION_SECRET: current });
      expect(code).toBe(0);
      const listed = envOf(out).LC_SESSION_SECRET_FALLBACKS as string;
      expect(listed, current).toMatch(/^[A-Za-z0-9+/]+={0,2}$/);
      expect(decodeSecret(listed).equals(Buffer.from(current, 'utf8'))).toBe(true);
    }
  });

  it('refuses, exit 1 and no line printed: no current secret, a short one, a fallback equal to it', async () => {
    const current = b64();
    const cases: [Record<string, string>, string][] = [
      [{}, 'keygen --rotate-session-secret: LC_SESSION_SECRET is not set, so there is nothing to rotate; run `keygen` without it'],
      [{ LC_SESSION_SECRET: 'short' }, 'keygen --rotate-session-secret: LC_SESSION_SECRET must be at least 32 bytes'],
      [
        { LC_SESSION_SECRET: current, LC_SESSION_SECRET_FALLBACKS: current },
        'keygen --rotate-session-secret: LC_SESSION_SECRET_FALLBACKS: entry at index 0 is the current session secret (LC_SESSION_SECRET) itself; list only other secrets (the previous one, or the next one while it rolls out)',
      ],
      [{ LC_SESSION_SECRET: current, LC_SESSION_SECRET_FALLBACKS: `${b64()},` }, 'keygen --rotate-session-secret: LC_SESSION_SECRET_FALLBACKS: entry at index 1 is empty (a stray comma?)'],
    ];
    for (const [env, message] of cases) expect(await run(['keygen', '--rotate-session-secret'], env)).toEqual({ code: 1, out: [], err: [message] });
  });

  it('refuses to list a fifth fallback: exit 1, no line printed', async () => {
    const env = { LC_SESSION_SECRET: b64(), LC_SESSION_SECRET_FALLBACKS: Array.from({ length: 4 }, b64).join(',') };
    expect(await run(['keygen', '--rotate-session-secret'], env)).toEqual({
      code: 1,
      out: [],
      err: ['keygen --rotate-session-secret: LC_SESSION_SECRET_FALLBACKS already holds 4 secrets, the most start-up accepts; drop the oldest before this rotation'],
    });
  });

  it('with --rotate too: both rotations, or neither when one cannot be made', async () => {
    const keys = b64();
    const both = await run(['keygen', '--rotate', '--rotate-session-secret'], { LC_STATE_KEYS: keys, LC_SESSION_SECRET: b64() });
    expect(both.code).toBe(0);
    expect(both.out.map((line) => line.slice(0, line.indexOf('=')))).toEqual(['LC_STATE_KEYS', 'LC_SESSION_SECRET', 'LC_SESSION_SECRET_FALLBACKS']);
    const half = await run(['keygen', '--rotate', '--rotate-session-secret'], { LC_STATE_KEYS: keys });
    expect([half.code, half.out]).toEqual([1, []]);
  });
});
