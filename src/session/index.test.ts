import { describe, expect, it } from 'vitest';
import { manualClock } from '../core/clock.js';
import { createMemoryStore } from '../store/memory/index.js';
import { storeKeys } from '../store/keys.js';
import { claimedUserId, createSessionManager, sessionKeyOf } from './index.js';

function setup() {
  const clock = manualClock();
  const store = createMemoryStore({ clock });
  return { clock, store, sessions: createSessionManager({ store, clock, ttlMs: 60_000 }) };
}

describe('sessions', () => {
  it('creates 128-bit random ids and stores only their hash', async () => {
    const { sessions, store } = setup();
    const a = await sessions.create();
    const b = await sessions.create();
    expect(a.id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(Buffer.from(a.id, 'base64url')).toHaveLength(16);
    expect(a.id).not.toBe(b.id);
    expect(a.key).toBe(sessionKeyOf(a.id));
    expect(await store.get(storeKeys.session(a.key))).not.toBeNull();
    expect(await store.get(storeKeys.session(a.id))).toBeNull();
  });

  it('loads a known id and refuses malformed, unknown and expired ones', async () => {
    const { sessions, clock } = setup();
    const s = await sessions.create();
    expect((await sessions.load(s.id))?.key).toBe(s.key);
    for (const bad of [undefined, '', 'x', `${s.id}x`, `${s.id}.`, s.id.replace(/.$/, '!'), 'A'.repeat(22)]) {
      expect(await sessions.load(bad)).toBeNull();
    }
    clock.advance(60_001);
    expect(await sessions.load(s.id)).toBeNull();
  });

  it('slides the expiry for active sessions', async () => {
    const { sessions, clock } = setup();
    const s = await sessions.create();
    for (let i = 0; i < 5; i++) {
      clock.advance(40_000);
      expect(await sessions.load(s.id)).not.toBeNull();
    }
  });

  it('regenerates at sign-in: new id naming the user, old id dead', async () => {
    const { sessions } = setup();
    const anon = await sessions.create();
    const signed = await sessions.regenerate(anon, 'user-42');
    expect(signed.id).not.toBe(anon.id);
    expect(signed.id.startsWith(anon.id)).toBe(false);
    expect(claimedUserId(signed.id)).toBe('user-42');
    expect(await sessions.load(anon.id)).toBeNull();
    expect((await sessions.load(signed.id))?.userId).toBe('user-42');
  });

  it('refuses a cookie whose user part was changed', async () => {
    const { sessions } = setup();
    const signed = await sessions.regenerate(null, 'alice');
    const forged = `${signed.id.split('.')[0]}.${Buffer.from('bob').toString('base64url')}`;
    expect(await sessions.load(forged)).toBeNull();
    const stripped = signed.id.split('.')[0];
    expect(await sessions.load(stripped)).toBeNull();
  });
});
