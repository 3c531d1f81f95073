import { describe, expect, it } from 'vitest';
import { evictionRiskOf, memoryPressureOf } from './eviction.js';

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

const memory = (used: number, maxmemory: number, policy = 'noeviction', notCounted?: number) =>
  `# Memory\r\nused_memory:${used}\r\nused_memory_human:x\r\nmaxmemory:${maxmemory}\r\nmaxmemory_policy:${policy}\r\n${notCounted === undefined ? '' : `mem_not_counted_for_evict:${notCounted}\r\n`}`;

describe('how full Redis is, from INFO memory', () => {
  it('says nothing without maxmemory, or below 95% of it', () => {
    expect(memoryPressureOf(memory(10_000_000, 0))).toBeNull();
    expect(memoryPressureOf(memory(949, 1000))).toBeNull();
    expect(memoryPressureOf('# Memory\r\nmaxmemory:1000\r\n')).toBeNull();
  });

  it('warns from 95%, before a noeviction Redis refuses writes', () => {
    expect(memoryPressureOf(memory(950, 1000))).toBe('Redis is at 95% of maxmemory (1000 bytes): past 100% writes are refused (OOM) and every page and action answers 503; raise maxmemory or free memory');
    expect(memoryPressureOf(memory(1000, 1000))).toBe('Redis is at 100% of maxmemory (1000 bytes): past 100% writes are refused (OOM) and every page and action answers 503; raise maxmemory or free memory');
  });

  it('says writes are refused past maxmemory (noeviction)', () => {
    expect(memoryPressureOf(memory(1_030, 1000))).toBe('Redis is at 103% of maxmemory (1000 bytes): writes are refused (OOM) and every page and action answers 503; raise maxmemory or free memory');
  });

  it('counts memory as Redis does: without the replication and AOF buffers (mem_not_counted_for_evict)', () => {
    expect(memoryPressureOf(memory(1_100, 1000, 'noeviction', 200))).toBeNull();
    expect(memoryPressureOf(memory(1_100, 1000, 'noeviction', 50))).toMatch(/^Redis is at 105% of maxmemory \(1000 bytes\): writes are refused/);
  });

  it('under an evicting policy, says it evicts (or refuses when nothing can go)', () => {
    expect(memoryPressureOf(memory(990, 1000, 'allkeys-lru'))).toBe('Redis is at 99% of maxmemory (1000 bytes): it evicts keys to make room, or refuses writes (OOM) when it finds none to evict; raise maxmemory or free memory');
  });
});
