/**
 * Component state at rest: every instance's state is sealed (see `seal.ts`) and bound to its
 * session and component id, then kept in the `Store` for `ttlMs` (the session's idle lifetime,
 * `SESSION_TTL`) past its last use: an action on it (which writes it) or a page view that shows it
 * (`mount` renews its TTL). So an instance lives as long as a session that uses it; one neither used
 * nor shown for `ttlMs` starts afresh from its initial state.
 *
 * The sealed text is the state's JSON, preceded by a version marker when the component's state
 * version (`defineComponent`'s `version`) is above 1: `"\u0001" + version + "\n" + JSON`. JSON
 * text never starts with U+0001, so a state without the marker (every state stored before versions
 * existed, legacy plaintext too) reads as version 1, and a version-1 state is stored exactly as it
 * was before. The marker is inside the sealed plaintext, authenticated with the rest.
 */
import type { StateShape } from '../../core/component.js';
import { LiveError } from '../../core/errors.js';
import { positiveInteger } from '../options.js';
import type { Store, StoreOp } from '../../store/types.js';
import { storeKeys } from '../../store/keys.js';
import { replacedAnswer } from '../../store/ops.js';
import type { Session } from '../../session/types.js';

/** The part of the sealer the repository needs. */
export interface StateSealer {
  seal(plaintext: string, binding: { sessionKey: string; componentId: string }): string;
  open(
    blob: string,
    binding: { sessionKey: string; componentId: string },
  ): { ok: true; plaintext: string; needsReseal: boolean; legacy: boolean } | { ok: false; reason: string };
}

export type LoadedState =
  /**
   * `version`: the state version it was stored with; `blob`: the stored text, for `replace`;
   * `plaintext`: the text it opened to (version marker included), for `resealOps` — a string, so
   * nothing `migrate`, `authorize` or an action does to `state` reaches it. Absent on a state
   * `mount` just made.
   */
  | {
      readonly type: 'found';
      readonly state: StateShape;
      readonly needsReseal: boolean;
      readonly version: number;
      readonly blob: string;
      readonly plaintext?: string;
    }
  | { readonly type: 'missing' }
  /** `blob`: the stored text that failed, for `discard`. */
  | { readonly type: 'invalid'; readonly reason: string; readonly blob: string };

export interface StateRepository {
  load(session: Session, componentId: string): Promise<LoadedState>;
  /** The read `load` makes, for a batched round trip; `decode` turns its result into a state. */
  loadOp(session: Session, componentId: string): StoreOp & { op: 'get' };
  decode(blob: string | null, session: Session, componentId: string): LoadedState;
  /** The write `save` makes, for a batched round trip. `version`: the component's state version. @default 1 */
  saveOp(session: Session, componentId: string, state: StateShape, version?: number): StoreOp & { op: 'set' };
  save(session: Session, componentId: string, state: StateShape, version?: number): Promise<void>;
  /**
   * Stores `state` (with `version`) only if the instance's state is still `blob` (`replaceIfEquals`:
   * an action that wrote it meanwhile keeps its state, one deleted meanwhile stays deleted); resolves
   * whether it did.
   * @throws {LiveError} INTERNAL_ERROR when `state` is over `maxStateBytes` (nothing is written)
   */
  replace(session: Session, componentId: string, blob: string, state: StateShape, version?: number): Promise<boolean>;
  /**
   * The write that seals `plaintext` (what `blob` opened to: `LoadedState`'s `plaintext`) again with
   * the newest key, only if the instance's state is still `blob` (`replaceIfEquals`: a state written
   * meanwhile keeps its value, one deleted meanwhile — its session signed out or revoked — is not
   * made again, orphaned until its TTL), for a batched
   * round trip: for state opened with an older key (`needsReseal`) by an action that writes nothing
   * (refused or failed). Exactly the text that was read, its version marker included — never the
   * state object, which `migrate` (in the current version, under the old version's marker),
   * `authorize` or a failed action may have changed in place. Empty when its JSON is over
   * `maxStateBytes` (it stays as it is).
   */
  resealOps(session: Session, componentId: string, blob: string, plaintext: string): StoreOp[];
  /** `resealOps` sent on its own (no after-action batch); resolves whether it replaced `blob`. */
  reseal(session: Session, componentId: string, blob: string, plaintext: string): Promise<boolean>;
  /**
   * Deletes the instance's state if it is still `blob` (compare-and-delete: a state written
   * meanwhile stays); the next page view mounts the instance afresh.
   */
  discard(session: Session, componentId: string, blob: string): Promise<void>;
  /**
   * Stores `initial` only when the instance has none yet, and renews the instance's TTL either way
   * (one store round trip: a batch of `claim` and `touch`); resolves the state now in force. A state
   * sealed with an older key is sealed again with the newest (one more round trip, once), unless its
   * version is not `version` (the caller migrates it, and `replace` seals it with the newest key).
   */
  mount(session: Session, componentId: string, initial: StateShape, version?: number): Promise<LoadedState>;
}

