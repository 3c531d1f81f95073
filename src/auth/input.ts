/**
 * Reading the JSON bodies of the auth endpoints. Each reader returns the clean values or the
 * `VALIDATION_FAILED` field errors; nothing here touches the database, so the answers depend only
 * on the input.
 */
import { LiveError } from '../core/errors.js';
import { normaliseEmail } from './email.js';
import { checkPassword, LONE_SURROGATE_RE } from './password.js';

export type FieldErrors = Record<string, string[]>;
export type Read<T> = { ok: true; value: T } | { ok: false; error: LiveError };

/** Longest password accepted at sign-in (older policies may have allowed others than 8–128). */
const MAX_SIGN_IN_PASSWORD = 1024;
export const NAME_MAX_LENGTH = 80;

/** Control characters, and lone surrogates (stored as U+FFFD by PostgreSQL, as they are by SQLite). */
const CONTROL_RE = /[\p{Cc}\p{Cs}]/u;

function object(body: unknown): Record<string, unknown> | null {
  return typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : null;
}

function invalid(errors: FieldErrors): { ok: false; error: LiveError } {
  return { ok: false, error: new LiveError('VALIDATION_FAILED', { fields: { errors } }) };
}

const NOT_OBJECT = { ok: false, error: new LiveError('INVALID_REQUEST', { message: 'The body must be a JSON object.' }) } as const;

/**
 * A display name: NFC, trimmed, 1 to 80 characters, no control characters. `null` or an absent
 * value means no name.
 */
export function readName(input: unknown): { ok: true; name: string | null } | { ok: false; message: string } {
  if (input === undefined || input === null) return { ok: true, name: null };
  if (typeof input !== 'string') return { ok: false, message: 'The name must be a string.' };
  const name = input.normalize('NFC').trim();
  if (name === '' || [...name].length > NAME_MAX_LENGTH || CONTROL_RE.test(name)) {
    return { ok: false, message: `The name must be 1 to ${NAME_MAX_LENGTH} characters, without control characters.` };
  }
  return { ok: true, name };
}

export function readRegistration(body: unknown): Read<{ email: string; password: string; name: string | null }> {
  const o = object(body);
  if (o === null) return NOT_OBJECT;
  const errors: FieldErrors = {};
  const email = normaliseEmail(o.email);
  if (email === null) errors.email = ['Enter a valid email address.'];
  const password = checkPassword(o.password);
  if (!password.ok) errors.password = [password.message];
  const name = readName(o.name);
  if (!name.ok) errors.name = [name.message];
  if (email === null || !password.ok || !name.ok) return invalid(errors);
  return { ok: true, value: { email, password: password.password, name: name.name } };
}

/**
 * Sign-in input. The email only has to look like one and the password only has to be a string of
 * at most 1024 characters: the policy of 8–128 applies when a password is chosen, not here.
 */
export function readCredentials(body: unknown): Read<{ email: string; password: string }> {
  const o = object(body);
  if (o === null) return NOT_OBJECT;
  const errors: FieldErrors = {};
  const email = normaliseEmail(o.email);
  if (email === null) errors.email = ['Enter a valid email address.'];
  const ok =
    typeof o.password === 'string' && o.password.length > 0 && o.password.length <= MAX_SIGN_IN_PASSWORD && !LONE_SURROGATE_RE.test(o.password);
  if (!ok) errors.password = ['Enter your password.'];
  if (email === null || !ok) return invalid(errors);
  return { ok: true, value: { email, password: (o.password as string).normalize('NFKC') } };
}

export function readEmailOnly(body: unknown): Read<{ email: string }> {
  const o = object(body);
  if (o === null) return NOT_OBJECT;
  const email = normaliseEmail(o.email);
  return email === null ? invalid({ email: ['Enter a valid email address.'] }) : { ok: true, value: { email } };
}

/** `{token, password}`; the token's shape is checked by the service (a bad one is `RESET_TOKEN_INVALID`). */
export function readReset(body: unknown): Read<{ token: unknown; password: string }> {
  const o = object(body);
  if (o === null) return NOT_OBJECT;
  const password = checkPassword(o.password);
  if (!password.ok) return invalid({ password: [password.message] });
  return { ok: true, value: { token: o.token, password: password.password } };
}
