/**
 * The state stage: loads the instance's sealed state before `authorize` and the action, and seals
 * and stores the new state after a successful action — only then, so a failure never leaves a
 * partial write. State opened with a retired key or stored as legacy plaintext is re-sealed with
 * the newest key on this write, or, for an action that writes nothing (refused after the state was
 * read, or failed), by a strict replace of the blob read (`replaceIfEquals`) in the same batch: a
 * state deleted meanwhile (its session signed out) stays deleted. State of an earlier version of the component's state shape is
 * migrated (`./migrate.ts`) before `authorize` and the action see it, and stored in the current
 * version by the action's write; one of a later version, or whose migration throws, fails the
 * action (500, logged) and stays as it is.
 */
import { LiveError } from '../../core/errors.js';
import type { SecurityEventSink } from '../../ops/security-events.js';
import { migrateState, stateVersionOf } from './migrate.js';
import { fail, takePrefetched, type ActionResult, type Stage } from '../types.js';
import type { StateRepository } from './repository.js';

export function createStateStage(options: { states: StateRepository; events: SecurityEventSink }): Stage {
  const { states, events } = options;
  const stage: Stage = {
    name: 'state',
    prepare: (ctx) => ({ op: states.loadOp(ctx.session, ctx.componentContext.componentId) }),
    async run(ctx, next) {
      const componentId = ctx.componentContext.componentId;
      const loaded = ctx.prefetched?.has(stage)
        ? states.decode(takePrefetched(ctx, stage) as string | null, ctx.session, componentId)
        : await states.load(ctx.session, componentId);
      if (loaded.type === 'missing') return fail(new LiveError('COMPONENT_NOT_FOUND'));
      if (loaded.type === 'invalid') {
        // Sealed with a key this instance lacks: a page view keeps such state (a key rotation rolled
        // out in one step reaches some instances first), so only an action can end it. Left in place,
        // state whose key was removed would answer 409 for good: every reload shows the initial state,
        // every click is refused again, and each view renews it. Discarded, the reload mounts afresh.
        const discard = loaded.reason === 'unknown_key';
        events.emit({
          event: 'crypt_decrypt_fail',
          level: 'WARN',
          description: `Stored state of ${componentId} failed verification (${loaded.reason})${discard ? '; discarded' : ''}`,
          request: ctx.request,
        });
        if (discard) await states.discard(ctx.session, componentId, loaded.blob);
        return fail(new LiveError('STATE_INVALID'));
      }
      const version = stateVersionOf(ctx.component);
      // Opened with an older key (or legacy plaintext): sealed again with the newest even when the
      // action writes nothing (refused by its authorization or by the action itself, or failed;
      // CSRF, rate limit and validation refuse before this stage opens it). Else each such action
      // opened it with the older key again, and counted again
      // (`onOlderKey`, the `state_key` fallback counter): a state only ever read by refused actions
      // kept the counter moving for good, and the key could never be dropped by it.
      // The text it opened to is sealed again, not `ctx.state`: migrate, authorize and the action get
      // that object, and one that changed it in place before refusing or failing must write nothing.
      const reseal = loaded.needsReseal && loaded.plaintext !== undefined ? { blob: loaded.blob, plaintext: loaded.plaintext } : null;
      // Thrown (a 500 the runtime logs) before anything runs on it: the stored state stays.
      ctx.state = loaded.version === version ? loaded.state : migrateState(ctx.component, componentId, loaded.state, loaded.version);
      let outcome;
      try {
        outcome = await next(ctx);
      } catch (error) {
        // The after-action batch still goes (prefetch); without one, the 500 is not delayed for it.
        if (reseal !== null && ctx.deferred) ctx.deferred.push(...states.resealOps(ctx.session, componentId, reseal.blob, reseal.plaintext));
        throw error;
      }
      const nextState = outcome.type === 'ok' ? outcome.result.nextState : undefined;
      if (nextState !== undefined) {
        if (ctx.deferred) ctx.deferred.push(states.saveOp(ctx.session, componentId, nextState, version));
        else await states.save(ctx.session, componentId, nextState, version);
      } else if (reseal !== null) {
        if (ctx.deferred) ctx.deferred.push(...states.resealOps(ctx.session, componentId, reseal.blob, reseal.plaintext));
        else await states.reseal(ctx.session, componentId, reseal.blob, reseal.plaintext);
      }
      if (outcome.type !== 'ok') return outcome;
      return { type: 'ok', result: withoutNextState(outcome.result) };
    },
  };
  return stage;
}

/** The result without `nextState` (never sent): `{ nextState, ...rest }` without a rest copy of unknown keys. */
function withoutNextState(result: ActionResult): ActionResult {
  const { html, state, idempotency } = result;
  const rest: ActionResult = { html, state };
  if (idempotency !== undefined || Object.hasOwn(result, 'idempotency')) rest.idempotency = idempotency;
  return rest;
}
