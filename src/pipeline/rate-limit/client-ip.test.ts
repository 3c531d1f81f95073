import { describe, expect, it } from 'vitest';
import { createClientIp, DEFAULT_IPV6_PREFIX_LENGTH } from './client-ip.js';

describe('rate-limit client of an IP address', () => {
  it('keeps IPv4 addresses, and turns IPv4-mapped IPv6 addresses into them', () => {
    const client = createClientIp();
    expect(client('203.0.113.7')).toBe('203.0.113.7');
    expect(client('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(client('::FFFF:cb00:7107')).toBe('203.0.113.7');
  });

  it('counts an IPv6 address as its /56, whatever its spelling', () => {
    const client = createClientIp();
    expect(DEFAULT_IPV6_PREFIX_LENGTH).toBe(56);
    const network = '2001:db8:ab:cd00::/56';
    for (const ip of ['2001:db8:ab:cd00::1', '2001:0DB8:00AB:CDFF:FFFF:FFFF:FFFF:FFFF', '2001:db8:ab:cd12::1.2.3.4', '2001:db8:ab:cd00::9%eth0']) {
      expect(client(ip), ip).toBe(network);
    }
    expect(client('2001:db8:ab:ce00::1')).toBe('2001:db8:ab:ce00::/56');
    expect(client('::1')).toBe('::/56');
  });

  it('takes other prefix lengths; 128 keeps the address (without a zone id)', () => {
    expect(createClientIp(64)('2001:db8:ab:cd12:1::1')).toBe('2001:db8:ab:cd12::/64');
    expect(createClientIp(48)('2001:db8:ab:cd12::1')).toBe('2001:db8:ab::/48');
    expect(createClientIp(128)('2001:DB8::0:1')).toBe('2001:db8::1');
    expect(createClientIp(128)('fe80::1%eth0')).toBe('fe80::1');
  });

  it('counts an address forwarded with its port (Azure Application Gateway, IIS ARR) without the port', () => {
    const client = createClientIp();
    expect(client('203.0.113.60:51234')).toBe('203.0.113.60');
    expect(client('203.0.113.60:1')).toBe(client('203.0.113.60:65535'));
    expect(client('[2001:db8:ab:cd00::60]:443')).toBe('2001:db8:ab:cd00::/56');
    expect(client('[2001:db8:ab:cd00::60]')).toBe('2001:db8:ab:cd00::/56');
    expect(client('[::ffff:203.0.113.60]:8080')).toBe('203.0.113.60');
    // Not an address with a port: left as it is.
    expect(client('203.0.113.60:port')).toBe('203.0.113.60:port');
  });

  it('leaves text it cannot parse as a client of its own, and refuses lengths outside 32–128', () => {
    expect(createClientIp()('not:an:address')).toBe('not:an:address');
    for (const bad of [0, 31, 129, 64.5, Number.NaN]) expect(() => createClientIp(bad), String(bad)).toThrow(TypeError);
  });
});
