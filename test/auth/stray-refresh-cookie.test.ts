/**
 * A `refresh_token` cookie set for a parent domain (`Domain=example.com`, seen from
 * `app.example.com`) that comes alone, without its companion: one planted by a sibling subdomain
 * (docs/auth.md "A planted refresh cookie"), or one the auth module itself set before it ignored the
 * app's own `@fastify/cookie` default `domain` (its companion, `__Host-…; Domain=…`, was refused by
 * the browser). `/refresh-token` refuses it (`malicious_csrf`), but its answer expired only the
 * host-only cookie, which cannot reach one of another domain: the browser kept it, and a front end
 * that refreshes at every page load (as docs/auth.md has it) got one more refusal and one more
 * `malicious_csrf` at every load, for as long as the cookie lived (the planter's `Max-Age`). The
 * module's own leftover also made every later sign-in a tossed pair (the new host-only cookie beside
 * it), refused until it expired. Now the first refusal also expires `refresh_token` at the parent
 * domains and at the host itself (`Domain=app.example.com`, which the host-only expiry does not
 * reach either), on every path sent to the endpoint, unpartitioned and `Partitioned` (CHIPS: a
 * sibling's partitioned cookie is sent here, and only a `Partitioned` line deletes it); a browser
 * keys those apart from the host-only, unpartitioned one, so the app's own cookie is never reached
 * (a planter gains no way to sign the browser out), and the planted token is still never rotated.
 *
 * The browser is a cookie jar modelled on RFC 6265 §5.3 as Chromium keys it (name, domain,
 * host-only, path, and partitioned or not: every cookie here is of one top-level site) and §5.4
 * (which cookies a request carries, longer paths first); the real Chromium check is in
 * planted-refresh-cookie-browser.test.ts.
 */
import { afterEach, expect, it } from 'vitest';
import { BINDING_COOKIE } from '../../src/auth/cookie.js';
import { authApp, eachEngine, setCookies, type AuthApp } from './harness.js';
import type { LightMyRequestResponse } from 'fastify';

const HOST = 'app.example.com';
const HEADERS = { origin: `https://${HOST}`, host: HOST };

interface Stored {
  name: string;
  value: string;
  domain: string;
  hostOnly: boolean;
  path: string;
  partitioned: boolean;
}

/** A browser's cookie jar for `HOST`. */
class Jar {
  readonly cookies = new Map<string, Stored>();
  private key = (c: Omit<Stored, 'value'>) => `${c.name}|${c.domain}|${c.hostOnly}|${c.path}|${c.partitioned}`;

  set(line: string): void {
    const [pair, ...attributes] = line.split(';').map((part) => part.trim());
    const eq = pair!.indexOf('=');
    const cookie: Stored = { name: pair!.slice(0, eq), value: pair!.slice(eq + 1), domain: HOST, hostOnly: true, path: '/', partitioned: false };
    let maxAge: number | undefined;
    let secure = false;
    for (const attribute of attributes) {
      const [name, value = ''] = attribute.split('=') as [string, string?];
      if (/^domain$/i.test(name)) {
        const domain = value.replace(/^\./, '').toLowerCase();
        if (HOST !== domain && !HOST.endsWith(`.${domain}`)) return; // not for this host: ignored
        Object.assign(cookie, { domain, hostOnly: false });
      }
      if (/^path$/i.test(name)) cookie.path = value;
      if (/^max-age$/i.test(name)) maxAge = Number(value);
      if (/^secure$/i.test(name)) secure = true;
      if (/^partitioned$/i.test(name)) cookie.partitioned = true;
    }
    if (cookie.partitioned && !secure) return; // Partitioned needs Secure: refused
    if (maxAge !== undefined && maxAge <= 0) this.cookies.delete(this.key(cookie));
    else this.cookies.set(this.key(cookie), cookie);
  }

  take(res: LightMyRequestResponse): void {
    for (const line of setCookies(res)) this.set(line);
  }

