/**
 * The production shape in a real browser: Chromium over HTTPS through the shipped nginx site
 * (deploy/nginx/livecomponents.conf.template) in front of two instances of the built reference app
 * (NODE_ENV=production, APP_URL https://app.lc.test, TRUST_PROXY = nginx, one shared Redis).
 *
 * Chromium reaches `app.lc.test` (and the attacker's `evil.test`) on ports 443 and 80 mapped to the
 * test's loopback ports (`--host-resolver-rules` with ports), and trusts the test certificate by its
 * public key (`--ignore-certificate-errors-spki-list`): a real secure context (no certificate error,
 * `isSecureContext`), so Chromium sends `Sec-Fetch-Site`, keeps `Secure` and `__Host-` cookies, and
 * takes HSTS — which it ignores for a page whose certificate error was only waved through.
 *
 * A user's walk (counter, reload, two tabs, orders with a double click, payment, the auth API and its
 * refresh cookie, sign-in on /login, sign-out) with every action answer checked, then the refusals a
 * browser can produce: cross-site form and fetch posts (HTTPS and a plain-HTTP page), each one 403
 * CSRF_TOKEN_INVALID and one `malicious_csrf`.
 */
import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page, type Response } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserTestsEnabled, CHROMIUM_ARGS, CHROMIUM_PATH } from '../browser/browser.js';
import { REDIS_AVAILABLE } from '../redis/server.js';
import { waitUntil } from '../helpers/wait-until.js';
import { freePort } from '../helpers/ports.js';
import { httpsCall } from './nginx-harness.js';
import { startProductionSite, type ProductionSite } from './production-site.js';
import { haveTool } from './tools.js';
import { createTestSchema, postgresAvailability, warnSkipped } from '../../src/sql/test-postgres.js';

/** Two instances share one PostgreSQL (users, tokens), as a deployment of several does. */
const POSTGRES = await postgresAvailability();
if (POSTGRES.state === 'fail') throw new Error(`${POSTGRES.reason}: required under CI by the nginx browser test`);
if (POSTGRES.state === 'skip') warnSkipped('nginx + HTTPS in Chromium', POSTGRES.reason);

const HAVE_TOOLS =
  POSTGRES.state === 'up' &&
  REDIS_AVAILABLE &&
  haveTool('nginx', '-v', 'apt-get install nginx', 'the nginx browser test') &&
  haveTool('openssl', 'version', 'apt-get install openssl', 'the nginx browser test (it makes its TLS certificate)') &&
  browserTestsEnabled('nginx + HTTPS in Chromium');

const APP = 'app.lc.test';
const ORIGIN = `https://${APP}`;
const EVIL = 'evil.test';
/** A sibling subdomain: another origin of the same site, so the browser sends SameSite cookies (Strict ones too) with its posts. */
const SIBLING = 'evil.lc.test';
const ACTION = '/api/livecomponents/action';
const HSTS = 'max-age=63072000';
const PASSWORD = 'a long and unusual passphrase 7141';

/** One answer from app.lc.test that the browser got: which instance (X-Upstream) and its headers. */
interface Seen {
  url: string;
  method: string;
  status: number;
  headers: Record<string, string>;
  setCookies: string[];
  upstream: string | undefined;
  body?: string;
}

