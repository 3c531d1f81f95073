import { randomUUID } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { manualClock } from '../../core/clock.js';
import type { Session } from '../../session/types.js';
import { storeKeys } from '../../store/keys.js';
import { createMemoryStore } from '../../store/memory/index.js';
import type { RedisStoreOperation } from '../../store/redis/index.js';
import type { Store } from '../../store/types.js';
import { REDIS_AVAILABLE, useRedisServer } from '../../../test/redis/server.js';
import { createStateRepository } from './repository.js';
import { createKeyRing, createSealer, StateKey } from './seal.js';

const TTL = 60_000;
const sealer = createSealer({ keyRing: createKeyRing([StateKey.generate()]) });

function session(): Session {
  return { id: randomUUID(), key: randomUUID(), userId: null, createdAt: 0 };
}

function repository(store: Store) {
  return createStateRepository({ store, sealer, ttlMs: TTL });
}

describe('StateRepository.mount', () => {
  it('claims a new instance and renews an existing one, in one batch: a mounted state lives TTL past its last mount', async () => {
    const clock = manualClock();
    const store = createMemoryStore({ clock, sweepIntervalMs: 0 });
    const states = repository(store);
    const s = session();
    const batch = vi.spyOn(store, 'batch');
    const claim = vi.spyOn(store, 'claim');

    expect(await states.mount(s, 'counter:main', { count: 0 })).toMatchObject({ type: 'found', state: { count: 0 }, needsReseal: false, version: 1 });
    await states.save(s, 'counter:main', { count: 3 });
    // Mounted every 40 s (never written again): the state outlives its write's 60 s TTL.
    for (let i = 0; i < 3; i++) {
      clock.advance(40_000);
      expect(await states.mount(s, 'counter:main', { count: 0 })).toMatchObject({ type: 'found', state: { count: 3 } });
    }
    expect(batch).toHaveBeenCalledTimes(4);
    expect(batch.mock.calls[3]?.[0].map((op) => op.op)).toEqual(['claim', 'touch']);
    expect(claim).not.toHaveBeenCalled();
    // Neither acted on nor mounted for the TTL: it starts afresh.
    clock.advance(TTL);
    expect(await states.load(s, 'counter:main')).toEqual({ type: 'missing' });
    expect(await states.mount(s, 'counter:main', { count: 0 })).toMatchObject({ state: { count: 0 } });
    await store.close();
  });

  it('mounts started together share one batch, each with its own result; a failed batch fails each of them', async () => {
    const store = createMemoryStore({ sweepIntervalMs: 0 });
    const states = repository(store);
    const s = session();
    await states.save(s, 'counter:b', { count: 5 });
    const batch = vi.spyOn(store, 'batch');
    const [a, b, again] = await Promise.all([states.mount(s, 'counter:a', { count: 1 }), states.mount(s, 'counter:b', { count: 2 }), states.mount(s, 'counter:a', { count: 9 })]);
    expect(batch).toHaveBeenCalledTimes(1);
    expect([a, b, again]).toMatchObject([
      { type: 'found', state: { count: 1 }, needsReseal: false },
      { type: 'found', state: { count: 5 }, needsReseal: false },
      { type: 'found', state: { count: 1 }, needsReseal: false },
    ]);
    // One after the other: a round trip each, as before.
    await states.mount(s, 'counter:a', { count: 1 });
    await states.mount(s, 'counter:b', { count: 1 });
    expect(batch).toHaveBeenCalledTimes(3);
    batch.mockRejectedValueOnce(new Error('down'));
    const failed = await Promise.allSettled([states.mount(s, 'counter:a', { count: 1 }), states.mount(s, 'counter:c', { count: 1 })]);
    expect(failed.map((f) => f.status)).toEqual(['rejected', 'rejected']);
  });

  it('seals a state kept alive by page views again with the newest key, unless an action wrote it meanwhile', async () => {
    const store = createMemoryStore({ sweepIntervalMs: 0 });
    const [oldKey, newKey] = [StateKey.generate(), StateKey.generate()];
    const before = createStateRepository({ store, sealer: createSealer({ keyRing: createKeyRing([oldKey]) }), ttlMs: TTL });
    const rotated = createStateRepository({ store, sealer: createSealer({ keyRing: createKeyRing([newKey, oldKey]) }), ttlMs: TTL });
    const onlyNew = createStateRepository({ store, sealer: createSealer({ keyRing: createKeyRing([newKey]) }), ttlMs: TTL });
    const s = session();
    await before.mount(s, 'counter:main', { count: 0 });
    await before.save(s, 'counter:main', { count: 3 });
    expect(await onlyNew.load(s, 'counter:main')).toMatchObject({ type: 'invalid' });
    expect(await rotated.mount(s, 'counter:main', { count: 0 })).toMatchObject({ type: 'found', state: { count: 3 } });
    // The old key can go: the state opens with the new one alone.
    expect(await onlyNew.load(s, 'counter:main')).toMatchObject({ type: 'found', state: { count: 3 }, needsReseal: false, version: 1 });

    // An action writing between the mount's read and its re-seal wins.
    await before.save(s, 'counter:main', { count: 4 });
    const batch = store.batch.bind(store);
    vi.spyOn(store, 'batch').mockImplementation(async (ops) => {
      const results = await batch(ops);
      if (ops[0]?.op === 'claim') await rotated.save(s, 'counter:main', { count: 5 });
      return results;
    });
    expect(await rotated.mount(s, 'counter:main', { count: 0 })).toMatchObject({ state: { count: 4 } });
    expect(await onlyNew.load(s, 'counter:main')).toMatchObject({ type: 'found', state: { count: 5 } });
    await store.close();
  });

  it('a state deleted meanwhile (its session signed out) stays deleted: the re-seal (mount, action) does not make it again', async () => {
    const store = createMemoryStore({ sweepIntervalMs: 0 });
    const [oldKey, newKey] = [StateKey.generate(), StateKey.generate()];
    const before = createStateRepository({ store, sealer: createSealer({ keyRing: createKeyRing([oldKey]) }), ttlMs: TTL });
    const rotated = createStateRepository({ store, sealer: createSealer({ keyRing: createKeyRing([newKey, oldKey]) }), ttlMs: TTL });
    const s = session();
    const key = storeKeys.componentState(s.key, 'counter:main');
    await before.save(s, 'counter:main', { count: 3 });
    // The mount's re-seal: the state is deleted right after the mount's read (its claim + touch batch).
    const batch = store.batch.bind(store);
    const spy = vi.spyOn(store, 'batch').mockImplementation(async (ops) => {
      const results = await batch(ops);
      if (ops[0]?.op === 'claim') await store.delete(key);
      return results;
    });
    expect(await rotated.mount(s, 'counter:main', { count: 0 })).toMatchObject({ type: 'found', state: { count: 3 }, needsReseal: true });
    expect(await store.get(key)).toBeNull();
    spy.mockRestore();
    // An action's re-seal (alone, and its ops in a batch of their own), after a delete.
    await before.save(s, 'counter:main', { count: 4 });
    const read = await rotated.load(s, 'counter:main');
    if (read.type !== 'found' || read.plaintext === undefined) throw new Error('state not found');
    await store.delete(key);
    expect(await rotated.reseal(s, 'counter:main', read.blob, read.plaintext)).toBe(false);
    expect(await store.batch(rotated.resealOps(s, 'counter:main', read.blob, read.plaintext))).toEqual([false]);
    expect(await store.get(key)).toBeNull();
    await store.close();
  });

  it('a store answering replaceIfEquals with no boolean (one of the app\'s own without the op) is refused at once, not taken for "changed meanwhile"', async () => {
    const store = createMemoryStore({ sweepIntervalMs: 0 });
    const [oldKey, newKey] = [StateKey.generate(), StateKey.generate()];
    const before = createStateRepository({ store, sealer: createSealer({ keyRing: createKeyRing([oldKey]) }), ttlMs: TTL });
    const rotated = createStateRepository({ store, sealer: createSealer({ keyRing: createKeyRing([newKey, oldKey]) }), ttlMs: TTL });
    const s = session();
    await before.save(s, 'counter:main', { count: 3 });
    const read = await rotated.load(s, 'counter:main');
    if (read.type !== 'found' || read.plaintext === undefined) throw new Error('state not found');
    for (const answer of [undefined, null, 1, 'OK']) {
      const spy = vi.spyOn(store, 'batch').mockResolvedValueOnce([answer as never]);
      await expect(rotated.reseal(s, 'counter:main', read.blob, read.plaintext)).rejects.toThrow(
        new TypeError(`State not re-sealed: the store answered the replaceIfEquals batch op with ${typeof answer === 'string' ? '"OK"' : String(answer)}, not true or false; a store of your own must implement it (src/store/contract-conditional.ts)`),
      );
      spy.mockRestore();
    }
    await store.close();
  });

  describe.skipIf(!REDIS_AVAILABLE)('on Redis', () => {
    const redis = useRedisServer();

    it('is one round trip, and gives an existing instance the whole TTL again', async () => {
      const trips: RedisStoreOperation[] = [];
      const store = redis.open({ onRoundTrip: (op) => trips.push(op) });
      const states = repository(store);
      const s = session();
      const key = storeKeys.componentState(s.key, 'counter:main');
      await states.mount(s, 'counter:main', { count: 0 });
      await states.save(s, 'counter:main', { count: 3 });
      await redis.admin.pexpire(key, 1_000); // as if written 59 s ago
      trips.length = 0;
      expect(await states.mount(s, 'counter:main', { count: 0 })).toMatchObject({ type: 'found', state: { count: 3 } });
      expect(trips).toEqual(['batch']);
      expect(await redis.admin.pttl(key)).toBeGreaterThan(TTL - 5_000);
    });

    it("mounts of one session started together share one round trip; another session's go in their own", async () => {
      const trips: RedisStoreOperation[] = [];
      const store = redis.open({ onRoundTrip: (op) => trips.push(op) });
      const states = repository(store);
      const [a, b] = [session(), session()];
      await states.save(a, 'counter:3', { count: 33 });
      trips.length = 0;
      const ids = Array.from({ length: 10 }, (_, i) => `counter:${i}`);
      const loaded = await Promise.all([...ids.map((id) => states.mount(a, id, { count: 0 })), states.mount(b, 'counter:3', { count: 7 })]);
      expect(trips).toEqual(['batch', 'batch']);
      expect(loaded.map((l) => (l.type === 'found' ? l.state['count'] : l.type))).toEqual([0, 0, 0, 33, 0, 0, 0, 0, 0, 0, 7]);
      for (const id of ids) expect(await redis.admin.pttl(storeKeys.componentState(a.key, id))).toBeGreaterThan(TTL - 5_000);
    });

    it('a page of 5,000 components mounted together: one batch, every instance stored', async () => {
      const trips: RedisStoreOperation[] = [];
      // What this proves is ONE round trip for them all, not its speed: the store's 500 ms deadline
      // per call timed the batch of 10,000 ops out on a loaded machine. A larger deadline, and the
      // round trips counted instead.
      const store = redis.open({ commandTimeoutMs: 30_000, onRoundTrip: (op) => trips.push(op) });
      const states = repository(store);
      const s = session();
      const ids = Array.from({ length: 5_000 }, (_, i) => `counter:${i}`);
      const loaded = await Promise.all(ids.map((id, i) => states.mount(s, id, { count: i })));
      expect(trips).toEqual(['batch']);
      expect(loaded.every((l, i) => l.type === 'found' && l.state['count'] === i)).toBe(true);
      expect(await redis.admin.exists(...ids.map((id) => storeKeys.componentState(s.key, id)))).toBe(5_000);
    }, 60_000);
  });
});
