/**
 * The model-based random probe (test/helpers/model-probe.ts) against the reference app on each
 * backend: memory, SQLite, Redis, and two app instances sharing one Redis (and one SQLite file for
 * the accounts, or one PostgreSQL schema), each request of a session sent to either. A failure names its seed;
 * `MODEL_SEED=<n> MODEL_OPS=<n> npx vitest run test/integration/model-probe.test.ts` replays it.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../src/store/memory/index.js';
import { REDIS_AVAILABLE, startRedis, type RedisServer } from '../redis/server.js';
import { demoApp } from '../helpers/demo.js';
import { DOCUMENTED_CODES, runModelProbe, type ProbeStats, type ProbeTarget } from '../helpers/model-probe.js';
import { manualClock } from '../../src/core/clock.js';
import { createTestSchema, postgresAvailability, warnSkipped } from '../../src/sql/test-postgres.js';

const FAST_ARGON2 = { password: { memoryCost: 1024, timeCost: 1, parallelism: 1 } };
const OPS = Number(process.env.MODEL_OPS ?? 300);
const seedFor = (fallback: number): number => (process.env.MODEL_SEED === undefined ? fallback : Number(process.env.MODEL_SEED));
/** Local hunting: `MODEL_RUNS=n` runs n consecutive seeds from the first, each on a fresh app. */
const RUNS = Number(process.env.MODEL_RUNS ?? 1);
const TIMEOUT = 60_000 * RUNS * Math.max(1, OPS / 300);
const PG = await postgresAvailability();
if (PG.state === 'skip') warnSkipped('test/integration/model-probe.test.ts › accounts on PostgreSQL (1 test)', PG.reason);
if (PG.state === 'fail') throw new Error(PG.reason);

function targetOf(apps: FastifyInstance[], origin: string): ProbeTarget {
  return { instances: apps.length, origin, send: (i, request) => (apps[i] as FastifyInstance).inject(request) };
}

/** Two reference apps sharing one Redis, fresh keys and the accounts database `databaseUrl`. */
async function twoInstances(server: RedisServer, prefix: string, databaseUrl: string, framework: object): Promise<{ apps: FastifyInstance[]; origin: string }> {
  const shared = {
    REDIS_URL: server.url,
    REDIS_KEY_PREFIX: prefix,
    LC_STATE_KEYS: randomBytes(32).toString('base64'),
    LC_SESSION_SECRET: randomBytes(32).toString('base64'),
    DATABASE_URL: databaseUrl,
  };
  const a = await demoApp(shared, framework, FAST_ARGON2);
  const b = await demoApp(shared, framework, FAST_ARGON2).catch(async (error: unknown) => {
    await a.app.close();
    throw error;
  });
  return { apps: [a.app, b.app], origin: a.config.appOrigin };
}

/** The two CSRF modes of docs/security.md §1; strict keeps 256 tokens a session (the probe uses the newest 200). */
const MODES = [
  { mode: 'per-session CSRF tokens', strict: false, framework: {}, seedOffset: 0 },
  { mode: 'single-use CSRF tokens', strict: true, framework: { csrf: { rotation: 'per-action' as const, maxOutstanding: 256 } }, seedOffset: 50 },
];

/** Runs the probe `RUNS` times, each on apps `start` opens afresh. */
async function probeRuns(
  start: () => Promise<{ apps: FastifyInstance[]; origin: string; clock?: ProbeTarget['clock'] }>,
  firstSeed: number,
  strictCsrf: boolean,
  more: (stats: ProbeStats) => void = (stats) => expect(stats.byStatus['429'] ?? 0).toBeGreaterThan(0),
): Promise<void> {
  for (let run = 0; run < RUNS; run++) {
    const { apps, origin, clock } = await start();
    try {
      more(await probe({ ...targetOf(apps, origin), clock }, firstSeed + run, strictCsrf));
    } finally {
      for (const app of apps) await app.close();
    }
  }
}

