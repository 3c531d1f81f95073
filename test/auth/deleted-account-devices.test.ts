/**
 * What an account deleted in SQL (an operator's erasure; there is no "delete user" feature)
 * leaves in the key-value store for the next account of its email. The trusted-device list
 * (`authKeys.devices(email)`, src/auth/keys.ts) is keyed by the normalised email, not by the user id,
 * and nothing forgets it when the row goes. Before registration forgot it, a new account with that
 * email found the deleted person's browsers trusted: each kept a sign-in budget of its own
 * (`LOGIN_PER_DEVICE`, 20 an hour) on the new account, while every other browser was held to the
 * shared per-account budget. A store that refuses the delete leaves the registration done, reported.
 */
import type { LightMyRequestResponse } from 'fastify';
import { sql } from 'kysely';
import { afterEach, expect, it } from 'vitest';
import { authKeys } from '../../src/auth/keys.js';
import { authApp, eachEngine, PASSWORD, setCookies, type AuthApp } from './harness.js';

const EMAIL = 'ada@example.com';
const NEW_PASSWORD = 'the new owner password';
/** The shared per-account budget: small, so a few attempts spend it. */
const SHARED = { 'login-account': { limit: 3, windowSeconds: 3600 } };

function deviceCookie(res: LightMyRequestResponse): string | undefined {
  const line = setCookies(res).find((c) => c.startsWith('lc_device_token='));
  return line === undefined ? undefined : (line.split(';')[0] as string).slice('lc_device_token='.length);
}

eachEngine('an account deleted in SQL leaves its trusted devices to the next account of its email', (engine) => {
  let t: AuthApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });
  let ip = 0;
  const signIn = (app: AuthApp, password: string, device?: string) =>
    app.post('/login', { email: EMAIL, password }, device === undefined ? {} : { cookie: `lc_device_token=${device}` }, `198.51.100.${(ip++ % 250) + 1}`);

  it('after DELETE and a new registration, the deleted person\'s browser is not trusted for the new account', async () => {
    t = await authApp(engine, { auth: { limits: SHARED } });
    const app = t;
    expect((await app.register(EMAIL)).statusCode).toBe(201);
    const old = await signIn(app, PASSWORD);
    expect(old.statusCode).toBe(200);
    const oldDevice = deviceCookie(old) as string;
    expect(oldDevice).toMatch(/^[A-Za-z0-9_-]{43}$/);

    await sql`delete from users where email = ${EMAIL}`.execute(app.db);
    // Some time later (the shared budget's window over), someone else gets the address and registers.
    app.clock.advance(2 * 3_600_000);
    expect((await app.register(EMAIL, NEW_PASSWORD)).statusCode).toBe(201);

    // Nothing of the deleted account should be left under its email.
    expect(await app.store.get(authKeys.devices(EMAIL))).toBeNull();

    // The shared budget spent by 3 wrong tries: a new browser is refused even with the right password…
    for (let i = 0; i < 3; i++) expect((await signIn(app, `wrong ${i}`)).statusCode).toBe(401);
    expect((await signIn(app, NEW_PASSWORD)).statusCode).toBe(429);
    // …and so must be the deleted person's browser, which never signed in to this account.
    const formerly = await signIn(app, 'guess 1', oldDevice);
    expect(formerly.statusCode).toBe(429);
  });

  it('a store error on that delete: the registration still answers 201, one onBackgroundError', async () => {
    const reported: unknown[] = [];
    t = await authApp(engine, { auth: { onBackgroundError: (error) => void reported.push(error) } });
    const app = t;
    const del = app.store.delete.bind(app.store);
    app.store.delete = async (key) => {
      if (key === authKeys.devices(EMAIL)) throw new Error('store down');
      return del(key);
    };
    const res = await app.register(EMAIL);
    expect(res.statusCode).toBe(201);
    expect(reported.map((e) => (e as Error).message)).toEqual(['store down']);
    expect((await signIn(app, PASSWORD)).statusCode).toBe(200);
  });
});
