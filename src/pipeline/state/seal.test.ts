import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createKeyRing, createSealer, parseStateKeys, SEAL_VERSION, StateKey, type OpenResult, type StateBinding } from './seal.js';
import { sodium } from './seal-sodium.js';
import { prng } from '../../../test/helpers/prng.js';

const BINDING: StateBinding = { sessionKey: createHash('sha256').update('session-a').digest('base64url'), componentId: 'counter:main' };
const OTHER_SESSION: StateBinding = { ...BINDING, sessionKey: createHash('sha256').update('session-b').digest('base64url') };
const OTHER_COMPONENT: StateBinding = { ...BINDING, componentId: 'counter:other' };
const STATE_1K = JSON.stringify({ count: 1, items: 'x'.repeat(1000) });
const HEADER = 45; // version + key id + nonce + MAC

function key(): StateKey {
  return StateKey.generate();
}

function sealerWith(...keys: StateKey[]) {
  return createSealer({ keyRing: createKeyRing(keys) });
}


function failure(result: OpenResult): string {
  return result.ok ? 'ok' : result.reason;
}

describe('sealer: round trip and envelope', () => {
  it('opens what it sealed, for the same binding', () => {
    const sealer = sealerWith(key());
    for (const text of [STATE_1K, '{}', '', '{"emoji":"😀 ü 漢字"}', 'x'.repeat(200_000)]) {
      const blob = sealer.seal(text, BINDING);
      expect(blob).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(sealer.open(blob, BINDING)).toEqual({ ok: true, plaintext: text, needsReseal: false, legacy: false });
    }
  });

  it('keeps blobs independent when the work buffer is reused', () => {
    const sealer = sealerWith(key());
    const a = sealer.seal('{"a":"' + 'a'.repeat(3000) + '"}', BINDING);
    const b = sealer.seal('{"b":1}', OTHER_COMPONENT);
    expect(sealer.open(b, OTHER_COMPONENT)).toMatchObject({ ok: true, plaintext: '{"b":1}' });
    expect(sealer.open(a, BINDING)).toMatchObject({ ok: true, plaintext: '{"a":"' + 'a'.repeat(3000) + '"}' });
    expect(sealer.open(b, OTHER_COMPONENT)).toMatchObject({ ok: true, plaintext: '{"b":1}' });
  });

  it('writes the documented layout, readable by crypto_secretbox_open_easy', () => {
    const k = key();
    const nonce = Buffer.from(Array.from({ length: 24 }, (_, i) => i + 1));
    const sealer = createSealer({ keyRing: createKeyRing([k]), random: (buf) => buf.set(nonce) });
    const raw = Buffer.from(sealer.seal('{"n":1}', BINDING), 'base64url');
    const s = Buffer.from(BINDING.sessionKey);
    const c = Buffer.from(BINDING.componentId);
    expect(raw[0]).toBe(SEAL_VERSION);
    expect(raw.readUInt32BE(1)).toBe(k.idValue);
    expect(raw.subarray(1, 5).toString('hex')).toBe(k.id);
    expect(raw.subarray(5, 29)).toEqual(nonce);
    expect(raw.length).toBe(HEADER + 9 + s.length + c.length + 7);

    const inner = Buffer.alloc(raw.length - 29 - 16);
    expect(sodium.crypto_secretbox_open_easy(inner, raw.subarray(29), nonce, k.material)).toBe(true);
    const header = Buffer.alloc(9);
    header[0] = SEAL_VERSION;
    header.writeUInt32BE(k.idValue, 1);
    header.writeUInt16BE(s.length, 5);
    header.writeUInt16BE(c.length, 7);
    expect(inner).toEqual(Buffer.concat([header, s, c, Buffer.from('{"n":1}')]));
  });

  it('draws a fresh nonce for every seal; an injected random controls it', () => {
    const sealer = sealerWith(key());
    const nonces = new Set<string>();
    for (let i = 0; i < 1000; i++) nonces.add(Buffer.from(sealer.seal('{}', BINDING), 'base64url').subarray(5, 29).toString('hex'));
    expect(nonces.size).toBe(1000);

    const k = key();
    const lengths: number[] = [];
    const fixed = createSealer({
      keyRing: createKeyRing([k]),
      random: (buf) => {
        lengths.push(buf.length);
        buf.fill(7);
      },
    });
    expect(fixed.seal(STATE_1K, BINDING)).toBe(fixed.seal(STATE_1K, BINDING));
    expect(lengths).toEqual([24, 24]);
  });
});