describe.runIf(HAVE_TOOLS)('nginx + HTTPS + two production instances, in Chromium', () => {
  let site: ProductionSite;
  let browser: Browser;
  let evilHttps: Server;
  let evilHttp: Server;
  /** Every answer of app.lc.test in the user's contexts, in order. */
  const seen: Seen[] = [];
  /** Console errors, page errors and CSP violations in the user's pages. */
  const problems: string[] = [];

  let dropSchema: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    const schema = await createTestSchema('nginx_browser');
    dropSchema = schema.drop;
    site = await startProductionSite({ serverName: APP, appUrl: ORIGIN, altNames: [EVIL, SIBLING], databaseUrl: schema.url });
    const key = readFileSync(site.keyPath);
    // The attacker's site: pages that post to the app, over HTTPS and over plain HTTP.
    const evilPage = (request: { url?: string }, response: ServerResponse, scheme: 'https' | 'http') => {
      const target = `${scheme}://${APP}${ACTION}`;
      const body = attackPage(new URL(request.url ?? '/', 'http://x').pathname, target);
      response.writeHead(body === null ? 404 : 200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(body ?? 'not here');
    };
    evilHttps = createHttpsServer({ cert: site.cert, key }, (q, r) => evilPage(q, r, 'https'));
    evilHttp = createHttpServer((q, r) => evilPage(q, r, 'http'));
    const evilHttpsPort = await freePort();
    const evilHttpPort = await freePort();
    await new Promise<void>((resolve) => evilHttps.listen(evilHttpsPort, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => evilHttp.listen(evilHttpPort, '127.0.0.1', resolve));
    const rules = [
      `MAP ${APP}:443 127.0.0.1:${site.httpsPort}`,
      `MAP ${APP}:80 127.0.0.1:${site.httpPort}`,
      `MAP ${EVIL}:443 127.0.0.1:${evilHttpsPort}`,
      `MAP ${EVIL}:80 127.0.0.1:${evilHttpPort}`,
      `MAP ${SIBLING}:443 127.0.0.1:${evilHttpsPort}`,
    ].join(', ');
    browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      headless: true,
      // HttpsUpgrades off: the plain-HTTP attack page must stay on http:// (Chromium would try https:// first).
      args: [...CHROMIUM_ARGS, `--host-resolver-rules=${rules}`, `--ignore-certificate-errors-spki-list=${site.spki}`, '--disable-features=HttpsUpgrades'],
    });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    evilHttps?.close();
    evilHttp?.close();
    await site?.stop();
    await dropSchema?.();
  });

  /** A context of the user: its answers recorded, its pages watched for console errors and CSP violations. */
  async function userContext(): Promise<BrowserContext> {
    const context = await browser.newContext();
    context.on('response', (response) => void record(response));
    context.on('page', watch);
    await context.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => {
        console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`);
      });
    });
    return context;
  }

  function watch(page: Page): void {
    page.on('console', (m) => {
      if (m.type() === 'error' || /Content Security Policy/i.test(m.text())) problems.push(`${page.url()}: console ${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`${page.url()}: page error: ${e.message}`));
  }

  const pending = new Set<Promise<void>>();
  function record(response: Response): void {
    if (new URL(response.url()).hostname !== APP) return;
    const done = (async () => {
      const headers = await response.allHeaders();
      const setCookies = (await response.headersArray()).filter((h) => h.name.toLowerCase() === 'set-cookie').map((h) => h.value);
      const entry: Seen = {
        url: response.url(),
        method: response.request().method(),
        status: response.status(),
        headers,
        setCookies,
        upstream: headers['x-upstream'],
      };
      if (new URL(response.url()).pathname === ACTION) entry.body = await response.text().catch(() => undefined);
      seen.push(entry);
    })();
    pending.add(done);
    void done.finally(() => pending.delete(done));
  }

  const actions = () => seen.filter((s) => new URL(s.url).pathname === ACTION && s.method === 'POST');

  async function metrics(): Promise<string[]> {
    return Promise.all(
      site.metricsPorts.map(async (port) => {
        const res = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${site.metricsToken}` } });
        return res.text();
      }),
    );
  }
  /** A counter summed over both instances. */
  async function total(series: string): Promise<number> {
    const texts = await metrics();
    const escaped = series.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    return texts.flatMap((t) => [...t.matchAll(new RegExp(`^${escaped} (\\S+)$`, 'gm'))].map((m) => Number(m[1]))).reduce((a, b) => a + b, 0);
  }
  const ok = (component: string, action: string) => total(`livecomponents_actions_total{component="${component}",action="${action}",outcome="ok"}`);
  const securityEvents = (event: string) => total(`livecomponents_security_events_total{event="${event}"}`);
  const loggedEvents = (event: string) => [0, 1].flatMap((i) => site.logLines(i as 0 | 1)).filter((l) => l.event === event);

  /** Runs `act` and resolves the action answer it causes. */
  async function acting(page: Page, act: () => Promise<unknown>): Promise<Response> {
    const [response] = await Promise.all([page.waitForResponse((r) => new URL(r.url()).pathname === ACTION && r.request().method() === 'POST'), act()]);
    await response.finished();
    return response;
  }

  const text = (page: Page, selector: string) => page.locator(selector).textContent();

  let user: BrowserContext;
  let tab: Page;

  it('opens / over HTTPS in a secure context: HSTS, the page CSP, a __Host- session cookie the page cannot read', async () => {
    user = await userContext();
    tab = await user.newPage();
    const page = await tab.goto(`${ORIGIN}/`);
    expect(page?.status(), site.diagnostics()).toBe(200);
    await tab.waitForFunction(() => window.LiveComponents !== undefined);
    expect(await tab.evaluate(() => [window.isSecureContext, location.origin])).toEqual([true, ORIGIN]);
    const headers = (await page?.allHeaders()) ?? {};
    expect(headers['strict-transport-security']).toBe(HSTS);
    expect(headers['x-upstream']).toMatch(/^127\.0\.0\.1:\d+$/);
    const csp = headers['content-security-policy'] ?? '';
    expect(csp).toContain("frame-ancestors 'self'");
    // A nonce in the policy, if any, is the one the runtime's script tag carries.
    const nonce = /'nonce-([^']+)'/.exec(csp)?.[1];
    const tagNonce = await tab.evaluate(() => document.querySelector<HTMLScriptElement>('script[src="/livecomponents/client.js"]')?.nonce ?? null);
    expect(tagNonce || undefined).toBe(nonce);

    const cookies = await user.cookies(ORIGIN);
    const session = cookies.find((c) => c.name === '__Host-lc_session');
    expect(session, JSON.stringify(cookies)).toMatchObject({ domain: APP, path: '/', secure: true, httpOnly: true });
    expect(['Lax', 'Strict']).toContain(session?.sameSite);
    expect(cookies.map((c) => c.name)).not.toContain('lc_session');
    expect(await tab.evaluate(() => document.cookie)).toBe('');
  });

  it('increments five times, each answer 200 with HSTS and no-store, the requests spread over both instances', async () => {
    const plus = tab.getByRole('button', { name: 'Increment' });
    for (let i = 1; i <= 5; i++) {
      const answer = await acting(tab, () => plus.click());
      expect(answer.status(), await answer.text()).toBe(200);
      await expect.poll(() => text(tab, '[data-count]')).toBe(String(i));
    }
    await tab.reload();
    await tab.waitForFunction(() => window.LiveComponents !== undefined);
    expect(await text(tab, '[data-count]')).toBe('5');
    expect(await ok('counter', 'increment')).toBe(5);
  });

  let second: Page;
  it('acts in a second tab and the first: one state in the session, across instances', async () => {
    second = await user.newPage();
    await second.goto(`${ORIGIN}/`);
    await second.waitForFunction(() => window.LiveComponents !== undefined);
    expect(await text(second, '[data-count]')).toBe('5');
    expect((await acting(second, () => second.getByRole('button', { name: 'Increment' }).click())).status()).toBe(200);
    await expect.poll(() => text(second, '[data-count]')).toBe('6');
    expect((await acting(tab, () => tab.getByRole('button', { name: 'Increment' }).click())).status()).toBe(200);
    await expect.poll(() => text(tab, '[data-count]')).toBe('7');
    expect((await acting(second, () => second.getByRole('button', { name: 'Decrement' }).click())).status()).toBe(200);
    await expect.poll(() => text(second, '[data-count]')).toBe('6');
    await tab.reload();
    expect(await text(tab, '[data-count]')).toBe('6');
    await second.close();
  });

  it('places one order for a double click, with an idempotency key; a resend of that key is a replay from the other instance', async () => {
    await tab.goto(`${ORIGIN}/orders`);
    await tab.waitForFunction(() => window.LiveComponents !== undefined);
    let sent = 0;
    tab.on('request', (r) => void (new URL(r.url()).pathname === ACTION && sent++));
    await tab.locator('input[name="item"]').fill('tea');
    const answer = await acting(tab, () => tab.getByRole('button', { name: 'Place order' }).dblclick());
    expect(answer.status()).toBe(200);
    await expect.poll(() => text(tab, '[data-orders]')).toBe('1');
    const key = answer.request().headers()['idempotency-key'] ?? '';
    expect(key).toMatch(/^[0-9a-f-]{36}$/);
    const first = (await answer.json()) as { idempotency?: { key: string; cached: boolean } };
    expect(first.idempotency).toMatchObject({ key, cached: false });
    // The same request again, as a retry after a lost answer would send it: the instance that did
    // not place the order (or the one that did) replays it from the record in Redis.
    const replay = await tab.evaluate(
      async ({ action, key: k }) => {
        const token = document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')?.content ?? '';
        const res = await fetch(action, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-csrf-token': token, 'idempotency-key': k },
          body: JSON.stringify({ component_id: 'order:main', action: 'createOrder', params: { item: 'tea' } }),
        });
        return { status: res.status, replayed: res.headers.get('idempotent-replayed'), body: await res.text() };
      },
      { action: ACTION, key },
    );
    expect(replay.status, replay.body).toBe(200);
    expect(replay.replayed).toBe('true');
    expect((JSON.parse(replay.body) as { idempotency?: { cached: boolean } }).idempotency).toMatchObject({ key, cached: true });
    // Two requests (the double click's one, the resend) and one order: the replay is counted as an
    // answered action, not run again.
    expect(sent).toBe(2);
    expect(await ok('order', 'createOrder')).toBe(2);
    await tab.reload();
    expect(await text(tab, '[data-orders]')).toBe('1');
  });

  it('pays once for a double click on /payment', async () => {
    await tab.goto(`${ORIGIN}/payment`);
    await tab.waitForFunction(() => window.LiveComponents !== undefined);
    expect(await text(tab, '[data-balance]')).toBe('1000');
    await tab.locator('input[name="amount"]').fill('25');
    const answer = await acting(tab, () => tab.getByRole('button', { name: 'Pay' }).dblclick());
    expect(answer.status()).toBe(200);
    await expect.poll(() => text(tab, '[data-balance]')).toBe('975');
    expect(await ok('payment', 'processPayment')).toBe(1);
  });

  let access = '';
  it('registers and signs in through the auth API: a refresh cookie Secure, HttpOnly, SameSite=Strict, Path=/api/v1/auth, unreadable by the page', async () => {
    await tab.goto(`${ORIGIN}/login`);
    const api = (path: string, body: unknown, bearer?: string) =>
      tab.evaluate(
        async ({ path: p, body: b, bearer: t }) => {
          const res = await fetch(`/api/v1/auth/${p}`, {
            method: 'POST',
            credentials: 'same-origin',
            headers: { 'content-type': 'application/json', ...(t ? { authorization: `Bearer ${t}` } : {}) },
            body: b === undefined ? undefined : JSON.stringify(b),
          });
          return { status: res.status, body: await res.text() };
        },
        { path, body, bearer },
      );
    const registered = await api('register', { email: 'ada@example.test', password: PASSWORD, name: 'Ada' });
    expect(registered.status, registered.body).toBe(201);
    const login = await api('login', { email: 'ada@example.test', password: PASSWORD });
    expect(login.status, login.body).toBe(200);
    const issued = JSON.parse(login.body) as { access_token: string; token_type: string };
    expect(issued.token_type).toBe('Bearer');
    expect(login.body).not.toContain('refresh');
    access = issued.access_token;
    const jar = await user.cookies(ORIGIN + '/api/v1/auth/refresh-token');
    const refresh = jar.find((c) => c.name === 'refresh_token');
    expect(refresh, JSON.stringify(jar)).toMatchObject({ domain: APP, path: '/api/v1/auth', secure: true, httpOnly: true, sameSite: 'Strict' });
    expect(jar.find((c) => c.name === '__Host-lc_refresh_binding_token')).toMatchObject({ path: '/', secure: true, httpOnly: true, sameSite: 'Strict' });
    expect(await tab.evaluate(() => document.cookie)).toBe('');

    // Rotation, twice: a new value each time, the old one refused.
    const values = [refresh?.value];
    for (let i = 0; i < 2; i++) {
      const rotated = await api('refresh-token', undefined);
      expect(rotated.status, rotated.body).toBe(200);
      access = (JSON.parse(rotated.body) as { access_token: string }).access_token;
      values.push((await user.cookies(ORIGIN + '/api/v1/auth')).find((c) => c.name === 'refresh_token')?.value);
    }
    expect(new Set(values).size).toBe(3);
    const me = await tab.evaluate(async (t) => (await fetch('/api/v1/auth/me', { headers: { authorization: `Bearer ${t}` } })).status, access);
    expect(me).toBe(200);
    const out = await api('logout', undefined, access);
    expect(out.status, out.body).toBeLessThan(300);
    expect((await user.cookies(ORIGIN + '/api/v1/auth')).map((c) => c.name)).not.toContain('refresh_token');
  });

  it('signs in and out with the /login form: the session cookie is replaced, still __Host- and Secure', async () => {
    await tab.goto(`${ORIGIN}/login`);
    const before = (await user.cookies(ORIGIN)).find((c) => c.name === '__Host-lc_session')?.value;
    await tab.locator('input[name="email"]').fill('ada@example.test');
    await tab.locator('input[name="password"]').fill(PASSWORD);
    const [signedIn] = await Promise.all([tab.waitForURL(`${ORIGIN}/profile`), tab.getByRole('button', { name: 'Sign in' }).click()]);
    void signedIn;
    const after = (await user.cookies(ORIGIN)).find((c) => c.name === '__Host-lc_session');
    expect(after).toMatchObject({ secure: true, httpOnly: true, path: '/' });
    expect(after?.value).not.toBe(before);
    expect(await tab.locator('[data-nav-account]').textContent()).toBe('ada@example.test');
    await Promise.all([tab.waitForURL(`${ORIGIN}/login?signed_out`), tab.getByTestId('sign-out').click()]);
    expect(await tab.locator('[data-login-notice]').textContent()).toBe('You are signed out.');
  });

  it('checked every answer: 200s, HSTS on each, action answers no-store from both instances, no console error or CSP violation', async () => {
    await waitUntil('the recorded answers to be read', () => pending.size === 0);
    const answers = actions();
    expect(answers.length).toBeGreaterThanOrEqual(11);
    for (const a of answers) {
      expect(a.status, `${a.url}: ${a.body}`).toBe(200);
      expect(a.headers['strict-transport-security']).toBe(HSTS);
      expect(a.headers['cache-control']).toBe('no-store');
      expect(a.upstream).toMatch(/^127\.0\.0\.1:\d+$/);
    }
    expect(new Set(answers.map((a) => a.upstream))).toEqual(new Set(site.upstreams));
    const crossings = answers.filter((a, i) => i > 0 && a.upstream !== answers[i - 1]?.upstream).length;
    expect(crossings).toBeGreaterThan(0);
    // HSTS on every answer the network gave; Chromium's HTTP cache keeps no Strict-Transport-Security
    // header (it persists responses "sans security state"), so a cached asset shows none.
    for (const s of seen.filter((e) => !/\bpublic\b/.test(e.headers['cache-control'] ?? ''))) {
      expect(s.headers["strict-transport-security"], `${s.url} ${s.status} ${JSON.stringify(s.headers)}`).toBe(HSTS);
      for (const line of s.setCookies) expect(line, s.url).toMatch(/;\s*Secure/i);
    }
    const failed = seen.filter((s) => s.status >= 400);
    expect(failed.map((s) => `${s.method} ${s.url} ${s.status}`)).toEqual([]);
    expect(problems).toEqual([]);
    await user.close();
  });

  it('serves /livecomponents/client.js through nginx with one ETag from both instances, revalidated by either (304)', async () => {
    await waitUntil('the recorded answers to be read', () => pending.size === 0);
    const loaded = seen.filter((s) => new URL(s.url).pathname === '/livecomponents/client.js');
    expect(loaded.length).toBeGreaterThan(0);
    for (const s of loaded) expect(s.headers['cache-control']).toBe('public, max-age=300, must-revalidate');
    const etags = new Set(loaded.map((s) => s.headers.etag));
    expect(etags.size).toBe(1);
    const [etag] = [...etags] as [string];
    // Straight through nginx (the browser's cache hides which instance it asked): each instance
    // answers the same tag, and a revalidation with it is a 304 wherever it lands.
    const get = (headers: Record<string, string> = {}) => httpsCall(site.httpsPort, APP, site.cert, { path: '/livecomponents/client.js', headers });
    const full = new Map<string, string>();
    const revalidated = new Map<string, number>();
    // Requests in a row alternate between the instances (a pair of calls, full then conditional,
    // would put every conditional one on the same instance).
    for (let i = 0; i < 8 && full.size < 2; i++) {
      const res = await get();
      full.set(String(res.headers['x-upstream']), String(res.headers.etag));
    }
    for (let i = 0; i < 8 && revalidated.size < 2; i++) {
      const again = await get({ 'if-none-match': etag });
      revalidated.set(String(again.headers['x-upstream']), again.status);
      expect(again.headers['strict-transport-security']).toBe(HSTS);
    }
    expect(Object.fromEntries(full)).toEqual(Object.fromEntries(site.upstreams.map((u) => [u, etag])));
    expect(Object.fromEntries(revalidated)).toEqual(Object.fromEntries(site.upstreams.map((u) => [u, 304])));
  });

  it('refuses a sibling subdomain (same site, so the cookies go along): its action post 403 CSRF_TOKEN_INVALID, its refresh 403 with the refresh cookie untouched', async () => {
    const before = await securityEvents('malicious_csrf');
    const { answers, shown } = await attack(`https://${SIBLING}/form`, 1);
    expect(answers.map((a) => a.status)).toEqual([403]);
    expect(JSON.parse(shown)).toMatchObject({ code: 'CSRF_TOKEN_INVALID' });
    expect(await securityEvents('malicious_csrf')).toBe(before + 1);

    // Signed in through the API in this browser, then the sibling's page posts to the refresh endpoint:
    // SameSite=Strict does not stop a same-site post, the origin check does.
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${ORIGIN}/login`);
    const post = (path: string, body?: unknown) =>
      page.evaluate(
        async ({ p, b }) => {
          const res = await fetch(`/api/v1/auth/${p}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: b === undefined ? undefined : JSON.stringify(b) });
          return res.status;
        },
        { p: path, b: body },
      );
    expect(await post('login', { email: 'ada@example.test', password: PASSWORD })).toBe(200);
    const refreshOf = async () => (await context.cookies(`${ORIGIN}/api/v1/auth`)).find((c) => c.name === 'refresh_token')?.value;
    const issued = await refreshOf();
    expect(issued).toBeDefined();
    const evil = await context.newPage();
    const [refused] = await Promise.all([
      evil.waitForResponse((r) => r.url() === `${ORIGIN}/api/v1/auth/refresh-token`),
      evil.goto(`https://${SIBLING}/refresh`),
    ]);
    expect(refused.status()).toBe(403);
    expect(await refreshOf()).toBe(issued);
    // The user's own refresh still works: nothing was rotated or revoked by the sibling's post.
    expect(await post('refresh-token')).toBe(200);
    expect(await refreshOf()).not.toBe(issued);
    await context.close();
  });

  it('a rotated refresh cookie replayed from another browser revokes the family (RFC 9700): both browsers 401, one authn_token_reuse', async () => {
    const reuse = await securityEvents('authn_token_reuse');
    const victim = await browser.newContext();
    const page = await victim.newPage();
    await page.goto(`${ORIGIN}/login`);
    const post = (on: Page, path: string, body?: unknown) =>
      on.evaluate(
        async ({ p, b }) => {
          const res = await fetch(`/api/v1/auth/${p}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: b === undefined ? undefined : JSON.stringify(b) });
          return { status: res.status, body: await res.text() };
        },
        { p: path, b: body },
      );
    expect((await post(page, 'login', { email: 'ada@example.test', password: PASSWORD })).status).toBe(200);
    // What a thief copies: the refresh cookie and its companion, as they are now.
    const stolen = (await victim.cookies(`${ORIGIN}/api/v1/auth`)).filter((c) => c.name === 'refresh_token' || c.name === '__Host-lc_refresh_binding_token');
    expect(stolen.map((c) => c.name).sort()).toEqual(['__Host-lc_refresh_binding_token', 'refresh_token']);
    expect((await post(page, 'refresh-token')).status).toBe(200);

    const thief = await browser.newContext();
    await thief.addCookies(stolen);
    const thiefPage = await thief.newPage();
    await thiefPage.goto(`${ORIGIN}/login`);
    const replayed = await post(thiefPage, 'refresh-token');
    expect(replayed.status, replayed.body).toBe(401);
    expect(JSON.parse(replayed.body)).toMatchObject({ code: 'REFRESH_TOKEN_INVALID' });
    // The family is revoked: the victim's current cookie is refused too, wherever it lands.
    const after = await post(page, 'refresh-token');
    expect(after.status, after.body).toBe(401);
    expect(await securityEvents('authn_token_reuse')).toBe(reuse + 1);
    await thief.close();
    await victim.close();
  });

  /** Opens an attacker's page in a fresh context (no HSTS known) and resolves the answers the app gave it. */
  async function attack(url: string, answers: number): Promise<{ answers: Seen[]; shown: string }> {
    const context = await browser.newContext();
    const got: Response[] = [];
    context.on('response', (r) => {
      if (new URL(r.url()).hostname === APP) got.push(r);
    });
    const page = await context.newPage();
    await page.goto(url);
    await waitUntil(`${answers} answer(s) of the app to ${url}`, () => got.length >= answers && got.every(Boolean));
    const list = await Promise.all(
      got.map(async (r) => ({
        url: r.url(),
        method: r.request().method(),
        status: r.status(),
        headers: await r.allHeaders(),
        setCookies: [],
        upstream: (await r.allHeaders())['x-upstream'],
      })),
    );
    // A form post navigates: the page shows the app's answer. A no-cors fetch's answer is opaque.
    const shown = url.endsWith('/form') ? await page.locator('body').innerText() : '';
    await context.close();
    return { answers: list, shown };
  }

  it('refuses cross-site posts from an HTTPS page (form and fetch): 403 CSRF_TOKEN_INVALID, one malicious_csrf each', async () => {
    const before = await securityEvents('malicious_csrf');
    const cors = await securityEvents('malicious_cors');
    const logged = loggedEvents('malicious_csrf').length;
    for (const kind of ['form', 'fetch-json', 'fetch-form']) {
      const { answers, shown } = await attack(`https://${EVIL}/${kind}`, 1);
      const [answer] = answers;
      expect(answers).toHaveLength(1);
      expect(answer?.status, `${kind}: ${shown}`).toBe(403);
      if (kind === 'form') expect(JSON.parse(shown)).toMatchObject({ code: 'CSRF_TOKEN_INVALID' });
    }
    expect(await securityEvents('malicious_csrf')).toBe(before + 3);
    // One event per attempt: not a malicious_cors beside it.
    expect(await securityEvents('malicious_cors')).toBe(cors);
    await waitUntil('3 malicious_csrf log lines', () => loggedEvents('malicious_csrf').length >= logged + 3);
    expect(loggedEvents('malicious_csrf').length).toBe(logged + 3);
  });

  it('a plain-HTTP page posting to http:// gets nginx’s 308 to https://, then the same 403 and one malicious_csrf each', async () => {
    const before = await securityEvents('malicious_csrf');
    const logged = loggedEvents('malicious_csrf').length;
    for (const kind of ['form', 'fetch-form']) {
      const { answers, shown } = await attack(`http://${EVIL}/${kind}`, 2);
      expect(answers.map((a) => [a.method, a.url, a.status])).toEqual([
        ['POST', `http://${APP}${ACTION}`, 308],
        ['POST', `${ORIGIN}${ACTION}`, 403],
      ]);
      expect(answers[0]?.headers.location).toBe(`${ORIGIN}${ACTION}`);
      if (kind === 'form') expect(JSON.parse(shown)).toMatchObject({ code: 'CSRF_TOKEN_INVALID' });
    }
    expect(await securityEvents('malicious_csrf')).toBe(before + 2);
    await waitUntil('2 more malicious_csrf log lines', () => loggedEvents('malicious_csrf').length >= logged + 2);
    expect(loggedEvents('malicious_csrf').length).toBe(logged + 2);
  });

  it('once the browser has HSTS for the app, the http:// post never reaches port 80: Chromium upgrades it itself, and the app refuses it', async () => {
    const redirects = () => site.nginxLog('access').split('\n').filter((line) => line.includes(`"POST ${ACTION} HTTP/1.1" 308 `)).length;
    const before = { redirects: redirects(), events: await securityEvents('malicious_csrf') };
    expect(before.redirects).toBe(2);
    const context = await browser.newContext();
    const page = await context.newPage();
    const home = await page.goto(`${ORIGIN}/`);
    expect(await home?.headerValue('strict-transport-security')).toBe(HSTS);
    const answered = page.waitForResponse((r) => r.url() === `${ORIGIN}${ACTION}`);
    await page.goto(`http://${EVIL}/form`);
    expect((await answered).status()).toBe(403);
    expect(JSON.parse(await page.locator('body').innerText())).toMatchObject({ code: 'CSRF_TOKEN_INVALID' });
    await context.close();
    expect(redirects()).toBe(before.redirects);
    expect(await securityEvents('malicious_csrf')).toBe(before.events + 1);
  });
});

