/**
 * The login CSRF by a planted refresh cookie (docs/auth.md "A planted refresh cookie", ddad6b8), in
 * a real Chromium over HTTPS rather than through `inject`: does the browser store and send the
 * cookies as src/auth/cookie.ts assumes, does the attack work at all, and does the companion stop it?
 *
 * The reference app runs in production cookie mode (`secureCookies`: NODE_ENV=production, an https
 * APP_URL) behind a real HTTPS server (`https.createServer(…, app.routing)`, a certificate made by
 * `openssl` for this run) as `https://app.example.test:<port>`; a second HTTPS server is the
 * attacker's sibling host `https://evil.example.test:<port>`, whose page plants
 * `refresh_token=<the attacker's own valid token>; Domain=example.test; Path=/api/v1/auth`.
 * Chromium maps `*.example.test` to 127.0.0.1 and ignores the self-signed certificate; that it still
 * stores `Secure` and `__Host-` cookies there is checked with `context.cookies()`.
 *
 * On the source before ddad6b8 the planted token rotates: the victim's page gets 200 and an access
 * token of the attacker's account, so the first test fails there (the second too: no companion).
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Browser, BrowserContext, Cookie } from 'playwright-core';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDemoApp } from '../../examples/demo/app.js';
import { capturedMailTransport } from '../../src/auth/index.js';
import { manualClock } from '../../src/core/clock.js';
import { parseEnv } from '../../src/ops/config.js';
import { memorySecurityEvents } from '../../src/ops/security-events.js';
import { createDatabase, migrateToLatest } from '../../src/sql/index.js';
import { createMemoryStore } from '../../src/store/memory/index.js';
import { browserTestsEnabled, CHROMIUM_ARGS, chromiumMissing, CHROMIUM_PATH } from '../browser/browser.js';

const PASSWORD = 'correct horse battery staple';
/** The companion's name, spelled out: the source before ddad6b8 has no constant for it. */
const BINDING = '__Host-lc_refresh_binding_token';
const MANY = { limit: 10_000, windowSeconds: 60 };
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

const sha256 = (token: string) => createHash('sha256').update(token).digest('hex');

/** A self-signed certificate for app.example.test, evil.example.test and x.app.example.test (a subdomain of the app's host), made now. */
function selfSignedCertificate(dir: string): { key: Buffer; cert: Buffer } {
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-keyout', key, '-out', cert,
    '-subj', '/CN=app.example.test', '-addext', 'subjectAltName=DNS:app.example.test,DNS:evil.example.test,DNS:x.app.example.test',
  ], { stdio: 'ignore' });
  return { key: readFileSync(key), cert: readFileSync(cert) };
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

