import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson, requestFingerprint } from './fingerprint.js';

describe('canonicalJson', () => {
  it('sorts object keys recursively and keeps array order', () => {
    expect(canonicalJson({ b: 1, a: [2, { d: 3, c: 4 }], c: { z: null, y: 'x' } })).toBe(
      '{"a":[2,{"c":4,"d":3}],"b":1,"c":{"y":"x","z":null}}',
    );
    expect(canonicalJson([3, 1, 2])).toBe('[3,1,2]');
  });

  it('matches JSON.stringify for everything but key order', () => {
    const value = { s: 'quote " and \\ and \u2028', n: -1.5e-7, t: true, f: false, nil: null, empty: {}, list: [] };
    expect(JSON.parse(canonicalJson(value))).toEqual(value);
    expect(canonicalJson({ u: undefined, fn: () => 1, list: [undefined] })).toBe('{"list":[null]}');
  });

  it('keeps -0 and non-finite numbers apart from 0 and null: the action sees them as they are', () => {
    // JSON.parse gives -0 for "-0" and Infinity for an overflowing literal such as 1e400.
    const params: unknown[] = ['{"x":0}', '{"x":-0}', '{"x":null}', '{"x":1e400}', '{"x":-1e400}'].map((t) => JSON.parse(t));
    expect(params.map((p) => canonicalJson(p))).toEqual(['{"x":0}', '{"x":-0}', '{"x":null}', '{"x":Infinity}', '{"x":-Infinity}']);
    expect(new Set(params.map((p) => requestFingerprint('c:main', 'go', p))).size).toBe(5);
    expect(canonicalJson([Number.NaN, 1.0, -1.5])).toBe('[NaN,1,-1.5]');
  });

  it('keeps an own "__proto__" key (as JSON.parse creates it)', () => {
    const parsed: unknown = JSON.parse('{"__proto__":{"x":1},"a":2}');
    expect(canonicalJson(parsed)).toBe('{"__proto__":{"x":1},"a":2}');
  });

  it('throws on values with no JSON form', () => {
    expect(() => canonicalJson(10n)).toThrow(TypeError);
    expect(() => canonicalJson(undefined)).toThrow(TypeError);
  });
});

describe('requestFingerprint', () => {
  it('ignores object key order but not values, action or component', () => {
    const base = requestFingerprint('order:main', 'createOrder', { item: 'book', qty: 1 });
    expect(requestFingerprint('order:main', 'createOrder', { qty: 1, item: 'book' })).toBe(base);
    expect(requestFingerprint('order:main', 'createOrder', { item: 'book', qty: 2 })).not.toBe(base);
    expect(requestFingerprint('order:main', 'cancelOrder', { item: 'book', qty: 1 })).not.toBe(base);
    expect(requestFingerprint('order:other', 'createOrder', { item: 'book', qty: 1 })).not.toBe(base);
  });

  it('is the SHA-256 of the canonical JSON of [componentId, action, params] (the records already stored)', () => {
    const cases: [string, string, unknown][] = [
      ['counter:main', 'increment', {}],
      ['order:main', 'createOrder', { qty: 1, item: 'b\u2028"ook' }],
      ['c:x', 'go', undefined],
      ['c:x', 'go', [1, undefined, -0]],
      ['c:x', 'go', 'x'.repeat(300)],
    ];
    for (const [componentId, action, params] of cases) {
      expect(requestFingerprint(componentId, action, params)).toBe(createHash('sha256').update(canonicalJson([componentId, action, params])).digest('base64url'));
    }
    expect(() => requestFingerprint('c:x', 'go', { n: 1n })).toThrow(TypeError);
  });

  it('cannot be confused by moving text between fields', () => {
    expect(requestFingerprint('a:b', 'c', {})).not.toBe(requestFingerprint('a:', 'bc', {}));
  });
});
