/**
 * One action on one component instance: marks the root as loading (`data-lc-loading`,
 * `aria-busy`), refuses a second action on the same instance while one is in flight, morphs the
 * answer in and tells the page (`lc:success` / `lc:error`, bubbling from the root).
 */
import { ATTR, EVENTS, type IdempotencyMeta } from '../src/core/wire.js';
import { showFieldErrors } from './field-errors.js';
import { morphComponent } from './morph.js';
import type { ComponentReloader } from './reload.js';
import { CLIENT_CODES, type ActionError, type Transport } from './transport.js';

/** `detail` of `lc:success`. */
export interface SuccessDetail {
  componentId: string;
  action: string;
  state: Record<string, unknown>;
  idempotency?: IdempotencyMeta;
}

/**
 * `detail` of `lc:error`: the server's `code`, `error`, and `retry_after` (429) / `errors` (400) when
 * sent. `reloaded` (409 `STATE_INVALID`, 404 `COMPONENT_NOT_FOUND` and 403 `CSRF_TOKEN_INVALID` only,
 * the action not run): whether the component was reloaded from its page. `outcomeUnknown`: the action
 * may have run (transport.ts: no answer at all, a proxy's 5xx, a retry refused); the component was
 * reloaded too when the page could be fetched, and `reloaded` is not set — trying again is not the
 * answer there.
 */
export type ErrorDetail = { componentId: string; action: string; reloaded?: boolean } & ActionError;

/**
 * Answers after which the component is reloaded from its page: its stored state failed verification
 * (`STATE_INVALID`), is gone (`COMPONENT_NOT_FOUND`: the instance was not used or shown for the
 * session's lifetime while the page stayed open), or the page's token no longer fits the session
 * (`CSRF_TOKEN_INVALID`: the session expired, or a sign-in or sign-out in another tab replaced it) —
 * the page brings a fresh instance and a token of the session now in force. The action is not sent
 * again: the user acted on stale markup.
 */
const RELOADING_CODES: ReadonlySet<string> = new Set(['STATE_INVALID', 'COMPONENT_NOT_FOUND', 'CSRF_TOKEN_INVALID']);
/**
 * How long the reload may take before the error is reported without it: after `NETWORK_ERROR` the page
 * may not come either (a stalled network), and the component must not stay busy, nor the event wait.
 */
const RELOAD_DEADLINE_MS = 10_000;
/** The server's code for params refused by the action's schema: its `errors` are shown by field. */
const VALIDATION_FAILED = 'VALIDATION_FAILED';

/** What an invocation came to; `busy`: another action of this instance was still in flight, nothing was sent. */
export type ActionOutcome = { type: 'ok'; detail: SuccessDetail } | { type: 'error'; detail: ErrorDetail } | { type: 'busy' };

export interface Invoker {
  /**
   * Runs `action` on the component whose root is `root` (an element with `data-lc-id`). `reset`: a
   * form (`data-lc-reset`) whose fields show what the server rendered once the answer is a success —
   * its focused field too, which a morph otherwise leaves as typed — and which is then reset (file
   * inputs emptied); an error answer leaves it alone.
   */
  invoke(root: Element, action: string, params: Record<string, unknown>, reset?: HTMLFormElement): Promise<ActionOutcome>;
  isBusy(root: Element): boolean;
}

/** The root of component `componentId` in `doc`, if it is on the page. */
export function findRoot(doc: Document, componentId: string): Element | null {
  return doc.querySelector(`[${ATTR.id}="${CSS.escape(componentId)}"]`);
}

/** Marks `el` as busy for styles (`data-lc-loading`) and for assistive technology (`aria-busy`), or unmarks it. */
function markBusy(el: Element, busy: boolean): void {
  if (busy) {
    el.setAttribute(ATTR.loading, '');
    el.setAttribute('aria-busy', 'true');
  } else {
    el.removeAttribute(ATTR.loading);
    el.removeAttribute('aria-busy');
  }
}

