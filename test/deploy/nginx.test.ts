/**
 * deploy/nginx/livecomponents.conf.template for real: `nginx -t` on the rendered file, then a real
 * nginx (TLS with a certificate made here) in front of two instances of the built reference app
 * running as in production (`startProductionSite`): NODE_ENV=production, one shared Redis
 * (REDIS_URL) and one shared PostgreSQL (DATABASE_URL: users and tokens, as several instances are
 * deployed, PROTOCOL §1 and docs/scaling.md), TRUST_PROXY = the proxy's address only, metrics on
 * METRICS_PORT behind METRICS_TOKEN.
 *
 * Clients connect from distinct loopback addresses (127.0.0.2, 127.0.0.3, …), so the address nginx
 * sees differs from nginx's own address (127.0.0.1): the rate limiter must count per real client,
 * whatever X-Forwarded-For the client sends, and across both instances.
 */
import { randomUUID } from 'node:crypto';
import { rawHead } from '../helpers/raw-http.js';
import { waitUntil } from '../helpers/wait-until.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cookieHeader, httpCall, httpsCall, tlsHandshake, type Call, type Reply } from './nginx-harness.js';
import { startProductionSite, type NginxSite, type ProductionSite } from './production-site.js';
import { REDIS_AVAILABLE } from '../redis/server.js';
import { exposedSeriesNames, metricNames } from './promql.js';
import { at, haveTool, list, readDeploy, yamlDocument } from './tools.js';
import { createTestSchema, postgresAvailability, warnSkipped } from '../../src/sql/test-postgres.js';

const POSTGRES = await postgresAvailability();
if (POSTGRES.state === 'fail') throw new Error(`${POSTGRES.reason}: required under CI by the nginx test (both instances share it)`);
if (POSTGRES.state === 'skip') warnSkipped('nginx in front of two instances', POSTGRES.reason);

const HAVE_TOOLS =
  POSTGRES.state === 'up' &&
  REDIS_AVAILABLE &&
  haveTool('nginx', '-v', 'apt-get install nginx', 'the nginx config test and the two-instance proxy test') &&
  haveTool('openssl', 'version', 'apt-get install openssl', 'the nginx test (it makes its TLS certificate)');

const SERVER_NAME = 'localhost';
/**
 * A second site from the same template, for a host name of 6 labels: a refused refresh there expires
 * the refresh cookie at its 2 parent domains nearest the root on 8 paths each, unpartitioned and
 * `Partitioned` (docs/auth.md, "A planted refresh cookie"), more headers than nginx's default
 * proxy_buffer_size (4 KB) holds.
 */
