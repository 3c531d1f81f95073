/**
 * `revoke-sessions` on a Redis Cluster whose masters do not grant the same commands. A Cluster's ACLs
 * are each node's own (ACL SETUSER, an ACL file, reach one node), and the checks made before anything
 * changes asked GET, UNLINK and EXISTS of the write-check key's master only: a master that refuses one
 * passed them, then failed the run mid-walk — a run after the database's revocation, with some
 * sessions ended and the others not. Each master is now asked (one that allows the command but does
 * not hold the key answers MOVED: Redis checks the ACL first), and the run is refused untouched.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthRepository } from '../auth/repository.js';
import { hashToken } from '../auth/tokens.js';
import { memorySecurityEvents } from '../ops/security-events.js';
import { createDatabase } from '../sql/database.js';
import { migrateToLatest } from '../sql/migrate.js';
import { WRITE_CHECK_KEY } from '../store/keys.js';
import { REDIS_AVAILABLE, useRedisCluster } from '../../test/redis/server.js';
import { revokeSessions } from './revoke-sessions.js';

const HOUR = 3_600_000;
const PREFIX = 'acl:';
const SESSIONS = 30;
const dir = mkdtempSync(join(tmpdir(), 'lc-revoke-cluster-acl-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!REDIS_AVAILABLE)('revoke-sessions on a Cluster with one master refusing a command the run sends', () => {
  const cluster = useRedisCluster();
  /** A master that does not hold the write-check key, and holds some of the sessions. */
  let other: Redis;
  beforeAll(async () => {
    const { admin } = cluster;
    for (let i = 0; i < SESSIONS; i++) {
      await admin.set(`${PREFIX}lc:{s:k${i}}:session`, '{"u":null}', 'PX', HOUR);
      await admin.set(`${PREFIX}lc:{s:k${i}}:state:counter:main`, 'sealed', 'PX', HOUR);
    }
    const masters = admin.nodes('master');
    const holders = await Promise.all(masters.map((node) => node.exists(`${PREFIX}${WRITE_CHECK_KEY}`).then(() => true, () => false)));
    const keysOn = await Promise.all(masters.map(async (node) => (await node.keys(`${PREFIX}*`)).length));
    const index = masters.findIndex((_node, i) => holders[i] === false && (keysOn[i] as number) > 0);
    expect(index).toBeGreaterThanOrEqual(0);
    other = masters[index] as Redis;
  });

  /** The same user on every master, `refused` taken away on `other` only. */
  async function userWithout(name: string, refused: string): Promise<string> {
    for (const node of cluster.admin.nodes('master')) {
      await node.call('ACL', 'SETUSER', name, 'on', '>secret-pw', '~*', '&*', '+@all', ...(node === other ? [`-${refused}`] : []));
    }
    return cluster.nodes.map((n) => n.url.replace('redis://', `redis://${name}:secret-pw@`)).join(',');
  }

  const sessionKeys = async () => (await Promise.all(cluster.admin.nodes('master').map((node) => node.keys(`${PREFIX}*`)))).flat().length;

  for (const { refused, dryRun, grant } of [
    { refused: 'unlink', dryRun: false, grant: 'ending sessions needs SCAN, GET and UNLINK (grant the ACL user +scan +get +unlink on the app\'s keys)' },
    { refused: 'get', dryRun: true, grant: 'ending sessions needs SCAN, GET and UNLINK (grant the ACL user +scan +get +unlink on the app\'s keys)' },
    { refused: 'exists', dryRun: true, grant: 'a dry run looks for each session key it counts with EXISTS (grant the ACL user +exists on the app\'s keys)' },
  ]) {
    it(`${dryRun ? 'dry run' : 'run'}, ${refused} refused by one master: exit 1 before anything is revoked or counted, naming the grant`, { timeout: 60_000 }, async () => {
      const path = join(dir, `${refused}-${dryRun}.db`);
      const db = createDatabase(`sqlite:${path}`);
      try {
        await migrateToLatest(db);
        const repo = createAuthRepository(db);
        const user = await repo.insertUser({ email: 'ada@example.com', passwordHash: 'hash', name: null }, Date.now());
        if (user === 'taken') throw new Error('taken');
        const web = await repo.createWebSession(user.id, hashToken('web-acl'), Date.now(), Date.now() + HOUR, 'hash');
        const url = await userWithout(`no-${refused}`, refused);
        const out: string[] = [];
        const err: string[] = [];
        const code = await revokeSessions(
          { all: true, dryRun },
          { env: { DATABASE_URL: `sqlite:${path}`, REDIS_URL: url, REDIS_KEY_PREFIX: PREFIX }, out: (l) => out.push(l), err: (l) => err.push(l), events: memorySecurityEvents() },
        );
        expect({ code, out }).toEqual({ code: 1, out: [] });
        expect(err).toHaveLength(1);
        expect(err[0]).toMatch(new RegExp(`^revoke-sessions: redis://127\\.0\\.0\\.1:\\d+,.*: NOPERM .*'${refused}'.*: `));
        expect(err[0]?.endsWith(`: ${grant}; nothing was changed`)).toBe(true);
        expect(err[0]).not.toContain('secret-pw');
        expect(await repo.webSessionUser(user.id, web as string, Date.now())).toBeDefined();
        expect(await sessionKeys()).toBe(2 * SESSIONS);
      } finally {
        await db.destroy();
      }
    });
  }
});