async function probe(target: ProbeTarget, seed: number, strictCsrf: boolean): Promise<ProbeStats> {
  const stats = await runModelProbe(target, { seed, ops: OPS, strictCsrf });
  if (process.env.MODEL_VERBOSE !== undefined) console.log(`seed ${seed}: ${JSON.stringify(stats)}`);
  // The run did what it is for: actions ran, keys replayed, budgets ran out, tokens were refused.
  expect(stats.ops).toBe(OPS);
  expect(stats.ran).toBeGreaterThan(0);
  expect(stats.replays).toBeGreaterThan(0);
  expect(stats.byStatus['403'] ?? 0).toBeGreaterThan(0);
  expect(stats.byStatus['422'] ?? 0).toBeGreaterThan(0);
  return stats;
}

it('reads the error codes of docs/reference/errors.md', () => {
  expect(DOCUMENTED_CODES.has('IDEMPOTENCY_KEY_REUSED')).toBe(true);
  expect(DOCUMENTED_CODES.size).toBeGreaterThan(20);
});

it('on the memory store on a clock the test moves (budgets refill, idempotency records expire)', async () => {
  const stepMs = 60_000;
  await probeRuns(async () => {
    const clock = manualClock(Date.now());
    const demo = await demoApp({}, { store: createMemoryStore({ clock }), clock }, FAST_ARGON2);
    return { apps: [demo.app], origin: demo.config.appOrigin, clock: { ...clock, stepMs } };
  }, seedFor(606), false, (stats) => expect(stats.expired).toBeGreaterThan(0));
}, TIMEOUT);

describe.each(MODES)('model probe of the reference app, $mode', ({ strict, framework, seedOffset }) => {
  it('on the memory store', async () => {
    await probeRuns(async () => {
      const demo = await demoApp({}, { ...framework, store: createMemoryStore() }, FAST_ARGON2);
      return { apps: [demo.app], origin: demo.config.appOrigin };
    }, seedFor(101 + seedOffset), strict);
  }, TIMEOUT);

  it('on SQLite', async () => {
    await probeRuns(async () => {
      const demo = await demoApp({}, framework, FAST_ARGON2);
      return { apps: [demo.app], origin: demo.config.appOrigin };
    }, seedFor(202 + seedOffset), strict);
  }, TIMEOUT);

  describe.skipIf(!REDIS_AVAILABLE)('on Redis', () => {
    let redis: RedisServer | undefined;
    afterAll(async () => redis?.stop());

    it('one instance', async () => {
      const server = (redis ??= await startRedis());
      let run = 0;
      await probeRuns(async () => {
        const demo = await demoApp({ REDIS_URL: server.url, REDIS_KEY_PREFIX: `one${run++}:` }, framework, FAST_ARGON2);
        return { apps: [demo.app], origin: demo.config.appOrigin };
      }, seedFor(303 + seedOffset), strict);
    }, TIMEOUT);

    it('two instances sharing it, requests of one session spread over both', async () => {
      const server = (redis ??= await startRedis());
      let run = 0;
      await probeRuns(
        async () => twoInstances(server, `two${run++}:`, `sqlite:${join(mkdtempSync(join(tmpdir(), 'lc-model-')), 'shared.db')}`, framework),
        seedFor(404 + seedOffset),
        strict,
      );
    }, TIMEOUT);
  });
});

/** One target with its accounts on PostgreSQL (the others keep them in SQLite): per-session tokens only, for the file's run time. */
describe.skipIf(!REDIS_AVAILABLE || PG.state !== 'up')('model probe of the reference app, accounts on PostgreSQL', () => {
  let redis: RedisServer | undefined;
  const schemas: { drop: () => Promise<void> }[] = [];
  afterAll(async () => {
    await redis?.stop();
    for (const schema of schemas) await schema.drop();
  });

  it('two instances sharing Redis and one PostgreSQL schema of accounts', async () => {
    const server = (redis ??= await startRedis());
    let run = 0;
    await probeRuns(async () => {
      const schema = await createTestSchema('model_probe');
      schemas.push(schema);
      return twoInstances(server, `pg${run++}:`, schema.url, {});
    }, seedFor(707), false);
  }, TIMEOUT);
});
