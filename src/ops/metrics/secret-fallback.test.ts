/**
 * `livecomponents_secret_fallback_used_total{secret}`: exposed at 0 for every secret from the first
 * scrape; `countSecretFallback` adds one to its own series (unknown names never become labels); a
 * scrape let in by `METRICS_TOKEN_PREVIOUS` counts `metrics_token` by itself, a `/health` request
 * let in by `HEALTH_TOKEN_PREVIOUS` counts through `onPreviousToken`. The current token, a wrong one
 * or none count nothing.
 */
import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { bearerChecker } from '../health/bearer.js';
import { createLifecycleState, registerHealth } from '../health/index.js';
import { memorySecurityEvents } from '../security-events.js';
import { createMetrics, METRIC_NAMES, registerMetricsRoute, SECRET_FALLBACKS, type Metrics, type SecretFallback } from './index.js';

const apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

const token = (): string => randomBytes(32).toString('hex');

/** The sample of `secret` in the exposition `text`, `undefined` when absent. */
function sampleIn(text: string, secret: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${METRIC_NAMES.secretFallbackUsed}{secret="${secret}"} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

async function countOf(metrics: Metrics, secret: SecretFallback): Promise<number | undefined> {
  return sampleIn(await metrics.render(), secret);
}

describe('livecomponents_secret_fallback_used_total', () => {
  it('starts at 0 for every secret; countSecretFallback counts its own series only, unbound as wired', async () => {
    expect(SECRET_FALLBACKS).toEqual(['session_secret', 'state_key', 'metrics_token', 'health_token']);
    const metrics = createMetrics({ defaultMetrics: false });
    for (const secret of SECRET_FALLBACKS) expect(await countOf(metrics, secret)).toBe(0);
    const { countSecretFallback } = metrics;
    countSecretFallback('state_key');
    countSecretFallback('state_key');
    countSecretFallback('session_secret');
    countSecretFallback('the-secret-itself' as SecretFallback);
    const text = await metrics.render();
    expect(SECRET_FALLBACKS.map((s) => sampleIn(text, s))).toEqual([1, 2, 0, 0]);
    expect(text).not.toContain('the-secret-itself');
    expect(text).toContain(`# TYPE ${METRIC_NAMES.secretFallbackUsed} counter`);
  });

  it('takes the prefix like every metric', async () => {
    const metrics = createMetrics({ defaultMetrics: false, prefix: 'myapp_' });
    expect(await metrics.render()).toContain(`myapp_${METRIC_NAMES.secretFallbackUsed}{secret="metrics_token"} 0`);
  });
});

describe('METRICS_TOKEN_PREVIOUS counted as metrics_token', () => {
  async function metricsApp(current: string, previous?: string) {
    const metrics = createMetrics({ defaultMetrics: false });
    const app = Fastify();
    apps.push(app);
    await registerMetricsRoute(app, { metrics, token: current, previousToken: previous, events: memorySecurityEvents() });
    await app.ready();
    const scrape = async (bearer?: string) => app.inject({ url: '/metrics', headers: bearer === undefined ? {} : { authorization: `Bearer ${bearer}` } });
    return { metrics, scrape };
  }

  it('two scrapes with the previous token: 2, shown by the second scrape itself; the current token, a wrong one and none: nothing', async () => {
    const [OLD, NEW] = [token(), token()];
    const { metrics, scrape } = await metricsApp(NEW, OLD);
    expect((await scrape(OLD)).statusCode).toBe(200);
    const second = await scrape(OLD);
    expect([second.statusCode, sampleIn(second.body, 'metrics_token')]).toEqual([200, 2]);
    expect([(await scrape(NEW)).statusCode, (await scrape(token())).statusCode, (await scrape()).statusCode]).toEqual([200, 401, 401]);
    expect(await countOf(metrics, 'metrics_token')).toBe(2);
    expect(await countOf(metrics, 'health_token')).toBe(0);
    // A metrics object without countSecretFallback (hand-made, or from before it) still serves the previous token.
    const app = Fastify();
    apps.push(app);
    await registerMetricsRoute(app, { metrics: { render: async () => 'x 1\n', contentType: 'text/plain' }, token: NEW, previousToken: OLD, events: memorySecurityEvents() });
    expect((await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${OLD}` } })).statusCode).toBe(200);
  });

  it('without a previous token, the old one is refused and counts nothing', async () => {
    const [OLD, NEW] = [token(), token()];
    const { metrics, scrape } = await metricsApp(NEW);
    expect((await scrape(OLD)).statusCode).toBe(401);
    expect(await countOf(metrics, 'metrics_token')).toBe(0);
  });
});

describe('HEALTH_TOKEN_PREVIOUS counted through onPreviousToken', () => {
  it('each request let in by the previous token counts, on /health and /health/ready; the current one, a wrong one and none do not', async () => {
    const [OLD, NEW] = [token(), token()];
    const metrics = createMetrics({ defaultMetrics: false });
    const state = createLifecycleState();
    state.startupDone = true;
    const app = Fastify();
    apps.push(app);
    registerHealth(app, { checks: [], state, token: NEW, previousToken: OLD, events: memorySecurityEvents(), onPreviousToken: () => metrics.countSecretFallback('health_token') });
    const get = async (url: string, bearer?: string) =>
      (await app.inject({ url, headers: bearer === undefined ? {} : { authorization: `Bearer ${bearer}` } })).statusCode;
    expect([await get('/health', OLD), await get('/health/ready', OLD), await get('/health', OLD)]).toEqual([200, 200, 200]);
    expect([await get('/health', NEW), await get('/health', token()), await get('/health')]).toEqual([200, 401, 200]);
    expect(await countOf(metrics, 'health_token')).toBe(3);
    expect(await countOf(metrics, 'metrics_token')).toBe(0);
  });

  it('refuses an onPreviousToken that is not a function', () => {
    expect(() => registerHealth(Fastify(), { checks: [], state: createLifecycleState(), onPreviousToken: 'count' as unknown as () => void })).toThrow(
      'registerHealth: onPreviousToken must be a function',
    );
  });
});

describe('bearerChecker onPrevious', () => {
  it('told only when the previous token alone matched; both accepted, as before', () => {
    const [OLD, NEW] = [token(), token()];
    let told = 0;
    const check = bearerChecker(NEW, OLD, () => told++);
    expect([check(`Bearer ${NEW}`), check(`Bearer ${OLD}`), check(`bearer   ${OLD} `), check(`Bearer ${token()}`), check(undefined), check('Basic x')]).toEqual([
      'valid',
      'valid',
      'valid',
      'invalid',
      'absent',
      'invalid',
    ]);
    expect(told).toBe(2);
    // Without a previous token nothing is ever told.
    const single = bearerChecker(NEW, undefined, () => told++);
    expect([single(`Bearer ${NEW}`), single(`Bearer ${OLD}`)]).toEqual(['valid', 'invalid']);
    expect(told).toBe(2);
  });
});

describe('livecomponents_secret_fallbacks_configured', () => {
  /** The gauge's sample of `secret` in `text`, `undefined` when absent. */
  const configuredIn = (text: string, secret: string): number | undefined => {
    const line = text.split('\n').find((l) => l.startsWith(`${METRIC_NAMES.secretFallbacksConfigured}{secret="${secret}"} `));
    return line === undefined ? undefined : Number(line.split(' ')[1]);
  };

  it('starts at 0 for every secret; setSecretFallbacksConfigured sets one, unbound as wired; refuses an unknown secret or a bad count', async () => {
    expect(METRIC_NAMES.secretFallbacksConfigured).toBe('livecomponents_secret_fallbacks_configured');
    const metrics = createMetrics({ defaultMetrics: false });
    let text = await metrics.render();
    expect(SECRET_FALLBACKS.map((s) => configuredIn(text, s))).toEqual([0, 0, 0, 0]);
    expect(text).toContain(`# TYPE ${METRIC_NAMES.secretFallbacksConfigured} gauge`);
    const { setSecretFallbacksConfigured } = metrics;
    setSecretFallbacksConfigured('session_secret', 2);
    setSecretFallbacksConfigured('state_key', 1);
    setSecretFallbacksConfigured('state_key', 3);
    expect(() => setSecretFallbacksConfigured('the-secret-itself' as SecretFallback, 1)).toThrow(/unknown secret "the-secret-itself"/);
    for (const bad of [-1, 1.5, Number.NaN, '1' as unknown as number]) expect(() => setSecretFallbacksConfigured('health_token', bad)).toThrow(/non-negative integer/);
    text = await metrics.render();
    expect(SECRET_FALLBACKS.map((s) => configuredIn(text, s))).toEqual([2, 3, 0, 0]);
    expect(text).not.toContain('the-secret-itself');
  });

  it('registerMetricsRoute sets metrics_token: 1 with a previous token, 0 without', async () => {
    const values = [];
    for (const previous of [token(), undefined]) {
      const metrics = createMetrics({ defaultMetrics: false });
      const app = Fastify();
      apps.push(app);
      await registerMetricsRoute(app, { metrics, token: token(), previousToken: previous, events: memorySecurityEvents() });
      values.push(configuredIn(await metrics.render(), 'metrics_token'));
    }
    expect(values).toEqual([1, 0]);
  });
});
