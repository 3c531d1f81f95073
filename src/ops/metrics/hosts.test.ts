import type { FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import { allowedHostList, checkAllowedHosts, hostAllowed, hostCheck, isLoopbackAddress } from './hosts.js';

/** What `hostCheck` reads of a request: the `Host` header and the address the connection reached. */
function request(host: string | undefined, localAddress: string | undefined): FastifyRequest {
  return { headers: host === undefined ? {} : { host }, raw: { socket: { localAddress } } } as unknown as FastifyRequest;
}

describe('hostAllowed', () => {
  const names = new Set(['app1', 'metrics.internal.example']);

  it('takes IP literals with or without a port, localhost in any case with or without the root dot, and listed names', () => {
    for (const host of [
      '127.0.0.1',
      '127.0.0.1:9464',
      '10.1.2.3:9464',
      '[::1]',
      '[::1]:9464',
      '[fd00::17]:9464',
      '[::ffff:127.0.0.1]:9464',
      'localhost',
      'localhost:9464',
      'LOCALHOST:9464',
      'localhost.:9464',
      'localhost:',
      'app1:9464',
      'APP1',
      'app1.',
      'metrics.internal.example:9464',
    ]) {
      expect(hostAllowed(host, names), host).toBe(true);
    }
  });

  it('refuses other names, missing or empty values, and spellings no browser or scraper sends', () => {
    for (const host of [
      undefined,
      '',
      'evil.example',
      'evil.example:9464',
      'localhost.evil.example',
      'evil.localhost',
      'app1.evil.example',
      '127.0.0.1.nip.io:9464',
      '127.0.0.1.',
      'localhost..',
      '2130706433',
      '[::1',
      '[::1]x',
      '[v1.fe]:9464',
      '[localhost]',
      ':9464',
      'localhost:94a',
      'localhost:946400',
      '%6cocalhost',
      'localhost\u0000',
    ]) {
      expect(hostAllowed(host, names), JSON.stringify(host)).toBe(false);
    }
  });
});

describe('isLoopbackAddress', () => {
  it('is 127.0.0.0/8, ::1 and 127.x mapped to IPv6; nothing else, nor an unknown address', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1', '::FFFF:127.0.0.2']) expect(isLoopbackAddress(a), a).toBe(true);
    for (const a of [undefined, '', '10.0.0.5', '0.0.0.0', '::', '::ffff:10.0.0.5', 'fe80::1', '128.0.0.1']) expect(isLoopbackAddress(a), String(a)).toBe(false);
  });
});

describe('hostCheck', () => {
  it('without allowedHosts and without a token: refuses a foreign name only on a loopback connection', () => {
    const refused = hostCheck(undefined, false);
    expect(refused?.(request('evil.example:9464', '127.0.0.1'))).toBe(true);
    expect(refused?.(request('evil.example:9464', '::ffff:127.0.0.1'))).toBe(true);
    expect(refused?.(request(undefined, '127.0.0.1'))).toBe(true);
    expect(refused?.(request('localhost:9464', '127.0.0.1'))).toBe(false);
    // A remote Prometheus naming the target by its service name reaches another address.
    expect(refused?.(request('app1:9464', '10.0.0.5'))).toBe(false);
    expect(refused?.(request('evil.example', undefined))).toBe(false);
  });

  it('without allowedHosts but with a token: checks nothing (a rebound page has no token)', () => {
    expect(hostCheck(undefined, true)).toBeNull();
  });

  it('with allowedHosts (even empty): checks every connection, token or not', () => {
    for (const tokenRequired of [false, true]) {
      const listed = hostCheck(['app1'], tokenRequired);
      expect(listed?.(request('app1:9464', '10.0.0.5'))).toBe(false);
      expect(listed?.(request('evil.example:9464', '10.0.0.5'))).toBe(true);
      expect(listed?.(request('evil.example:9464', undefined))).toBe(true);
      const none = hostCheck([], tokenRequired);
      expect(none?.(request('10.0.0.5:9464', '10.0.0.5'))).toBe(false);
      expect(none?.(request('app1:9464', '10.0.0.5'))).toBe(true);
    }
  });
});

describe('allowed host lists', () => {
  it('reads METRICS_ALLOWED_HOSTS in one spelling per name, and refuses ports, schemes, wildcards and empty entries', () => {
    expect(allowedHostList('App1, app1. ,my_app,10.0.0.5')).toEqual(['app1', 'my_app', '10.0.0.5']);
    expect(() => allowedHostList('app1:9464')).toThrow('"app1:9464" must be a host name alone, without scheme or port');
    expect(() => allowedHostList('http://app1')).toThrow('without scheme or port');
    expect(() => allowedHostList('*.example.com')).toThrow('is not a host name');
    expect(() => allowedHostList('app1,,app2')).toThrow('has an empty entry');
  });

  it('checks registerMetricsRoute’s allowedHosts the same way', () => {
    expect(checkAllowedHosts('registerMetricsRoute', undefined)).toBeUndefined();
    expect(checkAllowedHosts('registerMetricsRoute', ['App1.'])).toEqual(['app1']);
    expect(() => checkAllowedHosts('registerMetricsRoute', 'app1')).toThrow('allowedHosts must be an array of host names');
    expect(() => checkAllowedHosts('registerMetricsRoute', ['app1:9464'])).toThrow('allowedHosts: "app1:9464" must be a host name alone');
  });
});
