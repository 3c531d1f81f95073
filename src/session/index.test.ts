import { describe, expect, it } from 'vitest';
import { manualClock } from '../core/clock.js';
import { createMemoryStore } from '../store/memory/index.js';
import { storeKeys } from '../store/keys.js';
import { MAX_LIFETIME_MS } from '../pipeline/options.js';
import { claimedUserId, createSessionManager, MIN_SESSION_TTL_MS, sessionKeyOf } from './index.js';

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

  it('prepare: a new session and the write that stores it, nothing written until the write is sent', async () => {
    const { sessions, store } = setup();
    const { session, write } = sessions.prepare();
    expect(session.id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect([session.key, session.userId]).toEqual([sessionKeyOf(session.id), null]);
    expect([write.op, write.key, write.ttlMs]).toEqual(['set', storeKeys.session(session.key), 60_000]);
    expect(await sessions.load(session.id)).toBeNull();
    expect(await store.get(write.key)).toBeNull();
    await store.batch([write]);
    expect(await sessions.load(session.id)).toEqual(session);
    expect(sessions.prepare().session.id).not.toBe(session.id);
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

  it('lives exactly ttlMs past its last use, however early in its life that use was', async () => {
    const { sessions, clock } = setup();
    const s = await sessions.create();
    clock.advance(24_000); // 0.4·TTL
    expect(await sessions.load(s.id)).not.toBeNull();
    clock.advance(54_000); // 1.3·TTL: 0.9·TTL idle
    expect(await sessions.load(s.id)).not.toBeNull();
    clock.advance(59_999);
    expect(await sessions.load(s.id), 'TTL − 1 ms idle').not.toBeNull();
    clock.advance(60_001);
    expect(await sessions.load(s.id), 'TTL + 1 ms idle').toBeNull();
  });

  it('renews a verified session with a touch, which never recreates a deleted record', async () => {
    const { sessions, store, clock } = setup();
    const s = await sessions.create();
    const claimed = sessions.fromCookie(s.id);
    if (claimed === null) throw new Error('cookie refused');
    const key = storeKeys.session(s.key);
    // Read on a verified use (the action pipeline's first batch)…
    const checked = sessions.checkRecord(claimed, await store.get(key));
    expect(checked.session?.key).toBe(s.key);
    expect(checked.touch).toEqual({ op: 'touch', key, ttlMs: 60_000 });
    // …the session is signed out while the action runs…
    clock.advance(40_000);
    await sessions.regenerate(s, null);
    // …and the renewal, sent after the action, writes nothing.
    expect(await store.batch([checked.touch as NonNullable<typeof checked.touch>])).toEqual([false]);
    expect(await store.get(key)).toBeNull();
    expect(await sessions.load(s.id)).toBeNull();
    // No record, no touch.
    expect(sessions.checkRecord(claimed, null)).toEqual({ session: null, touch: null });
  });

  it('reads records written before the renewal became a touch, and still writes `t` for the versions that need it', async () => {
    const { sessions, store } = setup();
    const s = await sessions.create();
    const key = storeKeys.session(s.key);
    const written = JSON.parse((await store.get(key)) as string) as Record<string, unknown>;
    expect(written).toEqual({ u: null, c: expect.any(Number), t: expect.any(Number) });
    // A record of an older version (`t` long past), and one without `t` at all.
    const signed = await sessions.regenerate(null, 'user-7');
    const signedKey = storeKeys.session(signed.key);
    await store.set(signedKey, JSON.stringify({ u: 'user-7', c: 5, t: 5 }), 60_000);
    expect(await sessions.load(signed.id)).toEqual({ id: signed.id, key: signed.key, userId: 'user-7', createdAt: 5 });
    await store.set(signedKey, JSON.stringify({ u: 'user-7', c: 5 }), 60_000);
    expect((await sessions.load(signed.id))?.userId).toBe('user-7');
    for (const bad of ['{', 'null', '{"u":3,"c":1,"t":1}', '{"u":"user-7","t":1}']) {
      await store.set(signedKey, bad, 60_000);
      expect(await sessions.load(signed.id), bad).toBeNull();
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

describe('session lifetime (ttlMs)', () => {
  it('refuses at start-up what failed every page view (0, -1, NaN, Infinity, a string, 1e300) or lasted 1 ms (0.5), naming sessionTtlMs', () => {
    const store = createMemoryStore();
    for (const ttlMs of [0, -1, Number.NaN, Infinity, 0.5, '60000' as unknown as number, 1e300, 999, MAX_LIFETIME_MS + 1]) {
      expect(() => createSessionManager({ store, ttlMs }), String(ttlMs)).toThrow(/^Runtime: sessionTtlMs must be a whole number of ms from 1000 \(1 s\) to 3155760000000 \(100 years\)$/);
    }
  });

  it('takes 1 s up to 100 years, and stores a session for that long', async () => {
    const store = createMemoryStore();
    for (const ttlMs of [MIN_SESSION_TTL_MS, MAX_LIFETIME_MS]) {
      const sessions = createSessionManager({ store, ttlMs });
      expect(sessions.ttlMs).toBe(ttlMs);
      const s = await sessions.create();
      expect((await sessions.load(s.id))?.key).toBe(s.key);
    }
  });
});
