/**
 * An account deleted in SQL (an operator's erasure) while forgot-password's background work
 * is under way for it — after its lookup found the user, before the reset token's insert. The insert
 * meets the foreign key of the row just deleted. Before, that was an error reported to
 * `onBackgroundError` (the reference app logs it at error level: "auth background task failed",
 * `FOREIGN KEY constraint failed` or PostgreSQL's 23503) for what is no fault of the app: now nothing
 * is sent, stored or reported. The answer was 202 either way.
 */
import { sql } from 'kysely';
import { afterEach, expect, it } from 'vitest';
import { authApp, eachEngine, type AuthApp } from './harness.js';

const EMAIL = 'ada@example.com';

eachEngine('forgot-password racing the deletion of the account', (engine) => {
  let t: AuthApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('the reset token finds no user row: no mail, no row, nothing reported', async () => {
    const reported: unknown[] = [];
    t = await authApp(engine, { auth: { onBackgroundError: (error) => void reported.push(error) } });
    const app = t;
    expect((await app.register(EMAIL)).statusCode).toBe(201);
    // The operator's DELETE lands while the reset-mail budget is counted: after the lookup, before the insert.
    const rateLimit = app.store.rateLimit.bind(app.store);
    let deleted = false;
    app.store.rateLimit = async (key, policy, now) => {
      if (!deleted && key.endsWith(':auth:reset-mail')) {
        deleted = true;
        await sql`delete from users where email = ${EMAIL}`.execute(app.db);
      }
      return rateLimit(key, policy, now);
    };
    app.events.splice(0);
    expect((await app.post('/forgot-password', { email: EMAIL })).statusCode).toBe(202);
    await app.idle();
    expect(deleted).toBe(true);
    expect(reported).toEqual([]);
    expect(app.mail.messages).toEqual([]);
    expect(Number((await app.db.selectFrom('password_resets').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n)).toBe(0);
    expect(app.events.map((e) => e.event)).not.toContain('authn_token_created');
  });
});