/** Largest state an instance may keep, as JSON in UTF-8 bytes: the same as the largest action body. */
export const DEFAULT_MAX_STATE_BYTES = 1_048_576;

export interface StateRepositoryOptions {
  store: Store;
  sealer: StateSealer;
  ttlMs: number;
  /**
   * Largest state (its JSON, in UTF-8 bytes) an instance may store. Every action reads, opens, parses,
   * seals and writes the whole state, so one that grows without bound (a list that only grows, user
   * input kept forever) slows each action down until it blocks the process. Past the limit the action
   * answers 500 `INTERNAL_ERROR`, logged with the component and the size; the state before it stays.
   * @default DEFAULT_MAX_STATE_BYTES (1 MiB)
   */
  maxStateBytes?: number;
}

/** U+0001, which starts the version marker of a state above version 1 (never the start of JSON text). */
const VERSION_MARK = 0x01;

export function createStateRepository(options: StateRepositoryOptions): StateRepository {
  const { store, sealer, ttlMs } = options;
  const maxBytes = positiveInteger('Runtime', 'maxStateBytes', options.maxStateBytes ?? DEFAULT_MAX_STATE_BYTES);

  function decode(blob: string | null, session: Session, componentId: string): LoadedState {
    if (blob === null) return { type: 'missing' };
    const opened = sealer.open(blob, { sessionKey: session.key, componentId });
    if (!opened.ok) return { type: 'invalid', reason: opened.reason, blob };
    let text = opened.plaintext;
    let version = 1;
    if (text.charCodeAt(0) === VERSION_MARK) {
      const end = text.indexOf('\n');
      version = end < 2 ? NaN : Number(text.slice(1, end));
      // Authentic, so written by us: a bad marker is a bug, refused like any unreadable state.
      if (!Number.isSafeInteger(version) || version < 1) return { type: 'invalid', reason: 'bad_version', blob };
      text = text.slice(end + 1);
    }
    let state: unknown;
    try {
      state = JSON.parse(text);
    } catch {
      return { type: 'invalid', reason: 'not_json', blob };
    }
    if (typeof state !== 'object' || state === null || Array.isArray(state)) return { type: 'invalid', reason: 'not_object', blob };
    return { type: 'found', state: state as StateShape, needsReseal: opened.needsReseal, version, blob, plaintext: opened.plaintext };
  }

  function encode(session: Session, componentId: string, state: StateShape, version = 1): string {
    const text = JSON.stringify(state);
    // A UTF-8 byte per UTF-16 unit at least, three at most: the byte count is needed only in between.
    if (text.length > maxBytes || (text.length * 3 > maxBytes && Buffer.byteLength(text) > maxBytes)) {
      throw new LiveError('INTERNAL_ERROR', {
        message: `The state of ${componentId} would be ${Buffer.byteLength(text)} bytes, over maxStateBytes (${maxBytes}): not stored`,
      });
    }
    // Version 1 unmarked: the text a deploy before versions existed wrote, and can read after a rollback.
    return sealer.seal(version === 1 ? text : `\u0001${version}\n${text}`, { sessionKey: session.key, componentId });
  }

  function saveOp(session: Session, componentId: string, state: StateShape, version?: number): StoreOp & { op: 'set' } {
    return { op: 'set', key: storeKeys.componentState(session.key, componentId), value: encode(session, componentId, state, version), ttlMs };
  }

  /**
   * Page views now keep an instance alive without writing it, so one sealed with an older key (or
   * stored as legacy plaintext) is sealed again with the newest key when a page shows it: removing the
   * old key once `SESSION_TTL` has passed since the rotation stays safe. Only over the blob read
   * (`storeIfUnchanged`), so an action that wrote the instance meanwhile keeps its state, and a state
   * deleted meanwhile stays deleted. Once per instance after a rotation.
   */
  async function reseal(key: string, blob: string, session: Session, componentId: string, state: StateShape, version: number): Promise<string | null> {
    let value: string;
    try {
      value = encode(session, componentId, state, version);
    } catch (error) {
      if (error instanceof LiveError) return null; // over a since-lowered maxStateBytes: kept as it is
      throw error;
    }
    return (await storeIfUnchanged(key, blob, value)) ? value : null;
  }

  /**
   * Stores `value` at `key` only while it still holds `blob` (`replaceIfEquals`; not
   * `compareAndReplace`, which would make a deleted state again): whether it did.
   */
  async function storeIfUnchanged(key: string, blob: string, value: string): Promise<boolean> {
    const [replaced] = await store.batch([{ op: 'replaceIfEquals', key, expected: blob, value, ttlMs }]);
    return replacedAnswer(replaced, 'State not re-sealed');
  }

  function resealOps(session: Session, componentId: string, blob: string, plaintext: string): StoreOp[] {
    // The JSON after a version marker is what maxStateBytes measures (`encode`).
    const text = plaintext.charCodeAt(0) === VERSION_MARK ? plaintext.slice(plaintext.indexOf('\n') + 1) : plaintext;
    if (text.length > maxBytes || (text.length * 3 > maxBytes && Buffer.byteLength(text) > maxBytes)) return []; // over a since-lowered maxStateBytes: kept as it is
    const value = sealer.seal(plaintext, { sessionKey: session.key, componentId });
    return [{ op: 'replaceIfEquals', key: storeKeys.componentState(session.key, componentId), expected: blob, value, ttlMs }];
  }

  const mounts = mountBatcher(store, ttlMs);

  return {
    async load(session, componentId) {
      return decode(await store.get(storeKeys.componentState(session.key, componentId)), session, componentId);
    },
    loadOp: (session, componentId) => ({ op: 'get', key: storeKeys.componentState(session.key, componentId) }),
    decode,
    saveOp,
    async save(session, componentId, state, version) {
      const op = saveOp(session, componentId, state, version);
      await store.set(op.key, op.value, op.ttlMs);
    },
    async replace(session, componentId, blob, state, version) {
      return storeIfUnchanged(storeKeys.componentState(session.key, componentId), blob, encode(session, componentId, state, version));
    },
    resealOps,
    async reseal(session, componentId, blob, plaintext) {
      const ops = resealOps(session, componentId, blob, plaintext);
      return ops.length !== 0 && replacedAnswer((await store.batch(ops))[0], 'State not re-sealed');
    },
    async discard(session, componentId, blob) {
      await store.deleteIfEquals(storeKeys.componentState(session.key, componentId), blob);
    },
    async mount(session, componentId, initial, version = 1) {
      const key = storeKeys.componentState(session.key, componentId);
      // A page view that shows the instance keeps it as long as an action would: the claim makes a
      // new one, the touch gives an existing one the session's lifetime again (a claim leaves its TTL).
      const value = encode(session, componentId, initial, version);
      const existing = await mounts.claim(session.key, key, value);
      if (existing === null) return { type: 'found', state: initial, needsReseal: false, version, blob: value };
      const loaded = decode(existing, session, componentId);
      // Sealed again in its own version: one the caller cannot migrate (or a later one) still outlives the old key.
      if (loaded.type === 'found' && loaded.needsReseal) {
        const blob = await reseal(key, existing, session, componentId, loaded.state, loaded.version);
        if (blob !== null) return { ...loaded, needsReseal: false, blob };
      }
      return loaded;
    },
  };
}

