import { describe, expect, it } from 'vitest';
import { CHECKS, startupCautions, startupWarnings, TRUST_ALL_WARNING } from './config-rules.js';
import { loadConfig } from './config.js';

const redisCheck = CHECKS.find((check) => check.name === 'redis');
const runRedis = (env: Record<string, string>) => {
  if (redisCheck === undefined) throw new Error('no redis check');
  return redisCheck.run(loadConfig(env));
};

describe('the redis check without REDIS_URL', () => {
  it('passes several instances on one SQLite file (the default or a sqlite: URL), saying they must stay on this machine', () => {
    expect(runRedis({ INSTANCES: '3', DATABASE_URL: 'sqlite:/var/lib/livecomponents/livecomponents.db' })).toEqual({
      problems: [],
      summary:
        '3 instances share the SQLite file sqlite:/var/lib/livecomponents/livecomponents.db (no REDIS_URL), so they must all run on this one machine: writes take turns across the processes (a write blocked 2 s answers 503); several hosts need REDIS_URL',
    });
    expect(runRedis({ INSTANCES: '2' })).toEqual({
      problems: [],
      summary:
        '2 instances share the SQLite file sqlite:./data/livecomponents.db (no REDIS_URL), so they must all run on this one machine, from the same working directory: writes take turns across the processes (a write blocked 2 s answers 503); several hosts need REDIS_URL',
    });
  });

  it('fails several instances on PostgreSQL, whose key-value data stays in each instance’s embedded file', () => {
    expect(runRedis({ INSTANCES: '3', DATABASE_URL: 'postgres://app@db.internal:5432/app' })).toEqual({
      problems: [
        {
          variable: 'REDIS_URL',
          message:
            'REDIS_URL is not set but INSTANCES=3: sessions, state, idempotency records and rate limits would not be shared (with PostgreSQL they stay in the embedded SQLite file sqlite:./data/livecomponents.db of each instance, which instances on other hosts do not share)',
        },
      ],
      summary: '',
    });
  });

  it('fails several instances on an in-memory SQLite database, and passes one instance on anything', () => {
    expect(runRedis({ INSTANCES: '2', DATABASE_URL: 'sqlite::memory:' }).problems.map((p) => p.message)).toEqual([
      'REDIS_URL is not set but INSTANCES=2: sessions, state, idempotency records and rate limits would not be shared (each instance would keep its own in memory)',
    ]);
    expect(runRedis({ DATABASE_URL: 'postgres://app@db.internal:5432/app' }).problems).toEqual([]);
  });
});

describe('startupWarnings', () => {
  it('lists the problems of the checks that do not stop a start, by check, and none of the start-up rules', () => {
    const env = { INSTANCES: '2', DATABASE_URL: 'postgres://app@db.internal:5432/app', LOG_FORMAT: 'pretty' };
    expect(startupWarnings(loadConfig(env)).map((w) => w.check)).toEqual(['redis']);
    const production = { ...env, NODE_ENV: 'production', LC_STATE_KEYS: Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 37 + 11) % 256)).toString('base64'), LC_SESSION_SECRET: 'q8Vd2mXz7LpR4tYw9NbK3hJc6GfS1aEu', APP_URL: 'https://app.example.com' };
    expect(startupWarnings(loadConfig(production)).map((w) => w.check)).toEqual(['redis', 'metrics', 'logging']);
    expect(startupWarnings(loadConfig({}))).toEqual([]);
    // A start-up rule that holds in every environment stops a production start, and only warns elsewhere.
    expect(startupWarnings(loadConfig({ BEHIND_PROXY: 'true' }))).toEqual([
      {
        check: 'trust-proxy',
        message:
          'TRUST_PROXY is unset or false but BEHIND_PROXY=true: every client would share the proxy address (rate limits, logs); set the hop count or the proxy CIDR',
      },
    ]);
  });
});

describe('startupCautions', () => {
  it('TRUST_PROXY=true: one caution, in the doctor’s words, not among the startupWarnings (which would say FAIL)', () => {
    const config = loadConfig({ TRUST_PROXY: 'true' });
    expect(startupCautions(config)).toEqual([
      {
        check: 'trust-proxy',
        message:
          'configuration: TRUST_PROXY=true believes every X-Forwarded-For entry, so behind a proxy that appends to the header a client picks its own address, a new one per request: rate limits, new-session limits and log flood limits then count per spoofed address; set TRUST_PROXY to the number of proxies in front (e.g. 1) or to the proxy addresses or CIDR (e.g. 10.0.0.0/8) (doctor: warning trust-proxy)',
      },
    ]);
    expect(startupCautions(config)[0]?.message).toBe(`configuration: ${TRUST_ALL_WARNING.replace(/^warning: /, '')} (doctor: warning trust-proxy)`);
    expect(startupWarnings(config)).toEqual([]);
  });

  it.each([[{}], [{ TRUST_PROXY: 'false' }], [{ TRUST_PROXY: '2' }], [{ TRUST_PROXY: '10.0.0.0/8, loopback' }], [{ TRUST_PROXY: '1', BEHIND_PROXY: 'true' }]])('%j: none', (env) => {
    expect(startupCautions(loadConfig(env))).toEqual([]);
  });
});
