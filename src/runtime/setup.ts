/**
 * `createLiveComponents(options)`: the one call an app makes. Turns configuration (keys as text,
 * defaults) into a runtime: store, state sealer, CSRF service, security events, pipeline.
 */
import { mkdirSync, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { ComponentDefinition, User } from '../core/component.js';
import type { Clock } from '../core/clock.js';
import { createFileOnce, removeLeftoverTemps } from '../core/create-file-once.js';
import { devFileRefusal } from '../ops/writable-path.js';
import { pino } from 'pino';
import type { SecurityEventSink } from '../ops/security-events.js';
import { createSecurityLogger } from '../ops/security-logger.js';
import { createCsrfService } from '../pipeline/csrf/index.js';
import { createKeyRing, createSealer, loadOrCreateDevKeys, parseStateKeys, type StateKey } from '../pipeline/state/seal.js';
import { DEV_KEYS_FILE } from '../pipeline/state/keyring.js';
import { createMemoryStore } from '../store/memory/index.js';
import type { Store } from '../store/types.js';
import { createRuntime, type LiveRuntime, type RuntimeOptions } from './index.js';
import type { SecurityOptions } from './stages.js';
import { decodeSecret, fallbackProblem, MIN_SECRET_BYTES, parseSecretList, readDevSessionSecret } from './dev-files.js';
import { withChangedKeyHint } from './dev-key-hint.js';

export { decodeSecret } from './dev-files.js';

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
  /**
   * Secrets whose CSRF tokens still verify, though none is issued with them: the previous
   * `sessionSecret` while pages it served are open, or the next one in the first step of a rolling
   * rotation (docs/deployment.md §9). Each as `sessionSecret` (base64 or text, 32+ bytes), none
   * equal to `sessionSecret` or to another, at most 4 (each is tried on every token the secret
   * refuses); start-up refuses them otherwise.
   * @default the comma-separated `LC_SESSION_SECRET_FALLBACKS` environment variable; else none
   * @example { sessionSecret: process.env.NEW_SECRET, sessionSecretFallbacks: [process.env.OLD_SECRET] }
   */
  sessionSecretFallbacks?: readonly string[];
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
   * Told each time a request is let in only by an older secret a rotation keeps (docs/deployment.md
   * §9): `session_secret`, a CSRF token of `sessionSecretFallbacks`; `state_key`, state sealed with a
   * key of `stateKeys` other than the first (sealed again with the first on its next write). For the
   * secret-fallback counter: `metrics.countSecretFallback`. Called synchronously; must not throw.
   * @default none
   */
  onSecretFallback?: (secret: 'session_secret' | 'state_key') => void;
  /**
   * Told about failures of store work done after the answer or outside any request: the writes after
   * a refused action, the take-back of a refused first batch, and a background retry of lock and
   * claim releases that gave up (the claims then expire by themselves). Log it (the errors are the
   * store's, credentials already taken out). A throw from it is swallowed.
   * @default console.error
   */
  onBackgroundError?: RuntimeOptions['onBackgroundError'];
  /**
   * Receives start-up warnings (generated development keys…) and, outside production, once per
   * runtime, the hint that stored state no longer opens because the state key changed. @default console.warn
   */
  warn?: (message: string) => void;
}

export async function createLiveComponents(options: LiveComponentsOptions): Promise<LiveRuntime> {
  if (typeof options.appOrigin !== 'string' || options.appOrigin === '') {
    throw new TypeError("createLiveComponents: appOrigin is required: the app's public origin, such as 'https://app.example.com'");
  }
  const { keys, secret, fallbacks, production, warn } = resolveSecrets(options);

  const store = options.store ?? createMemoryStore({ clock: options.clock });
  // Ours when the app passes no `events`: nobody else can close it (its pino logger is ours too).
  const ownEvents = options.events === undefined ? createSecurityLogger({ logger: pino({ name: 'livecomponents' }), clock: options.clock }) : undefined;
  const events = options.events ?? (ownEvents as SecurityEventSink);
  const onFallback = options.onSecretFallback;
  if (onFallback !== undefined && typeof onFallback !== 'function') throw new TypeError('createLiveComponents: onSecretFallback must be a function');
  const csrf = createCsrfService({
    secret,
    fallbacks,
    rotation: options.csrf?.rotation ?? 'per-session',
    store,
    maxOutstanding: options.csrf?.maxOutstanding,
    onFallback: onFallback === undefined ? undefined : () => onFallback('session_secret'),
  });
  const sealer = createSealer({
    keyRing: createKeyRing(keys),
    acceptLegacyPlaintext: legacyOption(options.acceptLegacyPlaintext),
    onOlderKey: onFallback === undefined ? undefined : () => onFallback('state_key'),
  });
  const runtime = createRuntime({
    ...options,
    store,
    events,
    csrf,
    sealer: production ? sealer : withChangedKeyHint(sealer, join(devKeysDir(options), DEV_KEYS_FILE), warn),
  });
  if (ownEvents === undefined) return runtime;
  // Its flood limit holds counts not yet written (docs/logging.md, Floods): without this close, the
  // summaries of the last windows were lost at exit.
  return {
    ...runtime,
    close() {
      runtime.close();
      ownEvents.close();
    },
  };
}