/**
 * The mounts of one session's instances started together (`Promise.all` over a page's components)
 * share one round trip: each adds its claim and touch to a batch sent once the current run of code
 * is over (a microtask). Sequential mounts cost one round trip each, as before. Only one session's
 * keys go in a batch: they share its Redis Cluster hash tag.
 */
function mountBatcher(store: Store, ttlMs: number): { claim(sessionKey: string, key: string, value: string): Promise<string | null> } {
  interface Pending {
    ops: StoreOp[];
    settle: { resolve: (existing: string | null) => void; reject: (error: unknown) => void }[];
  }
  const pending = new Map<string, Pending>();

  function send(sessionKey: string, batch: Pending): void {
    pending.delete(sessionKey);
    // Through a promise: a store that threw at once would otherwise throw in a microtask (uncaught).
    Promise.resolve(batch.ops).then((ops) => store.batch(ops)).then(
      (results) => batch.settle.forEach((s, i) => s.resolve(results[2 * i] as string | null)),
      (error: unknown) => batch.settle.forEach((s) => s.reject(error)),
    );
  }

  return {
    claim(sessionKey, key, value) {
      let batch = pending.get(sessionKey);
      if (batch === undefined) {
        const fresh: Pending = { ops: [], settle: [] };
        pending.set(sessionKey, fresh);
        queueMicrotask(() => send(sessionKey, fresh));
        batch = fresh;
      }
      batch.ops.push({ op: 'claim', key, value, ttlMs }, { op: 'touch', key, ttlMs });
      const { settle } = batch;
      return new Promise((resolve, reject) => settle.push({ resolve, reject }));
    },
  };
}
