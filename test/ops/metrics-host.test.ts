/**
 * DNS rebinding against /metrics, over real sockets: a browser on the operator's machine that loaded
 * a page of `evil.example`, whose name then points at 127.0.0.1, sends `Host: evil.example[:port]`
 * to the metrics listener. Raw requests (a browser's Host, and spellings no HTTP client library
 * would send) to the separate metrics server (METRICS_PORT) and to the app's own port, with the
 * exact status of each.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { serverOptions } from '../../src/http/server-options.js';
import { createMetrics, registerMetricsRoute } from '../../src/ops/metrics/index.js';
import { memorySecurityEvents } from '../../src/ops/security-events.js';
import { demoApp } from '../helpers/demo.js';
import { rawExchange } from '../helpers/raw-http.js';

const TOKEN = 'metrics-token-0123456789abcdef';
const HOST_REFUSED =
  'This server answers /metrics only to a Host that is an IP address, localhost, or a name it was given (METRICS_ALLOWED_HOSTS): name it so in the scrape target, or add the name.';

const apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

/** The separate metrics server of a bare app, on 127.0.0.1 (the default address). */
async function metricsServer(options: { token?: string; allowedHosts?: readonly string[] } = {}) {
  const app = Fastify(serverOptions());
  apps.push(app);
  const events = memorySecurityEvents();
  const separate = await registerMetricsRoute(app, { metrics: createMetrics({ defaultMetrics: false }), port: 0, events, ...options });
  await app.ready();
  return { port: separate!.port, events };
}

interface Answer {
  status: number;
  body: string;
}

/** One request as raw text (`host` `null`: no Host line; `''`: an empty one), the connection closed after it. */
async function ask(port: number, host: string | null, { version = '1.1', method = 'GET', headers = '' } = {}): Promise<Answer> {
  const hostLine = host === null ? '' : `Host: ${host}\r\n`;
  const raw = await rawExchange(port, `${method} /metrics HTTP/${version}\r\n${hostLine}${headers}Connection: close\r\n\r\n`);
  const [head = '', body = ''] = raw.split('\r\n\r\n', 2);
  return { status: Number(head.split(' ')[1]), body };
}

/** Every Host case, with the status it must get from an open /metrics reached on 127.0.0.1. */
function hostCases(port: number): Array<[string, string | null, { version?: string; method?: string }, number]> {
  return [
    ['an attacker’s name', 'evil.example', {}, 400],
    ['an attacker’s name with the port', `evil.example:${port}`, {}, 400],
    ['a name that begins like localhost', `localhost.evil.example:${port}`, {}, 400],
    ['a name that embeds the loopback address', `127.0.0.1.nip.io:${port}`, {}, 400],
    ['a subdomain of localhost', `evil.localhost:${port}`, {}, 400],
    ['an empty Host', '', {}, 400],
    ['no Host, on HTTP/1.0', null, { version: '1.0' }, 400],
    ['no Host, on HTTP/1.1 (refused before routing, as any such request)', null, {}, 400],
    ['an attacker’s name, on HEAD', `evil.example:${port}`, { method: 'HEAD' }, 400],
    ['127.0.0.1 with the port', `127.0.0.1:${port}`, {}, 200],
    ['the IPv6 loopback literal', `[::1]:${port}`, {}, 200],
    ['another IP literal (no DNS involved)', `10.1.2.3:${port}`, {}, 200],
    ['localhost', 'localhost', {}, 200],
    ['localhost with the port', `localhost:${port}`, {}, 200],
    ['LOCALHOST in upper case (the same name)', `LOCALHOST:${port}`, {}, 200],
    ['localhost. with the root’s dot (the same name)', `localhost.:${port}`, {}, 200],
    ['localhost on HTTP/1.0', `localhost:${port}`, { version: '1.0' }, 200],
  ];
}