/** The options `loadSecrets` reads: those of createLiveComponents that say where keys come from. */
export type SecretOptions = Pick<LiveComponentsOptions, 'stateKeys' | 'sessionSecret' | 'sessionSecretFallbacks' | 'production' | 'dataDir' | 'warn'>;

/**
 * The state keys and session secret `createLiveComponents(options)` would use, as the text of its
 * `stateKeys` and `sessionSecret` options, with its checks, words and warnings: the option, else the
 * environment variable, else outside production the development file under `dataDir` (generated the
 * first time). An app that creates files of its own at start-up (a database) calls it first and passes
 * the result on, so a key that cannot be had stops start-up before anything is made.
 * @example
 * const secrets = loadSecrets({ dataDir: './data' });
 * const { store } = await openBackends({ databaseUrl: 'sqlite:./data/app.db' });
 * const runtime = await createLiveComponents({ components, store, appOrigin, ...secrets });
 */
export function loadSecrets(options: SecretOptions): { stateKeys: string; sessionSecret: string; sessionSecretFallbacks: string[] } {
  const { keys, secret, fallbacks } = resolveSecrets(options);
  return {
    stateKeys: keys.map((key) => key.material.toString('base64')).join(','),
    sessionSecret: secret.toString('base64'),
    sessionSecretFallbacks: fallbacks.map((fallback) => fallback.toString('base64')),
  };
}

/** The folder of the development state key file: `<dataDir>/state-keys`. */
function devKeysDir(options: Pick<SecretOptions, 'dataDir'>): string {
  return join(options.dataDir ?? './data', 'state-keys');
}

function resolveSecrets(options: SecretOptions): { keys: StateKey[]; secret: Buffer; fallbacks: Buffer[]; production: boolean; warn: (message: string) => void } {
  const warn = options.warn ?? ((m: string) => console.warn(m));
  const dataDir = options.dataDir ?? './data';
  // The documented variables, read here too: an app wired by hand (the README's) that generated keys
  // per instance would refuse every other instance's tokens and state.
  const env = process.env;
  const production = options.production ?? env.NODE_ENV === 'production';
  const stateKeys = options.stateKeys || env.LC_STATE_KEYS?.trim() || undefined;
  const sessionSecret = options.sessionSecret || env.LC_SESSION_SECRET?.trim() || undefined;
  if (production && !stateKeys) throw new Error('LC_STATE_KEYS is required in production (or the stateKeys option)');
  if (production && !sessionSecret) throw new Error('LC_SESSION_SECRET is required in production (or the sessionSecret option)');
  // A development file that cannot serve stops start-up in the words of `doctor --connect` (data-dir).
  const keys = stateKeys ? parseStateKeys(stateKeys) : loadOrCreateDevKeys(devKeysDir(options), warn);
  const secret = sessionSecret ? decodeSecret(sessionSecret) : devSessionSecret(dataDir, warn);
  const fallbacks = sessionSecretFallbacks(options.sessionSecretFallbacks, env.LC_SESSION_SECRET_FALLBACKS);
  const problem = fallbackProblem(secret, fallbacks, options.sessionSecretFallbacks === undefined ? 'LC_SESSION_SECRET_FALLBACKS' : 'sessionSecretFallbacks');
  if (problem !== undefined) throw new Error(problem);
  return { keys, secret, fallbacks, production, warn };
}

/** The option (each entry read as `sessionSecret` is), else the environment variable's list, else none. */
function sessionSecretFallbacks(option: readonly string[] | undefined, variable: string | undefined): Buffer[] {
  if (option === undefined) return parseSecretList(variable ?? '');
  if (!Array.isArray(option)) throw new TypeError('createLiveComponents: sessionSecretFallbacks must be an array of strings');
  return option.map((text: unknown, index) => {
    if (typeof text !== 'string') throw new TypeError(`createLiveComponents: sessionSecretFallbacks[${index}] must be a string`);
    try {
      return decodeSecret(text);
    } catch {
      throw new TypeError(`createLiveComponents: sessionSecretFallbacks[${index}] is shorter than ${MIN_SECRET_BYTES} bytes`);
    }
  });
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
    removeLeftoverTemps(file);
    created = !existsSync(file) && createFileOnce(file, randomBytes(MIN_SECRET_BYTES).toString('base64'));
  } catch (error) {
    // Node's own error named a relative path and no way out (ENOENT on a read-only root file system).
    throw devFileRefusal('LC_SESSION_SECRET', 'session secret', dataDir, error);
  }
  if (created) warn(`LC_SESSION_SECRET is not set: generated a development secret in ${file}. Set LC_SESSION_SECRET in production.`);
  return readDevSessionSecret(file);
}

function legacyOption(value: boolean | undefined): boolean {
  if (value !== undefined && typeof value !== 'boolean') throw new TypeError('createLiveComponents: acceptLegacyPlaintext must be true or false');
  return value ?? true;
}
