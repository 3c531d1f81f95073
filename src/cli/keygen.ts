/**
 * `livecomponents keygen`: fresh secrets as `NAME=value` lines, ready for an env file or a secret
 * store. `--rotate` puts a new state key in front of the current `LC_STATE_KEYS` (the new key
 * seals from the next start; the older ones still open what they sealed).
 */
import { randomBytes } from 'node:crypto';
import { createKeyRing, parseStateKeys, STATE_KEY_BYTES } from '../pipeline/state/keyring.js';

/** Bytes of the generated `LC_SESSION_SECRET` (the minimum the config accepts). */
export const SESSION_SECRET_BYTES = 32;

/** Above this many state keys, `--rotate` reminds the operator to retire the oldest. */
const MANY_KEYS = 3;

export interface KeygenResult {
  /** 0, or 1 when `--rotate` found no valid current keys. */
  readonly code: number;
  /** `NAME=value` lines for stdout. */
  readonly out: readonly string[];
  /** Notes and errors for stderr; never a key. */
  readonly err: readonly string[];
}

/**
 * @param rotate prepend the new key to `env.LC_STATE_KEYS` instead of printing new secrets
 * @default rotate false
 * @example
 * keygen({}, false).out; // ['LC_STATE_KEYS=…', 'LC_SESSION_SECRET=…']
 */
export function keygen(env: Readonly<Record<string, string | undefined>>, rotate = false): KeygenResult {
  const key = randomBytes(STATE_KEY_BYTES).toString('base64');
  if (!rotate) {
    return { code: 0, out: [`LC_STATE_KEYS=${key}`, `LC_SESSION_SECRET=${randomBytes(SESSION_SECRET_BYTES).toString('base64')}`], err: [] };
  }
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
