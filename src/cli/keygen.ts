/**
 * `livecomponents keygen`: fresh secrets as `NAME=value` lines, ready for an env file or a secret
 * store. `--rotate` puts a new state key in front of the current `LC_STATE_KEYS` (the new key
 * seals from the next start; the older ones still open what they sealed). `--rotate-session-secret`
 * prints a new `LC_SESSION_SECRET` and the current one first in `LC_SESSION_SECRET_FALLBACKS` (the
 * new secret signs from the next start; tokens of the old one still verify). Both are the final
 * step of a rotation; with several instances the first step swaps them (docs/deployment.md §9).
 */
import { randomBytes } from 'node:crypto';
import { createKeyRing, parseStateKeys, STATE_KEY_BYTES } from '../pipeline/state/keyring.js';
import { decodeSecret, fallbackProblem, MAX_SECRET_FALLBACKS, parseSecretList } from '../runtime/dev-files.js';

/** Bytes of the generated `LC_SESSION_SECRET` (the minimum the config accepts). */
export const SESSION_SECRET_BYTES = 32;

/** The characters of base64 (standard or url): a secret written in these alone is listed as it is. */
const SECRET_CHARACTERS = /^[A-Za-z0-9+/_-]+={0,2}$/;

/** Above this many state keys (or session secrets), `--rotate` (`--rotate-session-secret`) reminds the operator to retire the oldest. */
const MANY_KEYS = 3;

export interface KeygenOptions {
  /** Prepend a new key to `env.LC_STATE_KEYS`. @default false */
  rotate?: boolean;
  /** A new `LC_SESSION_SECRET`, the current one first in `LC_SESSION_SECRET_FALLBACKS`. @default false */
  rotateSessionSecret?: boolean;
}

export interface KeygenResult {
  /** 0, or 1 when `--rotate` found no valid current keys. */
  readonly code: number;
  /** `NAME=value` lines for stdout. */
  readonly out: readonly string[];
  /** Notes and errors for stderr; never a key. */
  readonly err: readonly string[];
}

/**
 * @param options `true` is `{ rotate: true }`. Without a rotation, new state keys and session secret.
 * @example
 * keygen({}).out; // ['LC_STATE_KEYS=…', 'LC_SESSION_SECRET=…']
 * keygen({ LC_SESSION_SECRET: old }, { rotateSessionSecret: true }).out; // ['LC_SESSION_SECRET=…', 'LC_SESSION_SECRET_FALLBACKS=<old>']
 */
export function keygen(env: Readonly<Record<string, string | undefined>>, options: boolean | KeygenOptions = false): KeygenResult {
  const { rotate = false, rotateSessionSecret = false } = typeof options === 'boolean' ? { rotate: options } : options;
  if (!rotate && !rotateSessionSecret) {
    const key = randomBytes(STATE_KEY_BYTES).toString('base64');
    return { code: 0, out: [`LC_STATE_KEYS=${key}`, `LC_SESSION_SECRET=${newSessionSecret()}`], err: [] };
  }
  const parts = [...(rotate ? [rotateStateKeys(env)] : []), ...(rotateSessionSecret ? [rotateSecret(env)] : [])];
  const failed = parts.filter((p) => p.code !== 0);
  // All or nothing: half a rotation printed is easy to paste by mistake.
  if (failed.length > 0) return { code: 1, out: [], err: failed.flatMap((p) => p.err) };
  return { code: 0, out: parts.flatMap((p) => p.out), err: parts.flatMap((p) => p.err) };
}

function newSessionSecret(): string {
  return randomBytes(SESSION_SECRET_BYTES).toString('base64');
}

function rotateStateKeys(env: Readonly<Record<string, string | undefined>>): KeygenResult {
  const key = randomBytes(STATE_KEY_BYTES).toString('base64');
  const current = env.LC_STATE_KEYS?.trim();
  if (!current) {
    return { code: 1, out: [], err: ['keygen --rotate: LC_STATE_KEYS is not set, so there is nothing to rotate; run `keygen` without --rotate'] };
  }
  let count: number;
  try {
    count = createKeyRing(parseStateKeys(current)).keys.length;
  } catch (error) {
    return { code: 1, out: [], err: [`keygen --rotate: ${error instanceof Error ? error.message : String(error)}`] };
  }
  const entries = current.split(',').map((s) => s.trim());
  const err =
    count + 1 > MANY_KEYS
      ? [`keygen --rotate: LC_STATE_KEYS now holds ${count + 1} keys; drop the oldest once the state it sealed has expired`]
      : [];
  return { code: 0, out: [`LC_STATE_KEYS=${[key, ...entries].join(',')}`], err };
}

/**
 * The current `LC_SESSION_SECRET` becomes the first fallback (the fallbacks already listed stay
 * after it); a new secret takes its place. The values are checked as start-up checks them, and
 * quoted nowhere but in the output lines.
 */
function rotateSecret(env: Readonly<Record<string, string | undefined>>): KeygenResult {
  const where = 'keygen --rotate-session-secret';
  const current = env.LC_SESSION_SECRET?.trim();
  if (!current) {
    return { code: 1, out: [], err: [`${where}: LC_SESSION_SECRET is not set, so there is nothing to rotate; run \`keygen\` without it`] };
  }
  let listed: string[];
  try {
    const secret = decodeSecret(current);
    const fallbacks = parseSecretList(env.LC_SESSION_SECRET_FALLBACKS ?? '');
    const problem = fallbackProblem(secret, fallbacks);
    if (problem !== undefined) throw new Error(problem);
    // The current secret joins the list: one more than start-up takes would be printed to be refused.
    if (fallbacks.length >= MAX_SECRET_FALLBACKS) {
      throw new Error(`LC_SESSION_SECRET_FALLBACKS already holds ${fallbacks.length} secrets, the most start-up accepts; drop the oldest before this rotation`);
    }
    listed = (env.LC_SESSION_SECRET_FALLBACKS ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  } catch (error) {
    return { code: 1, out: [], err: [`${where}: ${error instanceof Error ? error.message : String(error)}`] };
  }
  // A text secret goes into the list as its base64 (the same bytes) unless it is written in base64's
  // characters alone: a comma would split it, and white space, #, quotes, \ or $ are changed by env
  // files (compose's .env drops ` #…`, systemd reads quotes and backslashes, a shell expands $).
  const previous = SECRET_CHARACTERS.test(current) ? current : decodeSecret(current).toString('base64');
  const fallbacks = [previous, ...listed];
  const err = [
    `${where}: with several instances, roll out in two steps (docs/deployment.md §9): first every instance keeps its LC_SESSION_SECRET and gets the new one in LC_SESSION_SECRET_FALLBACKS; then these lines`,
    ...(fallbacks.length + 1 > MANY_KEYS
      ? [`${where}: LC_SESSION_SECRET_FALLBACKS now holds ${fallbacks.length} secrets; drop the oldest once the pages and sessions of its time are gone (SESSION_TTL)`]
      : []),
  ];
  return { code: 0, out: [`LC_SESSION_SECRET=${newSessionSecret()}`, `LC_SESSION_SECRET_FALLBACKS=${fallbacks.join(',')}`], err };
}
