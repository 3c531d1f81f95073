/**
 * The rotation settings in the configuration: LC_SESSION_SECRET_FALLBACKS, HEALTH_TOKEN_PREVIOUS
 * and METRICS_TOKEN_PREVIOUS get the checks of the values they stand beside, at start-up and in
 * `livecomponents doctor` alike (one set of rules), and no message quotes a value.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { runDoctor } from '../cli/doctor.js';
import { ConfigError, loadConfig } from './config.js';
import { loadSecrets } from '../runtime/setup.js';

const b64 = (): string => randomBytes(32).toString('base64');
const hex = (): string => randomBytes(32).toString('hex');

function productionEnv(): Record<string, string> {
  return { NODE_ENV: 'production', LC_STATE_KEYS: b64(), LC_SESSION_SECRET: b64(), APP_URL: 'https://app.example.com', METRICS_TOKEN: hex() };
}

function problemsOf(env: Record<string, string | undefined>): readonly string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

/** The doctor's FAIL lines of the `secrets` check for `env`. */
const doctorSecrets = (env: Record<string, string>): string[] => runDoctor(env).lines.filter((l) => l.startsWith('FAIL secrets: ')).map((l) => l.slice('FAIL secrets: '.length));

const ITSELF = 'LC_SESSION_SECRET_FALLBACKS: entry at index 1 is the current session secret (LC_SESSION_SECRET) itself; list only other secrets (the previous one, or the next one while it rolls out)';
const KEYGEN = '`npx livecomponents keygen` prints one';

describe('LC_SESSION_SECRET_FALLBACKS', () => {
  it('reads a comma-separated list; production starts with strong fallbacks', () => {
    const [a, b] = [b64(), b64()];
    const env = { ...productionEnv(), LC_SESSION_SECRET_FALLBACKS: ` ${a} ,${b} ` };
    expect(loadConfig(env).LC_SESSION_SECRET_FALLBACKS).toEqual([a, b]);
    expect(runDoctor(env).lines).toContain('ok  secrets: LC_SESSION_SECRET is strong (and its 2 fallback(s), which verify but never sign); so is METRICS_TOKEN');
  });

  it('refuses, in every environment, a short or empty entry and one equal to the secret (also as its base64) or to another', () => {
    const secret = b64();
    const text = 'the current session secret as text, 32+ bytes';
    const old = b64();
    const cases: [Record<string, string>, string][] = [
      [{ LC_SESSION_SECRET_FALLBACKS: `${old},short` }, 'LC_SESSION_SECRET_FALLBACKS: entry at index 1 is too short (5 bytes; at least 32 are needed)'],
      [{ LC_SESSION_SECRET_FALLBACKS: `${old},` }, 'LC_SESSION_SECRET_FALLBACKS: entry at index 1 is empty (a stray comma?)'],
      [{ LC_SESSION_SECRET: secret, LC_SESSION_SECRET_FALLBACKS: `${old},${secret}` }, ITSELF],
      [{ LC_SESSION_SECRET: text, LC_SESSION_SECRET_FALLBACKS: `${old},${Buffer.from(text).toString('base64')}` }, ITSELF],
      [{ LC_SESSION_SECRET: secret, LC_SESSION_SECRET_FALLBACKS: `${old},${old}` }, 'LC_SESSION_SECRET_FALLBACKS: entry at index 1 repeats the entry at index 0'],
    ];
    for (const [env, message] of cases) {
      expect(problemsOf(env), message).toEqual([message]);
      expect(doctorSecrets(env), message).toEqual([message]);
      expect(message).not.toContain(old);
    }
  });

  it('refuses more than 4 fallbacks, in every environment and at start-up (each costs an HMAC on every refused token)', () => {
    const five = Array.from({ length: 5 }, b64);
    const message = 'LC_SESSION_SECRET_FALLBACKS holds 5 secrets, more than 4 (each is tried on every CSRF token the secret refuses, a forged one too); drop the oldest';
    expect(problemsOf({ LC_SESSION_SECRET_FALLBACKS: five.join(',') })).toEqual([message]);
    expect(doctorSecrets({ ...productionEnv(), LC_SESSION_SECRET_FALLBACKS: five.join(',') })).toEqual([message]);
    expect(() => loadSecrets({ stateKeys: b64(), sessionSecret: b64(), sessionSecretFallbacks: five })).toThrow(
      new Error(message.replace('LC_SESSION_SECRET_FALLBACKS', 'sessionSecretFallbacks')),
    );
    expect(problemsOf({ LC_SESSION_SECRET_FALLBACKS: five.slice(1).join(',') })).toEqual([]);
  });

  it('production: a weak fallback, or one that is also a token, is refused like the secret', () => {
    const env = productionEnv();
    const weak = 'please-changeme-before-deploying-this-app';
    const problems = [
      `LC_SESSION_SECRET_FALLBACKS: entry at index 1 is weak (it looks like a placeholder such as "changeme" or "secret"); ${KEYGEN}`,
      'METRICS_TOKEN has the same value as LC_SESSION_SECRET_FALLBACKS (entry at index 0); give each its own secret',
    ];
    const rotating = { ...env, LC_SESSION_SECRET_FALLBACKS: `${env.METRICS_TOKEN},${weak}` };
    expect(problemsOf(rotating)).toEqual(problems);
    expect(doctorSecrets(rotating)).toEqual(problems);
    expect(problems.join('\n')).not.toContain(weak);
  });
});