function close(server: Server | undefined): Promise<void> {
  if (server === undefined || !server.listening) return Promise.resolve();
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Plain `fetch` from a page of `base` (same origin, the browser's own cookies); resolves status and JSON body. */
async function pageFetch(context: BrowserContext, base: string, path: string, init: { body?: unknown; bearer?: string } = {}) {
  const page = context.pages()[0] ?? (await context.newPage());
  if (!page.url().startsWith(base)) await page.goto(`${base}/login`);
  return page.evaluate(
    async ({ path, body, bearer }) => {
      const headers: Record<string, string> = {};
      if (body !== undefined) headers['content-type'] = 'application/json';
      if (bearer !== undefined) headers.authorization = `Bearer ${bearer}`;
      const res = await fetch(path, { method: 'POST', credentials: 'same-origin', headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
      const text = await res.text();
      return { status: res.status, json: (text === '' ? null : JSON.parse(text)) as Record<string, unknown> | null };
    },
    { path, body: init.body, bearer: init.bearer },
  );
}

const named = (cookies: Cookie[], name: string) => cookies.filter((c) => c.name === name);

describe.runIf(browserTestsEnabled('planted refresh cookie in Chromium over HTTPS'))('planted refresh cookie in Chromium over HTTPS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lc-planted-'));
  let app: FastifyInstance | undefined;
  let appServer: Server | undefined;
  let evilServer: Server | undefined;
  let browser: Browser | undefined;
  let db: ReturnType<typeof createDatabase>;
  let appBase = '';
  let evilBase = '';
  let evilPort = 0;
  /** What the evil page plants (the attacker's refresh token), set before the victim visits it. */
  let planted = '';
  /** The `Set-Cookie` lines of the evil page (served for `host`) for `planted`: one, at the module's own path, unless a test sets others. */
  let plantLines = (token: string, _host: string) => [`refresh_token=${token}; Domain=example.test; Path=/api/v1/auth; Secure; SameSite=Lax; Max-Age=3600`];
  const events = memorySecurityEvents();

  beforeAll(async () => {
    const tls = selfSignedCertificate(dir);
    // The app's HTTPS server is started first (APP_URL needs its port); the app answers it once built.
    appServer = createServer(tls, (req, res) => (app === undefined ? void res.writeHead(503).end() : app.routing(req, res)));
    const appPort = await listen(appServer);
    appBase = `https://app.example.test:${appPort}`;

    const { config, issues } = parseEnv({
      LC_STATE_KEYS: randomBytes(32).toString('base64'),
      LC_SESSION_SECRET: randomBytes(32).toString('base64'),
      HOST: '127.0.0.1',
      PORT: String(appPort),
      NODE_ENV: 'production',
      APP_URL: appBase,
      TOKEN_CLEANUP_INTERVAL: '0',
      MAX_EVENT_LOOP_DELAY_MS: '0',
    });
    if (issues.length > 0) throw new Error(issues.map((i) => i.message).join('; '));
    expect(config.secureCookies).toBe(true);
    db = createDatabase(`sqlite:${join(dir, 'app.db')}`);
    await migrateToLatest(db);
    const store = createMemoryStore({ clock: manualClock(Date.now()) });
    app = await createDemoApp({
      config,
      backends: { db, store, close: async () => (await store.close(), await db.destroy()) },
      framework: { events, dataDir: dir },
      auth: {
        mail: capturedMailTransport(),
        password: { memoryCost: 1024, timeCost: 1, parallelism: 1 },
        limits: { login: MANY, register: MANY, 'refresh-token': MANY, logout: MANY },
      },
    });
    await app.ready();

    // The attacker's sibling host: its page plants whatever `planted` holds, for the whole site.
    evilServer = createServer(tls, (req, res) => {
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'set-cookie': plantLines(planted, (req.headers.host ?? '').replace(/:\d+$/, '')),
      });
      res.end('<!doctype html><title>cute cats</title><p>Nothing to see here.');
    });
    evilPort = await listen(evilServer);
    evilBase = `https://evil.example.test:${evilPort}`;

    for (const email of ['victim@example.test', 'attacker@example.test']) {
      const res = await app.inject({ method: 'POST', url: '/api/v1/auth/register', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ email, password: PASSWORD }) });
      expect(res.statusCode).toBe(201);
    }

    if (chromiumMissing() !== null) throw new Error(`Browser tests cannot run: ${chromiumMissing()}`);
    browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: [...CHROMIUM_ARGS, '--host-resolver-rules=MAP *.example.test 127.0.0.1'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await close(evilServer);
    await close(appServer);
    await app?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const newContext = () => browser!.newContext({ ignoreHTTPSErrors: true });
  const rows = async () => ({
    refresh: await db.selectFrom('refresh_tokens').selectAll().orderBy('id').execute(),
    access: await db.selectFrom('access_tokens').selectAll().orderBy('id').execute(),
  });

  it('a token planted by evil.example.test (Domain=example.test) alone: 401 REFRESH_TOKEN_INVALID, no access token, nothing rotated', async () => {
    // The attacker signs in with their own account, from their own machine (not the victim's browser);
    // they keep the refresh token, and cannot plant its companion (__Host-: host-only, Path=/).
    const login = await app!.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ email: 'attacker@example.test', password: PASSWORD }),
    });
    expect(login.statusCode).toBe(200);
    const setCookie = ([] as string[]).concat(login.headers['set-cookie'] ?? []);
    planted = (setCookie.find((c) => c.startsWith('refresh_token=')) as string).split(';')[0]!.slice('refresh_token='.length);
    expect(planted).toMatch(TOKEN);
    const attackerFamily = (await db.selectFrom('refresh_tokens').select('family_id').where('token_hash', '=', sha256(planted)).executeTakeFirstOrThrow()).family_id;
    const before = await rows();

    // The victim's browser, never signed in, opens the attacker's sibling host.
    const context = await newContext();
    try {
      const page = await context.newPage();
      const visit = await page.goto(`${evilBase}/`);
      expect(visit?.status()).toBe(200);
      const jar = await context.cookies();
      expect(jar).toEqual([
        expect.objectContaining({ name: 'refresh_token', value: planted, domain: '.example.test', path: '/api/v1/auth', secure: true, httpOnly: false, sameSite: 'Lax' }),
      ]);
      // Chromium will send it to the app: the attack's precondition holds in a real browser.
      expect((await context.cookies(`${appBase}/api/v1/auth/refresh-token`)).map((c) => [c.name, c.value])).toEqual([['refresh_token', planted]]);

      // A page of the app refreshes, as its script does on load.
      await page.goto(`${appBase}/login`);
      const [request, refreshed] = await Promise.all([
        page.waitForRequest((r) => r.url() === `${appBase}/api/v1/auth/refresh-token`),
        pageFetch(context, appBase, '/api/v1/auth/refresh-token'),
      ]);
      expect({ status: refreshed.status, code: refreshed.json?.code, access_token: refreshed.json?.access_token }).toEqual({
        status: 401,
        code: 'REFRESH_TOKEN_INVALID',
        access_token: undefined,
      });
      // …though the browser did send the planted token (and no companion: it has none).
      const sent = ((await request.headerValue('cookie')) ?? '').split('; ');
      expect(sent.filter((pair) => pair.startsWith('refresh_token='))).toEqual([`refresh_token=${planted}`]);
      expect(sent.filter((pair) => pair.startsWith(`${BINDING}=`))).toEqual([]);
      // The refusal expired it where a sibling could have set it (Domain=example.test, each path sent
      // to the endpoint): before, only the host-only expiry went out, the planted cookie stayed, and
      // every later page load was refused again with one more malicious_csrf.
      expect(named(await context.cookies(), 'refresh_token')).toEqual([]);
      for (let load = 0; load < 3; load++) {
        const [request, again] = await Promise.all([
          page.waitForRequest((r) => r.url() === `${appBase}/api/v1/auth/refresh-token`),
          pageFetch(context, appBase, '/api/v1/auth/refresh-token'),
        ]);
        expect([again.status, again.json?.code, again.json?.access_token]).toEqual([401, 'REFRESH_TOKEN_INVALID', undefined]);
        expect(((await request.headerValue('cookie')) ?? '').split('; ').filter((pair) => pair.startsWith('refresh_token='))).toEqual([]);
      }
      expect(events.events.filter((e) => e.event === 'malicious_csrf')).toHaveLength(1);
    } finally {
      await context.close();
    }
    // The attacker's family as it was: nothing rotated, revoked or issued.
    expect(await rows()).toEqual(before);
    expect(before.refresh.filter((r) => r.family_id === attackerFamily)).toHaveLength(1);
  });

  it('the same token planted at four other paths, HttpOnly or not, SameSite Strict, Lax or None: one refusal removes every one', async () => {
    // The parent-domain expiries are `refresh_token=; Max-Age=0; Domain=…; Path=…; Secure` only (no
    // Expires, HttpOnly or SameSite, so that a refusal fits a proxy's header buffer): Chromium must
    // still delete a cookie of that name, domain and path whatever else it was set with.
    const login = await app!.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ email: 'attacker@example.test', password: PASSWORD }),
    });
    expect(login.statusCode).toBe(200);
    const setCookie = ([] as string[]).concat(login.headers['set-cookie'] ?? []);
    planted = (setCookie.find((c) => c.startsWith('refresh_token=')) as string).split(';')[0]!.slice('refresh_token='.length);
    const at = { '/': 'Secure; SameSite=None', '/api': 'HttpOnly; Secure; SameSite=Strict', '/api/v1/auth/': 'Secure; SameSite=Lax', '/api/v1/auth/refresh-token': 'HttpOnly; Secure; SameSite=Strict' };
    plantLines = (token) => Object.entries(at).map(([path, flags]) => `refresh_token=${token}; Max-Age=3600; Domain=example.test; Path=${path}; ${flags}`);
    const csrfBefore = events.events.filter((e) => e.event === 'malicious_csrf').length;
    const context = await newContext();
    try {
      const page = await context.newPage();
      expect((await page.goto(`${evilBase}/`))?.status()).toBe(200);
      const stored = named(await context.cookies(), 'refresh_token');
      expect(stored.map((c) => [c.domain, c.path, c.httpOnly, c.sameSite]).sort()).toEqual([
        ['.example.test', '/', false, 'None'],
        ['.example.test', '/api', true, 'Strict'],
        ['.example.test', '/api/v1/auth/', false, 'Lax'],
        ['.example.test', '/api/v1/auth/refresh-token', true, 'Strict'],
      ]);

      await page.goto(`${appBase}/login`);
      const [request, refreshed] = await Promise.all([
        page.waitForRequest((r) => r.url() === `${appBase}/api/v1/auth/refresh-token`),
        pageFetch(context, appBase, '/api/v1/auth/refresh-token'),
      ]);
      expect([refreshed.status, refreshed.json?.code]).toEqual([401, 'REFRESH_TOKEN_INVALID']);
      // All four were sent (one value, so not a tossed pair), and all four are gone after one refusal.
      const sent = ((await request.headerValue('cookie')) ?? '').split('; ').filter((pair) => pair.startsWith('refresh_token='));
      expect(sent).toEqual(Array.from({ length: 4 }, () => `refresh_token=${planted}`));
      // What did it: 8 minimal lines for Domain=example.test (before, each also carried Expires, HttpOnly and SameSite=Strict).
      const lines = await (await request.response())!.headerValues('set-cookie');
      const paths = ['/', '/api', '/api/', '/api/v1', '/api/v1/', '/api/v1/auth', '/api/v1/auth/', '/api/v1/auth/refresh-token'];
      expect(lines.filter((line) => line.includes('; Domain=example.test;') && !line.endsWith('; Partitioned'))).toEqual(paths.map((path) => `refresh_token=; Max-Age=0; Domain=example.test; Path=${path}; Secure`));
      expect(named(await context.cookies(), 'refresh_token')).toEqual([]);
      const again = await pageFetch(context, appBase, '/api/v1/auth/refresh-token');
      expect([again.status, again.json?.code]).toEqual([401, 'REFRESH_TOKEN_INVALID']);
      expect(events.events.filter((e) => e.event === 'malicious_csrf').length - csrfBefore).toBe(1);
    } finally {
      await context.close();
    }
  });

  it('planted Partitioned (CHIPS) by the sibling, and at Domain=<the app\'s host> by a subdomain of it: sent to the app, one refusal removes every one; a nameless =refresh_token=… is not stored', async () => {
    // A Partitioned cookie is keyed also by the top-level site; the sibling's page and the app's are
    // of one site (https://example.test), so Chromium sends the sibling's partitioned cookie with the
    // app's requests, and deletes it only by a Partitioned line (an unpartitioned one is another
    // cookie; before, the refusal had none, and the cookie stayed). A cookie of Domain=app.example.test
    // (which x.app.example.test may set, as an earlier release with the app's default domain did) is
    // another cookie than the host-only one, which is all the refusal expired before.
    const login = await app!.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ email: 'attacker@example.test', password: PASSWORD }),
    });
    expect(login.statusCode).toBe(200);
    const setCookie = ([] as string[]).concat(login.headers['set-cookie'] ?? []);
    planted = (setCookie.find((c) => c.startsWith('refresh_token=')) as string).split(';')[0]!.slice('refresh_token='.length);
    plantLines = (token, host) =>
      host === 'evil.example.test'
        ? [
            `refresh_token=${token}; Max-Age=3600; Domain=example.test; Path=/api/v1/auth; Secure; Partitioned; SameSite=None`,
            `refresh_token=${token}; Max-Age=3600; Domain=example.test; Path=/; Secure; Partitioned`,
            // Nameless, its value `refresh_token=…`: sent, it would read as a refresh cookie.
            `=refresh_token=${token}; Max-Age=3600; Domain=example.test; Path=/api/v1/auth/refresh-token; Secure`,
            // Nameless, no '=': sent as `refresh_token`, which no reader takes for a refresh cookie.
            `refresh_token; Max-Age=3600; Domain=example.test; Path=/api; Secure`,
          ]
        : [
            `refresh_token=${token}; Max-Age=3600; Domain=app.example.test; Path=/api/v1/auth; HttpOnly; Secure; SameSite=Strict`,
            `refresh_token=${token}; Max-Age=3600; Domain=app.example.test; Path=/api/v1/; Secure; Partitioned`,
          ];
    const csrfBefore = events.events.filter((e) => e.event === 'malicious_csrf').length;
    const context = await newContext();
    try {
      const page = await context.newPage();
      expect((await page.goto(`${evilBase}/`))?.status()).toBe(200);
      expect((await page.goto(`https://x.app.example.test:${evilPort}/`))?.status()).toBe(200);
      // The refresh cookies and the nameless ones (not the app's session cookie).
      const summary = (cookies: Cookie[]) =>
        cookies.filter((c) => c.name === 'refresh_token' || c.name === '').map((c) => [c.name, c.value === planted ? '<planted>' : c.value, c.domain, c.path, c.partitionKey ?? 'unpartitioned']).sort();
      // Stored: both Partitioned ones with the site's key, the Domain=<host> ones; the nameless
      // `=refresh_token=…` refused outright (Chromium stores no nameless cookie whose value has a '=').
      expect(summary(await context.cookies())).toEqual([
        ['', 'refresh_token', '.example.test', '/api', 'unpartitioned'],
        ['refresh_token', '<planted>', '.app.example.test', '/api/v1/', 'https://example.test'],
        ['refresh_token', '<planted>', '.app.example.test', '/api/v1/auth', 'unpartitioned'],
        ['refresh_token', '<planted>', '.example.test', '/', 'https://example.test'],
        ['refresh_token', '<planted>', '.example.test', '/api/v1/auth', 'https://example.test'],
      ]);

      await page.goto(`${appBase}/login`);
      const [request, refreshed] = await Promise.all([
        page.waitForRequest((r) => r.url() === `${appBase}/api/v1/auth/refresh-token`),
        pageFetch(context, appBase, '/api/v1/auth/refresh-token'),
      ]);
      expect([refreshed.status, refreshed.json?.code, refreshed.json?.access_token]).toEqual([401, 'REFRESH_TOKEN_INVALID', undefined]);
      // All four sent, partitioned or not (one value: no tossed pair), and the nameless one as `refresh_token`.
      const sent = ((await request.headerValue('cookie')) ?? '').split('; ').filter((pair) => pair.startsWith('refresh_token'));
      expect(sent.sort()).toEqual(['refresh_token', ...Array.from({ length: 4 }, () => `refresh_token=${planted}`)]);
      // The lines: the host-only pair, then app.example.test and example.test, 8 paths each, unpartitioned and Partitioned.
      const lines = await (await request.response())!.headerValues('set-cookie');
      expect(lines).toHaveLength(34);
      expect(lines.filter((line) => line.includes('; Domain=app.example.test;') && line.endsWith('; Secure; Partitioned'))).toHaveLength(8);
      expect(lines.filter((line) => line.includes('; Domain=example.test;') && line.endsWith('; Secure; Partitioned'))).toHaveLength(8);
      // Every refresh_token gone; the nameless one (sent as `refresh_token`, no refresh cookie) left alone.
      expect(summary(await context.cookies())).toEqual([['', 'refresh_token', '.example.test', '/api', 'unpartitioned']]);
      for (let load = 0; load < 3; load++) {
        const [request, again] = await Promise.all([
          page.waitForRequest((r) => r.url() === `${appBase}/api/v1/auth/refresh-token`),
          pageFetch(context, appBase, '/api/v1/auth/refresh-token'),
        ]);
        expect([again.status, again.json?.code]).toEqual([401, 'REFRESH_TOKEN_INVALID']);
        expect(((await request.headerValue('cookie')) ?? '').split('; ').filter((pair) => pair.startsWith('refresh_token='))).toEqual([]);
      }
      expect(events.events.filter((e) => e.event === 'malicious_csrf').length - csrfBefore).toBe(1);
    } finally {
      await context.close();
    }
  });

  it('the app\'s own sign-in in Chromium: both cookies stored as meant, a refresh rotates both, /logout expires both', async () => {
    const context = await newContext();
    try {
      const signedIn = await pageFetch(context, appBase, '/api/v1/auth/login', { body: { email: 'victim@example.test', password: PASSWORD } });
      expect(signedIn.status).toBe(200);
      expect(signedIn.json?.access_token).toEqual(expect.any(String));
      const jar = await context.cookies();
      const [refresh] = named(jar, 'refresh_token');
      const [binding] = named(jar, BINDING);
      // Stored at all: Secure cookies from an https origin whose certificate error is ignored, and
      // the __Host- companion (Secure, Path=/, no Domain) accepted. Host-only: no leading dot.
      expect(refresh).toMatchObject({ domain: 'app.example.test', path: '/api/v1/auth', secure: true, httpOnly: true, sameSite: 'Strict' });
      expect(binding).toMatchObject({ domain: 'app.example.test', path: '/', secure: true, httpOnly: true, sameSite: 'Strict' });
      expect(refresh!.value).toMatch(TOKEN);
      expect(binding!.value).toMatch(TOKEN);
      expect(refresh!.expires).toBeGreaterThan(Date.now() / 1000);
      // The row stores the companion's hash: the browser kept the companion the server issued.
      const row = await db.selectFrom('refresh_tokens').select('binding_hash').where('token_hash', '=', sha256(refresh!.value)).executeTakeFirstOrThrow();
      expect(row.binding_hash).toBe(sha256(binding!.value));
      // Both are sent to the refresh endpoint (the companion's Path=/ covers it); a sibling host gets neither.
      const toRefresh = (await context.cookies(`${appBase}/api/v1/auth/refresh-token`)).map((c) => c.name);
      expect(toRefresh).toEqual(expect.arrayContaining([BINDING, 'refresh_token']));
      expect((await context.cookies(`${evilBase}/api/v1/auth/refresh-token`)).map((c) => c.name)).toEqual([]);

      const refreshed = await pageFetch(context, appBase, '/api/v1/auth/refresh-token');
      expect(refreshed.status).toBe(200);
      const access = refreshed.json?.access_token as string;
      expect(access).toEqual(expect.any(String));
      const me = await app!.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { authorization: `Bearer ${access}` } });
      expect(me.json()).toMatchObject({ email: 'victim@example.test' });
      const after = await context.cookies();
      const [refresh2] = named(after, 'refresh_token');
      const [binding2] = named(after, BINDING);
      expect(refresh2).toMatchObject({ domain: 'app.example.test', path: '/api/v1/auth', secure: true, httpOnly: true, sameSite: 'Strict' });
      expect(binding2).toMatchObject({ domain: 'app.example.test', path: '/', secure: true, httpOnly: true, sameSite: 'Strict' });
      expect(refresh2!.value).not.toBe(refresh!.value);
      expect(binding2!.value).not.toBe(binding!.value);
      // And again: the rotated pair is what the browser now holds and sends.
      const twice = await pageFetch(context, appBase, '/api/v1/auth/refresh-token');
      expect(twice.status).toBe(200);

      const out = await pageFetch(context, appBase, '/api/v1/auth/logout', { bearer: twice.json?.access_token as string });
      expect(out.status).toBe(204);
      const left = await context.cookies();
      expect(named(left, 'refresh_token')).toEqual([]);
      expect(named(left, BINDING)).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