describe('/metrics on the separate metrics server (METRICS_PORT) of 127.0.0.1, without token', () => {
  it('answers only a Host that is an IP literal or localhost: every other name is refused 400 INVALID_REQUEST, and logged', async () => {
    const { port, events } = await metricsServer();
    const statuses = [];
    for (const [, host, options] of hostCases(port)) statuses.push((await ask(port, host, options)).status);
    expect(statuses).toEqual(hostCases(port).map(([, , , status]) => status));

    const refused = await ask(port, `evil.example:${port}`);
    expect(JSON.parse(refused.body)).toEqual({ error: HOST_REFUSED, code: 'INVALID_REQUEST', request_id: expect.any(String) });
    expect(refused.body).not.toContain('livecomponents_');
    expect((await ask(port, `localhost:${port}`)).body).toContain('# TYPE livecomponents_security_events_total counter');
    // One authz_fail per refusal by the route (the missing Host on HTTP/1.1 never reached it), naming what was sent.
    const descriptions = events.events.map((e) => `${e.event} ${e.level} ${e.description}`);
    expect(descriptions).toHaveLength(9);
    expect(descriptions[0]).toBe(
      'authz_fail WARN /metrics refused Host "evil.example": not an IP address, localhost or a name of METRICS_ALLOWED_HOSTS (a page rebinding its DNS name to this server, or a scrape target to name by address or to list)',
    );
    expect(descriptions[5]).toMatch(/^authz_fail WARN \/metrics refused Host "": /);
    expect(descriptions[6]).toMatch(/^authz_fail WARN \/metrics refused no Host header: /);
  });

  it('answers the names of allowedHosts (METRICS_ALLOWED_HOSTS) too, in any case and with any port', async () => {
    const { port } = await metricsServer({ allowedHosts: ['app1', 'metrics.internal.example'] });
    expect((await ask(port, `app1:${port}`)).status).toBe(200);
    expect((await ask(port, `APP1.:${port}`)).status).toBe(200);
    expect((await ask(port, 'metrics.internal.example:9999')).status).toBe(200);
    expect((await ask(port, `app2:${port}`)).status).toBe(400);
    expect((await ask(port, `evil.example:${port}`)).status).toBe(400);
    expect((await ask(port, `127.0.0.1:${port}`)).status).toBe(200);
  });
});

describe('/metrics behind METRICS_TOKEN', () => {
  it('leaves the Host alone unless allowedHosts is given (a rebound page has no token): then checks it before the token', async () => {
    const bearer = `Authorization: Bearer ${TOKEN}\r\n`;
    const tokenOnly = await metricsServer({ token: TOKEN });
    expect((await ask(tokenOnly.port, `evil.example:${tokenOnly.port}`)).status).toBe(401);
    expect((await ask(tokenOnly.port, `app1:${tokenOnly.port}`, { headers: bearer })).status).toBe(200);

    const both = await metricsServer({ token: TOKEN, allowedHosts: ['app1'] });
    expect((await ask(both.port, `evil.example:${both.port}`)).status).toBe(400);
    expect((await ask(both.port, `evil.example:${both.port}`, { headers: bearer })).status).toBe(400);
    expect((await ask(both.port, `app1:${both.port}`)).status).toBe(401);
    expect((await ask(both.port, `app1:${both.port}`, { headers: bearer })).status).toBe(200);
  });
});

describe('/metrics on the reference app’s own port (development: no token, HOST=127.0.0.1)', () => {
  async function listening(env: Record<string, string> = {}) {
    const { app, events } = await demoApp(env);
    apps.push(app);
    await app.listen({ port: 0, host: '127.0.0.1' });
    return { port: (app.server.address() as { port: number }).port, events };
  }

  it('is not readable by a rebound page either', async () => {
    const { port, events } = await listening();
    const statuses = [];
    for (const [, host, options] of hostCases(port)) statuses.push((await ask(port, host, options)).status);
    expect(statuses).toEqual(hostCases(port).map(([, , , status]) => status));
    // One per refusal by the route: the HTTP/1.1 request without Host is refused before routing.
    expect(events.events.filter((e) => e.event === 'authz_fail')).toHaveLength(8);
    // The app's pages still answer any name: only /metrics is checked.
    const page = await rawExchange(port, `GET /health/live HTTP/1.1\r\nHost: evil.example:${port}\r\nConnection: close\r\n\r\n`);
    expect(page.split(' ')[1]).toBe('200');
  });

  it('takes the names of METRICS_ALLOWED_HOSTS', async () => {
    const { port } = await listening({ METRICS_ALLOWED_HOSTS: 'devbox.internal' });
    expect((await ask(port, `devbox.internal:${port}`)).status).toBe(200);
    expect((await ask(port, `evil.example:${port}`)).status).toBe(400);
  });
});
