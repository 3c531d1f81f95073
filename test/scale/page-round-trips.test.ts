/**
 * Store round trips of a page view on Redis, counted by the store's `onRoundTrip` hook: a valid
 * cookie two (the session's read and renewal, the mount), no cookie two (the new-session step with
 * the session's write it guards, the mount), a made-up cookie three (its failed read first), a
 * client past `newSessionLimit` one (the refused step, its write not made: nothing stored, no
 * cookie). Where the step cannot guard the write (`rateLimit.failOpen`) or there is no step (an
 * exempt client), the write takes a round trip of its own, as before.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { RedisStoreOperation } from '../../src/store/redis/options.js';
import type { LiveComponentsOptions } from '../../src/runtime/setup.js';
import type { Store } from '../../src/store/types.js';
import { demoApp } from '../helpers/demo.js';
import { REDIS_AVAILABLE, useRedisServer } from '../redis/server.js';

type Demo = Awaited<ReturnType<typeof demoApp>>;

const HOUR = 3600;

describe.skipIf(!REDIS_AVAILABLE)('round trips per page view on Redis', () => {
  const redis = useRedisServer();
  let trips: RedisStoreOperation[] = [];
  const opened: Demo[] = [];
  // Registered after useRedisServer's: runs before it closes the test's stores.
  afterEach(async () => {
    for (const demo of opened.splice(0)) await demo.app.close();
  });

  async function open(framework: Partial<LiveComponentsOptions> = {}, wrap: (store: Store) => Store = (store) => store): Promise<Demo> {
    const store = redis.open({ onRoundTrip: (op) => void trips.push(op) });
    const demo = await demoApp({}, { store: wrap(store), newSessionLimit: { limit: 3, windowSeconds: HOUR }, ...framework });
    opened.push(demo);
    return demo;
  }

  /** The page of `/` for `address` (with `cookie`), its round trips, and the session records it added. */
  async function view(demo: Demo, address: string, cookie?: string) {
    const before = (await redis.admin.keys('*:session')).length;
    trips = [];
    const page = await demo.app.inject({ url: '/', remoteAddress: address, headers: cookie === undefined ? {} : { cookie } });
    const counted = trips;
    const added = (await redis.admin.keys('*:session')).length - before;
    const setCookie = page.headers['set-cookie'];
    return { page, trips: counted, added, cookie: setCookie === undefined ? undefined : String(setCookie).split(';')[0] };
  }

  it('no cookie: two round trips, the session stored and usable; a valid cookie: two; a made-up one: three; unguarded: the write on its own', async () => {
    const demo = await open();
    const first = await view(demo, '192.0.2.80');
    expect([first.page.statusCode, first.trips, first.added]).toEqual([200, ['batch', 'batch'], 1]);
    expect(first.cookie).toMatch(/^lc_session=/);
    // The page's token works with its cookie: the session was stored before the answer went out.
    const token = /<meta name="csrf-token" content="([^"]+)"/.exec(first.page.body)?.[1] ?? '';
    const action = await demo.app.inject({
      method: 'POST',
      url: '/api/livecomponents/action',
      remoteAddress: '192.0.2.80',
      headers: { 'content-type': 'application/json', cookie: first.cookie ?? '', 'x-csrf-token': token },
      payload: JSON.stringify({ component_id: 'counter:main', action: 'increment', params: {} }),
    });
    expect([action.statusCode, action.json<{ state: unknown }>().state]).toEqual([200, { count: 1 }]);

    const again = await view(demo, '192.0.2.80', first.cookie);
    expect([again.page.statusCode, again.trips, again.added, again.cookie]).toEqual([200, ['batch', 'batch'], 0, undefined]);

    const madeUp = await view(demo, '192.0.2.80', 'lc_session=AAAAAAAAAAAAAAAAAAAAAA');
    expect([madeUp.page.statusCode, madeUp.trips, madeUp.added]).toEqual([200, ['batch', 'batch', 'batch'], 1]);
    expect(madeUp.cookie).not.toBe('lc_session=AAAAAAAAAAAAAAAAAAAAAA');

    // Where the step cannot guard the write (failOpen: its failure must let the view through; a
    // store splitting batches by hash tag, as on a Redis Cluster) or there is no step (loopback is
    // exempt), the write takes a round trip of its own.
    const failOpen = await open({ rateLimit: { failOpen: true, onFailOpen: () => {} } });
    const unguarded = await view(failOpen, '192.0.2.83');
    expect([unguarded.page.statusCode, unguarded.trips, unguarded.added]).toEqual([200, ['rateLimit', 'set', 'batch'], 1]);
    const split = await open({}, (store) => ({ ...store, splitsBatchesByHashTag: true }));
    const bySlot = await view(split, '192.0.2.84');
    expect([bySlot.page.statusCode, bySlot.trips, bySlot.added]).toEqual([200, ['rateLimit', 'set', 'batch'], 1]);
    const loopback = await view(demo, '127.0.0.1');
    expect([loopback.page.statusCode, loopback.trips, loopback.added]).toEqual([200, ['set', 'batch'], 1]);
  });

  it('past the limit: one round trip, 429, nothing stored, no cookie; with or without a made-up cookie', async () => {
    const demo = await open();
    for (let i = 0; i < 3; i++) expect((await view(demo, '192.0.2.81')).added).toBe(1);
    const refused = await view(demo, '192.0.2.81');
    expect([refused.page.statusCode, refused.trips, refused.added, refused.cookie]).toEqual([429, ['batch'], 0, undefined]);
    const madeUp = await view(demo, '192.0.2.81', 'lc_session=BBBBBBBBBBBBBBBBBBBBBB');
    expect([madeUp.page.statusCode, madeUp.trips, madeUp.added, madeUp.cookie]).toEqual([429, ['batch', 'batch'], 0, undefined]);
  });

  it('200 concurrent cookie-less views of one client against a limit of 3: 3 sessions stored, 197 × 429 without a cookie, one round trip each refused', async () => {
    const demo = await open();
    const before = (await redis.admin.keys('*:session')).length;
    trips = [];
    const pages = await Promise.all(Array.from({ length: 200 }, () => demo.app.inject({ url: '/', remoteAddress: '192.0.2.82' })));
    expect(pages.filter((p) => p.statusCode === 200 && p.headers['set-cookie'] !== undefined)).toHaveLength(3);
    expect(pages.filter((p) => p.statusCode === 429 && p.headers['set-cookie'] === undefined)).toHaveLength(197);
    expect((await redis.admin.keys('*:session')).length - before).toBe(3);
    expect(trips).toEqual(Array.from({ length: 3 + 200 }, () => 'batch'));
  });
});
