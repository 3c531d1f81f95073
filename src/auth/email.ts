/**
 * Email addresses as the auth service stores and compares them: trimmed, Unicode NFC, the local
 * part case-folded (Unicode full case folding, `foldCase`), the domain lower-cased and in its ASCII
 * (punycode) form. Two spellings of one mailbox then map to one account,
 * and `users.email` is unique on the normalised form. Provider-specific rules (dots or `+tags` in
 * Gmail addresses) are not applied: those are different addresses to everyone else.
 *
 * A new account's local part must also be plain text (`isLookalikeLocal` below): compatibility
 * characters and a dotted i are refused at registration, and so is a mix of scripts (`isMixedScript`:
 * Cyrillic `а` in `аlice`). Sign-in and forgot-password still look such an address up as typed (see
 * `readEmail`).
 */
import { domainToASCII, domainToUnicode } from 'node:url';
import { LONE_SURROGATE_RE } from './password.js';
import { isMixedScript } from './scripts.js';

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
 * Whitespace and control characters are refused inside the domain: the IDNA conversion deletes tabs
 * and line breaks (`exa\tmple.com` became `example.com`).
 */
const DOMAIN_SPACE_RE = /[\s\p{Cc}]/u;
/** The full stops the IDNA conversion (UTS #46) reads as label separators, as `.`. */
const DOMAIN_DOTS_RE = /[\u3002\uff0e\uff61]/gu;
const ASCII_RE = /^[\x00-\x7f]*$/;
/**
 * ZERO WIDTH NON-JOINER (U+200C) and ZERO WIDTH JOINER (U+200D) are part of some domains: the
 * scripts that join letters or have a virama (Persian `می\u200cر.ir`, Devanagari `क्\u200dष.in`).
 * IDNA2008 (RFC 5892, CONTEXTJ) allows them only after a virama or between joining letters; next to
 * Latin, Greek, Cyrillic or a digit a joiner is never valid, and `exa\u200cmple.com` would be a
 * second, invisible spelling of `example.com`. Node's `domainToASCII` applies CONTEXTJ itself; this
 * narrower check does not depend on it: a joiner is refused unless it follows a letter or mark of
 * another script (combining marks of no script of their own are skipped to their base letter).
 */
const MISPLACED_JOINER_RE =
  /(?<![\p{L}\p{M}])[\u200c\u200d]|(?<=[\p{scx=Latin}\p{scx=Greek}\p{scx=Cyrillic}\p{sc=Common}]\p{sc=Inherited}*)[\u200c\u200d]/u;
const LABEL_RE = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
/** Cherokee small letters: full case folding maps them to the capitals (the script was capitals first). */
const CHEROKEE_SMALL_RE = /[\u13f8-\u13fd\uab70-\uabbf]/g;

/**
 * Unicode full case folding (CaseFolding.txt, statuses C and F), then NFC. `toLowerCase()` is not
 * one: it gives `ς` for a `Σ` at the end of a word but `σ` elsewhere (`ΝΙΚΟΣ.Χ` and `νικος.χ`
 * became two accounts), keeps `ß` apart from `SS`, and leaves U+0345, the old Cyrillic letters
 * U+1C80–U+1C88 and others apart from the letters they fold to. Lower → upper → lower reaches the
 * fold of every code point but three kinds, mapped here: final `ς` folds to `σ`, Cherokee small
 * letters to the capitals, and the dotless `ı` stays itself (upper-casing would make it `I`).
 * Checked against Python's `str.casefold` for every code point of Unicode 14 (test/auth/email-case.test.ts).
 * @example foldCase('ΝΙΚΟΣ') // 'νικοσ'
 * @example foldCase('Straße') // 'strasse'
 */
export function foldCase(text: string): string {
  return text
    .normalize('NFD')
    .split('\u0131')
    .map((part) => part.toLowerCase().toUpperCase().toLowerCase())
    .join('\u0131')
    .replace(/\u03c2/g, '\u03c3')
    .replace(CHEROKEE_SMALL_RE, (c) => c.toUpperCase())
    .normalize('NFC');
}

/**
 * Lower case as the IDNA conversion (UTS #46) maps a domain: `Σ` is always `σ` (`toLowerCase` makes
 * a final one `ς`, which IDNA2008 keeps as another letter: `ΣΑΣ.GR` was `σας.gr`, not `σασ.gr`), and
 * capital `ẞ` is `ss` (lower-cased it was `ß`, which IDNA2008 also keeps).
 */
function lowerDomain(text: string): string {
  return text.replace(/\u03a3/g, '\u03c3').replace(/\u1e9e/g, 'ss').toLowerCase();
}

/**
 * A dot above (U+0307) on a letter that shows a dot already (`Soft_Dotted`: i, j, Cyrillic і, ј…)
 * or on a dotless ı or ȷ, other marks in between or not. `İ` (U+0130) lower-cases to `i` + U+0307,
 * which NFC does not compose back and NFKC leaves alone: `İzzy@x` became `i̇zzy@x`, an account
 * that looks like `izzy@x`. Typing `i` + U+0307 gave the same.
 */
const DOTTED_I_RE = /[\p{Soft_Dotted}\u0131\u0237]\p{M}*\u0307/u;

/**
 * Why `readEmail` refused an address. `lookalike`: well-formed, but its local part is not plain
 * text (see `isLookalikeLocal`); `mixed-script`: well-formed and plain, but its local part mixes
 * scripts (`isMixedScript`). `asTyped` is the address normalised as before that rule existed, which
 * sign-in looks up: for a lookalike NFC with the local part lower-cased, not case-folded; for a mix
 * of scripts the normal form (case-folded), as such accounts were stored until the rule.
 */