/** `reload`: fetches a component afresh (reload.ts); without it, those answers are only reported. */
export function createInvoker(transport: Transport, reload?: ComponentReloader): Invoker {
  /** Component ids with an action in flight. */
  const inFlight = new Set<string>();

  async function invoke(root: Element, action: string, params: Record<string, unknown>, reset?: HTMLFormElement): Promise<ActionOutcome> {
    const componentId = root.getAttribute(ATTR.id);
    if (componentId === null) throw new TypeError(`The element has no ${ATTR.id} attribute`);
    if (inFlight.has(componentId)) return { type: 'busy' };
    inFlight.add(componentId);
    markBusy(root, true);
    const doc = root.ownerDocument;
    let target = root;
    /** Morphs `html` into the instance's root — the one on the page now: another script or a page update may have replaced it. */
    const morphCurrent = (html: string, resetForm?: HTMLFormElement): void => {
      if (!target.isConnected) target = findRoot(doc, componentId) ?? target;
      morphComponent(target, html, resetForm);
      if (!target.isConnected) target = findRoot(doc, componentId) ?? target;
      // The new markup has no busy marks: put them back on every instance still waiting, a nested one included.
      for (const id of inFlight) {
        const busyRoot = findRoot(doc, id);
        if (busyRoot !== null) markBusy(busyRoot, true);
      }
    };
    let status = 0;
    let outcome: ActionOutcome;
    try {
      const result = await transport.send(componentId, action, params);
      status = result.type === 'ok' ? 200 : result.error.status;
      if (result.type === 'ok') {
        const { state, idempotency } = result.body;
        morphCurrent(result.body.html, reset);
        // Left in the page by the morph (not replaced): back to the defaults it now has, the server's.
        if (reset?.isConnected) reset.reset();
        outcome = { type: 'ok', detail: idempotency === undefined ? { componentId, action, state } : { componentId, action, state, idempotency } };
      } else {
        const detail: ErrorDetail = { componentId, action, ...result.error };
        // Done while the instance still counts as busy, so no click goes out against the old markup meanwhile.
        // An action that may have run: the page shows what the server holds now, whatever it was.
        const unknown = result.error.outcomeUnknown === true;
        if ((unknown || RELOADING_CODES.has(result.error.code)) && reload !== undefined) {
          // Offline, the page fetch fails (null) and the component keeps its markup.
          const fresh = await Promise.race([reload(componentId), new Promise<null>((resolve) => setTimeout(resolve, RELOAD_DEADLINE_MS, null))]);
          if (fresh !== null) morphCurrent(fresh.outerHTML);
          if (!unknown) detail.reloaded = fresh !== null;
        }
        if (!target.isConnected) target = findRoot(doc, componentId) ?? target;
        showFieldErrors(target, result.error.code === VALIDATION_FAILED ? result.error.errors : undefined);
        outcome = { type: 'error', detail };
      }
    } catch (cause) {
      // The answer came but could not be shown (a CSP refusing the HTML, a script breaking the DOM):
      // reported like any failure instead of an unhandled rejection. The action may have run.
      const reason = cause instanceof Error ? cause.message : String(cause);
      outcome = { type: 'error', detail: { componentId, action, status, code: CLIENT_CODES.renderFailed, error: `The answer could not be shown (${reason}).` } };
    } finally {
      inFlight.delete(componentId);
      markBusy(root, false);
      markBusy(target, false);
    }
    // Dispatched once the instance is free again, so a listener may start the next action.
    const event = outcome.type === 'ok' ? EVENTS.success : EVENTS.error;
    (target.isConnected ? target : doc).dispatchEvent(new CustomEvent(event, { bubbles: true, detail: outcome.detail }));
    return outcome;
  }

  return {
    invoke,
    isBusy: (root) => inFlight.has(root.getAttribute(ATTR.id) ?? ''),
  };
}
