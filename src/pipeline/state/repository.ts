/**
 * Component state at rest: every instance's state is sealed (see `seal.ts`) and bound to its
 * session and component id, then kept in the `Store` for the session's lifetime.
 */
import type { StateShape } from '../../core/component.js';
import { LiveError } from '../../core/errors.js';
import { positiveInteger } from '../options.js';
import type { Store, StoreOp } from '../../store/types.js';
import { storeKeys } from '../../store/keys.js';
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
  | { readonly type: 'found'; readonly state: StateShape; readonly needsReseal: boolean }
  | { readonly type: 'missing' }
  | { readonly type: 'invalid'; readonly reason: string };

export interface StateRepository {
  load(session: Session, componentId: string): Promise<LoadedState>;
  /** The read `load` makes, for a batched round trip; `decode` turns its result into a state. */
  loadOp(session: Session, componentId: string): StoreOp & { op: 'get' };
  decode(blob: string | null, session: Session, componentId: string): LoadedState;
  /** The write `save` makes, for a batched round trip. */
  saveOp(session: Session, componentId: string, state: StateShape): StoreOp & { op: 'set' };
  save(session: Session, componentId: string, state: StateShape): Promise<void>;
  /** Stores `state` only when the instance has none yet; resolves the state now in force. */
  mount(session: Session, componentId: string, initial: StateShape): Promise<LoadedState>;
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

export function createStateRepository(options: StateRepositoryOptions): StateRepository {
  const { store, sealer, ttlMs } = options;
  const maxBytes = positiveInteger('Runtime', 'maxStateBytes', options.maxStateBytes ?? DEFAULT_MAX_STATE_BYTES);

  function decode(blob: string | null, session: Session, componentId: string): LoadedState {
    if (blob === null) return { type: 'missing' };
    const opened = sealer.open(blob, { sessionKey: session.key, componentId });
    if (!opened.ok) return { type: 'invalid', reason: opened.reason };
    let state: unknown;
    try {
      state = JSON.parse(opened.plaintext);
    } catch {
      return { type: 'invalid', reason: 'not_json' };
    }
    if (typeof state !== 'object' || state === null || Array.isArray(state)) return { type: 'invalid', reason: 'not_object' };
    return { type: 'found', state: state as StateShape, needsReseal: opened.needsReseal };
  }

  function encode(session: Session, componentId: string, state: StateShape): string {
    const text = JSON.stringify(state);
    // A UTF-8 byte per UTF-16 unit at least, three at most: the byte count is needed only in between.
    if (text.length > maxBytes || (text.length * 3 > maxBytes && Buffer.byteLength(text) > maxBytes)) {
      throw new LiveError('INTERNAL_ERROR', {
        message: `The state of ${componentId} would be ${Buffer.byteLength(text)} bytes, over maxStateBytes (${maxBytes}): not stored`,
      });
    }
    return sealer.seal(text, { sessionKey: session.key, componentId });
  }

  function saveOp(session: Session, componentId: string, state: StateShape): StoreOp & { op: 'set' } {
    return { op: 'set', key: storeKeys.componentState(session.key, componentId), value: encode(session, componentId, state), ttlMs };
  }

  return {
    async load(session, componentId) {
      return decode(await store.get(storeKeys.componentState(session.key, componentId)), session, componentId);
    },
    loadOp: (session, componentId) => ({ op: 'get', key: storeKeys.componentState(session.key, componentId) }),
    decode,
    saveOp,
    async save(session, componentId, state) {
      const op = saveOp(session, componentId, state);
      await store.set(op.key, op.value, op.ttlMs);
    },
    async mount(session, componentId, initial) {
      const key = storeKeys.componentState(session.key, componentId);
      const existing = await store.claim(key, encode(session, componentId, initial), ttlMs);
      if (existing === null) return { type: 'found', state: initial, needsReseal: false };
      return decode(existing, session, componentId);
    },
  };
}
