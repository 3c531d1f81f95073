import { describe, expect, it } from 'vitest';
import { runDoctor } from './doctor.js';

/** Fixed, high-entropy values: only the https and cookies lines are looked at. */
const KEY = Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 37 + 11) % 256)).toString('base64');
const SECRET = Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 53 + 7) % 256)).toString('base64');
const PRODUCTION = { NODE_ENV: 'production', LC_STATE_KEYS: KEY, LC_SESSION_SECRET: SECRET };

const appUrlLines = (env: Record<string, string>): string[] => runDoctor(env).lines.filter((line) => /^(ok {2}|FAIL )(https|cookies):/.test(line));

describe('doctor: APP_URL in production', () => {
  it('reports an unset APP_URL once, under https (cookies wait for it)', () => {
    expect(appUrlLines(PRODUCTION)).toEqual([
      'FAIL https: APP_URL is not set; production needs the public https:// address of the app',
      'ok  cookies: not checked until APP_URL is an https:// address (see https)',
    ]);
  });

  it('reports one that is not a URL once, under https', () => {
    expect(appUrlLines({ ...PRODUCTION, APP_URL: 'nope' })).toEqual([
      'FAIL https: APP_URL: "nope" is not a URL such as https://app.example.com',
      'ok  cookies: not checked until APP_URL is an https:// address (see https)',
    ]);
  });

  it('still fails cookies for a set http:// address', () => {
    expect(appUrlLines({ ...PRODUCTION, APP_URL: 'http://app.example.com' })).toEqual([
      'FAIL https: APP_URL must start with https:// in production',
      'FAIL cookies: APP_URL is not https, so cookies could not be Secure (the session cookie needs its __Host- prefix)',
    ]);
  });
});