describe('sealer: binding', () => {
  const sealer = sealerWith(key());
  const blob = sealer.seal(STATE_1K, BINDING);

  it('rejects a blob moved to another session or another component', () => {
    expect(sealer.open(blob, OTHER_SESSION)).toEqual({ ok: false, reason: 'wrong_binding' });
    expect(sealer.open(blob, OTHER_COMPONENT)).toEqual({ ok: false, reason: 'wrong_binding' });
    expect(sealer.open(blob, { sessionKey: OTHER_SESSION.sessionKey, componentId: 'order:main' })).toEqual({ ok: false, reason: 'wrong_binding' });
    expect(sealer.open(blob, { sessionKey: '', componentId: '' })).toEqual({ ok: false, reason: 'wrong_binding' });
  });

  it('cannot be fooled by moving bytes between the session key and the component id', () => {
    const a = sealer.seal('{}', { sessionKey: 'sessionA', componentId: 'b:c' });
    expect(sealer.open(a, { sessionKey: 'sessionAb', componentId: ':c' })).toEqual({ ok: false, reason: 'wrong_binding' });
    expect(sealer.open(a, { sessionKey: 'session', componentId: 'Ab:c' })).toEqual({ ok: false, reason: 'wrong_binding' });
    expect(sealer.open(a, { sessionKey: 'sessionA', componentId: 'b:c' })).toMatchObject({ ok: true });
  });

  it('keeps the binding out of the plaintext it returns, and never confuses it with state', () => {
    const b = sealer.seal('', BINDING);
    expect(sealer.open(b, BINDING)).toEqual({ ok: true, plaintext: '', needsReseal: false, legacy: false });
    // A blob for a longer binding is shorter than the expected header plus nothing: still a binding failure.
    const short = sealer.seal('', { sessionKey: 's', componentId: 'c' });
    expect(sealer.open(short, BINDING)).toEqual({ ok: false, reason: 'wrong_binding' });
  });

  it('compares non-ASCII bindings byte for byte', () => {
    const b = sealer.seal('{}', { sessionKey: 'clé', componentId: 'menü:ä' });
    expect(sealer.open(b, { sessionKey: 'clé', componentId: 'menü:ä' })).toMatchObject({ ok: true });
    expect(sealer.open(b, { sessionKey: 'cle', componentId: 'menü:ä' })).toEqual({ ok: false, reason: 'wrong_binding' });
  });

  it('refuses to seal a binding field over 65535 bytes, and open answers it without throwing', () => {
    const long = { sessionKey: 's'.repeat(70_000), componentId: 'c' };
    expect(() => sealer.seal('{}', long)).toThrow(RangeError);
    expect(sealer.open(blob, long)).toEqual({ ok: false, reason: 'wrong_binding' });
  });
});

