/**
 * The documented samples that fill optional options from `process.env` (docs/components.md
 * "Setting up", docs/operations.md "Wiring your own app"), compiled by env-options.test.ts with
 * `exactOptionalPropertyTypes: true`: `process.env.X` is `string | undefined`, so each of these
 * options must take `undefined` as "absent". Only type-checked, never run.
 */
import Fastify from 'fastify';
import {
  createLifecycleState,
  createMetrics,
  openBackends,
  registerHealth,
  registerMetricsRoute,
  storeHealthCheck,
  sqlHealthCheck,
} from '../../src/index.js';

export async function wire(): Promise<void> {
  const app = Fastify();
  const { store, db } = await openBackends({
    databaseUrl: process.env.DATABASE_URL,
    redisUrl: process.env.REDIS_URL,
    redisKeyPrefix: process.env.REDIS_KEY_PREFIX,
    onRedisError: process.env.QUIET === undefined ? (error) => app.log.warn(error) : undefined,
  });
  const metrics = createMetrics();
  registerHealth(app, {
    state: createLifecycleState(),
    checks: [storeHealthCheck(store), sqlHealthCheck(db)],
    token: process.env.HEALTH_TOKEN,
    version: process.env.npm_package_version,
    serviceId: process.env.SERVICE_ID,
    timeoutMs: process.env.HEALTH_TIMEOUT_MS === undefined ? undefined : Number(process.env.HEALTH_TIMEOUT_MS),
    warnMs: undefined,
    events: undefined,
    clock: undefined,
  });
  await registerMetricsRoute(app, {
    metrics,
    token: process.env.METRICS_TOKEN,
    port: process.env.METRICS_PORT === undefined ? undefined : Number(process.env.METRICS_PORT),
    host: process.env.HOST,
    events: undefined,
  });
}
