/**
 * Email addresses as the auth service stores and compares them: trimmed, Unicode NFC, lower-case,
 * the domain in its ASCII (punycode) form. Two spellings of one mailbox then map to one account,
 * and `users.email` is unique on the normalised form. Provider-specific rules (dots or `+tags` in
 * Gmail addresses) are not applied: those are different addresses to everyone else.
 */
import { domainToASCII } from 'node:url';
import { LONE_SURROGATE_RE } from './password.js';

/** RFC 5321 limits: 64 octets of local part, 254 for the whole address. */
const MAX_LOCAL = 64;
const MAX_ADDRESS = 254;
/**
 * Printable, no spaces, quotes, angle brackets, control characters, lone surrogates, format
 * characters, or default-ignorable code points (Unicode's `Default_Ignorable_Code_Point`: zero-width
 * space and joiners, soft hyphen, bidi controls, word joiner, variation selectors, the combining
 * grapheme joiner, the Hangul fillers U+115F, U+1160, U+3164 and U+FFA0, the Mongolian vowel
 * separator, tags…: each renders as nothing or as blank, so an address with one would be a second
 * account that looks like another's) in the local part.
 */
const LOCAL_RE = /^[^\s"<>()[\]\\,;:@\p{Cc}\p{Cf}\p{Cs}\p{Default_Ignorable_Code_Point}]+$/u;
/**
 * Refused in the domain before its IDNA conversion: default-ignorable code points, which the
 * conversion deletes (U+200B, U+00AD, U+2060, U+034F, variation selectors: `exa\u200bmple.com`
 * became `example.com`) or refuses depending on its table, and whitespace and control characters
 * (it deletes tabs and line breaks). One rule for the whole address instead of the table's.
 */
const DOMAIN_INVISIBLE_RE = /[\s\p{Cc}\p{Default_Ignorable_Code_Point}]/u;
const LABEL_RE = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/**
 * The normalised address, or `null` when `input` is not a plausible email address.
 * @example normaliseEmail('  Ada@EXAMPLE.com ') // 'ada@example.com'
 * @example normaliseEmail('zoë@bücher.example') // 'zoë@xn--bcher-kva.example'
 */
export function normaliseEmail(input: unknown): string | null {
  if (typeof input !== 'string' || input.length > 1024 || LONE_SURROGATE_RE.test(input)) return null;
  const text = input.trim().normalize('NFC');
  const at = text.lastIndexOf('@');
  if (at <= 0 || at === text.length - 1) return null;
  const local = text.slice(0, at).toLowerCase();
  if (!LOCAL_RE.test(local) || Buffer.byteLength(local) > MAX_LOCAL || local.startsWith('.') || local.endsWith('.') || local.includes('..')) {
    return null;
  }
  const unicodeDomain = text.slice(at + 1).toLowerCase();
  if (DOMAIN_INVISIBLE_RE.test(unicodeDomain)) return null;
  const domain = domainToASCII(unicodeDomain);
  if (domain === '' || domain.length > 253) return null;
  const labels = domain.split('.');
  if (labels.length < 2 || !labels.every((label) => LABEL_RE.test(label))) return null;
  const address = `${local}@${domain}`;
  return Buffer.byteLength(address) > MAX_ADDRESS ? null : address;
}
