/**
 * `newSessionLimit`: every cookie-less page view stores a session and its components' state, so the
 * number of new sessions a signed-out client may start is limited (300 per 60 s by default). Past it
 * the page answers 429 `RATE_LIMIT_EXCEEDED` with `Retry-After`, with nothing stored and no cookie.
 * Adversarial: concurrent floods, IPv6 address rotation, loopback exemption, visitors who already
 * have a session. Per store (memory, SQLite, Redis), with exact counts: new-session-limit-stores.test.ts.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { manualClock } from '../../src/core/clock.js';
import { DEFAULT_NEW_SESSIONS } from '../../src/pipeline/rate-limit/new-sessions.js';
import type { LiveComponentsOptions } from '../../src/runtime/setup.js';
import { createMemoryStore } from '../../src/store/memory/index.js';
import type { Store } from '../../src/store/types.js';
import { demoApp } from '../helpers/demo.js';

type Demo = Awaited<ReturnType<typeof demoApp>>;
let demo: Demo | undefined;
afterEach(async () => {
  await demo?.app.close();
  demo = undefined;
});

async function start(framework: Partial<LiveComponentsOptions> = {}) {
  const clock = manualClock(Date.UTC(2026, 0, 15, 10, 30));
  const store = createMemoryStore({ clock, sweepIntervalMs: 0 });
  demo = await demoApp({}, { clock, store, ...framework });
  return { demo, clock, store };
}

const visit = (d: Demo, remoteAddress: string, headers: Record<string, string> = {}) => d.app.inject({ method: 'GET', url: '/', remoteAddress, headers });
const stored = (res: { statusCode: number; headers: Record<string, unknown> }) => res.statusCode === 200 && res.headers['set-cookie'] !== undefined;
const token = (body: string) => /<meta name="csrf-token" content="([^"]*)"/.exec(body)?.[1];

describe('new sessions per client (newSessionLimit)', () => {
  it('stores 300 new sessions of a client, then answers 429 with Retry-After, storing nothing and setting no cookie', async () => {
    const { demo: d, store } = await start();
    expect(DEFAULT_NEW_SESSIONS).toEqual({ limit: 300, windowSeconds: 60 });
    for (let i = 0; i < 300; i++) expect(stored(await visit(d, '192.0.2.1')), String(i)).toBe(true);
    const writes = [vi.spyOn(store, 'set'), vi.spyOn(store, 'claim')];
    const batches = vi.spyOn(store, 'batch');
    const page = await visit(d, '192.0.2.1');
    expect(page.statusCode).toBe(429);
    expect(page.headers['set-cookie']).toBeUndefined();
    // GCRA: one more every 60 s / 300 = 200 ms, rounded up to whole seconds.
    expect(page.headers['retry-after']).toBe('1');
    expect(page.headers['x-ratelimit-limit']).toBe('300');
    expect(page.headers['x-ratelimit-remaining']).toBe('0');
    expect(page.headers['cache-control']).toBe('no-store');
    expect(page.json()).toMatchObject({ code: 'RATE_LIMIT_EXCEEDED', retry_after: 1, limit: 300, window: 60 });
    expect(page.body).not.toContain('data-lc-id');
    for (const write of writes) expect(write).not.toHaveBeenCalled();
    // One round trip: the refused step, with the session's write it guards, not made.
    expect(batches.mock.calls.map(([ops]) => ops.map((op) => op.op))).toEqual([['rateLimit', 'setIfAllowed']]);
    const [, written] = await (batches.mock.results[0]?.value as ReturnType<Store['batch']>);
    expect(written).toBe(false);
    expect(d.events.events.filter((e) => e.event === 'excess_rate_limit_exceeded')).toHaveLength(1);
    // Another client has its own budget.
    expect(stored(await visit(d, '192.0.2.2'))).toBe(true);
  });

  it('a HEAD request without a session stores nothing and takes no budget; a later GET gets a session', async () => {
    const { demo: d, store } = await start({ newSessionLimit: { limit: 1, windowSeconds: 60, exemptLoopback: false } });
    const writes = [vi.spyOn(store, 'set'), vi.spyOn(store, 'claim'), vi.spyOn(store, 'batch'), vi.spyOn(store, 'rateLimit')];
    for (let i = 0; i < 3; i++) {
      const head = await d.app.inject({ method: 'HEAD', url: '/', remoteAddress: '192.0.2.20' });
      expect(head.statusCode).toBe(200);
      expect(stored(head)).toBe(false);
      expect(head.headers['x-frame-options']).toBe('SAMEORIGIN');
    }
    for (const write of writes) expect(write).not.toHaveBeenCalled();
    expect(stored(await visit(d, '192.0.2.20'))).toBe(true);
  });

  it('admits exactly 300 of 500 concurrent first visits from addresses of one IPv6 /56', async () => {
    const { demo: d } = await start();
    const pages = await Promise.all(Array.from({ length: 500 }, (_, i) => visit(d, `2001:db8:5:77${(i % 256).toString(16).padStart(2, '0')}::${i + 1}`)));
    expect(pages.filter(stored)).toHaveLength(300);
    expect(pages.filter((p) => p.statusCode === 429 && p.headers['set-cookie'] === undefined)).toHaveLength(200);
    expect(stored(await visit(d, '2001:db8:5:7800::1'))).toBe(true);
  });

  it('does not count visitors who have a session; refills five a second (GCRA)', async () => {
    const { demo: d, clock } = await start();
    const first = await d.client('/', '192.0.2.9');
    for (let i = 0; i < 299; i++) await visit(d, '192.0.2.9');
    expect(stored(await visit(d, '192.0.2.9'))).toBe(false);
    // The visitor with a cookie keeps its session and its components.
    expect((await first.action('counter:main', 'increment')).statusCode).toBe(200);
    const again = await visit(d, '192.0.2.9', { cookie: first.cookie });
    expect(again.body).toMatch(/<output[^>]*data-count[^>]*>1<\/output>/);
    expect(token(again.body)).not.toBe('');
    // Five a second: one every 200 ms.
    clock.advance(200);
    expect(stored(await visit(d, '192.0.2.9'))).toBe(true);
    expect(stored(await visit(d, '192.0.2.9'))).toBe(false);
  });

  it('exempts loopback and allowlisted clients unless told otherwise; false turns the limit off; limits are configurable', async () => {
    let { demo: d } = await start();
    for (let i = 0; i < 100; i++) expect(stored(await visit(d, i % 2 ? '127.0.0.1' : '::1'))).toBe(true);
    await d.app.close();
    ({ demo: d } = await start({ newSessionLimit: { limit: 3, windowSeconds: 60, exemptLoopback: false }, rateLimit: { allowlist: ['198.51.100.0/24'] } }));
    expect((await Promise.all(Array.from({ length: 5 }, () => visit(d, '127.0.0.1')))).filter(stored)).toHaveLength(3);
    expect((await Promise.all(Array.from({ length: 5 }, () => visit(d, '198.51.100.7')))).filter(stored)).toHaveLength(5);
    await d.app.close();
    ({ demo: d } = await start({ newSessionLimit: false }));
    expect((await Promise.all(Array.from({ length: 100 }, () => visit(d, '192.0.2.1')))).filter(stored)).toHaveLength(100);
    // A limit that is not a positive whole number stops start-up, not the first visitor.
    for (const bad of [{ limit: 0 }, { windowSeconds: 1.5 }, { limit: -1 }]) await expect(demoApp({}, { newSessionLimit: bad }), JSON.stringify(bad)).rejects.toThrow(TypeError);
  });
});
