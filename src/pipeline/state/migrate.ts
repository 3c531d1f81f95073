/**
 * Stored state of another version of the component's state shape (`defineComponent`'s `version`):
 * an older one is turned into the current shape by the component's `migrate`, before anything else
 * sees it; a newer one (written by a later deploy, then rolled back) cannot be read. Either failure
 * is a 500 whose logged message names the instance and both versions, and the stored state is kept:
 * a fixed `migrate` (or the newer deploy again) still finds the user's data.
 */
import type { ComponentDefinition, StateShape } from '../../core/component.js';
import { LiveError, messageOf } from '../../core/errors.js';
import { jsonStateProblem } from '../../core/json-state.js';
import { isThenable } from '../../core/thenable.js';

/** The version of `component`'s state shape: 1 unless it says otherwise. */
export function stateVersionOf(component: Pick<ComponentDefinition, 'version'>): number {
  return component.version ?? 1;
}

/**
 * `state`, read from the store with version `fromVersion`, in the shape of `component`'s current
 * version. Call only when the versions differ.
 * @throws {LiveError} INTERNAL_ERROR for a newer stored version, a `migrate` that throws, or one
 *   whose result is not a JSON object
 */
export function migrateState(component: ComponentDefinition, componentId: string, state: StateShape, fromVersion: number): StateShape {
  const version = stateVersionOf(component);
  const whose = `The stored state of ${componentId} (version ${fromVersion}; ${component.name} is version ${version}, kept in the store)`;
  if (fromVersion > version) {
    throw new LiveError('INTERNAL_ERROR', {
      message: `${whose} was written by a later version of ${component.name}: a deploy rolled back? It is read again once that version is deployed`,
    });
  }
  if (component.migrate === undefined) {
    // Only a definition made without defineComponent can get here: defineComponent requires migrate.
    throw new LiveError('INTERNAL_ERROR', { message: `${whose} cannot be read: ${component.name} has no migrate` });
  }
  let migrated: unknown;
  try {
    migrated = component.migrate(state, fromVersion);
  } catch (error) {
    throw new LiveError('INTERNAL_ERROR', { message: `${whose} failed to migrate: ${messageOf(error)}`, cause: error });
  }
  if (isThenable(migrated)) {
    // Handled, so that its rejection cannot end the process as an unhandled rejection.
    (migrated as PromiseLike<unknown>).then(undefined, () => {});
    throw new LiveError('INTERNAL_ERROR', { message: `${whose} failed to migrate: migrate must be synchronous (it returned a promise)` });
  }
  if (typeof migrated !== 'object' || migrated === null || Array.isArray(migrated)) {
    throw new LiveError('INTERNAL_ERROR', { message: `${whose} failed to migrate: migrate must return the state object, got ${migrated === null ? 'null' : Array.isArray(migrated) ? 'an array' : typeof migrated}` });
  }
  // A promise is refused here too (not a plain object): migrate is synchronous.
  const problem = jsonStateProblem(migrated);
  if (problem !== null) throw new LiveError('INTERNAL_ERROR', { message: `${whose} failed to migrate: migrate returned a state JSON cannot keep: ${problem}` });
  return migrated as StateShape;
}
