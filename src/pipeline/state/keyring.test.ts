import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createKeyRing, DEV_KEYS_FILE, loadOrCreateDevKeys, parseStateKeys, readDevStateKeys, StateKey } from './keyring.js';

function keyText(bytes = 32, encoding: 'base64' | 'base64url' = 'base64'): string {
  return randomBytes(bytes).toString(encoding);
}

/** Runs `fn`, expecting a TypeError; returns its message. */
function typeErrorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(TypeError);
    return (error as TypeError).message;
  }
  throw new Error('expected a TypeError');
}

describe('parseStateKeys', () => {
  it('reads comma-separated keys newest first, in either base64 alphabet, padded or not, spaces ignored', () => {
    const a = randomBytes(32);
    const b = randomBytes(32);
    const keys = parseStateKeys(` ${a.toString('base64')} ,${b.toString('base64url')}`);
    expect(keys).toHaveLength(2);
    expect(keys[0]?.material.equals(a)).toBe(true);
    expect(keys[1]?.material.equals(b)).toBe(true);
    expect(parseStateKeys(a.toString('base64').replace(/=+$/, ''))[0]?.material.equals(a)).toBe(true);
    expect(parseStateKeys(`${a.toString('base64url')}=`)[0]?.material.equals(a)).toBe(true);
  });

  it('derives a short, stable key id from the key itself', () => {
    const text = keyText();
    const [first] = parseStateKeys(text);
    const [, second] = parseStateKeys(`${keyText()},${text}`);
    expect(first?.id).toMatch(/^[0-9a-f]{8}$/);
    expect(second?.id).toBe(first?.id);
    expect(first?.idValue).toBe(Number.parseInt(first?.id ?? '', 16));
    expect(parseStateKeys(keyText())[0]?.id).not.toBe(first?.id);
    // Not a plain hash prefix of the key: the id is keyed BLAKE2b over a label.
    expect(first?.id).not.toBe(Buffer.from(text, 'base64').subarray(0, 4).toString('hex'));
  });

  it('keeps key material out of JSON, inspect and enumeration, in read-only secure memory', () => {
    const text = keyText();
    const [key] = parseStateKeys(text) as [StateKey];
    expect(JSON.stringify(key)).toBe(`{"id":"${key.id}"}`);
    expect(inspect(key)).toBe(`StateKey(${key.id})`);
    expect(Object.keys(key)).not.toContain('material');
    expect((key.material as Buffer & { secure?: boolean }).secure).toBe(true);
  });

  it('names the variable and the entry index, never the key, on every kind of bad entry', () => {
    const good = keyText();
    const short = keyText(16);
    const long = keyText(33);
    const cases: Array<[string, RegExp]> = [
      ['', /^LC_STATE_KEYS is empty/],
      ['   ', /^LC_STATE_KEYS is empty/],
      [`${good},,${good}`, /^LC_STATE_KEYS: entry at index 1 is empty$/],
      [`${good},`, /^LC_STATE_KEYS: entry at index 1 is empty$/],
      [`,${good}`, /^LC_STATE_KEYS: entry at index 0 is empty$/],
      [' , ', /^LC_STATE_KEYS: entry at index 0 is empty$/],
      [`${good},not*base64!`, /^LC_STATE_KEYS: entry at index 1 is not base64/],
      [`${good},${good} ${good}`, /^LC_STATE_KEYS: entry at index 1 is not base64/],
      ['key=with=equals', /^LC_STATE_KEYS: entry at index 0 is not base64/],
      [`${good},${good},${short}`, /^LC_STATE_KEYS: entry at index 2 decodes to 16 bytes; a key must be exactly 32/],
      [long, /^LC_STATE_KEYS: entry at index 0 decodes to 33 bytes/],
      [good.slice(0, 40), /^LC_STATE_KEYS: entry at index 0 decodes to 30 bytes/],
      ['A', /^LC_STATE_KEYS: entry at index 0 decodes to 0 bytes/],
    ];
    for (const [text, pattern] of cases) {
      const message = typeErrorOf(() => parseStateKeys(text));
      expect(message, JSON.stringify(text)).toMatch(pattern);
      for (const entry of text.split(',')) if (entry.trim().length > 8) expect(message).not.toContain(entry.trim());
    }
    expect(typeErrorOf(() => parseStateKeys(short, 'state-keys file'))).toMatch(/^state-keys file: entry at index 0/);
  });
});

