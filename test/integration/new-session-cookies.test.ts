/**
 * A cookie that names no live session buys no new-session budget: past `newSessionLimit`, a page view
 * sending a made-up session id (well-formed, signed-in shape, malformed) or one whose session expired is
 * refused 429 like a cookie-less one, stores nothing and sets no cookie; under the limit such a view
 * is counted and stores one fresh session. Its page view reads the cookie's record first: one round
 * trip more than a cookie-less view (docs/scaling.md "Anonymous visitors": four).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { manualClock } from '../../src/core/clock.js';
import { createMemoryStore } from '../../src/store/memory/index.js';
import type { Store, StoreOp, StoreOpResult } from '../../src/store/types.js';
import { demoApp } from '../helpers/demo.js';

type Demo = Awaited<ReturnType<typeof demoApp>>;
let demo: Demo | undefined;
afterEach(async () => {
  await demo?.app.close();
  demo = undefined;
});

const HOUR = 3600;
const ADDRESS = '198.51.100.40';
const MADE_UP = ['AAAAAAAAAAAAAAAAAAAAAA', 'AAAAAAAAAAAAAAAAAAAAAA.dXNlci0x', 'not a session id', `${'A'.repeat(22)}.${'B'.repeat(200)}`];

async function start(limit: number) {
  const clock = manualClock(Date.UTC(2026, 0, 15, 10, 30));
  const store = createMemoryStore({ clock, sweepIntervalMs: 0 });
  demo = await demoApp({ SESSION_TTL: '1' }, { clock, store, newSessionLimit: { limit, windowSeconds: HOUR, exemptLoopback: false } });
  return { d: demo, clock, store };
}

const visit = (d: Demo, cookie?: string) => d.app.inject({ url: '/', remoteAddress: ADDRESS, headers: cookie === undefined ? {} : { cookie: `lc_session=${cookie}` } });
const cookieOf = (res: { headers: Record<string, unknown> }) => String(res.headers['set-cookie'] ?? '').split(';')[0]?.slice('lc_session='.length) ?? '';

/** The store methods `work` called, in order (each call one round trip). */
async function calls(store: Store, work: () => Promise<unknown>): Promise<string[]> {
  const names = ['get', 'getMany', 'set', 'claim', 'touch', 'deleteIfEquals', 'delete', 'rateLimit', 'batch'] as const;
  const seen: string[] = [];
  const restore: (() => void)[] = [];
  for (const name of names) {
    const original = store[name].bind(store) as (...a: unknown[]) => unknown;
    const named = (args: unknown[]) => (name === 'batch' ? `batch(${(args[0] as StoreOp[]).map((op) => op.op).join(',')})` : name);
    (store as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => (seen.push(named(args)), original(...args));
    restore.push(() => ((store as unknown as Record<string, unknown>)[name] = original));
  }
  try {
    await work();
  } finally {
    for (const undo of restore) undo();
  }
  return seen;
}

describe('new sessions: cookies that name no live session', () => {
  it('past the limit, a made-up or malformed session cookie is refused 429 like none, stores nothing, sets no cookie', async () => {
    const { d, store } = await start(2);
    for (let i = 0; i < 2; i++) expect((await visit(d)).statusCode).toBe(200);
    const writes = [vi.spyOn(store, 'set'), vi.spyOn(store, 'claim')];
    const batches = vi.spyOn(store, 'batch');
    for (const cookie of MADE_UP) {
      const page = await visit(d, cookie);
      expect([page.statusCode, page.headers['set-cookie'], page.json<{ code: string }>().code], cookie).toEqual([429, undefined, 'RATE_LIMIT_EXCEEDED']);
    }
    for (const write of writes) expect(write).not.toHaveBeenCalled();
    // The session's write went with each refused step, and was not made.
    const guarded = batches.mock.calls.flatMap(([ops], i) => (ops.some((op: StoreOp) => op.op === 'setIfAllowed') ? [batches.mock.results[i]?.value as Promise<StoreOpResult[]>] : []));
    expect((await Promise.all(guarded)).map((results) => results[1])).toEqual(MADE_UP.map(() => false));
    expect(d.events.events.filter((e) => e.event === 'excess_rate_limit_exceeded')).toHaveLength(MADE_UP.length);
  });

  it('a session that expired is counted as a new one: one step, one fresh session; past the limit, 429', async () => {
    const { d, clock } = await start(2);
    const first = cookieOf(await visit(d));
    clock.advance(61_000);
    const again = await visit(d, first);
    expect(again.statusCode).toBe(200);
    const fresh = cookieOf(again);
    expect(fresh).not.toBe('');
    expect(fresh).not.toBe(first);
    // The budget (2 an hour) is spent: the fresh session's own cookie is still good; the expired one again is refused.
    expect((await visit(d, fresh)).statusCode).toBe(200);
    expect((await visit(d, first)).statusCode).toBe(429);
  });

  it("a made-up cookie's page view: the record read, then the step with the session's write it guards, then the mount (three round trips)", async () => {
    const { d, store } = await start(10);
    expect(await calls(store, () => visit(d))).toEqual(['batch(rateLimit,setIfAllowed)', 'batch(claim,touch)']);
    expect(await calls(store, () => visit(d, MADE_UP[0]))).toEqual(['batch(get,touch)', 'batch(rateLimit,setIfAllowed)', 'batch(claim,touch)']);
  });
});
