import { describe, expect, it } from 'vitest';
import { evictionRiskOf } from './eviction.js';

const info = (policy: string, maxmemory: number) => `# Memory\r\nused_memory:1000\r\nmaxmemory:${maxmemory}\r\nmaxmemory_human:x\r\nmaxmemory_policy:${policy}\r\n`;

describe('Redis eviction risk from INFO memory', () => {
  it('is none with noeviction, or without maxmemory (Redis never evicts then)', () => {
    expect(evictionRiskOf(info('noeviction', 0))).toBeNull();
    expect(evictionRiskOf(info('noeviction', 67_108_864))).toBeNull();
    expect(evictionRiskOf(info('allkeys-lru', 0))).toBeNull();
  });

  it('names every evicting policy under a maxmemory, volatile ones too (all our keys have a TTL)', () => {
    for (const policy of ['allkeys-lru', 'allkeys-lfu', 'allkeys-random', 'volatile-lru', 'volatile-lfu', 'volatile-random', 'volatile-ttl']) {
      expect(evictionRiskOf(info(policy, 67_108_864)), policy).toBe(
        `maxmemory-policy is ${policy} with maxmemory 67108864 bytes: when memory runs short Redis evicts keys, idempotency records and rate-limit counters included; set maxmemory-policy noeviction`,
      );
    }
  });

  it('says so when INFO has no policy field', () => {
    expect(evictionRiskOf('# Memory\r\nused_memory:1\r\n')).toBe('INFO memory has no maxmemory_policy field');
  });
});
