/**
 * `createLiveComponents(options)`: the one call an app makes. Turns configuration (keys as text,
 * defaults) into a runtime: store, state sealer, CSRF service, security events, pipeline.
 */
import { mkdirSync, readFileSync, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { ComponentDefinition, User } from '../core/component.js';
import type { Clock } from '../core/clock.js';
import { createFileOnce } from '../core/create-file-once.js';
import { devFileRefusal, devFileUnusable, errorReason } from '../ops/writable-path.js';
import { pino } from 'pino';
import type { SecurityEventSink } from '../ops/security-events.js';
import { createSecurityLogger } from '../ops/security-logger.js';
import { createCsrfService } from '../pipeline/csrf/index.js';
import { createKeyRing, createSealer, loadOrCreateDevKeys, parseStateKeys, type StateKey } from '../pipeline/state/seal.js';
import { createMemoryStore } from '../store/memory/index.js';
import type { Store } from '../store/types.js';
import { createRuntime, type LiveRuntime, type RuntimeOptions } from './index.js';
import type { SecurityOptions } from './stages.js';

export interface LiveComponentsOptions extends SecurityOptions {
  components: readonly ComponentDefinition[];
  /** Where sessions, state, idempotency records and counters live. @default an in-memory store */
  store?: Store;
  /**
   * Comma-separated base64 32-byte keys, newest first. Every instance of an app needs the same.
   * @default the `LC_STATE_KEYS` environment variable; without it, development generates one once and
   * keeps it under `dataDir`, production refuses to start
   */
  stateKeys?: string;
  /**
   * At least 32 bytes (base64 or text) for the CSRF HMACs. Every instance of an app needs the same.
   * @default the `LC_SESSION_SECRET` environment variable; else as for `stateKeys`
   */
  sessionSecret?: string;
  /** Refuse generated keys and secrets. @default `NODE_ENV === 'production'` */
  production?: boolean;
  /** Folder for development keys. @default './data' */
  dataDir?: string;
  csrf?: {
    /**
     * `per-session`: every token of the session's current secret is valid (tabs, back button).
     * `per-action`: each token is single-use, with a bounded set outstanding per session.
     * @default 'per-session'
     */
    rotation?: 'per-session' | 'per-action';
    /** Outstanding single-use tokens per session in `per-action` mode. @default 32 */
    maxOutstanding?: number;
  };
  events?: SecurityEventSink;
  clock?: Clock;
  /**
   * Session idle lifetime in ms: a whole number from 1000 (1 s) to 3,155,760,000,000 (100 years,
   * `MAX_LIFETIME_MS`), checked at start-up (a `TypeError` naming it otherwise). @default 86_400_000
   */
  sessionTtlMs?: number;
  /**
   * Largest state one component instance may store, its JSON in UTF-8 bytes: past it the action
   * answers 500 and its state is not stored (src/pipeline/state/repository.ts). @default 1_048_576
   */
  maxStateBytes?: number;
  /**
   * Read state stored as plain JSON (from before state was sealed) and seal it on its next write: the
   * migration path. Such text carries no MAC, so whoever can write the store can plant any state this
   * way, private fields included; turn it off once every stored state has been sealed (a state lives
   * `sessionTtlMs` past its last use), and plain JSON then answers 409 `STATE_INVALID`.
   * @default true
   */
  acceptLegacyPlaintext?: boolean;
  resolveUser?: (userId: string) => Promise<User | null>;
  /** Told about every action that reached a known component action (metrics). @default none */
  onActionDone?: RuntimeOptions['onActionDone'];
  /**
   * Told about failures of store work done after the answer or outside any request: the writes after
   * a refused action, the take-back of a refused first batch, and a background retry of lock and
   * claim releases that gave up (the claims then expire by themselves). Log it (the errors are the
   * store's, credentials already taken out). A throw from it is swallowed.
   * @default console.error
   */
  onBackgroundError?: RuntimeOptions['onBackgroundError'];
  /** Receives start-up warnings (generated development keys…). @default console.warn */
  warn?: (message: string) => void;
}

const MIN_SECRET_BYTES = 32;

export async function createLiveComponents(options: LiveComponentsOptions): Promise<LiveRuntime> {
  const warn = options.warn ?? ((m: string) => console.warn(m));
  const dataDir = options.dataDir ?? './data';
  // The documented variables, read here too: an app wired by hand (the README's) that generated keys
  // per instance would refuse every other instance's tokens and state.
  const env = process.env;
  const production = options.production ?? env.NODE_ENV === 'production';
  const stateKeys = options.stateKeys || env.LC_STATE_KEYS?.trim() || undefined;
  const sessionSecret = options.sessionSecret || env.LC_SESSION_SECRET?.trim() || undefined;
  if (typeof options.appOrigin !== 'string' || options.appOrigin === '') {
    throw new TypeError("createLiveComponents: appOrigin is required: the app's public origin, such as 'https://app.example.com'");
  }
  if (production && !stateKeys) throw new Error('LC_STATE_KEYS is required in production (or the stateKeys option)');
  if (production && !sessionSecret) throw new Error('LC_SESSION_SECRET is required in production (or the sessionSecret option)');
  const keys = stateKeys ? parseStateKeys(stateKeys) : devStateKeys(dataDir, warn);
  const secret = sessionSecret ? decodeSecret(sessionSecret) : devSessionSecret(dataDir, warn);

  const store = options.store ?? createMemoryStore({ clock: options.clock });
  const events = options.events ?? createSecurityLogger({ logger: pino({ name: 'livecomponents' }), clock: options.clock });
  const csrf = createCsrfService({
    secret,
    rotation: options.csrf?.rotation ?? 'per-session',
    store,
    maxOutstanding: options.csrf?.maxOutstanding,
  });
  return createRuntime({
    ...options,
    store,
    events,
    csrf,
    sealer: createSealer({ keyRing: createKeyRing(keys), acceptLegacyPlaintext: legacyOption(options.acceptLegacyPlaintext) }),
  });
}

/** `LC_SESSION_SECRET` as base64 (standard or url) when it decodes to >= 32 bytes, else its UTF-8 bytes. */
export function decodeSecret(text: string): Buffer {
  const trimmed = text.trim();
  if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) {
    const decoded = Buffer.from(trimmed, 'base64');
    if (decoded.length >= MIN_SECRET_BYTES) return decoded;
  }
  const raw = Buffer.from(trimmed, 'utf8');
  if (raw.length < MIN_SECRET_BYTES) throw new TypeError(`LC_SESSION_SECRET must be at least ${MIN_SECRET_BYTES} bytes`);
  return raw;
}

