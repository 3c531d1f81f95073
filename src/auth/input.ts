/**
 * Reading the JSON bodies of the auth endpoints. Each reader returns the clean values or the
 * `VALIDATION_FAILED` field errors; nothing here touches the database, so the answers depend only
 * on the input.
 */
import { LiveError } from '../core/errors.js';
import { readEmail } from './email.js';
import { checkPassword, LONE_SURROGATE_RE } from './password.js';
import { passwordRefusal } from './password-policy.js';

export type FieldErrors = Record<string, string[]>;
export type Read<T> = { ok: true; value: T } | { ok: false; error: LiveError };

/** Longest password accepted at sign-in (older policies may have allowed others than 8–128). */
const MAX_SIGN_IN_PASSWORD = 1024;
export const NAME_MAX_LENGTH = 80;

/** Control characters, and lone surrogates (stored as U+FFFD by PostgreSQL, as they are by SQLite). */
const CONTROL_RE = /[\p{Cc}\p{Cs}]/u;
/**
 * What a name could spoof with: format characters (Unicode category Cf: the bidi embeddings,
 * overrides and isolates U+202A–U+202E and U+2066–U+2069, the marks LRM, RLM and ALM, zero-width
 * space, word joiner, invisible operators, soft hyphen, U+FEFF, tags…), the other default-ignorable
 * code points (the Hangul fillers, the combining grapheme joiner…: a name of them looks empty), and
 * the line and paragraph separators. An override reverses the text after it, in the name and in what
 * the page shows next to it. Kept: ZWNJ and ZWJ (Persian and Indic names, emoji sequences), the
 * variation selectors (emoji and ideograph variants), and the Mongolian free variation selectors
 * FVS1–FVS4 (U+180B–U+180D, U+180F) and vowel separator (U+180E), which traditional Mongolian text
 * needs to pick a letter's written form.
 */
const FORMAT_RE =
  /[\p{Zl}\p{Zp}]|(?![\u180b-\u180f\u200c\u200d\ufe00-\ufe0f\u{e0100}-\u{e01ef}])[\p{Cf}\p{Default_Ignorable_Code_Point}]/u;
/** A name must show something: a letter, digit, punctuation or symbol (ZWJ and selectors alone show nothing). */
const VISIBLE_RE = /[\p{L}\p{N}\p{P}\p{S}]/u;

const EMAIL_INVALID = 'Enter a valid email address.';
/** Registration's refusal of an address `readEmail` calls a lookalike. */
export const EMAIL_LOOKALIKE =
  'Type the part before the @ in plain letters: ligatures (such as \uFB01), full-width or styled letters and a dotted capital I (\u0130) look like another address and are not accepted.';
/** Registration's refusal of an address whose local part mixes scripts (`isMixedScript`). */
export const EMAIL_MIXED_SCRIPT =
  'Type the part before the @ in the letters of one script: mixing scripts (such as a Cyrillic \u0430 among Latin letters) looks like another address and is not accepted. Latin may be mixed with Chinese, Japanese or Korean.';
/** The message of each refused kind of address. */
const EMAIL_REFUSED = { malformed: EMAIL_INVALID, lookalike: EMAIL_LOOKALIKE, 'mixed-script': EMAIL_MIXED_SCRIPT } as const;

function object(body: unknown): Record<string, unknown> | null {
  return typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : null;
}

function invalid(errors: FieldErrors): { ok: false; error: LiveError } {
  return { ok: false, error: new LiveError('VALIDATION_FAILED', { fields: { errors } }) };
}

/** The `VALIDATION_FAILED` of a refused new password, shaped as the readers' own (`field`: the change's `new_password`). */
export function passwordInvalid(message: string, field = 'password'): LiveError {
  return invalid({ [field]: [message] }).error;
}

const NOT_OBJECT = { ok: false, error: new LiveError('INVALID_REQUEST', { message: 'The body must be a JSON object.' }) } as const;

/**
 * A display name: NFC, trimmed, 1 to 80 characters, no control characters, no format characters
 * (`FORMAT_RE`), at least one visible one. `null` or an absent value means no name.
 */
export function readName(input: unknown): { ok: true; name: string | null } | { ok: false; message: string } {
  if (input === undefined || input === null) return { ok: true, name: null };
  if (typeof input !== 'string') return { ok: false, message: 'The name must be a string.' };
  const name = input.normalize('NFC').trim();
  if (name === '' || [...name].length > NAME_MAX_LENGTH || CONTROL_RE.test(name)) {
    return { ok: false, message: `The name must be 1 to ${NAME_MAX_LENGTH} characters, without control characters.` };
  }
  if (FORMAT_RE.test(name) || !VISIBLE_RE.test(name)) {
    return { ok: false, message: 'The name must be visible text, without invisible formatting characters such as text-direction overrides.' };
  }
  return { ok: true, name };
}

