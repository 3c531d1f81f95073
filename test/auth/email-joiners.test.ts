/**
 * The joiner rule of normaliseEmail does not rest on the runtime's IDNA: Node 20's `domainToASCII`
 * applies IDNA2008 CONTEXTJ itself (it refuses `exa\u200Cmple.com`), but a runtime whose conversion
 * kept a ZWNJ after a Latin letter would turn `exa\u200Cmple.com` into `xn--example-b06c.com`, a
 * second domain that looks like `example.com`. Here `node:url` is such a runtime.
 */
import type * as NodeUrl from 'node:url';
import { describe, expect, it, vi } from 'vitest';

const LAX: Readonly<Record<string, string>> = {
  'exa\u200Cmple': 'xn--example-b06c',
  'exa\u200Dmple': 'xn--example-b36c',
};

vi.mock('node:url', async (importOriginal) => {
  const url = await importOriginal<typeof NodeUrl>();
  const toAscii = (label: string): string => LAX[label] ?? url.domainToASCII(label);
  const toUnicode = (label: string): string => Object.keys(LAX).find((k) => LAX[k] === label) ?? url.domainToUnicode(label);
  const each = (f: (label: string) => string) => (domain: string) => domain.split('.').map(f).join('.');
  return { ...url, domainToASCII: each(toAscii), domainToUnicode: each(toUnicode) };
});

const { normaliseEmail } = await import('../../src/auth/email.js');

describe('normaliseEmail on an IDNA conversion without CONTEXTJ', () => {
  it('the lax conversion keeps the joiners (the premise)', async () => {
    const { domainToASCII, domainToUnicode } = await import('node:url');
    expect(domainToASCII('exa\u200Cmple.com')).toBe('xn--example-b06c.com');
    expect(domainToUnicode('xn--example-b06c.com')).toBe('exa\u200Cmple.com');
  });

  it('still refuses ZWNJ and ZWJ after a Latin letter, typed or as punycode', () => {
    expect(normaliseEmail('carol@exa\u200Cmple.com')).toBeNull();
    expect(normaliseEmail('carol@exa\u200Dmple.com')).toBeNull();
    expect(normaliseEmail('carol@xn--example-b06c.com')).toBeNull();
    expect(normaliseEmail('carol@xn--example-b36c.com')).toBeNull();
  });

  it('still accepts the Persian domain', () => {
    expect(normaliseEmail('x@\u0645\u06CC\u200C\u0631.ir')).toBe('x@xn--wgb3b4z774f.ir');
  });
});
