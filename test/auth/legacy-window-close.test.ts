/**
 * docs/auth.md ("A planted refresh cookie", a family from before this release) gives operators one
 * statement to close the legacy window at once: revoke the refresh tokens that have no binding
 * (`binding_hash IS NULL`). Run as written, it must end every legacy token that could still be
 * planted, and must not cost the reuse detection (RFC 9700 §4.14.2) of the legacy tokens that were
 * already rotated: revoking those too let the clean-up delete them (it deletes every revoked row),
 * and a copy replayed afterwards was merely unknown, so the family rotated from it (a thief's, if
 * the thief rotated first) lived on.
 *
 * The statement is read from the docs, so the test checks what an operator would run.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, expect, it } from 'vitest';
import { newToken } from '../../src/auth/tokens.js';
import { authApp, bindingCookie, eachEngine, engineBeforeRefreshBinding, refreshCookie, refreshCookies, type AuthApp, type LegacyFamily } from './harness.js';

const ORIGIN = { origin: 'https://app.example.com' };
const MANY = { limit: 10_000, windowSeconds: 60 };
const LIMITS = { login: MANY, 'refresh-token': MANY, logout: MANY };

/** The statement docs/auth.md tells operators to run, with `<now in ms>` still in it. */
function documentedStatement(): string {
  const docs = readFileSync(join(import.meta.dirname, '../../docs/auth.md'), 'utf8');
  const found = /`(UPDATE refresh_tokens SET revoked_at = <now in ms>[^`]*)`/.exec(docs.replace(/\s+/g, ' '));
  if (found?.[1] === undefined) throw new Error('docs/auth.md no longer has the statement that closes the legacy window');
  return found[1];
}

eachEngine('closing the legacy window with the statement of docs/auth.md', (engine) => {
  let t: AuthApp;
  afterEach(async () => {
    await t.close();
  });

  it('ends the legacy tokens still unrotated, and keeps the reuse detection of those rotated since the upgrade', async () => {
    const rotatedSince: LegacyFamily = { familyId: randomUUID(), refresh: newToken(), access: newToken() };
    const unrotated: LegacyFamily = { familyId: randomUUID(), refresh: newToken(), access: newToken() };
    t = await authApp(engineBeforeRefreshBinding(engine, { id: randomUUID(), email: 'ada@example.com' }, [rotatedSince, unrotated]), { production: true, auth: { limits: LIMITS } });
    const refresh = (cookie: string) => t.post('/refresh-token', undefined, { ...ORIGIN, cookie });

    // A copy of a legacy token rotated first, without a companion (a thief's, or the owner's browser).
    const first = await refresh(`refresh_token=${rotatedSince.refresh}`);
    expect(first.statusCode).toBe(200);
    const successor = { refresh: refreshCookie(first) as string, binding: bindingCookie(first) as string };

    // The operator closes the window as docs/auth.md says, and the scheduled clean-up runs.
    const statement = documentedStatement().replace('<now in ms>', String(t.clock.now()));
    await sql.raw(statement).execute(t.db);
    await t.app.livecomponentsAuth.service.deleteDeadTokens();
    t.takeEvents();

    // The unrotated legacy token, planted: refused, nothing signs in.
    const planted = await refresh(`refresh_token=${unrotated.refresh}`);
    expect([planted.statusCode, planted.json().code]).toEqual([401, 'REFRESH_TOKEN_INVALID']);

    // The other copy of the rotated one comes back: still a reuse, its family revoked.
    const replay = await refresh(`refresh_token=${rotatedSince.refresh}`);
    expect([replay.statusCode, replay.json().code]).toEqual([401, 'REFRESH_TOKEN_INVALID']);
    expect(t.takeEvents()).toEqual(['authn_token_reuse', 'authn_token_revoked']);
    expect((await refresh(refreshCookies(successor))).statusCode).toBe(401);
  });
});