export function readRegistration(body: unknown): Read<{ email: string; password: string; name: string | null }> {
  const o = object(body);
  if (o === null) return NOT_OBJECT;
  const errors: FieldErrors = {};
  const email = readEmail(o.email);
  if (!email.ok) errors.email = [EMAIL_REFUSED[email.reason]];
  const password = checkPassword(o.password);
  // The policy (password-policy.ts) against the address too, when it is one that can register.
  const refusal = password.ok ? passwordRefusal(password.password, email.ok ? email.email : undefined) : password.message;
  if (refusal !== null) errors.password = [refusal];
  const name = readName(o.name);
  if (!name.ok) errors.name = [name.message];
  if (!email.ok || !password.ok || refusal !== null || !name.ok) return invalid(errors);
  return { ok: true, value: { email: email.email, password: password.password, name: name.name } };
}

/**
 * An address to look an account up by (sign-in, forgot-password), or `null` when it is malformed.
 * A lookalike or a mix of scripts (`readEmail`) is looked up as typed, not refused: no account can be registered under
 * it, so it gets an unknown account's answer (INVALID_CREDENTIALS after the dummy verification; the
 * same 202), and an account registered before the rule still signs in. Refusing it here instead
 * would only say what the input already shows, but would lock those accounts out.
 */
function lookupEmail(input: unknown): string | null {
  const email = readEmail(input);
  return email.ok ? email.email : email.reason === 'malformed' ? null : email.asTyped;
}

/**
 * Sign-in input. The email only has to look like one and the password only has to be a string of
 * at most 1024 characters: the policy of 8–128 applies when a password is chosen, not here.
 */
export function readCredentials(body: unknown): Read<{ email: string; password: string }> {
  const o = object(body);
  if (o === null) return NOT_OBJECT;
  const errors: FieldErrors = {};
  const email = lookupEmail(o.email);
  if (email === null) errors.email = [EMAIL_INVALID];
  const ok =
    typeof o.password === 'string' && o.password.length > 0 && o.password.length <= MAX_SIGN_IN_PASSWORD && !LONE_SURROGATE_RE.test(o.password);
  if (!ok) errors.password = ['Enter your password.'];
  if (email === null || !ok) return invalid(errors);
  return { ok: true, value: { email, password: (o.password as string).normalize('NFKC') } };
}

/** The message of a new password equal to the current one (`readPasswordChange`). */
export const PASSWORD_UNCHANGED = 'The new password must differ from the current one.';

/**
 * `{current_password, new_password}` of a password change. The current password is read as a
 * sign-in reads it (any string of at most 1024 characters, NFKC: it may predate the policy); the new
 * one passes `checkPassword` and the policy against the account's `email` (`passwordRefusal`), and
 * must differ from the current one (after normalisation: the two would verify alike).
 */
export function readPasswordChange(body: unknown, email: string): Read<{ current: string; password: string }> {
  const o = object(body);
  if (o === null) return NOT_OBJECT;
  const errors: FieldErrors = {};
  const current = o.current_password;
  const currentOk = typeof current === 'string' && current.length > 0 && current.length <= MAX_SIGN_IN_PASSWORD && !LONE_SURROGATE_RE.test(current);
  if (!currentOk) errors.current_password = ['Enter your current password.'];
  const password = checkPassword(o.new_password);
  const refusal = password.ok ? passwordRefusal(password.password, email) : password.message;
  if (refusal !== null) errors.new_password = [refusal];
  else if (currentOk && password.ok && (current as string).normalize('NFKC') === password.password) errors.new_password = [PASSWORD_UNCHANGED];
  if (Object.keys(errors).length > 0 || !password.ok) return invalid(errors);
  return { ok: true, value: { current: (current as string).normalize('NFKC'), password: password.password } };
}

export function readEmailOnly(body: unknown): Read<{ email: string }> {
  const o = object(body);
  if (o === null) return NOT_OBJECT;
  const email = lookupEmail(o.email);
  return email === null ? invalid({ email: [EMAIL_INVALID] }) : { ok: true, value: { email } };
}

/**
 * `{token, password}`; the token's shape is checked by the service (a bad one is `RESET_TOKEN_INVALID`),
 * and so is the password against the account's email, once the token names the account.
 */
export function readReset(body: unknown): Read<{ token: unknown; password: string }> {
  const o = object(body);
  if (o === null) return NOT_OBJECT;
  const password = checkPassword(o.password);
  if (!password.ok) return invalid({ password: [password.message] });
  const refusal = passwordRefusal(password.password);
  if (refusal !== null) return invalid({ password: [refusal] });
  return { ok: true, value: { token: o.token, password: password.password } };
}
