/**
 * OWASP ASVS 5.0 16.3.1 (authentication operations are logged, the failed ones too): a refresh token
 * presented after its sign-in ended — revoked by a logout-all, or expired — is refused and leaves one
 * `session_use_after_expire` (src/auth/service.ts `usedAfterEnd`), naming the user and the family,
 * never the token. Before, such a refusal logged nothing: a stolen copy tried after the owner signed
 * out everywhere left no trace. A token of no family (unknown) logs nothing: anyone can send one.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, expect, it } from 'vitest';
import { authApp, eachEngine, type AuthApp } from './harness.js';

eachEngine('ASVS 16.3.1: a refresh token of an ended sign-in leaves an event', (engine) => {
  let t: AuthApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  const afterEnd = (a: AuthApp) => a.events.filter((e) => e.event === 'session_use_after_expire');

  it('revoked by logout-all: refused, exactly one WARN event naming user and family, not the token; an unknown token: none', async () => {
    const a = (t = await authApp(engine));
    expect((await a.register('ada@example.com')).statusCode).toBe(201);
    const s = await a.login('ada@example.com');
    const user = (await a.me(s.access)).json().id as string;
    expect((await a.post('/logout-all', undefined, { authorization: `Bearer ${s.access}` })).statusCode).toBe(204);
    a.takeEvents();

    const res = await a.refresh(s.refresh);
    expect({ status: res.statusCode, code: res.json().code }).toEqual({ status: 401, code: 'REFRESH_TOKEN_INVALID' });
    const events = afterEnd(a);
    expect(events).toHaveLength(1);
    expect(events[0]?.level).toBe('WARN');
    expect(events[0]?.description).toMatch(new RegExp(`^Refresh token of user ${user} \\(family [0-9a-f-]{36}\\) refused: it was revoked$`));
    expect(a.logs.join('\n')).not.toContain(s.refresh);
    // Nothing else: no reuse (it was never rotated), no revocation.
    expect(a.takeEvents()).toEqual(['session_use_after_expire']);

    const unknown = await a.refresh(randomBytes(32).toString('base64url'));
    expect(unknown.json().code).toBe('REFRESH_TOKEN_INVALID');
    expect(a.takeEvents()).toEqual([]);
  });

  it('expired: refused, one event saying so', async () => {
    const a = (t = await authApp(engine));
    expect((await a.register('ada@example.com')).statusCode).toBe(201);
    const s = await a.login('ada@example.com');
    // Past the refresh token's own end (10080 minutes), within the clean-up margin: the row is still there.
    a.clock.advance(10_080 * 60_000 + 1_000);
    a.takeEvents();
    expect((await a.refresh(s.refresh)).json().code).toBe('REFRESH_TOKEN_INVALID');
    expect(afterEnd(a).map((e) => e.description.replace(/^.*refused: /, ''))).toEqual(['it expired']);
  });
});
