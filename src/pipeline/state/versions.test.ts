import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Session } from '../../session/types.js';
import { storeKeys } from '../../store/keys.js';
import { createMemoryStore } from '../../store/memory/index.js';
import { createStateRepository } from './repository.js';
import { createKeyRing, createSealer, StateKey } from './seal.js';

const TTL = 60_000;
const sealer = createSealer({ keyRing: createKeyRing([StateKey.generate()]) });

function setup() {
  const store = createMemoryStore({ sweepIntervalMs: 0 });
  const session: Session = { id: randomUUID(), key: randomUUID(), userId: null, createdAt: 0 };
  const binding = { sessionKey: session.key, componentId: 'todo:main' };
  const key = storeKeys.componentState(session.key, 'todo:main');
  return { store, session, binding, key, states: createStateRepository({ store, sealer, ttlMs: TTL }) };
}

describe('state versions in the sealed text', () => {
  it('a version-1 state is sealed as its bare JSON (as before versions), a later one behind the marker', async () => {
    const { store, session, binding, key, states } = setup();
    await states.save(session, 'todo:main', { items: ['a'] });
    expect(sealer.open((await store.get(key)) as string, binding)).toMatchObject({ ok: true, plaintext: '{"items":["a"]}' });
    expect(await states.load(session, 'todo:main')).toMatchObject({ type: 'found', version: 1, state: { items: ['a'] } });

    await states.save(session, 'todo:main', { entries: ['a'] }, 12);
    expect(sealer.open((await store.get(key)) as string, binding)).toMatchObject({ ok: true, plaintext: '\u000112\n{"entries":["a"]}' });
    expect(await states.load(session, 'todo:main')).toMatchObject({ type: 'found', version: 12, state: { entries: ['a'] } });
  });

  it('an unmarked blob sealed before versions existed reads as version 1; an authentic but bad marker is refused', async () => {
    const { store, session, binding, key, states } = setup();
    await store.set(key, sealer.seal('{"count":3}', binding), TTL);
    expect(await states.load(session, 'todo:main')).toMatchObject({ type: 'found', version: 1, needsReseal: false, state: { count: 3 } });
    for (const text of ['\u0001\n{}', '\u00010\n{}', '\u0001x\n{}', '\u00012{}', '\u00011.5\n{}']) {
      await store.set(key, sealer.seal(text, binding), TTL);
      expect(await states.load(session, 'todo:main')).toMatchObject({ type: 'invalid', reason: 'bad_version' });
    }
  });

  it('replace stores only over the state it was given (compare-and-replace), in the version it is given', async () => {
    const { session, states } = setup();
    await states.save(session, 'todo:main', { items: ['a'] });
    const read = await states.load(session, 'todo:main');
    if (read.type !== 'found') throw new Error('not stored');
    await states.save(session, 'todo:main', { items: ['a', 'b'] }); // an action meanwhile
    expect(await states.replace(session, 'todo:main', read.blob, { entries: ['a'] }, 2)).toBe(false);
    expect(await states.load(session, 'todo:main')).toMatchObject({ version: 1, state: { items: ['a', 'b'] } });

    const now = await states.load(session, 'todo:main');
    if (now.type !== 'found') throw new Error('not stored');
    expect(await states.replace(session, 'todo:main', now.blob, { entries: ['a', 'b'] }, 2)).toBe(true);
    expect(await states.load(session, 'todo:main')).toMatchObject({ version: 2, state: { entries: ['a', 'b'] } });
  });
});