/** The attacker's pages: each posts to `target` as soon as it loads, without a token. */
function attackPage(path: string, target: string): string | null {
  const payload = JSON.stringify({ component_id: 'counter:main', action: 'increment', params: {} });
  const page = (script: string, body = '') => `<!doctype html><html><head><meta charset="utf-8"><title>win a prize</title></head><body>${body}<script>${script}</script></body></html>`;
  switch (path) {
    case '/form':
      return page(
        'document.forms[0].submit();',
        `<form method="post" action="${target}"><input name="component_id" value="counter:main"><input name="action" value="increment"><input name="_csrf_token" value="${randomUUID()}"></form>`,
      );
    case '/fetch-json':
      // text/plain: a "simple" request, sent without a CORS preflight.
      return page(`fetch(${JSON.stringify(target)}, { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'content-type': 'text/plain' }, body: ${JSON.stringify(payload)} });`);
    case '/refresh':
      return page(`fetch(${JSON.stringify(new URL('/api/v1/auth/refresh-token', target).href)}, { method: 'POST', mode: 'no-cors', credentials: 'include' });`);
    case '/fetch-form':
      return page(`fetch(${JSON.stringify(target)}, { method: 'POST', mode: 'no-cors', credentials: 'include', body: new URLSearchParams({ component_id: 'counter:main', action: 'increment' }) });`);
    default:
      return null;
  }
}