const LONG_NAME = 'lc.eu.svc.production-cluster.example.test';
/** Client source addresses; nginx itself connects to the app from 127.0.0.1. */
const CLIENTS = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 2}`);

describe.skipIf(!HAVE_TOOLS)('nginx in front of two instances', () => {
  let site: ProductionSite;
  /** The nginx of LONG_NAME: its own ports, pid and logs, the same two instances behind it. */
  let long: NginxSite;
  let dropSchema: (() => Promise<void>) | undefined;

  const call = (c: Call): Promise<Reply> => site.call(c);
  const diagnostics = () => site.diagnostics();
  /** One instance's /metrics (METRICS_PORT), with the bearer token or without. */
  const scrape = async (port: number, token?: string) => {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    return { status: res.status, text: await res.text() };
  };

  beforeAll(async () => {
    const schema = await createTestSchema('nginx');
    dropSchema = schema.drop;
    // nginx is started by the tests below, after their `nginx -t`. The instances log at info level (it was
    // warn) to a file each: no longer into the output kept for failure messages, so nothing is lost by more.
    site = await startProductionSite({
      serverName: SERVER_NAME,
      appUrl: (httpsPort) => `https://${SERVER_NAME}:${httpsPort}`,
      altNames: [LONG_NAME, '127.0.0.1'],
      databaseUrl: schema.url,
      startNginx: false,
    });
    long = await site.addNginx(LONG_NAME);
  }, 120_000);

  afterAll(async () => {
    await site?.stop();
    await dropSchema?.();
  });

  it('nginx -t accepts the rendered site file', () => {
    const result = site.nginx.check();
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toContain('test is successful');
  });

  it('starts nginx in front of both instances', async () => {
    await site.nginx.start();
  });

  it('serves the health probes over TLS (certificate verified) and spreads requests over both instances', async () => {
    const answered = new Set<string>();
    for (const from of CLIENTS) {
      const res = await call({ path: '/health/live', from });
      expect(res.status, `${from}: ${res.body}\n${diagnostics()}`).toBe(200);
      expect(res.headers['strict-transport-security']).toBe('max-age=63072000');
      answered.add(String(res.headers['x-upstream']));
    }
    expect(answered).toEqual(new Set(site.upstreams));
    for (const path of ['/health/ready', '/health/startup']) {
      const res = await call({ path, from: CLIENTS[0] });
      expect(res.status, `${path}: ${res.body}`).toBe(200);
    }
  });

  it('gives a page with a Secure __Host- session cookie and the CSRF meta tag', async () => {
    const page = await call({ path: '/', from: CLIENTS[0] });
    expect(page.status).toBe(200);
    const cookie = (page.headers['set-cookie'] ?? []).find((c) => c.startsWith('__Host-lc_session='));
    expect(cookie, JSON.stringify(page.headers['set-cookie'])).toBeDefined();
    expect(cookie).toMatch(/;\s*Secure/i);
    expect(cookie).toMatch(/;\s*HttpOnly/i);
    expect(cookie).toMatch(/;\s*Path=\//i);
    expect(page.body).toMatch(/<meta name="csrf-token" content="[^"]+">/);
  });

  it('replaces the request id a client sends with nginx’s own', async () => {
    const res = await call({ path: '/health/live', from: CLIENTS[0], headers: { 'x-request-id': 'chosen-by-the-client' } });
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f]{32}$/);
  });

  /** Opens the payment page as one client: its cookie and CSRF token. */
  async function openPayment(from: string) {
    const page = await call({ path: '/payment', from });
    expect(page.status).toBe(200);
    const token = /<meta name="csrf-token" content="([^"]+)"/.exec(page.body)?.[1];
    if (!token) throw new Error('no csrf token on /payment');
    return { from, cookie: cookieHeader(page), token };
  }

  function pay(client: { from: string; cookie: string; token: string }, spoofedFor: string): Promise<Reply> {
    return call({
      method: 'POST',
      path: '/api/livecomponents/action',
      from: client.from,
      headers: {
        'content-type': 'application/json',
        cookie: client.cookie,
        'x-csrf-token': client.token,
        origin: site.appUrl,
        'sec-fetch-site': 'same-origin',
        'idempotency-key': randomUUID(),
        'x-forwarded-for': spoofedFor,
        'x-real-ip': spoofedFor,
        forwarded: `for=${spoofedFor}`,
      },
      body: JSON.stringify({ component_id: 'payment:main', action: 'processPayment', params: { amount: 1 } }),
    });
  }

  it('limits payments per real client across both instances: the 6th is refused whatever X-Forwarded-For says', async () => {
    const [victimAddress, otherAddress, framerAddress] = CLIENTS as [string, string, string];
    const victim = await openPayment(victimAddress);
    const statuses: number[] = [];
    const remaining: string[] = [];
    const servedBy = new Set<string>();
    let last: Reply | undefined;
    for (let i = 1; i <= 6; i++) {
      last = await pay(victim, `198.51.100.${i}`);
      statuses.push(last.status);
      remaining.push(String(last.headers['x-ratelimit-remaining']));
      servedBy.add(String(last.headers['x-upstream']));
      const fresh = (JSON.parse(last.body) as { csrf_token?: string }).csrf_token;
      if (fresh) victim.token = fresh;
    }
    expect(statuses, `${last?.body}\n${diagnostics()}`).toEqual([200, 200, 200, 200, 200, 429]);
    expect(remaining).toEqual(['4', '3', '2', '1', '0', '0']);
    // One counter in Redis, one session: both instances served this client.
    expect(servedBy).toEqual(new Set(site.upstreams));
    const refused = JSON.parse(last?.body ?? '{}') as { code?: string; limit?: number; window?: number };
    expect(refused).toMatchObject({ code: 'RATE_LIMIT_EXCEEDED', limit: 5, window: 300 });
    expect(Number(last?.headers['retry-after'])).toBeGreaterThan(0);

    // Another client has its own bucket: the app did not count nginx's address.
    const other = await openPayment(otherAddress);
    const paid = await pay(other, '198.51.100.99');
    expect(paid.status, paid.body).toBe(200);
    expect(paid.headers['x-ratelimit-remaining']).toBe('4');

    // Claiming to be the limited client changes nothing either way: a forged header is not an identity.
    const framer = await openPayment(framerAddress);
    const framed = await pay(framer, victimAddress);
    expect(framed.status, framed.body).toBe(200);
    expect(framed.headers['x-ratelimit-remaining']).toBe('4');
  });

  it('counts those actions in each instance’s metrics (METRICS_PORT, bearer token), under every name the dashboard and alerts use', async () => {
    const texts: string[] = [];
    for (const port of site.metricsPorts) {
      expect((await scrape(port)).status, 'no token').toBe(401);
      const res = await scrape(port, site.metricsToken);
      expect(res.status).toBe(200);
      texts.push(res.text);
    }
    const total = (pattern: RegExp) =>
      texts.flatMap((t) => [...t.matchAll(new RegExp(`^${pattern.source} (\\S+)$`, 'gm'))].map((m) => Number(m[1]))).reduce((a, b) => a + b, 0);
    const payments = (outcome: string) =>
      new RegExp(`livecomponents_actions_total\\{component="payment",action="processPayment",outcome="${outcome}"\\}`);
    // 5 + 1 + 1 paid, 1 refused, summed over both instances.
    expect(total(payments('ok'))).toBe(7);
    expect(total(payments('RATE_LIMIT_EXCEEDED'))).toBe(1);
    expect(total(/livecomponents_security_events_total\{event="excess_rate_limit_exceeded"\}/)).toBe(1);

    const exposed = new Set([...exposedSeriesNames(texts[0] ?? ''), 'up']);
    const dashboard = JSON.parse(readDeploy('grafana/livecomponents-dashboard.json')) as unknown;
    const exprs = [
      ...list(dashboard, 'panels').flatMap((p) => (at(p, 'type') === 'row' ? [] : list(p, 'targets').map((t) => String(at(t, 'expr'))))),
      ...list(yamlDocument('prometheus/alerts.yml'), 'groups').flatMap((g) => list(g, 'rules').map((r) => String(at(r, 'expr')))),
    ];
    const missing = [...new Set(exprs.flatMap(metricNames))].filter((name) => !exposed.has(name));
    expect(missing).toEqual([]);
  });

  it('passes a body of exactly the app limit (1 MiB) to the app, and refuses a larger one with a JSON 413', async () => {
    const client = await openPayment(CLIENTS[1] as string);
    const post = (bytes: number) => {
      const frame = JSON.stringify({ component_id: 'counter:main', action: 'increment', params: { pad: '' } });
      const body = frame.replace('"pad":""', `"pad":"${'x'.repeat(bytes - frame.length)}"`);
      expect(Buffer.byteLength(body)).toBe(bytes);
      return call({
        method: 'POST',
        path: '/api/livecomponents/action',
        from: client.from,
        headers: { 'content-type': 'application/json', cookie: client.cookie, 'x-csrf-token': client.token },
        body,
      });
    };
    const atLimit = await post(1_048_576);
    expect(atLimit.headers['x-upstream'], 'the app answered').toBeDefined();
    expect(atLimit.status).not.toBe(413);
    const over = await post(1_048_577);
    expect(over.status).toBe(413);
    expect(over.headers['x-upstream'], 'nginx answered').toBeUndefined();
    expect(over.headers['content-type']).toBe('application/json');
    // The headers of every action answer (docs/security.md §7), and HSTS, which this location repeats.
    expect(over.headers).toMatchObject({ 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'strict-transport-security': 'max-age=63072000' });
    expect(JSON.parse(over.body)).toEqual({
      error: 'The request body is too large.',
      code: 'PAYLOAD_TOO_LARGE',
      request_id: expect.stringMatching(/^[0-9a-f]{32}$/),
    });
  });

  it('does not expose /metrics through the proxy', async () => {
    const res = await call({ path: '/metrics', from: CLIENTS[0] });
    expect(res.status).toBe(404);
    expect(res.headers['x-upstream']).toBeUndefined();
  });

  it('redirects plain HTTP to HTTPS on the configured name and drops unknown hosts', async () => {
    const redirect = await httpCall(site.httpPort, SERVER_NAME, '/payment?x=1');
    expect(redirect.status).toBe(308);
    expect(redirect.headers.location).toBe(`https://${SERVER_NAME}/payment?x=1`);
    // `return 444`: nginx closes the connection without an answer.
    await expect(httpCall(site.httpPort, 'evil.example', '/')).rejects.toMatchObject({ code: 'ECONNRESET' });
    // `ssl_reject_handshake`: the handshake itself fails for another name, certificate aside.
    expect(await tlsHandshake(site.httpsPort, SERVER_NAME)).toBe('established');
    expect(await tlsHandshake(site.httpsPort, 'evil.example')).toMatch(/unrecognized name/i);
  });

  /** `livecomponents_security_events_total{event}` of each instance. */
  const securityEvents = async (event: string) =>
    Promise.all(
      site.metricsPorts.map(async (port) => {
        const { text } = await scrape(port, site.metricsToken);
        return Number(new RegExp(`^livecomponents_security_events_total\\{event="${event}"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
      }),
    );

  it('shares users and tokens between the instances (one PostgreSQL): registered through A, signed in through B; a refresh cookie rotated through A rotates once through B, and its reuse through A revokes the family (one authn_token_reuse)', async () => {
    // Each step is sent to the instance chosen (its own port, with the headers nginx adds), not left to least_conn.
    const [a, b] = [0, 1] as const;
    const from = CLIENTS[6] as string;
    const auth = (instance: 0 | 1, path: string, headers: Record<string, string>, body?: unknown) =>
      site.callInstance(instance, {
        method: path === 'me' ? 'GET' : 'POST',
        path: `/api/v1/auth/${path}`,
        from,
        headers: { origin: site.appUrl, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    const email = `shared-${randomUUID()}@example.test`;
    const password = 'a shared and unusual passphrase 5823';
    expect(await securityEvents('authn_token_reuse')).toEqual([0, 0]);

    const registered = await auth(a, 'register', {}, { email, password, name: 'Grace' });
    expect(registered.status, `${registered.body}\n${diagnostics()}`).toBe(201);
    // With a database per instance, B has no such user: 401 INVALID_CREDENTIALS.
    const login = await auth(b, 'login', {}, { email, password });
    expect(login.status, login.body).toBe(200);
    const issued = JSON.parse(login.body) as { access_token: string };
    const me = await auth(a, 'me', { authorization: `Bearer ${issued.access_token}` });
    expect(me.status, me.body).toBe(200);
    expect(me.body).toContain(email);

    // The refresh cookie and its __Host- companion, rotated through A; that new pair rotates once through B.
    const jar = (reply: Reply) => {
      const cookie = cookieHeader(reply);
      expect(cookie).toMatch(/(^|; )refresh_token=[^;]+/);
      expect(cookie).toMatch(/(^|; )__Host-lc_refresh_binding_token=[^;]+/);
      return cookie;
    };
    const viaA = await auth(a, 'refresh-token', { cookie: jar(login) });
    expect(viaA.status, viaA.body).toBe(200);
    const rotatedThroughA = jar(viaA);
    const viaB = await auth(b, 'refresh-token', { cookie: rotatedThroughA });
    expect(viaB.status, viaB.body).toBe(200);
    const current = jar(viaB);
    expect(new Set([jar(login), rotatedThroughA, current]).size).toBe(3);

    // The pair A issued, spent by B's rotation, replayed through A: a reuse, the family revoked on both instances.
    const reused = await auth(a, 'refresh-token', { cookie: rotatedThroughA });
    expect(reused.status, reused.body).toBe(401);
    expect(JSON.parse(reused.body)).toMatchObject({ code: 'REFRESH_TOKEN_INVALID' });
    const next = await auth(b, 'refresh-token', { cookie: current });
    expect(next.status, next.body).toBe(401);
    expect(JSON.parse(next.body)).toMatchObject({ code: 'REFRESH_TOKEN_INVALID' });
    const lastAccess = (JSON.parse(viaB.body) as { access_token: string }).access_token;
    expect((await auth(a, 'me', { authorization: `Bearer ${lastAccess}` })).status).toBe(401);

    expect(await securityEvents('authn_token_reuse')).toEqual([1, 0]);
    const logged = (instance: 0 | 1) => site.logLines(instance).filter((line) => line.event === 'authn_token_reuse');
    await waitUntil('the authn_token_reuse log line of instance A', () => logged(a).length > 0, { seen: () => site.logLines(a).slice(-5) });
    expect([logged(a).length, logged(b).length]).toEqual([1, 0]);
  });

  it('passes a refused refresh for a host of 6 labels whole: the 401 and its 34 Set-Cookie lines (a 502 with nginx\'s default 4 KB header buffer)', async () => {
    const checked = long.check();
    expect(checked.status, checked.stderr).toBe(0);
    await long.start();

    // A browser with a planted refresh cookie and no companion: refused, and the cookie expired
    // wherever a sibling could have set it.
    const headers = { origin: site.appUrl, cookie: `refresh_token=${'A'.repeat(43)}` };
    const refused = await httpsCall(long.httpsPort, LONG_NAME, site.cert, { method: 'POST', path: '/api/v1/auth/refresh-token', from: CLIENTS[3], headers });
    expect(refused.status, `${refused.body}\n${long.log('error')}`).toBe(401);
    expect(JSON.parse(refused.body)).toMatchObject({ code: 'REFRESH_TOKEN_INVALID' });
    const paths = ['/', '/api', '/api/', '/api/v1', '/api/v1/', '/api/v1/auth', '/api/v1/auth/', '/api/v1/auth/refresh-token'];
    // The 2 parents nearest the root, each unpartitioned and Partitioned (3,216 bytes): the next
    // one's lines would make 4,076, over the 3,584 the app allows them.
    const parents = ['production-cluster.example.test', 'example.test'];
    const lines = refused.headers['set-cookie'] ?? [];
    expect(lines).toHaveLength(34);
    const line = (domain: string, path: string) => `refresh_token=; Max-Age=0; Domain=${domain}; Path=${path}; Secure`;
    expect(lines.slice(1, -1)).toEqual(parents.flatMap((domain) => [...paths.map((path) => line(domain, path)), ...paths.map((path) => `${line(domain, path)}; Partitioned`)]));

    // What nginx had to hold: the app's own header block for that answer (asked directly, as nginx
    // asks it), beyond nginx's default buffer and within the 16 KB the site sets.
    const [host, port] = site.upstreams[0].split(':') as [string, string];
    const head = await rawHead(
      Number(port),
      `POST /api/v1/auth/refresh-token HTTP/1.1\r\nHost: ${LONG_NAME}\r\nX-Forwarded-Host: ${LONG_NAME}\r\nX-Forwarded-Proto: https\r\n` +
        `X-Forwarded-For: ${CLIENTS[4]}\r\nOrigin: ${headers.origin}\r\nCookie: ${headers.cookie}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
      host,
    );
    expect(head).toMatch(/^HTTP\/1\.1 401 /);
    expect(head.match(/^set-cookie: /gim)).toHaveLength(34);
    expect(Buffer.byteLength(head, 'latin1')).toBeGreaterThan(4_096);
    expect(Buffer.byteLength(head, 'latin1')).toBeLessThan(8_192);
    expect(long.log('error')).not.toMatch(/\[(emerg|alert|crit|error)\]/);
  });

  it('logged no error in nginx but the refused oversized body', () => {
    const log = site.nginxLog('error');
    const errors = log.split('\n').filter((line) => /\[(emerg|alert|crit|error)\]/.test(line));
    expect(errors.filter((line) => !line.includes('client intended to send too large body: 1048577 bytes'))).toEqual([]);
    expect(errors).toHaveLength(1);
  });
});