describe('sealer: keys and rotation', () => {
  it('rejects a blob sealed with a key the ring does not know', () => {
    const blob = sealerWith(key()).seal(STATE_1K, BINDING);
    expect(sealerWith(key()).open(blob, BINDING)).toEqual({ ok: false, reason: 'unknown_key' });
  });

  it('opens state sealed with an older key and asks for a re-seal; drops it once the key is retired', () => {
    const [oldKey, newKey] = [key(), key()] as const;
    const oldBlob = sealerWith(oldKey).seal(STATE_1K, BINDING);

    const rotated = sealerWith(newKey, oldKey);
    expect(rotated.open(oldBlob, BINDING)).toEqual({ ok: true, plaintext: STATE_1K, needsReseal: true, legacy: false });
    const resealed = rotated.seal(STATE_1K, BINDING);
    expect(Buffer.from(resealed, 'base64url').readUInt32BE(1)).toBe(newKey.idValue);
    expect(rotated.open(resealed, BINDING)).toEqual({ ok: true, plaintext: STATE_1K, needsReseal: false, legacy: false });

    const retired = sealerWith(newKey);
    expect(retired.open(oldBlob, BINDING)).toEqual({ ok: false, reason: 'unknown_key' });
    expect(retired.open(resealed, BINDING)).toMatchObject({ ok: true, needsReseal: false });
  });

  it('finds keys by id, not position, so reordering the ring keeps blobs readable', () => {
    const text = `${randomBytes(32).toString('base64')},${randomBytes(32).toString('base64')}`;
    const [a, b] = parseStateKeys(text) as [StateKey, StateKey];
    const [a2, b2] = parseStateKeys(text.split(',').reverse().join(',')).reverse() as [StateKey, StateKey];
    expect([a2.id, b2.id]).toEqual([a.id, b.id]);
    const blob = sealerWith(b).seal('{}', BINDING);
    expect(sealerWith(a, b).open(blob, BINDING)).toMatchObject({ ok: true, needsReseal: true });
    expect(sealerWith(b2, a2).open(blob, BINDING)).toMatchObject({ ok: true, needsReseal: false });
  });

  it('rejects a blob whose key id points to another key of the ring', () => {
    const [k1, k2] = [key(), key()];
    const raw = Buffer.from(sealerWith(k1).seal('{}', BINDING), 'base64url');
    raw.writeUInt32BE(k2.idValue, 1);
    expect(sealerWith(k1, k2).open(raw.toString('base64url'), BINDING)).toEqual({ ok: false, reason: 'forged' });
  });
});

describe('sealer: legacy plaintext', () => {
  const k = key();

  it('reads a plain JSON object and asks for a re-seal when enabled (the default)', () => {
    const sealer = createSealer({ keyRing: createKeyRing([k]) });
    expect(sealer.open('{"count":3}', BINDING)).toEqual({ ok: true, plaintext: '{"count":3}', needsReseal: true, legacy: true });
    for (const bad of ['{', '{"count":3', '{"a":1} trailing', '{} {}']) expect(sealer.open(bad, BINDING)).toEqual({ ok: false, reason: 'malformed' });
    for (const notObject of ['[1,2]', '"text"', '42', 'null', 'true']) expect(sealer.open(notObject, BINDING).ok).toBe(false);
  });

  it('rejects it when disabled', () => {
    const sealer = createSealer({ keyRing: createKeyRing([k]), acceptLegacyPlaintext: false });
    expect(sealer.open('{"count":3}', BINDING)).toEqual({ ok: false, reason: 'malformed' });
    expect(sealer.open(sealer.seal('{"count":3}', BINDING), BINDING)).toMatchObject({ ok: true, legacy: false });
  });
});

