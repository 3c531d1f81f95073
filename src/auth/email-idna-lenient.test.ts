/**
 * Node 24's URL parser (ada 3) hands back an `xn--` label it cannot decode unchanged, from both
 * `domainToASCII` and `domainToUnicode`, where Node 22 and older return ''. readEmail read '' as
 * malformed, so on Node 24 `carol@xn--example-b06c.com` (the punycode of exa\u200cmple.com, a joiner
 * IDNA refuses after a Latin letter: an invisible second spelling of example.com) and labels that are
 * not punycode at all (`xn--zz`) were accepted. `node:url` is mocked here to answer as Node 24 does,
 * so the suite checks it on whichever Node it runs.
 */
import type * as NodeUrl from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { normaliseEmail } from './email.js';

vi.mock('node:url', async (importOriginal) => {
  const url = await importOriginal<typeof NodeUrl>();
  /** Node 24: an input with an xn-- label that fails to convert comes back as it was (lower-cased). */
  const lenient = (convert: (domain: string) => string) => (domain: string) => {
    const out = convert(domain);
    return out === '' && /(^|\.)xn--/i.test(domain) ? domain.toLowerCase() : out;
  };
  return { ...url, domainToASCII: lenient(url.domainToASCII), domainToUnicode: lenient(url.domainToUnicode) };
});

describe('xn-- labels that do not decode, with a URL parser that hands them back unchanged (Node 24)', () => {
  it('refuses them: a misplaced joiner in punycode, and a label that is not punycode', () => {
    expect(normaliseEmail('carol@xn--example-b06c.com')).toBeNull();
    expect(normaliseEmail('carol@XN--EXAMPLE-B06C.com')).toBeNull();
    expect(normaliseEmail('carol@xn--zz.com')).toBeNull();
    expect(normaliseEmail('carol@exa\u200Cmple.com')).toBeNull();
  });

  it('keeps valid ones, typed in punycode or in Unicode', () => {
    expect(normaliseEmail('zoë@xn--bcher-kva.example')).toBe('zoë@xn--bcher-kva.example');
    expect(normaliseEmail('zoë@bücher.example')).toBe('zoë@xn--bcher-kva.example');
    expect(normaliseEmail('ada@example.com')).toBe('ada@example.com');
  });
});
