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
import { sql, type Kysely } from 'kysely';
import { afterEach, expect, it } from 'vitest';
import { hashToken, newToken } from '../../src/auth/tokens.js';
import { migrateToLatest, type DatabaseSchema } from '../../src/sql/index.js';
import { MIGRATIONS } from '../../src/sql/migrations/index.js';
import { authApp, bindingCookie, eachEngine, refreshCookie, refreshCookies, T0, type AuthApp, type Engine } from './harness.js';

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

  type Legacy = { refresh: string; access: string };

  /** A database with two live families of the release before (no `binding_hash`), then migrated. */
  function fromTheReleaseBefore(families: Legacy[]): Engine {
    return {
      name: engine.name,
      async open() {
        const opened = await engine.open();
        const db = opened.db as unknown as Kysely<unknown>;
        await MIGRATIONS['003_refresh_binding']?.down?.(db);
        await sql`delete from kysely_migration where name = '003_refresh_binding'`.execute(db);
        await sql`delete from lc_migration_checksums where name = '003_refresh_binding'`.execute(db);
        const now = T0 - 60_000;
        const userId = randomUUID();
        await sql`insert into users (id, email, password_hash, name, created_at, updated_at) values (${userId}, 'ada@example.com', 'x', null, ${now}, ${now})`.execute(db);
        for (const family of families) {
          const familyId = randomUUID();
          await sql`insert into access_tokens (id, user_id, token_hash, family_id, expires_at, revoked_at, created_at)
            values (${randomUUID()}, ${userId}, ${hashToken(family.access)}, ${familyId}, ${now + 15 * 60_000}, null, ${now})`.execute(db);
          await sql`insert into refresh_tokens (id, user_id, family_id, token_hash, parent_id, family_expires_at, expires_at, used_at, revoked_at, created_at)
            values (${randomUUID()}, ${userId}, ${familyId}, ${hashToken(family.refresh)}, null, ${now + 30 * 86_400_000}, ${now + 7 * 86_400_000}, null, null, ${now})`.execute(db);
        }
        expect(await migrateToLatest(opened.db as Kysely<DatabaseSchema>)).toEqual(['003_refresh_binding']);
        return opened;
      },
    };
  }

  it('ends the legacy tokens still unrotated, and keeps the reuse detection of those rotated since the upgrade', async () => {
    const rotatedSince: Legacy = { refresh: newToken(), access: newToken() };
    const unrotated: Legacy = { refresh: newToken(), access: newToken() };
    t = await authApp(fromTheReleaseBefore([rotatedSince, unrotated]), { production: true, auth: { limits: LIMITS } });
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
