/**
 * Registration clears the sign-in counters of its email (src/auth/service.ts `register`,
 * `forgetSignInCounts`). The per-account budget (`LOGIN_PER_ACCOUNT`, `authKeys.loginAttempts`) and
 * the run of failures behind `authn_login_fail_max` (`authKeys.loginFailures`) are kept by email and
 * counted before the email is looked up, so they collect attempts on an email with no account and
 * outlive an account an operator deleted in SQL. Before, a new registrant's first sign-ins shared
 * what was left of that budget (a 429 with the right password, for up to an hour) and
 * `authn_login_fail_max` named the new user for failures not theirs. Only a successful insert
 * clears them: a refused registration (a weak password, EMAIL_TAKEN) leaves them as they are. A
 * store refusing the clear leaves the registration done (201), reported to `onBackgroundError`.
 * On the memory store (the harness, both SQL engines) and on a Redis store, whose sliding-window
 * counters are sorted sets.
 */
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { createAuthService, type AuthService } from '../../src/auth/index.js';
import { authKeys } from '../../src/auth/keys.js';
import { capturedMailTransport } from '../../src/auth/mail.js';
import { manualClock } from '../../src/core/clock.js';
import { memorySecurityEvents } from '../../src/ops/security-events.js';
import type { Store } from '../../src/store/types.js';
import { REDIS_AVAILABLE, useRedisServer } from '../redis/server.js';
import { authApp, eachEngine, FAST_ARGON2, PASSWORD, T0, useSqliteAuthDatabase, type AuthApp } from './harness.js';

const EMAIL = 'ada@example.com';
/** The shared per-account budget: small, so a few attempts spend it. */
const SHARED = { 'login-account': { limit: 3, windowSeconds: 3600 } };

