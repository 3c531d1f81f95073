/**
 * `onOlderKey`: the sealer tells each opening of a blob sealed with a key of the ring other than the
 * newest (the `state_key` secret-fallback count), and nothing else: not the newest key's blobs, not
 * legacy plaintext, not blobs that do not open (another binding, tampered, a key not in the ring).
 * Once re-sealed (the next write), the state no longer counts.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createKeyRing, createSealer, StateKey, type StateBinding } from './seal.js';

const BINDING: StateBinding = { sessionKey: createHash('sha256').update('session-a').digest('base64url'), componentId: 'counter:main' };
const OTHER_SESSION: StateBinding = { ...BINDING, sessionKey: createHash('sha256').update('session-b').digest('base64url') };

/** A sealer on `keys` (newest first) and how many times it told `onOlderKey`. */
function countingSealer(...keys: StateKey[]) {
  let told = 0;
  const sealer = createSealer({ keyRing: createKeyRing(keys), onOlderKey: () => told++ });
  return { sealer, told: () => told };
}

describe('sealer onOlderKey', () => {
  it('state sealed with the old key: told once when opened, then never again once re-sealed', () => {
    const [oldKey, newKey] = [StateKey.generate(), StateKey.generate()];
    const blob = createSealer({ keyRing: createKeyRing([oldKey]) }).seal('{"n":1}', BINDING);
    const { sealer, told } = countingSealer(newKey, oldKey);
    const opened = sealer.open(blob, BINDING);
    expect(opened).toEqual({ ok: true, plaintext: '{"n":1}', needsReseal: true, legacy: false });
    expect(told()).toBe(1);
    // Re-sealed (what the next write does): the newest key's blob opens without telling.
    const resealed = sealer.seal('{"n":2}', BINDING);
    expect([sealer.open(resealed, BINDING), sealer.open(resealed, BINDING)].map((r) => r.ok && r.needsReseal)).toEqual([false, false]);
    expect(told()).toBe(1);
    // A blob not re-sealed is told at each opening: the old key is still needed for it.
    sealer.open(blob, BINDING);
    expect(told()).toBe(2);
  });

  it('any key but the first counts: with three keys, the second and the third', () => {
    const [k1, k2, k3] = [StateKey.generate(), StateKey.generate(), StateKey.generate()];
    const { sealer, told } = countingSealer(k1, k2, k3);
    for (const k of [k2, k3]) expect(sealer.open(createSealer({ keyRing: createKeyRing([k]) }).seal('{}', BINDING), BINDING).ok).toBe(true);
    expect(told()).toBe(2);
  });

  it('never told for a blob that does not open with the older key, nor for legacy plaintext (the blob itself then is)', () => {
    const [oldKey, newKey, retired] = [StateKey.generate(), StateKey.generate(), StateKey.generate()];
    const old = createSealer({ keyRing: createKeyRing([oldKey]) });
    const { sealer, told } = countingSealer(newKey, oldKey);
    const blob = old.seal('{"n":1}', BINDING);
    expect(sealer.open(blob, OTHER_SESSION)).toEqual({ ok: false, reason: 'wrong_binding' });
    const tampered = Buffer.from(blob, 'base64url');
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] as number) ^ 1;
    expect(sealer.open(tampered.toString('base64url'), BINDING)).toEqual({ ok: false, reason: 'forged' });
    expect(sealer.open(createSealer({ keyRing: createKeyRing([retired]) }).seal('{}', BINDING), BINDING)).toEqual({ ok: false, reason: 'unknown_key' });
    expect(sealer.open('{"n":1}', BINDING)).toMatchObject({ ok: true, legacy: true, needsReseal: true });
    expect(told()).toBe(0);
    expect(sealer.open(blob, BINDING).ok).toBe(true);
    expect(told()).toBe(1);
  });

  it('refuses an onOlderKey that is not a function', () => {
    expect(() => createSealer({ keyRing: createKeyRing([StateKey.generate()]), onOlderKey: 1 as unknown as () => void })).toThrow(
      new TypeError('createSealer: onOlderKey must be a function'),
    );
  });
});