describe('a token that is a session secret written another way', () => {
  it('production: a token equal to a fallback or the secret as start-up reads them (base64 without padding, base64url) is refused', () => {
    // 32 bytes whose base64 has + and / and one = (start-up reads every spelling as the same bytes).
    const bytes = Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 37 + 251) % 256));
    const fallback = bytes.toString('base64');
    expect(fallback).toMatch(/[+/].*=$/);
    const env = { ...productionEnv(), LC_SESSION_SECRET_FALLBACKS: fallback, HEALTH_TOKEN: fallback.replace(/=+$/, ''), METRICS_TOKEN: bytes.toString('base64url') };
    expect(problemsOf(env)).toEqual([
      'HEALTH_TOKEN has the same value as LC_SESSION_SECRET_FALLBACKS (entry at index 0); give each its own secret',
      'METRICS_TOKEN has the same value as LC_SESSION_SECRET_FALLBACKS (entry at index 0); give each its own secret',
    ]);
    const secret = productionEnv().LC_SESSION_SECRET as string;
    expect(problemsOf({ ...productionEnv(), LC_SESSION_SECRET: secret, METRICS_TOKEN_PREVIOUS: secret.replace(/=+$/, '') })).toEqual([
      'METRICS_TOKEN_PREVIOUS has the same value as LC_SESSION_SECRET; give each its own secret',
    ]);
  });
});

describe('HEALTH_TOKEN_PREVIOUS, METRICS_TOKEN_PREVIOUS', () => {
  it('production starts with a current and a previous token, each strong and its own', () => {
    const env = { ...productionEnv(), HEALTH_TOKEN: hex(), HEALTH_TOKEN_PREVIOUS: hex(), METRICS_TOKEN_PREVIOUS: hex() };
    const config = loadConfig(env);
    expect([config.HEALTH_TOKEN_PREVIOUS, config.METRICS_TOKEN_PREVIOUS]).toEqual([env.HEALTH_TOKEN_PREVIOUS, env.METRICS_TOKEN_PREVIOUS]);
    expect(runDoctor(env).lines).toContain('ok  metrics: /metrics requires METRICS_TOKEN (or METRICS_TOKEN_PREVIOUS, until it is dropped)');
  });

  it('refuses, in every environment, a previous token without a current one (the route would be open) or equal to it', () => {
    const token = hex();
    const cases: [Record<string, string>, string][] = [
      [{ METRICS_TOKEN_PREVIOUS: token }, 'METRICS_TOKEN_PREVIOUS is set but METRICS_TOKEN is not: set METRICS_TOKEN to the new token (METRICS_TOKEN_PREVIOUS is only accepted beside it)'],
      [{ HEALTH_TOKEN_PREVIOUS: token }, 'HEALTH_TOKEN_PREVIOUS is set but HEALTH_TOKEN is not: set HEALTH_TOKEN to the new token (HEALTH_TOKEN_PREVIOUS is only accepted beside it)'],
      [{ METRICS_TOKEN: token, METRICS_TOKEN_PREVIOUS: token }, 'METRICS_TOKEN_PREVIOUS has the same value as METRICS_TOKEN; leave it unset, or set it to the token being replaced'],
      [{ HEALTH_TOKEN_PREVIOUS: 'short' }, 'HEALTH_TOKEN_PREVIOUS: must be at least 16 characters'],
    ];
    for (const [env, message] of cases) expect(problemsOf(env), message).toEqual([message]);
    // In production too, said once (not again by the secrets check).
    const env = productionEnv();
    expect(problemsOf({ ...env, METRICS_TOKEN_PREVIOUS: env.METRICS_TOKEN })).toEqual([cases[2]?.[1]]);
  });

  it('production: a weak previous token, or one equal to a secret or to the other token, is refused', () => {
    const env = productionEnv();
    expect(problemsOf({ ...env, HEALTH_TOKEN_PREVIOUS: 'health-token-20chars', HEALTH_TOKEN: hex(), METRICS_TOKEN_PREVIOUS: env.LC_SESSION_SECRET })).toEqual([
      `HEALTH_TOKEN_PREVIOUS is weak (20 bytes; at least 32 are needed); ${KEYGEN}`,
      'METRICS_TOKEN_PREVIOUS has the same value as LC_SESSION_SECRET; give each its own secret',
    ]);
    const shared = hex();
    expect(doctorSecrets({ ...env, HEALTH_TOKEN: shared, METRICS_TOKEN_PREVIOUS: shared })).toEqual(['METRICS_TOKEN_PREVIOUS has the same value as HEALTH_TOKEN; give each its own secret']);
  });
});