describe('sealer: adversarial input', () => {
  const k = key();
  const sealer = sealerWith(k);

  it('rejects every one of 2,000 blobs with one flipped bit, each for the reason its region implies', () => {
    const random = prng(0x5ea1);
    const reasons = { version: 0, keyId: 0, nonce: 0, mac: 0, ciphertext: 0 };
    let rejected = 0;
    for (let i = 0; i < 2000; i++) {
      const length = Math.floor(random() * 1200);
      const raw = Buffer.from(sealer.seal(JSON.stringify({ i, pad: 'p'.repeat(length) }), BINDING), 'base64url');
      // The first 360 cases flip each bit of the 45 clear header bytes once; the rest anywhere.
      const bit = i < HEADER * 8 ? i : Math.floor(random() * raw.length * 8);
      const byte = bit >>> 3;
      raw[byte] = (raw[byte] as number) ^ (1 << (bit & 7));
      const result = sealer.open(raw.toString('base64url'), BINDING);
      if (!result.ok) rejected++;
      const region = byte === 0 ? 'version' : byte < 5 ? 'keyId' : byte < 29 ? 'nonce' : byte < HEADER ? 'mac' : 'ciphertext';
      reasons[region]++;
      const expected = region === 'version' ? 'malformed' : region === 'keyId' ? 'unknown_key' : 'forged';
      expect(failure(result), `case ${i}, bit ${bit} (${region})`).toBe(expected);
    }
    expect(rejected).toBe(2000);
    expect(reasons.version).toBeGreaterThanOrEqual(8);
    expect(reasons.keyId).toBeGreaterThanOrEqual(32);
    expect(reasons.nonce).toBeGreaterThanOrEqual(192);
    expect(reasons.mac).toBeGreaterThanOrEqual(128);
    expect(reasons.ciphertext).toBeGreaterThan(1000);
  });

  it('rejects every truncation and extension of a blob without throwing', () => {
    const blob = sealer.seal('{"count":1}', BINDING);
    for (let n = 0; n < blob.length; n++) expect(sealer.open(blob.slice(0, n), BINDING).ok, `${n} chars`).toBe(false);
    const raw = Buffer.from(blob, 'base64url');
    for (let n = 0; n < raw.length; n++) {
      const result = sealer.open(raw.subarray(0, n).toString('base64url'), BINDING);
      expect(failure(result), `${n} bytes`).toBe(n < HEADER + 9 ? 'malformed' : 'forged');
    }
    for (const extra of [Buffer.alloc(1), Buffer.from('00ff', 'hex'), randomBytes(100)]) {
      expect(sealer.open(Buffer.concat([raw, extra]).toString('base64url'), BINDING)).toEqual({ ok: false, reason: 'forged' });
    }
  });

  it('answers empty, non-base64 and non-string input with malformed', () => {
    const blob = sealer.seal(STATE_1K, BINDING);
    const garbage = [
      '',
      ' ',
      '====',
      'not a sealed blob at all, just words and spaces, long enough to pass the size check......',
      '!'.repeat(blob.length),
      `${blob.slice(0, 100)}!${blob.slice(101)}`,
      `${blob.slice(0, 100)} ${blob.slice(101)}`,
      `${blob.slice(0, 100)}é${blob.slice(101)}`,
      `${blob}=`,
      `${blob}==`,
      `\u0000${blob.slice(1)}`,
    ];
    for (const text of garbage) expect(sealer.open(text, BINDING), JSON.stringify(text.slice(0, 20))).toEqual({ ok: false, reason: 'malformed' });
    for (const value of [undefined, null, 42, {}, Buffer.from(blob, 'base64url')]) {
      expect(sealer.open(value as unknown as string, BINDING)).toEqual({ ok: false, reason: 'malformed' });
    }
  });

  it('never throws on random strings, and opens none of them as sealed state', () => {
    const random = prng(42);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/={}"[]: !é\u0000😀';
    for (let i = 0; i < 2000; i++) {
      const length = Math.floor(random() * 300);
      let text = '';
      for (let j = 0; j < length; j++) text += alphabet[Math.floor(random() * alphabet.length)];
      const result = sealer.open(text, BINDING);
      // Only text that happens to be a JSON object opens, and only as legacy plaintext.
      if (result.ok) expect(text.startsWith('{') && result.legacy).toBe(true);
    }
  });

  it('rejects huge inputs without throwing', () => {
    expect(sealer.open('A'.repeat(12_000_000), BINDING)).toEqual({ ok: false, reason: 'malformed' });
    const realHeader = sealer.seal('{}', BINDING).slice(0, 60);
    expect(sealer.open(realHeader + 'A'.repeat(8_000_000), BINDING)).toEqual({ ok: false, reason: 'forged' });
    expect(sealer.open(`{"a":"${'x'.repeat(5_000_000)}`, BINDING)).toEqual({ ok: false, reason: 'malformed' });
    const big = JSON.stringify({ big: 'y'.repeat(2_000_000) });
    expect(sealer.open(sealer.seal(big, BINDING), BINDING)).toMatchObject({ ok: true, plaintext: big });
    // The kept work buffer still serves small blobs after a one-off large one.
    expect(sealer.open(sealer.seal('{}', BINDING), BINDING)).toMatchObject({ ok: true, plaintext: '{}' });
  });
});
