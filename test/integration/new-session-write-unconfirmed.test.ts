/**
 * A store of the app's own written before `setIfAllowed` (the `Store` interface is public) answers
 * that op of the new-session batch with something other than `true` — `undefined` for an op its
 * `batch` skips — while its step admitted. The cookie-less view then set a cookie for a session that
 * was never stored: the page rendered, and the visitor's every action was refused (its session
 * gone). Now an admitted step whose guarded write is not confirmed is followed by the write on its
 * own: the session is stored before its cookie goes out, exactly one per view.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { sessionKeyOf } from '../../src/session/index.js';
import { createMemoryStore } from '../../src/store/memory/index.js';
import { storeKeys } from '../../src/store/keys.js';
import type { Store, StoreOp, StoreOpResult } from '../../src/store/types.js';
import { demoApp } from '../helpers/demo.js';

type Demo = Awaited<ReturnType<typeof demoApp>>;
let demo: Demo | undefined;
afterEach(async () => {
  await demo?.app.close();
  demo = undefined;
});

/** A memory store whose `batch` skips ops it does not know (as one written before `setIfAllowed`). */
function storeWithoutSetIfAllowed(): { store: Store; inner: Store; batches: StoreOp['op'][][] } {
  const inner = createMemoryStore();
  const batches: StoreOp['op'][][] = [];
  const store: Store = {
    ...inner,
    async batch(ops) {
      batches.push(ops.map((op) => op.op));
      const known = ops.filter((op) => op.op !== 'setIfAllowed');
      const results = await inner.batch(known);
      const out: StoreOpResult[] = [];
      let k = 0;
      for (const op of ops) out.push(op.op === 'setIfAllowed' ? (undefined as unknown as StoreOpResult) : (results[k++] as StoreOpResult));
      return out;
    },
  };
  return { store, inner, batches };
}

describe('new session whose guarded write the store does not confirm', () => {
  it('the admitted view stores its session before setting its cookie, and the cookie works', async () => {
    const { store, inner } = storeWithoutSetIfAllowed();
    demo = await demoApp({}, { store, newSessionLimit: { limit: 5, windowSeconds: 3600 } });
    const page = await demo.app.inject({ url: '/', remoteAddress: '198.51.100.77' });
    expect(page.statusCode).toBe(200);
    const cookie = String(page.headers['set-cookie'] ?? '').split(';')[0] ?? '';
    expect(cookie).toMatch(/^lc_session=/);
    const id = cookie.slice('lc_session='.length);
    expect(await inner.get(storeKeys.session(sessionKeyOf(id)))).not.toBeNull();
    const token = /<meta name="csrf-token" content="([^"]+)"/.exec(page.body)?.[1] ?? '';
    const action = await demo.app.inject({
      method: 'POST',
      url: '/api/livecomponents/action',
      remoteAddress: '198.51.100.77',
      headers: { 'content-type': 'application/json', cookie, 'x-csrf-token': token },
      payload: JSON.stringify({ component_id: 'counter:main', action: 'increment', params: {} }),
    });
    expect([action.statusCode, action.json<{ state: unknown }>().state]).toEqual([200, { count: 1 }]);
  });
});
