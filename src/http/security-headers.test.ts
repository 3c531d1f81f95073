import { describe, expect, it } from 'vitest';
import { DEFAULT_PAGE_HEADERS, pageHeadersOf } from './security-headers.js';

describe('page headers', () => {
  it('default to no framing by other origins, a pinned <base>, nosniff, a referrer policy and no caching (no-store)', () => {
    expect(pageHeadersOf()).toEqual({
      'content-security-policy': "base-uri 'self'; frame-ancestors 'self'",
      'x-frame-options': 'SAMEORIGIN',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'strict-origin-when-cross-origin',
      'cache-control': 'no-store',
    });
    expect(Object.isFrozen(pageHeadersOf())).toBe(true);
  });

  it('take the app’s changes, names in any case; false drops a header', () => {
    const headers = pageHeadersOf({ 'Content-Security-Policy': "default-src 'self'; frame-ancestors 'none'", 'X-Frame-Options': 'DENY', 'referrer-policy': false, 'permissions-policy': 'camera=()' });
    expect(headers).toEqual({
      'content-security-policy': "default-src 'self'; frame-ancestors 'none'",
      'x-frame-options': 'DENY',
      'x-content-type-options': 'nosniff',
      'cache-control': 'no-store',
      'permissions-policy': 'camera=()',
    });
    expect(DEFAULT_PAGE_HEADERS['referrer-policy']).toBe('strict-origin-when-cross-origin');
  });

  it('keep pages out of shared caches: a cache-control without private or no-store, or none, is refused', () => {
    for (const value of ['public, max-age=300', 'max-age=60', 'no-cache', 's-maxage=60, must-revalidate', 'public, no-store-ish']) {
      expect(() => pageHeadersOf({ 'cache-control': value }), value).toThrow(/cache-control must keep pages out of shared caches/);
    }
    expect(() => pageHeadersOf({ 'cache-control': false })).toThrow(/got none/);
    for (const value of ['private, max-age=60', 'no-store', 'PRIVATE', 'no-cache, private="set-cookie"', 'max-age=0,no-store']) {
      expect(pageHeadersOf({ 'cache-control': value })['cache-control'], value).toBe(value);
    }
  });

  it('refuse what is not a header: bad names, line breaks (response splitting), non-strings', () => {
    const badOnes: Record<string, string | false>[] = [{ 'bad name': 'x' }, { '': 'x' }, { 'x-a': 'one\r\nset-cookie: a=b' }, { 'x-a': 'nul\0' }, { 'x-a': 1 as unknown as string }, { 'x-a': true as unknown as string }];
    for (const bad of badOnes) {
      expect(() => pageHeadersOf(bad), JSON.stringify(bad)).toThrow(TypeError);
    }
  });
});
