import { request as httpRequest } from 'node:http';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { LiveError } from '../../core/errors.js';
import { sendError } from '../../http/error-mapping.js';
import { memorySecurityEvents } from '../security-events.js';
import { createMetrics, registerHttpMetrics, registerMetricsRoute, type Metrics } from './index.js';

const TOKEN = 'metrics-token-0123456789abcdef';
const apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

function appWithRoutes(metrics: Metrics): FastifyInstance {
  const app = Fastify();
  apps.push(app);
  registerHttpMetrics(app, metrics);
  app.get('/items/:id', async () => ({ ok: true }));
  app.setNotFoundHandler((request, reply) => sendError(new LiveError('NOT_FOUND'), request, reply));
  return app;
}

/** GET over a real socket; resolves the status, or the connection error's code. */
function fetchStatus(port: number, path: string): Promise<number | string> {
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    req.end();
  });
}

describe('HTTP metrics hook', () => {
  it('labels requests with the route template, never the raw URL', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const app = appWithRoutes(metrics);
    await registerMetricsRoute(app, { metrics });
    await app.ready();
    await app.inject('/items/alice-id?email=someone@example.com');
    await app.inject('/items/bob-id');
    await app.inject('/wp-admin/setup.php');
    await app.inject({ method: 'DELETE', url: '/items/carol-id' });
    const text = (await app.inject('/metrics')).body;
    expect(text).toContain('http_requests_total{method="GET",route="/items/:id",status_code="200"} 2\n');
    expect(text).toContain('http_requests_total{method="GET",route="unmatched",status_code="404"} 1\n');
    expect(text).toContain('http_requests_total{method="DELETE",route="unmatched",status_code="404"} 1\n');
    expect(text).not.toMatch(/alice|bob|carol|wp-admin|example\.com/);
    // The scrape itself is counted once it has been answered: the next scrape shows it.
    expect((await app.inject('/metrics')).body).toContain('http_requests_total{method="GET",route="/metrics",status_code="200"} 1\n');
  });
});

describe('registerMetricsRoute', () => {
  it('serves the exposition format without a token when none is configured', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const app = appWithRoutes(metrics);
    expect(await registerMetricsRoute(app, { metrics })).toBeNull();
    const res = await app.inject('/metrics');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toContain('# TYPE livecomponents_actions_total counter');
  });

  it('with a token, answers 401 INVALID_TOKEN unless the exact bearer token is sent', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const app = appWithRoutes(metrics);
    await registerMetricsRoute(app, { metrics, token: TOKEN });
    for (const authorization of [undefined, `Bearer ${TOKEN}x`, `Basic ${TOKEN}`, TOKEN]) {
      const res = await app.inject({ url: '/metrics', headers: authorization === undefined ? {} : { authorization } });
      expect(res.statusCode).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Bearer realm="metrics"');
      expect(res.json()).toEqual({ error: expect.any(String), code: 'INVALID_TOKEN', request_id: expect.any(String) });
      expect(res.body).not.toContain('livecomponents_');
    }
    const ok = await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(ok.statusCode).toBe(200);
    expect(ok.body).toContain('http_requests_total{method="GET",route="/metrics",status_code="401"} 4\n');
  });

  it('logs one authz_fail per refused scrape, without the token, and none for the right token or without one configured', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const events = memorySecurityEvents();
    const app = appWithRoutes(metrics);
    await registerMetricsRoute(app, { metrics, token: TOKEN, events });
    await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(events.events).toEqual([]);
    await app.inject({ url: '/metrics', headers: { authorization: 'Bearer guess-0123456789abcdef' } });
    await app.inject({ url: '/metrics' });
    expect(events.events.map(({ event, level, description }) => ({ event, level, description }))).toEqual([
      { event: 'authz_fail', level: 'WARN', description: 'METRICS_TOKEN check refused the request: wrong or malformed bearer token' },
      { event: 'authz_fail', level: 'WARN', description: 'METRICS_TOKEN check refused the request: no bearer token' },
    ]);
    expect(events.events.map((e) => e.description).join()).not.toContain('guess');

    const open = memorySecurityEvents();
    const unguarded = appWithRoutes(metrics);
    await registerMetricsRoute(unguarded, { metrics, events: open });
    await unguarded.inject({ url: '/metrics', headers: { authorization: 'Bearer guess-0123456789abcdef' } });
    expect(open.events).toEqual([]);
  });

  it('reports refusals on the separate metrics server too', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const events = memorySecurityEvents();
    const separate = await registerMetricsRoute(appWithRoutes(metrics), { metrics, port: 0, token: TOKEN, events });
    expect((await separate!.server.inject({ url: '/metrics', headers: { authorization: 'Bearer guess-0123456789abcdef' } })).statusCode).toBe(401);
    expect(events.events.map((e) => e.event)).toEqual(['authz_fail']);
  });

  it('with a port, serves /metrics on its own server only, and closes it with the app', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const app = appWithRoutes(metrics);
    const separate = await registerMetricsRoute(app, { metrics, port: 0, token: TOKEN });
    expect(separate).not.toBeNull();
    const { server, port } = separate!;
    expect(port).toBeGreaterThan(0);
    expect((await app.inject('/metrics')).statusCode).toBe(404);
    const res = await server.inject({ url: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('# TYPE http_requests_total counter');
    expect((await server.inject('/metrics')).statusCode).toBe(401);
    expect((await server.inject('/other')).json()).toMatchObject({ code: 'NOT_FOUND' });
    expect(await fetchStatus(port, '/metrics')).toBe(401);
    await app.close();
    expect(await fetchStatus(port, '/metrics')).toBe('ECONNREFUSED');
  });

  it.each([
    [{ port: -1 }, /port must be an integer from 0 to 65535/],
    [{ port: 70_000 }, /port must be an integer from 0 to 65535/],
    [{ port: 1.5 }, /port must be an integer from 0 to 65535/],
    [{ token: 'short' }, /token must be at least 16 characters/],
    [{ metrics: {} }, /metrics must come from createMetrics/],
    [{ allowedHosts: 'app1' }, /allowedHosts must be an array of host names/],
    [{ allowedHosts: ['app1:9464'] }, /allowedHosts: "app1:9464" must be a host name alone, without scheme or port/],
  ])('refuses %j with LC_INVALID_OPTION', async (extra, message) => {
    const metrics = createMetrics({ defaultMetrics: false });
    const app = appWithRoutes(metrics);
    const attempt = registerMetricsRoute(app, { metrics, ...(extra as object) });
    await expect(attempt).rejects.toThrow(message);
    await expect(registerMetricsRoute(app, { metrics, ...(extra as object) })).rejects.toMatchObject({ code: 'LC_INVALID_OPTION' });
  });
});
