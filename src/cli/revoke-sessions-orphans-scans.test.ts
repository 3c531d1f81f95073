/**
 * `revoke-sessions --orphans` at scale: how often the users table is scanned. Ids not found through
 * the primary key are asked again in any case (`lower(id)`, no index: a scan of the whole table) once
 * a thousand have gathered, so that a table of a million users is scanned once per thousand orphaned
 * ids (revoke-sessions-orphans.ts). Counted here on the queries sent: 2,500 deleted users' ids read
 * in pages of 250 are asked through the primary key once a page (10 queries of at most 500 ids) and
 * in any case 3 times (1,000, 1,000, then the 500 left when the walk is done), not 5 (in halves of 500).
 * Embedded SQLite file: no service needed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KyselyPlugin } from 'kysely';
import { afterAll, expect, it } from 'vitest';
import { createDatabase } from '../sql/database.js';
import { migrateToLatest } from '../sql/migrate.js';
import { accountCheck, orphanSessions } from './revoke-sessions-orphans.js';

const dir = mkdtempSync(join(tmpdir(), 'lc-revoke-orphans-scans-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('2,500 orphaned ids in pages of 250: 10 primary-key queries, 3 any-case scans of the users table; every one of their sessions chosen', { timeout: 60_000 }, async () => {
  const db = createDatabase(`sqlite:${join(dir, 'scans.db')}`);
  try {
    await migrateToLatest(db);
    const now = Date.now();
    const live = Array.from({ length: 300 }, () => randomUUID());
    await db.insertInto('users').values(live.map((id) => ({ id, email: `${id}@example.com`, password_hash: 'hash', name: null, created_at: now, updated_at: now }))).execute();
    // Each query sent, by kind: one with lower(id) in its WHERE is a scan of the whole users table.
    const sent: string[] = [];
    const counting: KyselyPlugin = {
      transformQuery(args) {
        const node = JSON.stringify(args.node);
        sent.push(node.includes('"func":"lower"') ? 'scan' : node.includes('"users"') ? 'key' : 'other');
        return args.node;
      },
      async transformResult(args) {
        return args.result;
      },
    };
    const picker = orphanSessions(accountCheck(db.withPlugin(counting)));
    const gone = Array.from({ length: 2_500 }, () => randomUUID());
    const chosen = new Set<string>();
    for (let page = 0; page < 10; page++) {
      const records = gone.slice(page * 250, page * 250 + 250).flatMap((id, i) => [
        { session: `g${page}-${i}`, user: `${id}/${randomUUID()}` },
        { session: `l${page}-${i}`, user: `${live[(page * 250 + i) % live.length] as string}/${randomUUID()}` },
      ]);
      for (const session of await picker.pick(records)) chosen.add(session);
    }
    for (const session of await picker.done()) chosen.add(session);
    expect(chosen.size).toBe(2_500);
    expect([...chosen].every((s) => s.startsWith('g'))).toBe(true);
    expect([sent.filter((kind) => kind === 'key').length, sent.filter((kind) => kind === 'scan').length, sent.length]).toEqual([10, 3, 13]);
  } finally {
    await db.destroy();
  }
});
