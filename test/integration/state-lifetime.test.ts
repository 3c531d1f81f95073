/**
 * How long a component's state lives: SESSION_TTL past its last action or the last page view that
 * showed it. A session slides with activity (renewed on every use); a page view mounts its
 * components, and the mount renews the state's TTL too, so a user who keeps viewing a page without
 * acting keeps that component's state for as long as the session lives. A component neither used
 * nor shown for SESSION_TTL starts afresh. Memory and SQLite, on an injected clock (Redis keeps
 * its own clock: the store contract covers `touch` there).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { manualClock } from '../../src/core/clock.js';
import type { Store } from '../../src/store/types.js';
import { createMemoryStore } from '../../src/store/memory/index.js';
import { createSqliteStore } from '../../src/store/sqlite/index.js';
import { demoApp } from '../helpers/demo.js';

type Demo = Awaited<ReturnType<typeof demoApp>>;
type Clock = ReturnType<typeof manualClock>;

const SESSION_TTL_MS = 60_000; // SESSION_TTL=1 (minute)

const backends: [string, (clock: Clock) => Promise<Store>][] = [
  ['memory', async (clock) => createMemoryStore({ clock, sweepIntervalMs: 0 })],
  ['sqlite', async (clock) => createSqliteStore({ url: `sqlite:${join(mkdtempSync(join(tmpdir(), 'lc-state-ttl-')), 'kv.db')}`, clock, sweepIntervalMs: 0 })],
];

let demo: Demo | undefined;
afterEach(async () => {
  await demo?.app.close();
  demo = undefined;
});

const balanceOf = (body: string) => /<output data-balance>(\d+)<\/output>/.exec(body)?.[1];
const countOf = (body: string) => /<output data-count[^>]*>(-?\d+)<\/output>/.exec(body)?.[1];

describe.each(backends)('component state lifetime (%s store)', (_name, open) => {
  it('a page view renews the state of the components it shows: views every 40 s keep a 60 s state for 120 s', async () => {
    const clock = manualClock(Date.UTC(2026, 0, 15, 10, 30));
    const store = await open(clock);
    demo = await demoApp({ SESSION_TTL: '1' }, { clock, store });
    const app = demo.app;

    const c = await demo.client('/payment');
    const paid = await c.action('payment:main', 'processPayment', { amount: 900 });
    expect(paid.statusCode).toBe(200);
    expect((await app.inject({ url: '/', headers: { cookie: c.cookie } })).statusCode).toBe(200); // mounts counter:main
    expect((await c.action('counter:main', 'increment')).statusCode).toBe(200);

    for (const at of [40, 80, 120]) {
      clock.advance(40_000);
      const page = await app.inject({ url: '/payment', headers: { cookie: c.cookie } });
      expect(page.statusCode, `+${at} s`).toBe(200);
      expect(page.headers['set-cookie'], `+${at} s: the session lives on`).toBeUndefined();
      expect(balanceOf(page.body), `+${at} s: the balance after the payment`).toBe('100');
      expect(page.body).toContain('Payments made: 1');
    }
    expect(clock.now() - Date.UTC(2026, 0, 15, 10, 30)).toBe(SESSION_TTL_MS * 2); // twice the TTL since the last action

    // The counter was neither used nor shown since +0 s: it starts afresh under the same session.
    const home = await app.inject({ url: '/', headers: { cookie: c.cookie } });
    expect(home.headers['set-cookie']).toBeUndefined();
    expect(countOf(home.body)).toBe('0');

    // And the payment state is the one actions continue from.
    const again = await c.action('payment:main', 'processPayment', { amount: 50 });
    expect(again.statusCode).toBe(200);
    expect((again.json() as { state: { balance: number } }).state.balance).toBe(50);
  });
});
