/**
 * What components need of the auth data, with nothing but the database: `resolveUser` for the
 * runtime (`ctx.user`) and the display-name update of the profile component. Built before the
 * runtime, since the runtime takes `resolveUser` at start-up.
 *
 * Nothing is cached: each action reads the user afresh, so a sign-out, a logout-all or a password
 * reset takes effect on the very next request, on every instance.
 */
import type { Kysely } from 'kysely';
import type { User } from '../core/component.js';
import { systemClock, wholeMsClock, type Clock } from '../core/clock.js';
import type { DatabaseSchema } from '../sql/schema.js';
import { readName } from './input.js';
import { createAuthRepository } from './repository.js';

export interface Accounts {
  /**
   * `resolveUser` of `createLiveComponents`: the user of a live browser sign-in, from the user id a
   * session carries (`<user id>/<sign-in id>`, written by `AuthService.startWebSession`).
   */
  resolveUser(sessionUserId: string): Promise<User | null>;
  /** Changes a display name (NFC, trimmed, 1–80 characters, or `null`); resolves the stored value or a message. */
  setName(userId: string, input: unknown): Promise<{ ok: true; name: string | null } | { ok: false; message: string }>;
}

export function createAccounts(options: { db: Kysely<DatabaseSchema>; clock?: Clock }): Accounts {
  const repo = createAuthRepository(options.db);
  const clock = wholeMsClock(options.clock ?? systemClock);
  return {
    async resolveUser(sessionUserId) {
      const parsed = parseSessionUserId(sessionUserId);
      if (parsed === null) return null;
      const row = await repo.webSessionUser(parsed.userId, parsed.webSessionId, clock.now());
      return row === undefined ? null : { id: row.id, email: row.email, name: row.name };
    },
    async setName(userId, input) {
      const name = readName(input);
      if (!name.ok) return name;
      if (!(await repo.setName(userId, name.name, clock.now()))) return { ok: false, message: 'This account no longer exists.' };
      return { ok: true, name: name.name };
    },
  };
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Splits `<user id>/<sign-in id>`; `null` for anything else (an older or foreign session value). */
export function parseSessionUserId(value: string): { userId: string; webSessionId: string } | null {
  const slash = value.indexOf('/');
  const userId = value.slice(0, slash);
  const webSessionId = value.slice(slash + 1);
  return slash > 0 && UUID_RE.test(userId) && UUID_RE.test(webSessionId) ? { userId, webSessionId } : null;
}