export type EmailRead =
  | { readonly ok: true; readonly email: string }
  | { readonly ok: false; readonly reason: 'malformed' }
  | { readonly ok: false; readonly reason: 'lookalike' | 'mixed-script'; readonly asTyped: string };

/**
 * Whether a local part (NFC, and case-folded) holds what would make a new account look like
 * another's: a compatibility character (its NFKC form differs: the ligature `ﬁ`, full-width `ａ`,
 * mathematical `𝖿`, `ª`, `ſ`…) or a dotted i (`DOTTED_I_RE`). Checked before and after case folding.
 */
function isLookalikeLocal(typed: string, lowered: string): boolean {
  return typed.normalize('NFKC') !== typed || lowered.normalize('NFKC') !== lowered || DOTTED_I_RE.test(lowered);
}

/**
 * Reads an address. Malformed: not a plausible address at all. Lookalike or mixed-script: refused for a new
 * account (registration answers so), while sign-in and forgot-password look `asTyped` up, as they
 * always did: no account can be registered under it any more, so the lookup finds none (an unknown
 * account's answer), except one registered before the rule, which keeps working.
 * @example readEmail('Ada@EXAMPLE.com') // { ok: true, email: 'ada@example.com' }
 * @example readEmail('\uFB01nance@example.com') // { ok: false, reason: 'lookalike', asTyped: '\uFB01nance@example.com' }
 * @example readEmail('\u0430lice@example.com') // { ok: false, reason: 'mixed-script', asTyped: '\u0430lice@example.com' }
 */
export function readEmail(input: unknown): EmailRead {
  const malformed = { ok: false, reason: 'malformed' } as const;
  if (typeof input !== 'string' || input.length > 1024 || LONE_SURROGATE_RE.test(input)) return malformed;
  const text = input.trim().normalize('NFC');
  const at = text.lastIndexOf('@');
  if (at <= 0 || at === text.length - 1) return malformed;
  const typedLocal = text.slice(0, at);
  const local = foldCase(typedLocal);
  if (!LOCAL_RE.test(local) || Buffer.byteLength(local) > MAX_LOCAL || local.startsWith('.') || local.endsWith('.') || local.includes('..')) {
    return malformed;
  }
  const unicodeDomain = lowerDomain(text.slice(at + 1));
  if (DOMAIN_SPACE_RE.test(unicodeDomain)) return malformed;
  const domain = domainToASCII(unicodeDomain);
  if (domain === '' || domain.length > 253) return malformed;
  const labels = domain.split('.');
  // An all-digit last label is an IPv4 address (`x@127.0.0.1`), not a domain: mail would go to a host.
  if (labels.length < 2 || !labels.every((label) => LABEL_RE.test(label)) || /^\d+$/.test(labels.at(-1)!)) return malformed;
  if (!roundTrips(unicodeDomain, labels)) return malformed;
  const address = `${local}@${domain}`;
  if (Buffer.byteLength(address) > MAX_ADDRESS) return malformed;
  if (!isLookalikeLocal(typedLocal, local)) {
    return isMixedScript(local) ? { ok: false, reason: 'mixed-script', asTyped: address } : { ok: true, email: address };
  }
  // Only accounts registered before the rule can be under a lookalike, and they were stored
  // lower-cased: full case folding would map `ﬁ` to `fi` and find the plain account instead.
  return { ok: false, reason: 'lookalike', asTyped: `${typedLocal.toLowerCase()}@${domain}` };
}

/**
 * The normalised address, or `null` when `input` is not a plausible email address or could not
 * be registered (`readEmail`).
 * @example normaliseEmail('  Ada@EXAMPLE.com ') // 'ada@example.com'
 * @example normaliseEmail('zoë@bücher.example') // 'zoë@xn--bcher-kva.example'
 * @example normaliseEmail('\uFF41da@example.com') // null (full-width a)
 */
export function normaliseEmail(input: unknown): string | null {
  const read = readEmail(input);
  return read.ok ? read.email : null;
}

/**
 * Whether the IDNA conversion kept the domain as it was typed: each label of `typed` (lower-case,
 * NFC) is the same as its ASCII form decoded back, or as the ASCII form itself for a label typed in
 * ASCII (`xn--bcher-kva`, the form stored, is `bücher`). The conversion deletes default-ignorable
 * code points (U+00AD, U+034F, U+200B, U+2060, variation selectors…): `exa\u200bmple.com` became
 * `example.com`, and such an address is refused rather than read as another. Its mappings to what
 * the text already shows (NFKC: full-width letters, `①`; the ideographic full stop) are compared
 * like with like, as are upper case and NFD (lower-cased and composed by the caller). A joiner must
 * also be where a script uses it (MISPLACED_JOINER_RE), typed or in a punycode label.
 */
function roundTrips(typed: string, asciiLabels: readonly string[]): boolean {
  const typedLabels = lowerDomain(typed.normalize('NFKC')).normalize('NFC').replace(DOMAIN_DOTS_RE, '.').split('.');
  if (typedLabels.length !== asciiLabels.length) return false;
  return typedLabels.every((label, i) => {
    const ascii = asciiLabels[i]!;
    const decoded = ascii.startsWith('xn--') ? domainToUnicode(ascii) : ascii;
    // An xn-- label that does not decode (bad punycode, a joiner CONTEXTJ refuses): Node 22 and older
    // return '' for it, Node 24 (ada 4) the label unchanged, so `xn--example-b06c` (exa\u200cmple) passed.
    // A U-label never starts with `xn--` (RFC 5891 4.2.3.1).
    if (ascii.startsWith('xn--') && (decoded === '' || decoded.startsWith('xn--'))) return false;
    if (MISPLACED_JOINER_RE.test(decoded)) return false;
    return label === (ASCII_RE.test(label) ? ascii : decoded);
  });
}
