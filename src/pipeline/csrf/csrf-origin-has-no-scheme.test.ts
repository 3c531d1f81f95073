/**
 * What `appOrigin` (or an `allowedOrigins` entry) that is not an origin is refused with at start-up:
 * a host and port without a scheme (`localhost:3000`, which parses as a URL of scheme `localhost:`)
 * names the missing scheme and the value to write; an address with a path names the origin it meant.
 * Both were "must be exactly scheme://host[:port] (http or https)", which did not say what was wrong.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { memorySecurityEvents } from '../../ops/security-events.js';
import { createLiveComponents } from '../../runtime/setup.js';
import { resolveApiOrigins } from '../../auth/cors.js';
import { normaliseOrigin } from './origins.js';

function start(appOrigin: string, allowedOrigins: string[] = []): Promise<unknown> {
  return createLiveComponents({
    components: [],
    appOrigin,
    allowedOrigins,
    stateKeys: randomBytes(32).toString('base64'),
    sessionSecret: randomBytes(32).toString('base64'),
    events: memorySecurityEvents(),
  });
}

describe('a configured origin that is not one', () => {
  it('without a scheme: names the scheme as missing and the value to write', async () => {
    await expect(start('localhost:3000')).rejects.toThrow(
      new TypeError('CSRF origin "localhost:3000" has no scheme: write it as scheme://host[:port], such as http://localhost:3000'),
    );
    await expect(start('https://app.example.com', ['admin.example.com:8443'])).rejects.toThrow(
      new TypeError('CSRF origin "admin.example.com:8443" has no scheme: write it as scheme://host[:port], such as http://admin.example.com:8443'),
    );
  });

  it('with a path, query or credentials: names the origin it meant', async () => {
    await expect(start('https://app.example.com/app/')).rejects.toThrow(
      new TypeError('CSRF origin "https://app.example.com/app/" must be exactly scheme://host[:port], with no path, query or credentials: https://app.example.com'),
    );
    expect(() => normaliseOrigin('http://localhost:3000/?x=1')).toThrow(
      new TypeError('CSRF origin "http://localhost:3000/?x=1" must be exactly scheme://host[:port], with no path, query or credentials: http://localhost:3000'),
    );
  });

  it('the CORS check of the auth API says the same, as "origin"', () => {
    expect(() => resolveApiOrigins('localhost:3000', [])).toThrow(
      'CORS: origin "localhost:3000" has no scheme: write it as scheme://host[:port], such as http://localhost:3000',
    );
  });

  it('unchanged: another scheme, a string that is no URL, and origins that are fine', () => {
    expect(() => normaliseOrigin('ftp://files.example.com')).toThrow(
      new TypeError('CSRF origin "ftp://files.example.com" must be exactly scheme://host[:port] (http or https)'),
    );
    expect(() => normaliseOrigin('localhost')).toThrow(new TypeError('CSRF origin "localhost" is not a URL origin such as https://app.example.com'));
    expect(normaliseOrigin(' HTTP://LocalHost:3000/ ')).toBe('http://localhost:3000');
    expect(normaliseOrigin('https://app.example.com:443')).toBe('https://app.example.com');
  });
});
