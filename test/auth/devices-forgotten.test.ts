/**
 * A password reset and sign-out everywhere forget the account's trusted devices (src/auth/service.ts
 * `forgetDevices`): a browser whoever took the account signed in with gets no sign-in budget of its
 * own (`LOGIN_PER_DEVICE`) at the new password; its tries count against the shared per-account budget
 * (`LOGIN_PER_ACCOUNT`, 3 here) exactly like a new browser's. Another account's devices stay; a store
 * that refuses the delete leaves the reset or sign-out done, and is reported once.
 */
import type { LightMyRequestResponse } from 'fastify';
import { afterEach, expect, it } from 'vitest';
import { authKeys, deviceDigest } from '../../src/auth/keys.js';
import { authApp, eachEngine, PASSWORD, setCookies, type AuthApp } from './harness.js';

const NEW_PASSWORD = 'a new password nobody else knows';
/** The shared per-account budget: small, so a few attempts spend it. */
const SHARED = { 'login-account': { limit: 3, windowSeconds: 3600 } };

/** The value of `lc_device_token` an answer sets, or `undefined`. */
function deviceCookie(res: LightMyRequestResponse): string | undefined {
  const line = setCookies(res).find((c) => c.startsWith('lc_device_token='));
  return line === undefined ? undefined : (line.split(';')[0] as string).slice('lc_device_token='.length);
}