/**
 * Development without `LC_SESSION_SECRET`: the secret kept in `dataDir/session-secret`, created once
 * even when several processes start together (they must share it: each refuses the others' tokens).
 */
function devSessionSecret(dataDir: string, warn: (m: string) => void): Buffer {
  const file = join(dataDir, 'session-secret');
  let created: boolean;
  try {
    mkdirSync(dataDir, { recursive: true });
    created = !existsSync(file) && createFileOnce(file, randomBytes(MIN_SECRET_BYTES).toString('base64'));
  } catch (error) {
    // Node's own error named a relative path and no way out (ENOENT on a read-only root file system).
    throw devFileRefusal('LC_SESSION_SECRET', 'session secret', dataDir, error);
  }
  if (created) warn(`LC_SESSION_SECRET is not set: generated a development secret in ${file}. Set LC_SESSION_SECRET in production.`);
  return readDevSessionSecret(file);
}

/**
 * Development without `LC_STATE_KEYS`: the keys kept under `dataDir/state-keys`. A key file that
 * cannot be read or holds no usable key throws words naming LC_STATE_KEYS and the file, as
 * `doctor --connect` (data-dir) says them (the key ring's own errors named neither the variable nor a
 * way out: `EACCES: permission denied, open 'data/state-keys/LC_STATE_KEYS'`,
 * `data/state-keys/LC_STATE_KEYS: entry at index 0 decodes to 5 bytes; …`).
 */
function devStateKeys(dataDir: string, warn: (m: string) => void): StateKey[] {
  const dir = join(dataDir, 'state-keys');
  const file = join(dir, 'LC_STATE_KEYS');
  try {
    const keys = loadOrCreateDevKeys(dir, warn);
    createKeyRing(keys);
    return keys;
  } catch (error) {
    // A folder that refuses the new file: already said, naming the variable (devFileRefusal).
    if (error instanceof Error && error.message.startsWith('LC_STATE_KEYS')) throw error;
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    const why =
      typeof code === 'string' && !code.startsWith('ERR_')
        ? `cannot be read (${errorReason(error)})`
        : `holds no usable key (${(error instanceof Error ? error.message : String(error)).replace(`${file}: `, '').replace(`${file} `, '')})`;
    throw new Error(devFileUnusable('LC_STATE_KEYS', file, why), { cause: error });
  }
}

/**
 * The development session secret kept in `file`. A file that cannot be read, or holds fewer than 32
 * bytes, throws words naming LC_SESSION_SECRET and the file (Node's `EACCES: permission denied, open
 * 'data/session-secret'` and `LC_SESSION_SECRET must be at least 32 bytes`, of a variable that is not
 * set, named neither). `livecomponents doctor --connect` (data-dir) reads it the same way.
 */
export function readDevSessionSecret(file: string): Buffer {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(devFileUnusable('LC_SESSION_SECRET', file, `cannot be read (${errorReason(error)})`), { cause: error });
  }
  try {
    return decodeSecret(text);
  } catch (error) {
    throw new Error(devFileUnusable('LC_SESSION_SECRET', file, `holds fewer than ${MIN_SECRET_BYTES} bytes`), { cause: error });
  }
}

function legacyOption(value: boolean | undefined): boolean {
  if (value !== undefined && typeof value !== 'boolean') throw new TypeError('createLiveComponents: acceptLegacyPlaintext must be true or false');
  return value ?? true;
}
