/**
 * Which client an IP address counts as for rate limiting. IPv6 hands every customer a whole
 * network — a /64 at the least, usually a /56 or a /48 — and a host picks any address in it, so
 * counting each IPv6 address on its own would give one client as many fresh budgets as it cares to
 * take addresses. An IPv6 address counts as its network (`ipv6PrefixLength` bits, /56 by default as
 * in express-rate-limit; 128 counts single addresses); an IPv4 address, and an IPv4-mapped IPv6 one
 * (`::ffff:203.0.113.7`, what a dual-stack socket reports), counts as itself.
 *
 * Parsing is ipaddr.js's (already in the tree through Fastify's proxy-addr): IPv6 text has many
 * spellings (`::`, embedded IPv4 tails, zone ids) that must all land on one key.
 */
import ipaddr from 'ipaddr.js';
import { boundedMemo } from '../../core/memo.js';
import { positiveInteger } from '../options.js';

/** express-rate-limit's default; RIRs assign /56 to most end sites and /48 to larger ones. */
export const DEFAULT_IPV6_PREFIX_LENGTH = 56;

/** Returns the rate-limit client of an address: itself for IPv4, `<network>/<length>` for IPv6. */
export function createClientIp(ipv6PrefixLength: number = DEFAULT_IPV6_PREFIX_LENGTH): (ip: string) => string {
  const length = positiveInteger('Rate limit', 'ipv6PrefixLength', ipv6PrefixLength);
  if (length < 32 || length > 128) throw new TypeError(`Rate limit: ipv6PrefixLength must be between 32 and 128, got ${length}`);
  // Memoized: every anonymous action from an IPv6 client would parse its address again.
  const ofIpv6 = boundedMemo(10_000, (ip: string) => networkOf(ip, length), MAX_MEMO_ADDRESS);
  // IPv4 text has no colon: the common case costs one scan and no parse. An address forwarded with
  // its port (Azure Application Gateway, IIS ARR: `203.0.113.7:51234`, `[2001:db8::7]:51234`) counts
  // without it: the port is new on each connection, so with it each connection got a fresh budget —
  // and a memo entry of its own, pushing real clients out.
  return (ip) => {
    if (!ip.includes(':')) return ip;
    const withPort = WITH_PORT_RE.exec(ip);
    return ofIpv6(withPort === null ? ip : ((withPort[1] ?? withPort[2]) as string));
  };
}

/**
 * Longest address text memoised: a bracketed IPv6 address with a zone id and a port fits. Behind a
 * proxy that appends to `X-Forwarded-For`, with `TRUST_PROXY=true`, the client writes the text
 * itself, up to the header limit.
 */
const MAX_MEMO_ADDRESS = 64;

/** An address with a port: `a.b.c.d:port` (group 1) or `[v6]:port` (group 2; also bracketed without a port). */
const WITH_PORT_RE = /^(?:(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}|\[([0-9A-Fa-f:.]+(?:%[^\]]*)?)\](?::\d{1,5})?)$/;

function networkOf(ip: string, length: number): string {
  let address: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    address = ipaddr.process(ip);
  } catch {
    // Fastify resolved this address from the socket or a trusted proxy; text it cannot parse stays a
    // client of its own rather than failing the request.
    return ip;
  }
  if (address.kind() === 'ipv4') return address.toString();
  // The zone id (`%eth0` of a link-local address) names an interface, not a client.
  const bare = address.toString().replace(/%.*$/, '');
  return length === 128 ? bare : `${ipaddr.IPv6.networkAddressFromCIDR(`${bare}/${length}`).toString()}/${length}`;
}
