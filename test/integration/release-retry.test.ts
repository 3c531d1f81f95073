/**
 * The store goes away while an action runs (a Redis Cluster failover answers CLUSTERDOWN for a
 * second or two): its after-action batch — new state, idempotency record, the instance lock's
 * release — fails and the request answers 503. Its lock and its pending idempotency claim used to
 * stay until their TTLs once the store was back: the component's next action waited up to 10 s
 * (`instanceLock.ttlMs`), a retry with the same key answered 409 `IDEMPOTENCY_KEY_IN_USE` for up to
 * 30 s (`idempotency.lockTtlMs`). Their releases are now retried in the background: soon after the
 * store is back both run at once.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { LiveRuntime } from '../../src/runtime/index.js';
import type { Session } from '../../src/session/types.js';
import { storeKeys } from '../../src/store/keys.js';
import { countingComponent } from '../helpers/counting-component.js';
import { testRuntime } from '../helpers/demo.js';
import { outageStore } from '../helpers/outage-store.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The instance lock's TTL here: far beyond the test's own timeout, so an action that waited for a lock left behind fails the test. */
const LOCK_TTL_MS = 120_000;

describe('a store outage during an action', () => {
  // No timed assertion (shared, noisy machines): the lock's TTL (and so the longest wait for it) is
  // far beyond this test's timeout, so a next action that waited for it fails the test by timeout.
  it('leaves no lock or pending claim behind once the store is back: the next action runs at once, the retry of the key is not 409', { timeout: 10_000 }, async () => {
    let running: () => void = () => {};
    let finish: () => void = () => {};
    let runs = 0;
    const pay = countingComponent('pay', 'charge', async () => {
      runs++;
      if (runs === 1) {
        running();
        await new Promise<void>((resolve) => (finish = resolve));
      }
    });
    const store = outageStore();
    const runtime = await testRuntime([pay], store, { instanceLock: { ttlMs: LOCK_TTL_MS } });
    const session = await runtime.sessions.create();
    await runtime.mount(session, 'pay:main');

    const send = async (r: LiveRuntime, s: Session, key?: string) =>
      r.handleAction(
        {
          requestId: randomBytes(6).toString('hex'),
          ip: '127.0.0.1',
          method: 'POST',
          url: '/api/livecomponents/action',
          headers: { 'x-csrf-token': await r.csrf.issue(s), origin: 'http://localhost:3000', ...(key === undefined ? {} : { 'idempotency-key': key }) },
        },
        { component_id: 'pay:main', action: 'charge', params: {} },
        s,
      );

    const started = new Promise<void>((resolve) => (running = resolve));
    const first = send(runtime, session, 'pay-1');
    await started;
    store.down = true; // the failover begins while the action runs
    finish();
    expect((await first).status).toBe(503);
    const lockKey = storeKeys.instanceLock(session.key, 'pay:main');
    expect(await store.get(lockKey)).not.toBeNull();

    await sleep(300);
    store.down = false; // the store is back (/health/ready answers 200)

    // The next action on the component, sent at once, waits for the retried release (a few hundred
    // ms), not for the lock's TTL (beyond the test's timeout).
    const next = await send(runtime, session);
    expect(next.status).toBe(200);
    expect(await store.get(lockKey)).toBeNull();

    // The user's retry with the same key runs (the first one's result was never kept): not 409 for 30 s.
    const retry = await send(runtime, session, 'pay-1');
    expect(retry.body).not.toMatchObject({ code: 'IDEMPOTENCY_KEY_IN_USE' });
    expect(retry.status).toBe(200);
    expect(runs).toBe(3);
  });
});