describe('StateKey and createKeyRing', () => {
  it('copies exactly 32 bytes, and generates fresh keys', () => {
    const bytes = randomBytes(32);
    const key = StateKey.fromBytes(bytes);
    bytes.fill(0);
    expect(key.material.equals(Buffer.alloc(32))).toBe(false);
    expect(() => StateKey.fromBytes(randomBytes(31))).toThrow(TypeError);
    expect(StateKey.generate().id).not.toBe(StateKey.generate().id);
  });

  it('seals with the first key, finds every key by id, and refuses an empty or repeating ring', () => {
    const [a, b] = [StateKey.generate(), StateKey.generate()];
    const ring = createKeyRing([a, b]);
    expect(ring.current).toBe(a);
    expect(ring.keys).toEqual([a, b]);
    expect(ring.find(b.idValue)).toBe(b);
    expect(ring.find((a.idValue ^ 1) >>> 0)).toBe(b.idValue === (a.idValue ^ 1) >>> 0 ? b : undefined);
    expect(() => createKeyRing([])).toThrow(TypeError);
    const text = keyText();
    expect(() => createKeyRing(parseStateKeys(`${text},${keyText()},${text}`))).toThrow(/index 0 and 2 have the same key id/);
  });
});

describe('loadOrCreateDevKeys', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  function tempDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'lc-keys-'));
    dirs.push(dir);
    return dir;
  }

  it('creates one key in a 0600 file once, then reuses it, warning once per call and never with the key', () => {
    const dir = join(tempDir(), 'data', 'state-keys');
    const file = join(dir, DEV_KEYS_FILE);
    const warnings: string[] = [];

    const first = loadOrCreateDevKeys(dir, (m) => warnings.push(m));
    expect(first).toHaveLength(1);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const stored = readFileSync(file, 'utf8');
    expect(first[0]?.material.equals(Buffer.from(stored.trim(), 'base64'))).toBe(true);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('generated');
    expect(warnings[0]).toContain(file);

    const second = loadOrCreateDevKeys(dir, (m) => warnings.push(m));
    expect(second[0]?.id).toBe(first[0]?.id);
    expect(readFileSync(file, 'utf8')).toBe(stored);
    expect(warnings).toHaveLength(2);
    expect(warnings[1]).toContain('using the development state key');
    for (const w of warnings) expect(w).not.toContain(stored.trim());
  });

  it('tightens a key file readable by others, and names the file when its content is bad', () => {
    const dir = tempDir();
    const file = join(dir, DEV_KEYS_FILE);
    const warnings: string[] = [];
    const first = loadOrCreateDevKeys(dir, (m) => warnings.push(m));
    chmodSync(file, 0o644);
    expect(loadOrCreateDevKeys(dir, (m) => warnings.push(m))[0]?.id).toBe(first[0]?.id);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(warnings[1]).toContain('reset to 0600');

    writeFileSync(file, 'not a key');
    expect(() => loadOrCreateDevKeys(dir, () => {})).toThrow(unusable(file, 'holds no usable key (entry at index 0 is not base64 (standard or url alphabet))'));
  });

  it('reads a file that cannot serve before touching its mode: a folder in its place keeps its mode (was: reset to 0600)', () => {
    const dir = tempDir();
    mkdirSync(join(dir, DEV_KEYS_FILE), { mode: 0o755 });
    chmodSync(join(dir, DEV_KEYS_FILE), 0o755);
    expect(() => loadOrCreateDevKeys(dir, () => expect.fail('no warning'))).toThrow(unusable(join(dir, DEV_KEYS_FILE), 'cannot be read (EISDIR: is a folder)'));
    expect(statSync(join(dir, DEV_KEYS_FILE)).mode & 0o777).toBe(0o755);
  });
});

/** Start-up's and the doctor's words for a development key file that cannot serve (devFileUnusable). */
function unusable(file: string, why: string): string {
  return `LC_STATE_KEYS is not set and the development file ${resolve(file)} ${why}, so start-up cannot use it: fix or delete the file (start-up then generates a new one), or set LC_STATE_KEYS (\`npx livecomponents keygen\` prints one)`;
}

describe('readDevStateKeys', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lc-read-keys-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the keys and changes nothing: a too open file keeps its mode, a missing one is not created', () => {
    const file = join(dir, 'keys');
    const key = randomBytes(32);
    writeFileSync(file, `${key.toString('base64')}\n`, { mode: 0o644 });
    chmodSync(file, 0o644);
    expect(readDevStateKeys(file).map((k) => k.material.equals(key))).toEqual([true]);
    expect(statSync(file).mode & 0o777).toBe(0o644);
    const missing = join(dir, 'none', DEV_KEYS_FILE);
    expect(() => readDevStateKeys(missing)).toThrow(new Error(unusable(missing, 'cannot be read (ENOENT: does not exist)')));
    expect(existsSync(join(dir, 'none'))).toBe(false);
  });

  it('names the variable and the file for text that is no key, and the same key twice', () => {
    const file = join(dir, 'keys');
    writeFileSync(file, ' \n');
    expect(() => readDevStateKeys(file)).toThrow(new Error(unusable(file, 'holds no usable key (is empty: expected comma-separated base64 32-byte keys)')));
    const key = keyText();
    writeFileSync(file, `${key},${key}`);
    expect(() => readDevStateKeys(file)).toThrow(/^LC_STATE_KEYS is not set and the development file .* holds no usable key \(state keys at index 0 and 1 have the same key id [0-9a-f]{8} \(the same key twice\?\)\), so start-up/);
  });
});
