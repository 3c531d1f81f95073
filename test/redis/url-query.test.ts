/**
 * REDIS_URL takes no query string: ioredis read each parameter as a client option over the store's
 * own, as a string, so `?enableOfflineQueue=false&autoResendUnfulfilledCommands=false` turned both
 * ON ("false" is truthy) and a rate-limit step answered 503 was applied after the reconnect;
 * `?keyPrefix=zz:` moved every key. The configuration, `doctor` and `createRedisStore` said ok.
 * Now every entry point refuses a query or a fragment, quoting none of the URL (it may hold a password).
 */
import { describe, expect, it } from 'vitest';
import type { Cluster } from 'ioredis';
import { runDoctor } from '../../src/cli/doctor.js';
import { parseEnv } from '../../src/ops/config.js';
import { redisTarget } from '../../src/runtime/backends.js';
import { createRedisStore } from '../../src/store/redis/index.js';

const PASSWORD = 'Qq7SECRETqq';
const SECRET = new RegExp(`${PASSWORD}|enableOfflineQueue|zz:|20`);

const REFUSED = [
  `redis://:${PASSWORD}@127.0.0.1:6390?autoResendUnfulfilledCommands=false&enableOfflineQueue=false&maxRetriesPerRequest=20&keyPrefix=zz:`,
  `redis://app:${PASSWORD}@127.0.0.1:6390/2?keyPrefix=zz:`,
  `rediss://:${PASSWORD}@127.0.0.1:6390/?tls=true`,
  `redis://:${PASSWORD}@127.0.0.1:6390?password=${PASSWORD}`,
  `redis://:${PASSWORD}@127.0.0.1:6390#${PASSWORD}`,
];

describe('a REDIS_URL with a query string or a fragment', () => {
  it('is refused by the configuration and doctor, for a single URL and for any Cluster seed', () => {
    for (const url of [...REFUSED, `redis://127.0.0.1:7000,${REFUSED[0]}`]) {
      const { issues } = parseEnv({ REDIS_URL: url });
      const issue = issues.find((i) => i.variable === 'REDIS_URL');
      expect(issue?.message, url).toMatch(/has a (query string \(\?…\), which the store does not take|fragment \(#…\))/);
      const report = runDoctor({ REDIS_URL: url });
      expect(report.ok, url).toBe(false);
      for (const line of report.lines) expect(line).not.toMatch(SECRET);
    }
  });

  it('is refused by createRedisStore({ url }) before any client is made', () => {
    for (const url of REFUSED) {
      let message = '';
      try {
        createRedisStore({ url }).close().catch(() => undefined);
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message, url).toMatch(/^createRedisStore: the url has a (query string|fragment)/);
      expect(message).not.toMatch(SECRET);
    }
    expect(() => createRedisStore({ url: `redis://127.0.0.1:6390?db=2` })).toThrow(/names its database with \?db=/);
  });

  it('is refused in each entry of a Cluster seed list', () => {
    for (const url of REFUSED) {
      expect(() => redisTarget(`redis://127.0.0.1:7000,${url}`, true)).toThrow(/^REDIS_URL: entry 2 of the Redis Cluster seed list has a (query string|fragment)/);
      try {
        redisTarget(`${url},redis://127.0.0.1:7000`, true);
      } catch (error) {
        expect((error as Error).message).not.toMatch(SECRET);
      }
    }
  });

  it('a URL without one still passes (a bare "?" carries no parameter)', () => {
    for (const url of ['redis://127.0.0.1:6390', 'redis://127.0.0.1:6390/3', `redis://:${PASSWORD}@127.0.0.1:6390/`, 'redis://127.0.0.1:6390?']) {
      expect(parseEnv({ REDIS_URL: url }).issues, url).toEqual([]);
    }
  });
});

describe('a Cluster seed list with IPv6 addresses', () => {
  it('gives ioredis the address without its brackets ("[::1]" never resolves)', () => {
    const target = redisTarget('redis://[::1]:7000, rediss://[2001:db8::5]:7001', true);
    const cluster = (target as { client: Cluster }).client;
    try {
      // ioredis keeps the seeds in a private field.
      expect((cluster as unknown as { startupNodes: unknown }).startupNodes).toEqual([
        { host: '::1', port: 7000 },
        { host: '2001:db8::5', port: 7001 },
      ]);
    } finally {
      cluster.disconnect();
    }
  });
});
