/**
 * Overlapping actions on one component instance: none of their changes may be lost, whatever the
 * store's latency. The store here answers each batch after a real timer tick, as a network store
 * does, so the requests below really overlap between their read and their write.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { sessionKeyOf } from '../../src/session/index.js';
import { storeKeys } from '../../src/store/keys.js';
import { createMemoryStore } from '../../src/store/memory/index.js';
import type { Store } from '../../src/store/types.js';
import { demoApp } from '../helpers/demo.js';

type Demo = Awaited<ReturnType<typeof demoApp>>;
const apps: Demo[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((d) => d.app.close()));
});

/** The memory store, with every batch answered after a timer tick (like a round trip). */
function slowStore(): Store & { batches: number } {
  const inner = createMemoryStore();
  const slow = {
    ...inner,
    batches: 0,
    async batch(ops: Parameters<Store['batch']>[0]) {
      slow.batches++;
      await new Promise((resolve) => setTimeout(resolve, 1));
      return inner.batch(ops);
    },
  };
  return slow;
}

describe('overlapping actions on one instance', () => {
  it('40 concurrent increments of one session count exactly 40', async () => {
    const store = slowStore();
    const demo = await demoApp({}, { store });
    apps.push(demo);
    const c = await demo.client('/');
    const results = await Promise.all(Array.from({ length: 40 }, () => c.action('counter:main', 'increment')));
    expect(results.map((r) => r.statusCode)).toEqual(Array.from({ length: 40 }, () => 200));
    // Each saw the state the previous one left: the counts are 1..40, each once.
    const counts = results.map((r) => (r.json() as { state: { count: number } }).state.count).sort((a, b) => a - b);
    expect(counts).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    const last = await c.action('counter:main', 'decrement');
    expect(last.json().state).toEqual({ count: 39 });
    expect(store.batches).toBeGreaterThanOrEqual(2 * 41);
  });

  it('does not order two sessions, or two instances of one session, behind each other', async () => {
    const store = slowStore();
    const demo = await demoApp({}, { store });
    apps.push(demo);
    const a = await demo.client('/');
    const b = await demo.client('/');
    // The same session opens the orders page too: order:main is mounted beside counter:main.
    expect((await demo.app.inject({ method: 'GET', url: '/orders', headers: { cookie: a.cookie } })).statusCode).toBe(200);
    const results = await Promise.all([
      ...Array.from({ length: 10 }, () => a.action('counter:main', 'increment')),
      ...Array.from({ length: 10 }, () => b.action('counter:main', 'increment')),
      ...Array.from({ length: 5 }, (_, i) => a.action('order:main', 'createOrder', { item: 'tea' }, { headers: { 'idempotency-key': `k-${i}` } })),
    ]);
    expect(results.every((r) => r.statusCode === 200)).toBe(true);
    expect((await a.action('counter:main', 'increment')).json().state).toEqual({ count: 11 });
    expect((await b.action('counter:main', 'increment')).json().state).toEqual({ count: 11 });
    expect((await a.action('order:main', 'createOrder', { item: 'tea' }, { headers: { 'idempotency-key': 'k-last' } })).json().state).toEqual({ orders: 6 });
  });

  it('a failing action does not hold up the next one', async () => {
    const store = slowStore();
    const demo = await demoApp({}, { store });
    apps.push(demo);
    const c = await demo.client('/orders');
    const [bad, good] = await Promise.all([
      c.action('order:main', 'createOrder', { item: '' }),
      c.action('order:main', 'createOrder', { item: 'tea' }, { headers: { 'idempotency-key': 'after-a-failure' } }),
    ]);
    expect(bad.statusCode).toBe(400);
    expect(bad.json().code).toBe('VALIDATION_FAILED');
    expect(good.statusCode).toBe(200);
    expect(good.json().state).toEqual({ orders: 1 });
  });

  it('two app instances sharing one store: 40 increments spread over both count exactly 40', async () => {
    const store = slowStore();
    const keys = { LC_STATE_KEYS: randomBytes(32).toString('base64'), LC_SESSION_SECRET: randomBytes(32).toString('base64') };
    const one = await demoApp(keys, { store });
    const two = await demoApp(keys, { store });
    apps.push(one, two);
    const c = await one.client('/');
    // Instance one orders its own requests, instance two its own: only the store-held lock orders the two.
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        (i % 2 === 0 ? one : two).app.inject({
          method: 'POST',
          url: '/api/livecomponents/action',
          headers: { 'content-type': 'application/json', cookie: c.cookie, 'x-csrf-token': c.token },
          payload: JSON.stringify({ component_id: 'counter:main', action: 'increment', params: {} }),
        }),
      ),
    );
    expect(results.map((r) => r.statusCode)).toEqual(Array.from({ length: 40 }, () => 200));
    const counts = results.map((r) => (r.json() as { state: { count: number } }).state.count).sort((a, b) => a - b);
    expect(counts).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect((await c.action('counter:main', 'increment')).json().state).toEqual({ count: 41 });
    // Every lock was released with its action's state.
    expect(await store.get(storeKeys.instanceLock(sessionKeyOf(c.cookie.split('=')[1] as string), 'counter:main'))).toBeNull();
  });

  it('instanceLock: false leaves the lock out: no store op touches a lock key, one process still orders its own', async () => {
    const store = slowStore();
    const keys: string[] = [];
    const recording: Store = { ...store, batch: (ops) => (keys.push(...ops.map((op) => op.key)), store.batch(ops)) };
    const demo = await demoApp({}, { store: recording, instanceLock: false });
    apps.push(demo);
    const c = await demo.client('/');
    const results = await Promise.all(Array.from({ length: 10 }, () => c.action('counter:main', 'increment')));
    expect(results.map((r) => (r.json() as { state: { count: number } }).state.count).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(keys.filter((k) => k.includes(':lock:'))).toEqual([]);
    expect(keys.filter((k) => k.includes(':state:')).length).toBeGreaterThanOrEqual(20);
  });
});
