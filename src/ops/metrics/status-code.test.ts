/**
 * The `status_code` label stays within a bounded set: a handler answering a status taken from the
 * request (`reply.code(Number(query.c))`, any of Fastify's 100–599) made a series per status, up to
 * 500 per route. A status Node names (and 499) keeps its value; any other is counted under its class.
 */
import { STATUS_CODES } from 'node:http';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { createMetrics, registerHttpMetrics, type Metrics } from './index.js';
import { statusCodeLabel } from './status-code.js';
import { httpSamples } from '../../../test/helpers/metrics-samples.js';

const apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

/** An app answering whatever status the query asks for, as a careless handler would. */
function echoStatusApp(metrics: Metrics): FastifyInstance {
  const app = Fastify();
  apps.push(app);
  registerHttpMetrics(app, metrics);
  app.get('/status', async (request, reply) => reply.code(Number((request.query as { c: string }).c)).send('x'));
  return app;
}

async function askStatuses(app: FastifyInstance, codes: readonly number[]): Promise<number[]> {
  const answered: number[] = [];
  for (const c of codes) answered.push((await app.inject(`/status?c=${c}`)).statusCode);
  return answered;
}

describe('statusCodeLabel', () => {
  it.each([
    [200, '200'],
    [301, '301'],
    [404, '404'],
    [418, '418'],
    [429, '429'],
    [499, '499'],
    [500, '500'],
    [503, '503'],
    [150, '1xx'],
    [299, '2xx'],
    [399, '3xx'],
    [420, '4xx'],
    [498, '4xx'],
    [555, '5xx'],
    [599, '5xx'],
    [777, '7xx'],
    [999, '9xx'],
    [99, 'other'],
    [1000, 'other'],
    [200.5, 'other'],
    [Number.NaN, 'other'],
    [-404, 'other'],
  ])('%s → %s', (code, label) => {
    expect(statusCodeLabel(code)).toBe(label);
  });

  it('is read once: a status added to http.STATUS_CODES later still counts under its class', () => {
    const codes = STATUS_CODES as Record<number, string | undefined>;
    codes[477] = 'Made Up';
    try {
      expect(statusCodeLabel(477)).toBe('4xx');
    } finally {
      delete codes[477];
    }
  });
});

describe('statuses a client picks through the app', () => {
  it('ordinary statuses keep their own value; unknown ones fold into their class, in the counter and the histogram', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const app = echoStatusApp(metrics);
    const codes = [200, 200, 204, 301, 404, 418, 429, 500, 503, 420, 421, 450, 450, 555, 599, 299, 150];
    expect(await askStatuses(app, codes)).toEqual(codes);
    const expected = {
      'GET /status 200': 2,
      'GET /status 204': 1,
      'GET /status 301': 1,
      'GET /status 404': 1,
      'GET /status 418': 1,
      'GET /status 421': 1,
      'GET /status 429': 1,
      'GET /status 500': 1,
      'GET /status 503': 1,
      'GET /status 1xx': 1,
      'GET /status 2xx': 1,
      'GET /status 4xx': 3,
      'GET /status 5xx': 2,
    };
    expect(await httpSamples(metrics)).toEqual({ requests: expected, timed: expected });
  });

  it('every status from 100 to 599 makes one series per known status and one per class, not 500', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const app = echoStatusApp(metrics);
    const every = Array.from({ length: 500 }, (_, i) => 100 + i);
    expect(await askStatuses(app, every)).toEqual(every);
    const { requests, timed } = await httpSamples(metrics);
    const known = Object.keys(STATUS_CODES).map(Number).filter((c) => c >= 100 && c <= 599);
    const ownValues = [...known, 499].map(String);
    const expected = Object.fromEntries([
      ...ownValues.map((c) => [`GET /status ${c}`, 1]),
      ...['1', '2', '3', '4', '5'].map((digit) => {
        const inClass = every.filter((c) => String(c)[0] === digit && !ownValues.includes(String(c))).length;
        return [`GET /status ${digit}xx`, inClass];
      }),
    ]);
    expect(requests).toEqual(expected);
    expect(timed).toEqual(expected);
    // Node's named statuses, 499 and the five classes: 69 series on Node 20, against 500 before.
    expect(Object.keys(requests)).toHaveLength(known.length + 6);
    expect(Object.values(requests).reduce((a, b) => a + b, 0)).toBe(500);
  });

  it('a refusal before routing goes through the same label', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.countUnroutedRequest(null, 400);
    metrics.countUnroutedRequest(null, 477);
    metrics.countUnroutedRequest('GET', 431);
    expect((await httpSamples(metrics)).requests).toEqual({ 'OTHER unmatched 400': 1, 'OTHER unmatched 4xx': 1, 'GET unmatched 431': 1 });
  });
});
