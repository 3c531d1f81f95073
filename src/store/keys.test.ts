import { describe, expect, it } from 'vitest';
import { keyFamily, storeKeys } from './keys.js';

describe('keyFamily', () => {
  it('names each kind of key by the letter opening its hash tag', () => {
    const code = (letter: string) => letter.charCodeAt(0);
    expect(keyFamily(storeKeys.session('k'))).toBe(code('s'));
    expect(keyFamily(storeKeys.componentState('k', 'counter:main'))).toBe(code('s'));
    expect(keyFamily(storeKeys.instanceLock('k', 'counter:main'))).toBe(code('s'));
    expect(keyFamily(storeKeys.csrfNonce('k', 'n'))).toBe(code('s'));
    expect(keyFamily(storeKeys.idempotency('s:k', 'key-1'))).toBe(code('i'));
    expect(keyFamily(storeKeys.rateLimit('ip:1.2.3.4', 'counter', 'increment'))).toBe(code('r'));
  });

  it('puts every other key in family 0', () => {
    for (const key of ['', 'plain', 'lc:', 'lc:{', 'lc:s:x', 'LC:{s:x}', 'lc:{é:x}', 'lc:{\u{1F600}}']) expect(keyFamily(key)).toBe(0);
  });
});
