/**
 * Every store key is built here, from values the server derived (hashes, validated ids), never
 * from raw request text. The `{…}` part is a Redis Cluster hash tag: all keys of one session (or
 * one rate-limit client) land in the same slot, so multi-key scripts work on a cluster.
 */
import { hash } from 'node:crypto';
import { boundedMemo } from '../core/memo.js';

const PREFIX = 'lc:';
/** What every key built here starts with: the prefix and the opening of its hash tag. */
const TAGGED = `${PREFIX}{`;

function digest(text: string): string {
  return hash('sha256', text, 'base64url');
}

/**
 * `digest` for values that repeat on every request of a client (its rate-limit client id, its
 * idempotency scope): still hashed, but once per client while it stays among the recent ones.
 */
// Texts up to 128 characters (a session key, a user id, an address) are kept; a longer one (text a
// client wrote itself, see client-ip.ts) is hashed on every call.
const clientDigest = boundedMemo(10_000, digest, 128);

/**
 * The key of the stores' write check in `health()`: Redis PEXPIREs it (never written, a scripted write
 * that changes nothing), SQLite writes it (a row with a short TTL: only a real write finds a full disk).
 */
export const WRITE_CHECK_KEY = 'lc:{health}:write-check';

export const storeKeys = {
  /** The session record. `sessionKey` is already a hash of the cookie value. */
  session: (sessionKey: string) => `${PREFIX}{s:${sessionKey}}:session`,
  /** Sealed state of one component instance in one session. */
  componentState: (sessionKey: string, componentId: string) => `${PREFIX}{s:${sessionKey}}:state:${componentId}`,
  /** Lock ordering the actions on one component instance across app processes. */
  instanceLock: (sessionKey: string, componentId: string) => `${PREFIX}{s:${sessionKey}}:lock:${componentId}`,
  /** Outstanding single-use CSRF nonces (strict rotation mode). */
  csrfNonce: (sessionKey: string, nonce: string) => `${PREFIX}{s:${sessionKey}}:csrf:${nonce}`,
  /** Idempotency record: `scope` is the client (`s:<session key>` or `u:<user id>`); the key is hashed. */
  idempotency: (scope: string, idempotencyKey: string) => `${PREFIX}{i:${clientDigest(scope)}}:idem:${digest(idempotencyKey)}`,
  /** Rate-limit counter of one client for one component action. */
  rateLimit: (client: string, componentName: string, action: string) =>
    `${PREFIX}{r:${clientDigest(client)}}:rl:${componentName}:${action}`,
} as const;

/**
 * The family of a store key: the letter opening the hash tag of a key built here (`s` a session's
 * keys, `i` idempotency records, `r` rate-limit counters), 0 for any other key. Stores may keep the
 * families apart (the memory store: one Map each).
 */
export function keyFamily(key: string): number {
  if (!key.startsWith(TAGGED)) return 0;
  const letter = key.charCodeAt(TAGGED.length);
  return letter < 128 ? letter : 0;
}
