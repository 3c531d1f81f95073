/**
 * METRICS_TOKEN and HEALTH_TOKEN changed without a gap: the app accepts the new token and, while
 * listed, the previous one; the scraper's credentials move; the previous one is dropped and from
 * then on refused. Every refusal is a 401 with one `authz_fail` event; a wrong token never passes.
 */
import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { bearerChecker } from '../../src/ops/health/bearer.js';
import { createMetrics, registerMetricsRoute } from '../../src/ops/metrics/index.js';
import { memorySecurityEvents } from '../../src/ops/security-events.js';

const apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

const token = (): string => randomBytes(32).toString('hex');
const OLD = token();
const NEW = token();

/** An app serving /metrics behind `current` (and `previous`, when given). */
async function metricsApp(current: string, previous?: string) {
  const events = memorySecurityEvents();
  const app = Fastify();
  apps.push(app);
  await registerMetricsRoute(app, { metrics: createMetrics({ defaultMetrics: false }), token: current, previousToken: previous, events });
  await app.ready();
  const scrape = async (bearer: string | undefined): Promise<number> =>
    (await app.inject({ url: '/metrics', headers: bearer === undefined ? {} : { authorization: `Bearer ${bearer}` } })).statusCode;
  const refusals = (): number => events.events.filter((e) => e.event === 'authz_fail').length;
  return { scrape, refusals };
}

describe('METRICS_TOKEN rollover (registerMetricsRoute previousToken)', () => {
  it('accepts the previous token only while it is listed; a wrong one is 401 all along, one authz_fail per refusal', async () => {
    // Before: the old token alone.
    const before = await metricsApp(OLD);
    expect([await before.scrape(OLD), await before.scrape(NEW)]).toEqual([200, 401]);
    expect(before.refusals()).toBe(1);
    // Step 1: the app takes both, so the scraper's file can change at any moment.
    const both = await metricsApp(NEW, OLD);
    expect([await both.scrape(OLD), await both.scrape(NEW), await both.scrape(token()), await both.scrape(undefined)]).toEqual([200, 200, 401, 401]);
    expect(both.refusals()).toBe(2);
    // Step 2: the previous token dropped.
    const after = await metricsApp(NEW);
    expect([await after.scrape(NEW), await after.scrape(OLD)]).toEqual([200, 401]);
    expect(after.refusals()).toBe(1);
  });

  it('refuses a previous token without a token, or equal to it, at registration', async () => {
    const app = Fastify();
    apps.push(app);
    const metrics = createMetrics({ defaultMetrics: false });
    await expect(registerMetricsRoute(app, { metrics, previousToken: OLD })).rejects.toThrow('registerMetricsRoute: previousToken needs token (it is only accepted beside it)');
    await expect(registerMetricsRoute(app, { metrics, token: OLD, previousToken: OLD })).rejects.toThrow('registerMetricsRoute: previousToken must differ from token');
    await expect(registerMetricsRoute(app, { metrics, token: NEW, previousToken: 'short' })).rejects.toThrow(
      'registerMetricsRoute: previousToken must be at least 16 characters without whitespace',
    );
  });
});

describe('HEALTH_TOKEN rollover (bearerChecker with a previous token)', () => {
  it('valid for the token and the previous one only; absent and malformed stay what they were', () => {
    const both = bearerChecker(NEW, OLD);
    const verdicts = [`Bearer ${NEW}`, `Bearer ${OLD}`, `bearer   ${OLD}  `, `Bearer ${token()}`, `Bearer ${OLD}x`, `Basic ${OLD}`, '', undefined].map(both);
    expect(verdicts).toEqual(['valid', 'valid', 'valid', 'invalid', 'invalid', 'invalid', 'absent', 'absent']);
    const dropped = bearerChecker(NEW);
    expect([dropped(`Bearer ${NEW}`), dropped(`Bearer ${OLD}`)]).toEqual(['valid', 'invalid']);
    // Undefined previous (the variable unset) is the one-token checker.
    expect(bearerChecker(NEW, undefined)(`Bearer ${OLD}`)).toBe('invalid');
  });
});