eachEngine('a password reset and sign-out everywhere forget the trusted devices', (engine) => {
  let t: AuthApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  let ip = 0;
  /** A sign-in from a client address of its own (the per-client limit stays out of the way). */
  const signIn = (app: AuthApp, email: string, password: string, device?: string) =>
    app.post('/login', { email, password }, device === undefined ? {} : { cookie: `lc_device_token=${device}` }, `198.51.100.${(ip++ % 250) + 1}`);

  /** Ada and Bob, each signed in once from a browser now trusted: their tokens and device tokens. */
  async function twoAccounts(app: AuthApp) {
    await app.register('ada@example.com');
    await app.register('bob@example.com');
    const ada = await signIn(app, 'ada@example.com', PASSWORD);
    const bob = await signIn(app, 'bob@example.com', PASSWORD);
    expect([ada.statusCode, bob.statusCode]).toEqual([200, 200]);
    const adaDevice = deviceCookie(ada) as string;
    const bobDevice = deviceCookie(bob) as string;
    expect(await app.store.get(authKeys.devices('ada@example.com'))).toBe(deviceDigest(adaDevice));
    expect(await app.store.get(authKeys.devices('bob@example.com'))).toBe(deviceDigest(bobDevice));
    const access = (ada.json() as { access_token: string }).access_token;
    return { adaDevice, bobDevice, access, refresh: setCookies(ada).find((c) => c.startsWith('refresh_token='))?.split(';')[0] as string };
  }

  /** Ada's password reset to `NEW_PASSWORD` through the API, as the reference app's reset page posts it (from a browser with `device`, if given). */
  async function reset(app: AuthApp, device?: string): Promise<LightMyRequestResponse> {
    expect((await app.post('/forgot-password', { email: 'ada@example.com' })).statusCode).toBe(202);
    await app.idle();
    const token = /#token=([A-Za-z0-9_-]{43})/.exec(app.mail.messages.at(-1)?.text ?? '')?.[1];
    if (token === undefined) throw new Error('no reset mail');
    return app.post('/reset-password', { token, password: NEW_PASSWORD }, device === undefined ? {} : { cookie: `lc_device_token=${device}` });
  }

  /**
   * Ada's shared budget has one attempt spent (her sign-in). Two wrong tries from the formerly
   * trusted browser spend the rest — they count against it, as a new browser's do —, so a new browser
   * with the right password is refused, and so is that browser. Before the fix, its tries had a budget
   * of their own: the new browser was admitted, and so was it.
   */
  async function formerlyTrustedCountsAsNew(app: AuthApp, device: string, password: string): Promise<void> {
    expect((await signIn(app, 'ada@example.com', 'wrong 1', device)).statusCode).toBe(401);
    expect((await signIn(app, 'ada@example.com', 'wrong 2', device)).statusCode).toBe(401);
    const fresh = await signIn(app, 'ada@example.com', password);
    expect(fresh.statusCode).toBe(429);
    expect(fresh.headers['ratelimit-policy']).toBe('"login-account";q=3;w=3600');
    const formerly = await signIn(app, 'ada@example.com', password, device);
    expect(formerly.statusCode).toBe(429);
    expect(formerly.json()).toMatchObject({ code: 'RATE_LIMIT_EXCEEDED', limit: 3, window: 3600 });
    expect(formerly.headers['ratelimit-policy']).toBe('"login-account";q=3;w=3600');
  }

  /** Bob's list is as it was: with his shared budget spent (his sign-in and 2 wrong tries), his browser still signs in, its token kept. */
  async function bobUntouched(app: AuthApp, bobDevice: string): Promise<void> {
    expect(await app.store.get(authKeys.devices('bob@example.com'))).toBe(deviceDigest(bobDevice));
    for (let i = 0; i < 2; i++) expect((await signIn(app, 'bob@example.com', `wrong ${i}`)).statusCode).toBe(401);
    expect((await signIn(app, 'bob@example.com', PASSWORD)).statusCode).toBe(429);
    const bob = await signIn(app, 'bob@example.com', PASSWORD, bobDevice);
    expect(bob.statusCode).toBe(200);
    expect(deviceCookie(bob)).toBe(bobDevice);
  }

  it("after a reset, the formerly trusted browser's tries count against the shared budget like a new browser's; Bob's devices stay", async () => {
    t = await authApp(engine, { auth: { limits: SHARED } });
    const app = t;
    const { adaDevice, bobDevice } = await twoAccounts(app);
    app.events.splice(0);
    const answer = await reset(app);
    expect(answer.statusCode).toBe(204);
    await formerlyTrustedCountsAsNew(app, adaDevice, NEW_PASSWORD);
    // Only the browser that made the reset is trusted now (below).
    expect(await app.store.get(authKeys.devices('ada@example.com'))).toBe(deviceDigest(deviceCookie(answer) as string));
    expect(app.events.filter((e) => e.event === 'authn_token_revoked').map((e) => e.description)).toEqual([
      expect.stringMatching(/^Password of user [0-9a-f-]{36} reset: 1 access grants and 1 refresh tokens revoked; trusted devices forgotten$/),
    ]);
    await bobUntouched(app, bobDevice);
  });

  it('the browser that made the reset is trusted at the new password, with a fresh token: with the shared budget spent, it signs in', async () => {
    t = await authApp(engine, { auth: { limits: SHARED } });
    const app = t;
    const { adaDevice } = await twoAccounts(app);
    // Reset from the formerly trusted browser: its cookie is forgotten and not taken back, a new one is set.
    const answer = await reset(app, adaDevice);
    expect(answer.statusCode).toBe(204);
    const resetDevice = deviceCookie(answer) as string;
    expect(resetDevice).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(resetDevice).not.toBe(adaDevice);
    expect(await app.store.get(authKeys.devices('ada@example.com'))).toBe(deviceDigest(resetDevice));
    // Someone spends the shared budget (Ada's sign-in took 1 of 3): a new browser is refused, even with the new password.
    for (let i = 0; i < 2; i++) expect((await signIn(app, 'ada@example.com', `wrong ${i}`)).statusCode).toBe(401);
    expect((await signIn(app, 'ada@example.com', NEW_PASSWORD)).statusCode).toBe(429);
    expect((await signIn(app, 'ada@example.com', NEW_PASSWORD, adaDevice)).statusCode).toBe(429);
    // The reset's browser has a budget of its own: it signs in and keeps its token.
    const owner = await signIn(app, 'ada@example.com', NEW_PASSWORD, resetDevice);
    expect(owner.statusCode).toBe(200);
    expect(deviceCookie(owner)).toBe(resetDevice);
  });

  it("after sign-out everywhere, likewise; Bob's devices stay", async () => {
    t = await authApp(engine, { auth: { limits: SHARED } });
    const app = t;
    const { adaDevice, bobDevice, access } = await twoAccounts(app);
    app.events.splice(0);
    expect((await app.post('/logout-all', undefined, { authorization: `Bearer ${access}` })).statusCode).toBe(204);
    await formerlyTrustedCountsAsNew(app, adaDevice, PASSWORD);
    expect(await app.store.get(authKeys.devices('ada@example.com'))).toBeNull();
    expect(app.events.filter((e) => e.event === 'authn_token_revoked').map((e) => e.description)).toEqual([
      expect.stringMatching(/^User [0-9a-f-]{36} signed out everywhere: 1 access grants and 1 refresh tokens revoked; trusted devices forgotten$/),
    ]);
    await bobUntouched(app, bobDevice);
  });

  /** Ada's store refuses to delete her devices list (and only that). */
  function failingDelete(app: AuthApp): void {
    const del = app.store.delete.bind(app.store);
    app.store.delete = async (key) => {
      if (key === authKeys.devices('ada@example.com')) throw new Error('store down');
      return del(key);
    };
  }

  it('a store error on the delete: the reset still answers ok, her tokens are revoked, one onBackgroundError, and the event says so', async () => {
    const reported: unknown[] = [];
    t = await authApp(engine, { auth: { limits: SHARED, onBackgroundError: (error) => void reported.push(error) } });
    const app = t;
    const { adaDevice, bobDevice, access, refresh } = await twoAccounts(app);
    failingDelete(app);
    app.events.splice(0);
    expect((await reset(app)).statusCode).toBe(204);
    expect(reported.map((e) => (e as Error).message)).toEqual(['store down']);
    expect((await app.me(access)).statusCode).toBe(401);
    expect((await app.post('/refresh-token', undefined, { cookie: refresh })).statusCode).toBe(401);
    expect(app.events.map((e) => e.event)).toContain('authn_password_change');
    expect(app.events.filter((e) => e.event === 'authn_token_revoked').map((e) => e.description)).toEqual([
      expect.stringMatching(/ reset: 1 access grants and 1 refresh tokens revoked; its trusted devices could not be forgotten \(store error, reported\)$/),
    ]);
    // The new password works (the reset committed); the list stayed, as the event says.
    expect(await app.store.get(authKeys.devices('ada@example.com'))).toBe(deviceDigest(adaDevice));
    expect((await signIn(app, 'ada@example.com', NEW_PASSWORD)).statusCode).toBe(200);
    expect(await app.store.get(authKeys.devices('bob@example.com'))).toBe(deviceDigest(bobDevice));
  });

  it('a store error on the delete: sign-out everywhere still answers 204, her tokens are revoked, one onBackgroundError', async () => {
    const reported: unknown[] = [];
    t = await authApp(engine, { auth: { limits: SHARED, onBackgroundError: (error) => void reported.push(error) } });
    const app = t;
    const { access, refresh } = await twoAccounts(app);
    failingDelete(app);
    app.events.splice(0);
    expect((await app.post('/logout-all', undefined, { authorization: `Bearer ${access}` })).statusCode).toBe(204);
    expect(reported.map((e) => (e as Error).message)).toEqual(['store down']);
    expect((await app.me(access)).statusCode).toBe(401);
    expect((await app.post('/refresh-token', undefined, { cookie: refresh })).statusCode).toBe(401);
    expect(app.events.filter((e) => e.event === 'authn_token_revoked').map((e) => e.description)).toEqual([
      expect.stringMatching(/ signed out everywhere: 1 access grants and 1 refresh tokens revoked; its trusted devices could not be forgotten \(store error, reported\)$/),
    ]);
  });
});
