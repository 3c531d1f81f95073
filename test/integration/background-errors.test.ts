/**
 * Store work after the answer or outside any request — the writes after a refused action, the
 * background retries of lock and claim releases — used to go nowhere: `createLiveComponents` gave the
 * prefetch stage neither `onFlushError` nor a `signal`, so a failure was never logged and nothing
 * stopped the retries when the app closed. Now `onBackgroundError` is told (a throwing one never
 * reaches the request), and `runtime.close()` — called by whoever made the runtime, never by the
 * plugin (a runtime may serve several apps) — stops them.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createDemoApp } from '../../examples/demo/app.js';
import { defineComponent, type ComponentDefinition } from '../../src/core/component.js';
import { LiveError, StoreUnavailableError } from '../../src/core/errors.js';
import { html } from '../../src/core/html.js';
import { livecomponents } from '../../src/http/plugin.js';
import { loadConfig } from '../../src/ops/config.js';
import { memorySecurityEvents } from '../../src/ops/security-events.js';
import type { LiveRuntime } from '../../src/runtime/index.js';
import type { LiveComponentsOptions } from '../../src/runtime/setup.js';
import type { Session } from '../../src/session/types.js';
import { storeKeys } from '../../src/store/keys.js';
import { openClient, testRuntime } from '../helpers/demo.js';
import { outageStore, type OutageStore } from '../helpers/outage-store.js';
import { waitUntil } from '../helpers/wait-until.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `widget`: `refuse` takes the store down and refuses (400); `save` takes it down and succeeds (503: its writes fail). */
function widget(store: OutageStore): ComponentDefinition {
  return defineComponent({
    name: 'widget',
    initialState: { n: 0 },
    publicState: ['n'],
    actions: {
      refuse: {
        run: (): { n: number } => {
          store.failAfterAction = true;
          throw new LiveError('VALIDATION_FAILED', { fields: { errors: { n: ['No.'] } } });
        },
      },
      save: {
        run: (s: { n: number }) => {
          store.down = true;
          return { n: s.n + 1 };
        },
      },
    },
    render: (s) => html`<b>${s.n}</b>`,
  }) as unknown as ComponentDefinition;
}

async function send(runtime: LiveRuntime, session: Session, action: string) {
  return runtime.handleAction(
    {
      requestId: randomBytes(6).toString('hex'),
      ip: '127.0.0.1',
      method: 'POST',
      url: '/api/livecomponents/action',
      headers: { 'x-csrf-token': await runtime.csrf.issue(session), origin: 'http://localhost:3000' },
    },
    { component_id: 'widget:main', action, params: {} },
    session,
  );
}

async function setUp(extra: Partial<LiveComponentsOptions> = {}) {
  const store = outageStore();
  const runtime = await testRuntime([widget(store)], store, extra);
  const session = await runtime.sessions.create();
  await runtime.mount(session, 'widget:main');
  return { store, runtime, session };
}

describe('onBackgroundError', () => {
  it('is told once about the failed writes after a refused action, and the answer is the refusal', async () => {
    const errors: unknown[] = [];
    // No instance lock: the failed batch leaves no release to retry, so the count is exact.
    const { store, runtime, session } = await setUp({ instanceLock: false, onBackgroundError: (e) => errors.push(e) });
    const res = await send(runtime, session, 'refuse');
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'VALIDATION_FAILED' });
    store.failAfterAction = false;
    await sleep(300);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(StoreUnavailableError);
  });

  it('a throwing or rejecting onBackgroundError does not break the request', async () => {
    for (const report of [
      () => {
        throw new Error('the logger is broken');
      },
      () => Promise.reject(new Error('the logger is broken')),
    ]) {
      let calls = 0;
      const { runtime, session } = await setUp({
        instanceLock: false,
        onBackgroundError: (() => {
          calls++;
          return report();
        }) as (error: unknown) => void,
      });
      const res = await send(runtime, session, 'refuse');
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ code: 'VALIDATION_FAILED' });
      expect(calls).toBe(1);
    }
    // An unhandled rejection would fail this test file (vitest reports it).
    await sleep(50);
  });
});

describe('closing stops the background release retries', () => {
  it('runtime.close(): no store call after it, the lock stays (it expires by its TTL); without it they go on', async () => {
    const open = await setUp({ onBackgroundError: () => {} });
    expect((await send(open.runtime, open.session, 'save')).status).toBe(503);
    const before = open.store.batches;
    await sleep(600);
    expect(open.store.batches).toBeGreaterThan(before); // the retries run while the store is down
    open.runtime.close();

    const { store, runtime, session } = await setUp({ onBackgroundError: () => {} });
    expect((await send(runtime, session, 'save')).status).toBe(503);
    runtime.close();
    runtime.close(); // idempotent
    const atClose = store.batches;
    await sleep(600);
    expect(store.batches).toBe(atClose);
    store.down = false;
    await sleep(300);
    expect(store.batches).toBe(atClose);
    expect(await store.get(storeKeys.instanceLock(session.key, 'widget:main'))).not.toBeNull();
  });

  it('app.close() leaves a runtime another app shares running: its releases are still retried; the store stays open', async () => {
    const store = outageStore();
    const runtime = await testRuntime([widget(store)], store);
    const first = Fastify();
    await first.register(livecomponents, { runtime });
    await first.close();
    // The same runtime on a second app (a dev server rebuilt on reload, say), after the first closed.
    const second = Fastify();
    await second.register(livecomponents, { runtime });
    second.get('/', async (request, reply) => {
      const view = await second.livecomponents.view(request, reply);
      return reply.type('text/html').send(view.document({ title: 't', body: await view.mount('widget:main') }));
    });
    const client = await openClient(second);
    expect((await client.action('widget:main', 'save')).statusCode).toBe(503);
    const atRecovery = store.batches;
    store.down = false;
    // Retried from 100 ms on (a runtime closed with the first app sent nothing more: its lock stayed 10 s).
    await waitUntil('a store batch after the recovery', () => store.batches > atRecovery, { seen: () => `${store.batches} batches, ${atRecovery} at the recovery` });
    await second.close();
    runtime.close();
    // Not closed by the runtime: whoever opened it closes it.
    await store.set('still-open', 'yes', 1_000);
    expect(await store.get('still-open')).toBe('yes');
  });
});

describe('the reference app', () => {
  it('logs background store failures at warn through its logger', async () => {
    const lines: string[] = [];
    const dataDir = mkdtempSync(join(tmpdir(), 'lc-test-'));
    const config = loadConfig({
      LC_STATE_KEYS: randomBytes(32).toString('base64'),
      LC_SESSION_SECRET: randomBytes(32).toString('base64'),
      DATABASE_URL: `sqlite:${join(dataDir, 'test.db')}`,
    });
    const store = outageStore();
    const app = await createDemoApp({
      config,
      loggerInstance: pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) }),
      framework: { events: memorySecurityEvents(), dataDir, store },
    });
    await app.ready();
    try {
      const client = await openClient(app);
      store.failAfterAction = true;
      // Refused by validation (41 characters), after the first batch: its writes fail.
      const res = await client.action('counter:main', 'setLabel', { label: 'x'.repeat(41) });
      expect(res.statusCode).toBe(400);
      store.failAfterAction = false;
      await sleep(300);
      const logged = lines.map((l) => JSON.parse(l) as { level: number; msg: string; err?: { message: string } }).filter((l) => l.msg.includes('background store work failed'));
      expect(logged).toHaveLength(1);
      expect(logged[0]?.level).toBe(40);
      expect(logged[0]?.err?.message).toContain('CLUSTERDOWN');
    } finally {
      await app.close();
    }
  });
});
