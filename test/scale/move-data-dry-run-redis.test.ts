/**
 * A dry run of a re-run whose key-value part the file marks as moved gives the run's verdict on Redis.
 * It asked Redis for its completion mark and took any failure for no answer: a Redis that refuses the
 * URL (WRONGPASS, NOPERM, READONLY), which the run refuses (exit 1, nothing written), and a Redis that
 * does not answer, which leaves the run not done (exit 1), both got "dry run done" and exit 0 — the
 * operator then ran the move and met the failure the dry run was there to show.
 */
import { describe, expect, it } from 'vitest';
import { migrateCommand } from '../../src/cli/migrate.js';
import { startCountingProxy } from '../redis/proxy.js';
import { marksOf, move, moveFixture, skipWithoutServices } from './move-data-fixture.js';

const skip = await skipWithoutServices('move-data dry run of a re-run');

describe.skipIf(skip)('move-data dry run of a re-run: the verdict the run gives on its Redis', { timeout: 120_000 }, () => {
  const fixture = moveFixture('lc-move-dry-redis-');

  /** An app's file whose key-value part is moved into the suite's Redis, and a migrated, empty PostgreSQL target. */
  async function movedKeyValues(name: string): Promise<{ file: string; from: string; target: string }> {
    const { file, from } = await fixture.appFolder(name);
    const target = await fixture.schema(`dry_redis_${name}`);
    expect(await migrateCommand({ DATABASE_URL: target }, { out: () => undefined })).toBe(0);
    await fixture.client.flushall();
    expect((await move('--from', from, '--to-redis', fixture.redis.url)).code).toBe(0);
    return { file, from, target };
  }

  it('a password Redis rejects: the dry run is refused as the run is', async () => {
    const { file, from, target } = await movedKeyValues('wrongpass');
    const url = `redis://nobody:not-the-password@127.0.0.1:${fixture.redis.port}`;
    const real = await move('--from', from, '--to-database', target, '--to-redis', url);
    expect([real.code, real.out]).toEqual([1, []]);
    const dry = await move('--from', from, '--to-database', target, '--to-redis', url, '--dry-run');
    expect(dry).toEqual(real);
    expect(marksOf(file).map((m) => m.part)).toEqual(['key-value']);
  });

  it('a Redis that does not answer: the dry run says its mark is unchecked and exits 1, as the run would', async () => {
    const { file, from, target } = await fixture.appFolder('down').then(async (app) => ({ ...app, target: await fixture.schema('dry_redis_down') }));
    expect(await migrateCommand({ DATABASE_URL: target }, { out: () => undefined })).toBe(0);
    // Moved through a proxy, then the proxy gone: the URL the file's mark names reaches nothing now.
    const proxy = await startCountingProxy(fixture.redis.port);
    const { url } = proxy;
    await fixture.client.flushall();
    expect((await move('--from', from, '--to-redis', url)).code).toBe(0);
    await proxy.close();
    const dry = await move('--from', from, '--to-database', target, '--to-redis', url, '--dry-run');
    expect(dry.code).toBe(1);
    expect(dry.out).toContainEqual(expect.stringMatching(/\(--to-redis or REDIS_URL\) did not answer \(.+\), so whether it holds the completion mark of the move/));
    expect(dry.out).toContain('move-data: table users: 1 rows would be copied');
    expect(dry.err).toEqual([`move-data: ${url}: its completion mark is unchecked (it did not answer, above), so the run would not be done: it would move the rest and exit 1; run it once Redis answers`]);
    expect(marksOf(file).map((m) => m.part)).toEqual(['key-value']);
  });
});
