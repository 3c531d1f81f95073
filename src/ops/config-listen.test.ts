/**
 * `listenRefusal` and `tryListen`: a HOST that does not resolve, an address of another machine, a
 * port in use or below 1024 stopped start-up with Node's own words (`getaddrinfo ENOTFOUND
 * example.invalid`, `listen EACCES: permission denied 127.0.0.1:80`), naming no variable, while
 * `doctor --connect` passed. The sentences here name the variable to change.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { busyPort, releaseBusyPorts } from '../../test/helpers/ports.js';
import { listenRefusal, tryListen } from './config-listen.js';

const config = { HOST: '127.0.0.1', PORT: 3000, METRICS_PORT: undefined };
const failure = (code: string, syscall: string, port?: number) => Object.assign(new Error(`${syscall} ${code}`), { code, syscall, ...(port === undefined ? {} : { port }) });

afterAll(releaseBusyPorts);

describe('listenRefusal', () => {
  it('names HOST for a name that does not resolve, an address of another machine, a link-local address without its interface', () => {
    expect(listenRefusal(failure('ENOTFOUND', 'getaddrinfo'), { ...config, HOST: 'example.invalid' })).toBe(
      'HOST=example.invalid does not resolve to an address (getaddrinfo ENOTFOUND): set HOST to an address of this machine (127.0.0.1, or 0.0.0.0 for every interface) or a name that resolves to one',
    );
    expect(listenRefusal(failure('EADDRNOTAVAIL', 'listen', 3000), { ...config, HOST: '192.0.2.1' })).toBe(
      'HOST=192.0.2.1 is not an address of this machine (EADDRNOTAVAIL): set HOST to an address of this machine (127.0.0.1, or 0.0.0.0 for every interface) or a name that resolves to one',
    );
    expect(listenRefusal(failure('EINVAL', 'listen', 3000), { ...config, HOST: 'fe80::1' })).toMatch(
      /^HOST=fe80::1 cannot be listened on \(EINVAL\) \(a link-local IPv6 address needs its interface, such as fe80::1%eth0\): /,
    );
  });

  it('names PORT or METRICS_PORT for a port in use or one this user may not take', () => {
    expect(listenRefusal(failure('EADDRINUSE', 'listen', 3000), config)).toBe(
      'PORT=3000 is in use on 127.0.0.1 by another process (EADDRINUSE): stop it, or set another PORT',
    );
    expect(listenRefusal(failure('EADDRINUSE', 'listen', 9100), { ...config, METRICS_PORT: 9100 })).toBe(
      'METRICS_PORT=9100 is in use on 127.0.0.1 by another process (EADDRINUSE): stop it, or set another METRICS_PORT',
    );
    expect(listenRefusal(failure('EACCES', 'listen', 80), { ...config, PORT: 80 })).toBe(
      'PORT=80 on 127.0.0.1: this user may not listen on a port below 1024 (EACCES): set PORT to 1024 or more (a proxy in front can serve port 80 or 443), or grant the process CAP_NET_BIND_SERVICE',
    );
  });

  it('leaves other errors alone', () => {
    expect(listenRefusal(new Error('the database was migrated by a newer release'), config)).toBeUndefined();
    expect(listenRefusal(failure('ECONNREFUSED', 'connect'), config)).toBeUndefined();
    expect(listenRefusal(undefined, config)).toBeUndefined();
  });
});

describe('tryListen', () => {
  it('answers undefined where a listener fits, and the refusing error elsewhere', async () => {
    expect(await tryListen('127.0.0.1', 0, 3_000)).toBeUndefined();
    const port = await busyPort();
    expect((await tryListen('127.0.0.1', port, 3_000))?.code).toBe('EADDRINUSE');
    // 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never an address of this machine.
    expect((await tryListen('192.0.2.1', 0, 3_000))?.code).toBe('EADDRNOTAVAIL');
    // .invalid never resolves (RFC 6761).
    expect((await tryListen('example.invalid', 0, 3_000))?.syscall).toBe('getaddrinfo');
  });
});