  /** The `Cookie` header of a request to `path` on `HOST`. */
  header(path: string): string {
    return [...this.cookies.values()]
      .filter((c) => path === c.path || (path.startsWith(c.path) && (c.path.endsWith('/') || path[c.path.length] === '/')))
      .sort((a, b) => b.path.length - a.path.length)
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  named(name: string): Stored[] {
    return [...this.cookies.values()].filter((c) => c.name === name);
  }
}

eachEngine('a refresh cookie of a parent domain, without its companion', (engine) => {
  let t: AuthApp;
  afterEach(async () => {
    await t.close();
  });

  async function start(): Promise<void> {
    t = await authApp(engine, { production: true });
    await t.register('victim@example.com');
    await t.register('attacker@example.com');
  }

  /** A page load of the front end: `/refresh-token` with what the browser holds, its answer stored. */
  async function pageLoad(jar: Jar): Promise<LightMyRequestResponse> {
    const cookie = jar.header('/api/v1/auth/refresh-token');
    const res = await t.post('/refresh-token', undefined, { ...HEADERS, ...(cookie === '' ? {} : { cookie }) });
    jar.take(res);
    return res;
  }

  it('planted by a sibling: one refusal, one malicious_csrf over five page loads, the token never rotated', async () => {
    await start();
    const attacker = await t.login('attacker@example.com');
    const jar = new Jar();
    jar.set(`refresh_token=${attacker.refresh}; Domain=example.com; Path=/api/v1/auth/refresh-token; Secure; SameSite=Lax; Max-Age=31536000`);
    t.takeEvents();

    const statuses: number[] = [];
    for (let load = 0; load < 5; load++) statuses.push((await pageLoad(jar)).statusCode);
    expect(statuses).toEqual([401, 401, 401, 401, 401]);
    expect(t.takeEvents().filter((e) => e === 'malicious_csrf')).toEqual(['malicious_csrf']);
    expect(jar.named('refresh_token')).toEqual([]);
    // Never rotated nor revoked: the attacker's own pair still rotates, for the attacker.
    const theirs = await t.post('/refresh-token', undefined, { ...HEADERS, cookie: `refresh_token=${attacker.refresh}; ${BINDING_COOKIE}=${attacker.binding}` });
    expect(theirs.statusCode).toBe(200);
    expect((await t.me(theirs.json().access_token as string)).json().email).toBe('attacker@example.com');
  });

  it('planted at Path=/: expired too (every path the endpoint is sent cookies of)', async () => {
    await start();
    const attacker = await t.login('attacker@example.com');
    const jar = new Jar();
    jar.set(`refresh_token=${attacker.refresh}; Domain=.example.com; Path=/; Secure; Max-Age=31536000`);
    t.takeEvents();
    for (let load = 0; load < 3; load++) await pageLoad(jar);
    expect(t.takeEvents().filter((e) => e === 'malicious_csrf')).toEqual(['malicious_csrf']);
    expect(jar.named('refresh_token')).toEqual([]);
  });

  it('left by the module itself with the app\'s default Domain (its companion refused by the browser): one refusal, then a new sign-in refreshes', async () => {
    await start();
    const old = await t.login('victim@example.com');
    const jar = new Jar();
    // As written before, through the app's @fastify/cookie with parseOptions.domain = 'example.com'.
    jar.set(`refresh_token=${old.refresh}; Max-Age=604800; Domain=example.com; Path=/api/v1/auth; HttpOnly; Secure; SameSite=Strict`);
    t.takeEvents();
    for (let load = 0; load < 4; load++) await pageLoad(jar);
    expect(t.takeEvents().filter((e) => e === 'malicious_csrf')).toEqual(['malicious_csrf']);

    // The user signs in again: the new (host-only) pair is the only refresh cookie, and it rotates.
    const login = await t.post('/login', { email: 'victim@example.com', password: 'correct horse battery staple' }, HEADERS);
    expect(login.statusCode).toBe(200);
    jar.take(login);
    const refreshed = await pageLoad(jar);
    expect(refreshed.statusCode).toBe(200);
    expect(t.takeEvents().filter((e) => e === 'malicious_csrf')).toEqual([]);
  });

  it('left with Domain=<the host itself> (an earlier release, the app\'s default domain its own name): one refusal, then a new sign-in refreshes', async () => {
    await start();
    const old = await t.login('victim@example.com');
    const jar = new Jar();
    // A cookie of this host with a Domain attribute: another cookie than the host-only one (the
    // host-only expiry does not reach it), sent to this host and its subdomains.
    jar.set(`refresh_token=${old.refresh}; Max-Age=604800; Domain=${HOST}; Path=/api/v1/auth; HttpOnly; Secure; SameSite=Strict`);
    expect(jar.named('refresh_token')).toEqual([expect.objectContaining({ domain: HOST, hostOnly: false })]);
    t.takeEvents();
    for (let load = 0; load < 4; load++) await pageLoad(jar);
    expect(t.takeEvents().filter((e) => e === 'malicious_csrf')).toEqual(['malicious_csrf']);
    expect(jar.named('refresh_token')).toEqual([]);

    // The user signs in again: the new (host-only) pair alone, and it rotates; a refusal's Domain
    // lines, had one come now, would not reach it (another cookie).
    const login = await t.post('/login', { email: 'victim@example.com', password: 'correct horse battery staple' }, HEADERS);
    jar.take(login);
    expect((await pageLoad(jar)).statusCode).toBe(200);
    expect(t.takeEvents().filter((e) => e === 'malicious_csrf')).toEqual([]);
  });

  it('planted Partitioned by a sibling (CHIPS, keyed by the site both hosts share): one refusal removes it, and one at the host', async () => {
    await start();
    const attacker = await t.login('attacker@example.com');
    const jar = new Jar();
    jar.set(`refresh_token=${attacker.refresh}; Domain=example.com; Path=/api/v1/auth/refresh-token; Secure; Partitioned; SameSite=None; Max-Age=31536000`);
    jar.set(`refresh_token=${attacker.refresh}; Domain=example.com; Path=/; Secure; Partitioned; Max-Age=31536000`);
    // …and by a subdomain of the host (x.app.example.com), which can set Domain=app.example.com.
    jar.set(`refresh_token=${attacker.refresh}; Domain=${HOST}; Path=/api; Secure; Partitioned; Max-Age=31536000`);
    expect(jar.named('refresh_token')).toHaveLength(3);
    t.takeEvents();
    const statuses: number[] = [];
    for (let load = 0; load < 5; load++) statuses.push((await pageLoad(jar)).statusCode);
    expect(statuses).toEqual([401, 401, 401, 401, 401]);
    expect(t.takeEvents().filter((e) => e === 'malicious_csrf')).toEqual(['malicious_csrf']);
    expect(jar.named('refresh_token')).toEqual([]);
  });

  it('the app\'s own pair beside a planted cookie (tossed): refused, and the own pair left as it was', async () => {
    await start();
    const victim = await t.post('/login', { email: 'victim@example.com', password: 'correct horse battery staple' }, HEADERS);
    const attacker = await t.login('attacker@example.com');
    const jar = new Jar();
    jar.take(victim);
    const own = jar.named('refresh_token');
    expect(own).toEqual([expect.objectContaining({ hostOnly: true, path: '/api/v1/auth' })]);
    jar.set(`refresh_token=${attacker.refresh}; Domain=example.com; Path=/api/v1/auth/refresh-token; Secure; Max-Age=31536000`);
    const res = await pageLoad(jar);
    expect(res.statusCode).toBe(401);
    expect(setCookies(res)).toEqual([]);
    expect(jar.named('refresh_token')).toEqual(expect.arrayContaining(own));
  });

  it('the lines: the host-only expiry first (as before), then per domain (the host, then its parent) one per path, and one per path with Partitioned; none with a companion', async () => {
    await start();
    const attacker = await t.login('attacker@example.com');
    const res = await t.post('/refresh-token', undefined, { ...HEADERS, cookie: `refresh_token=${attacker.refresh}` });
    const tail = '; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Strict';
    const paths = ['/', '/api', '/api/', '/api/v1', '/api/v1/', '/api/v1/auth', '/api/v1/auth/', '/api/v1/auth/refresh-token'];
    // Only what deletes that name, domain, path and partition: no Expires, HttpOnly or SameSite (the
    // answer's headers must fit a proxy's buffer, deploy/nginx), Secure kept (Partitioned needs it).
    const of = (domain: string) => [
      ...paths.map((path) => `refresh_token=; Max-Age=0; Domain=${domain}; Path=${path}; Secure`),
      ...paths.map((path) => `refresh_token=; Max-Age=0; Domain=${domain}; Path=${path}; Secure; Partitioned`),
    ];
    const lines = setCookies(res);
    expect(lines).toEqual([`refresh_token=; Max-Age=0; Path=/api/v1/auth${tail}`, ...of('app.example.com'), ...of('example.com'), `${BINDING_COOKIE}=; Max-Age=0; Path=/${tail}`]);
    expect(lines).toHaveLength(34);
    // With its companion (a sign-out of the app's own sign-in): as before, two lines.
    const victim = await t.login('victim@example.com');
    const out = await t.post('/logout', undefined, { ...HEADERS, cookie: `refresh_token=${victim.refresh}; ${BINDING_COOKIE}=${victim.binding}` });
    expect(setCookies(out)).toEqual([`refresh_token=; Max-Age=0; Path=/api/v1/auth${tail}`, `${BINDING_COOKIE}=; Max-Age=0; Path=/${tail}`]);
  });
});
