/**
 * `livecomponents revoke-sessions` run in this process for the tests of test/scale: its exit code, the
 * lines it printed, its counts by kind and the security events it emitted; and the auth database of
 * users it runs on.
 */
import type { Kysely } from 'kysely';
import { beforeAll } from 'vitest';
import { createAuthRepository, type AuthRepository } from '../../src/auth/repository.js';
import { revokeSessions, type RevokeSessionsArgs, type RevokeSessionsIo } from '../../src/cli/revoke-sessions.js';
import { memorySecurityEvents, type SecurityEvent } from '../../src/ops/security-events.js';
import type { DatabaseSchema } from '../../src/sql/index.js';
import { useSqliteAuthDatabase } from '../auth/harness.js';

/**
 * The file's SQLite auth database (`useSqliteAuthDatabase(label)`: `url` its `DATABASE_URL`) holding
 * the users `emails`, inserted before the file's tests: `users` their ids by email from then on.
 */
export function useUsersDatabase(
  label: string,
  emails: readonly string[],
): { db: Kysely<DatabaseSchema>; url: string; repo: AuthRepository; users: Record<string, string> } {
  const { db, url } = useSqliteAuthDatabase(label);
  const repo = createAuthRepository(db);
  const users: Record<string, string> = {};
  beforeAll(async () => {
    for (const email of emails) {
      const row = await repo.insertUser({ email, passwordHash: 'hash', name: null }, Date.now());
      if (row === 'taken') throw new Error(`useUsersDatabase: ${email} taken`);
      users[email] = row.id;
    }
  });
  return { db, url, repo, users };
}

export interface RevokeRun {
  readonly code: number;
  readonly out: string[];
  readonly err: string[];
  /** The counts printed, by kind: `revoke-sessions: sessions signed in: 2 …` is `{ 'sessions signed in': 2 }`. */
  readonly counts: Record<string, number>;
  readonly events: SecurityEvent[];
}

/**
 * Runs `revoke-sessions` with `io` (`env`, `cwd`, `signals`…), what it prints and emits kept.
 * `started`: called once the run is under way, before it reads anything (a signal sent then comes
 * first).
 */
export async function runRevokeSessions(args: RevokeSessionsArgs, io: Omit<RevokeSessionsIo, 'out' | 'err' | 'events'>, started?: () => void): Promise<RevokeRun> {
  const out: string[] = [];
  const err: string[] = [];
  const events = memorySecurityEvents();
  const running = revokeSessions(args, { ...io, out: (l) => out.push(l), err: (l) => err.push(l), events });
  started?.();
  const code = await running;
  return { code, out, err, counts: printedCounts(out), events: events.events };
}

/** The counts `revoke-sessions` printed in `out`, by kind: `revoke-sessions: sessions signed in: 2 …` is `{ 'sessions signed in': 2 }`. */
export function printedCounts(out: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const line of out) {
    const match = /^revoke-sessions: ([a-z -]+): (\d+) /.exec(line);
    if (match !== null) counts[match[1] as string] = Number(match[2]);
  }
  return counts;
}