eachEngine('registration clears the sign-in counters of its email', (engine) => {
  let t: AuthApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });
  let ip = 0;
  // Each attempt from a client of its own: the per-client `login` limit (5/min) is not what is tested.
  const signIn = (app: AuthApp, email: string, password: string) => app.post('/login', { email, password }, {}, `198.51.100.${(ip++ % 250) + 1}`);

  it('attempts on an email with no account do not spend the budget of the account registered with it; a refused registration clears nothing', async () => {
    const app = (t = await authApp(engine, { auth: { limits: { ...SHARED, register: { limit: 100, windowSeconds: 60 } } } }));
    for (let i = 0; i < 3; i++) expect((await signIn(app, EMAIL, `guess ${i}`)).statusCode).toBe(401);
    expect((await signIn(app, EMAIL, PASSWORD)).json().code).toBe('RATE_LIMIT_EXCEEDED');
    // A registration refused before the insert (a common password) clears nothing.
    expect((await app.register(EMAIL, 'password123')).json().code).toBe('VALIDATION_FAILED');
    expect((await signIn(app, EMAIL, PASSWORD)).json().code).toBe('RATE_LIMIT_EXCEEDED');

    expect((await app.register(EMAIL)).statusCode).toBe(201);
    expect(await app.store.get(authKeys.loginAttempts(EMAIL))).toBeNull();
    // Was 429 RATE_LIMIT_EXCEEDED: the budget spent on the email before the account existed.
    const first = await signIn(app, EMAIL, PASSWORD);
    expect(first.statusCode).toBe(200);

    // EMAIL_TAKEN clears nothing either: an existing account's spent budget stays spent.
    for (let i = 0; i < 2; i++) expect((await signIn(app, EMAIL, `guess ${i}`)).statusCode).toBe(401);
    expect((await signIn(app, EMAIL, PASSWORD)).json().code).toBe('RATE_LIMIT_EXCEEDED');
    expect((await app.register(EMAIL, 'another passphrase 77')).json().code).toBe('EMAIL_TAKEN');
    expect((await signIn(app, EMAIL, PASSWORD)).json().code).toBe('RATE_LIMIT_EXCEEDED');
  });

  it('failures on a deleted account\'s email do not make authn_login_fail_max name the account registered with it', async () => {
    const app = (t = await authApp(engine));
    expect((await app.register(EMAIL)).statusCode).toBe(201);
    await sql`delete from users where email = ${EMAIL}`.execute(app.db);
    for (let i = 0; i < 4; i++) expect((await signIn(app, EMAIL, `guess ${i}`)).statusCode).toBe(401);
    expect(app.takeEvents().filter((e) => e === 'authn_login_fail_max')).toEqual([]);

    expect((await app.register(EMAIL, 'the new owner password')).statusCode).toBe(201);
    app.takeEvents();
    // The new owner mistypes once: was 'authn_login_fail', 'authn_login_fail_max' ("5 failed
    // sign-ins in a row for user <the new id>").
    expect((await signIn(app, EMAIL, 'a typo of mine')).statusCode).toBe(401);
    expect(app.takeEvents()).toEqual(['authn_login_fail']);
    // The run counts from the registration: four more make five.
    for (let i = 0; i < 3; i++) expect((await signIn(app, EMAIL, `typo ${i}`)).statusCode).toBe(401);
    expect(app.takeEvents()).toEqual(['authn_login_fail', 'authn_login_fail', 'authn_login_fail']);
    expect((await signIn(app, EMAIL, 'typo 3')).statusCode).toBe(401);
    expect(app.takeEvents()).toEqual(['authn_login_fail', 'authn_login_fail_max']);
  });

  it('a store error on the clear: the registration still answers 201, one onBackgroundError, the counters as they were', async () => {
    const reported: unknown[] = [];
    const app = (t = await authApp(engine, { auth: { limits: SHARED, onBackgroundError: (error) => void reported.push(error) } }));
    for (let i = 0; i < 3; i++) expect((await signIn(app, EMAIL, `guess ${i}`)).statusCode).toBe(401);
    const batch = app.store.batch.bind(app.store);
    app.store.batch = async (ops) => {
      if (ops.some((op) => op.key === authKeys.loginAttempts(EMAIL))) throw new Error('store down');
      return batch(ops);
    };
    expect((await app.register(EMAIL)).statusCode).toBe(201);
    expect(reported.map((e) => (e as Error).message)).toEqual(['store down']);
    expect((await signIn(app, EMAIL, PASSWORD)).json().code).toBe('RATE_LIMIT_EXCEEDED');
  });
});

describe.skipIf(!REDIS_AVAILABLE)('registration clears the sign-in counters of its email (Redis store)', () => {
  const redis = useRedisServer();
  const { db } = useSqliteAuthDatabase('register-counters');

  function service(store: Store): AuthService {
    return createAuthService({
      db,
      store,
      events: memorySecurityEvents(),
      mail: capturedMailTransport(),
      password: FAST_ARGON2,
      clock: manualClock(T0),
      resetUrl: 'https://app.example.com/reset-password',
      limits: SHARED,
      loginFailMax: { failures: 3, windowSeconds: 900 },
      onBackgroundError: (error) => {
        throw error;
      },
    });
  }

  it('both counters (sorted sets on Redis) are deleted by the registration; the new account signs in', async () => {
    const store = redis.open();
    const auth = service(store);
    const email = 'grace@example.com';
    for (let i = 0; i < 3; i++) expect((await auth.login({ email, password: `guess ${i}` }, undefined)).type).toBe('error');
    const keys = [authKeys.loginAttempts(email), authKeys.loginFailures(email)];
    expect(await Promise.all(keys.map((k) => redis.admin.type(k)))).toEqual(['zset', 'zset']);
    expect((await auth.register({ email, password: PASSWORD }, undefined)).type).toBe('ok');
    expect(await redis.admin.exists(...keys)).toBe(0);
    const signedIn = await auth.login({ email, password: PASSWORD }, undefined);
    // Was RATE_LIMIT_EXCEEDED.
    expect(signedIn.type === 'error' ? signedIn.error.code : 'ok').toBe('ok');
  });
});
