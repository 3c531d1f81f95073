/**
 * One action on one component instance: marks the root as loading (`data-lc-loading`,
 * `aria-busy`), refuses a second action on the same instance while one is in flight, morphs the
 * answer in and tells the page (`lc:success` / `lc:error`, bubbling from the root).
 */
import { ATTR, EVENTS, type IdempotencyMeta } from '../src/core/wire.js';
import { showFieldErrors } from './field-errors.js';
import { morphComponent, noteFields, restoreFields, type NotedField } from './morph.js';
import type { ComponentReloader } from './reload.js';
import { CLIENT_CODES, reasonOf, type ActionError, type Transport } from './transport.js';

/** `detail` of `lc:success`. */
export interface SuccessDetail {
  componentId: string;
  action: string;
  state: Record<string, unknown>;
  idempotency?: IdempotencyMeta;
}

/**
 * `detail` of `lc:error`: the server's `code`, `error`, and `retry_after` (429) / `errors` (400) when
 * sent. `reloaded` (409 `STATE_INVALID`, 404 `COMPONENT_NOT_FOUND`, 403 `CSRF_TOKEN_INVALID` and 401
 * `UNAUTHENTICATED` only, the action not run): whether the component was reloaded from its page.
 * `outcomeUnknown`: the action may have run (transport.ts: no answer at all, a proxy's 5xx, a retry
 * refused); the component was reloaded too when the page could be fetched, and `reloaded` is not set —
 * trying again is not the answer there.
 */
export type ErrorDetail = { componentId: string; action: string; reloaded?: boolean } & ActionError;

/**
 * Answers after which the component is reloaded from its page: its stored state failed verification
 * (`STATE_INVALID`), is gone (`COMPONENT_NOT_FOUND`: the instance was not used or shown for the
 * session's lifetime while the page stayed open), or the page's token no longer fits the session
 * (`CSRF_TOKEN_INVALID`: the session expired, or a sign-in or sign-out in another tab replaced it), or
 * the session is no longer signed in (`UNAUTHENTICATED`: every sign-in ended elsewhere, by a password
 * reset say, while the page still shows the signed-in view; refused by the action's authorization or
 * an app's hook before it ran, or thrown by the action, whose state is then not stored) — the page
 * brings a fresh instance, as the session now sees it, and its token. The action is not sent again:
 * the user acted on stale markup, so nothing loops. A page that redirects when signed out has no such
 * root: `reloaded: false`, the markup stays.
 */
const RELOADING_CODES: readonly string[] = ['STATE_INVALID', 'COMPONENT_NOT_FOUND', 'CSRF_TOKEN_INVALID', 'UNAUTHENTICATED'];

/** The app's 404 refusals (PROTOCOL §3) that a developer's mistake explains: the console hint names them. */
const NOT_FOUND_CODES: readonly string[] = ['ACTION_NOT_FOUND', 'COMPONENT_NOT_FOUND'];

/** The server's code for params refused by the action's schema: its `errors` are shown by field. */
const VALIDATION_FAILED = 'VALIDATION_FAILED';

/**
 * What an invocation came to; `busy`: another action of this instance was still in flight, nothing
 * was sent (a form's submit is sent once that action's answer is in, see `invoke`).
 */
export type ActionOutcome = { type: 'ok'; detail: SuccessDetail } | { type: 'error'; detail: ErrorDetail } | { type: 'busy' };

export interface Invoker {
  /**
   * Runs `action` on the component whose root is `root` (an element with `data-lc-id`). `form`: the
   * form submitted. After a refusal that reloads the component (the action did not run) its text
   * fields get back what the user typed, which the reload's morph replaced with the server's values
   * (all but the focused one). With `data-lc-reset`, once the answer is a success its fields show what
   * the server rendered — its focused field too, which a morph otherwise leaves as typed — and it is
   * then reset (file inputs emptied), but for the fields typed in while the answer was in flight,
   * which keep that text; an error answer leaves it alone.
   *
   * A `form` submitted while the instance is busy is not lost: it waits, with the params taken now,
   * and is sent once the answer in flight is in and its event dispatched — one at most, the latest
   * replacing an earlier one; its typed fields keep their text through that answer's morph. The very
   * submit in flight again (same form, same params: a second click on "Pay") is a repeat and dropped.
   * Not sent when that answer reloads the component (a `RELOADING_CODES` refusal, or `outcomeUnknown`):
   * it was made on markup the server no longer stands by; its typed text stays for the user to send again.
   */
  invoke(root: Element, action: string, params: Record<string, unknown>, form?: HTMLFormElement): Promise<ActionOutcome>;
  isBusy(root: Element): boolean;
}

/** The root of component `componentId` in `doc`, if it is on the page. */
export function findRoot(doc: Document, componentId: string): Element | null {
  return doc.querySelector(`[${ATTR.id}="${CSS.escape(componentId)}"]`);
}

/** Marks `el` as busy for styles (`data-lc-loading`) and for assistive technology (`aria-busy`), or unmarks it. */
function markBusy(el: Element, busy: boolean): void {
  el.toggleAttribute(ATTR.loading, busy);
  if (busy) el.setAttribute('aria-busy', 'true');
  else el.removeAttribute('aria-busy');
}

/** `reload`: fetches a component afresh (reload.ts); without it, those answers are only reported. */
export function createInvoker(transport: Transport, reload?: ComponentReloader): Invoker {
  /**
   * Component ids with an action in flight, each with what was sent — the form, if any, and the
   * params — and the elements marked busy as its root (all unmarked when it ends, the page may have
   * kept one it replaced).
   */
  const inFlight = new Map<string, [HTMLFormElement | undefined, string, Set<Element>]>();
  /** Per component id, the form submit waiting for the answer in flight: the form, and what sends it. */
  const waiting = new Map<string, [HTMLFormElement, (root: Element) => unknown]>();
  /** The page of the actions in flight. */
  let page: Document;
  /** Marks the root of every instance with an action in flight that is on the page now, a nested one included. */
  const markInFlight = (): void => {
    for (const [id, [, , marked]] of inFlight) {
      const busyRoot = findRoot(page, id);
      if (busyRoot) {
        marked.add(busyRoot);
        markBusy(busyRoot, true);
      }
    }
  };
  /**
   * While an action is in flight, a root put in the page in place of its instance's — by a morph,
   * whose markup has no busy marks, or by the page's own script (another library's swap, a template
   * rendered again) — is marked as the old one was.
   */
  const observer = new MutationObserver(markInFlight);

  async function invoke(root: Element, action: string, params: Record<string, unknown>, form?: HTMLFormElement): Promise<ActionOutcome> {
    const componentId = root.getAttribute(ATTR.id);
    if (componentId === null) throw new TypeError(`The element has no ${ATTR.id} attribute`);
    const sentParams = JSON.stringify(params);
    const busy = inFlight.get(componentId);
    if (busy) {
      // The latest submit wins: one equal to the submit in flight leaves nothing waiting.
      if (form && (busy[0] !== form || busy[1] !== sentParams)) waiting.set(componentId, [form, (next) => invoke(next, action, params, form)]);
      else if (form) waiting.delete(componentId);
      return { type: 'busy' };
    }
    const marked = new Set([root]);
    inFlight.set(componentId, [form, sentParams, marked]);
    markBusy(root, true);
    const doc = (page = root.ownerDocument);
    observer.observe(doc, { childList: true, subtree: true });
    const reset = form?.hasAttribute(ATTR.reset) ? form : undefined;
    /** What the `data-lc-reset` form held when sent: a field holding something else by the answer was typed in meanwhile. */
    const submitted = reset ? noteFields(root, reset) : [];
    let target = root;
    /** Follows the instance's root to the one on the page now: another script or a page update may have replaced it. */
    const follow = (): void => {
      if (!target.isConnected) target = findRoot(doc, componentId) ?? target;
    };
    /**
     * Morphs `html` into the instance's root — the one on the page now: another script or a page update
     * may have replaced it — resets `resetForm`, and puts back the `typed` fields and those of the form
     * waiting to be sent (a morph gives unfocused fields the server's values).
     */
    const morphCurrent = (html: string, typed: NotedField[], resetForm?: HTMLFormElement): void => {
      follow();
      // Its own marks go first: an `aria-invalid` the new markup has is the server's, to be left alone.
      showFieldErrors(target, undefined);
      const next = waiting.get(componentId);
      if (next) typed = [...typed, ...noteFields(target, next[0])];
      morphComponent(target, html, resetForm);
      follow();
      // Left in the page by the morph (not replaced): back to the defaults it now has, the server's.
      if (resetForm?.isConnected) resetForm.reset();
      restoreFields(target, typed);
      // The new markup has no busy marks: put back at once (before the events), not when the observer hears of it.
      markInFlight();
    };
    let status = 0;
    let outcome: ActionOutcome;
    try {
      const result = await transport.send(componentId, action, params);
      status = result.type === 'ok' ? 200 : result.error.status;
      if (result.type === 'ok') {
        const { state, idempotency } = result.body;
        const typed = reset ? noteFields(target, reset).filter(([key, rank, value]) => !submitted.some((sent) => sent[0] === key && sent[1] === rank && sent[2] === value)) : [];
        morphCurrent(result.body.html, typed, reset);
        outcome = { type: 'ok', detail: { componentId, action, state, ...(idempotency && { idempotency }) } };
      } else {
        const detail: ErrorDetail = { componentId, action, ...result.error };
        // A typo in `data-lc-action` (ACTION_NOT_FOUND), an instance never mounted (COMPONENT_NOT_FOUND):
        // otherwise silent on the page. The app's own 404 answers only, not a proxy's or a load
        // balancer's 404 page (a rolling deploy's, say: INVALID_RESPONSE), which names no such mistake.
        if (detail.status === 404 && NOT_FOUND_CODES.includes(detail.code)) console.warn(`LiveComponents: action "${action}" on ${componentId}: ${detail.code}`);
        // Done while the instance still counts as busy, so no click goes out against the old markup meanwhile.
        // An action that may have run: the page shows what the server holds now, whatever it was.
        const unknown = result.error.outcomeUnknown === true;
        if ((unknown || RELOADING_CODES.includes(result.error.code)) && reload) {
          // Offline or stalled, the page fetch fails (null, within its deadline: reload.ts) and the component keeps its markup.
          const fresh = await reload(componentId);
          if (fresh) {
            // The action did not run: what the user typed in the form stays (a morph gives unfocused fields the server's values).
            morphCurrent(fresh.outerHTML, form && !unknown ? noteFields(target, form) : []);
          }
          if (!unknown) detail.reloaded = fresh !== null;
          // The form submitted meanwhile was made on the markup the server no longer stands by: not sent
          // (on the instance the reload brought, perhaps another session's, unseen) — its typed text
          // stays in the form, kept through the morph above, for the user to send again.
          waiting.delete(componentId);
        }
        follow();
        showFieldErrors(target, result.error.code === VALIDATION_FAILED ? result.error.errors : undefined, form);
        outcome = { type: 'error', detail };
      }
    } catch (cause) {
      // The answer came but could not be shown (a CSP refusing the HTML, a script breaking the DOM):
      // reported like any failure instead of an unhandled rejection. The action may have run.
      outcome = { type: 'error', detail: { componentId, action, status, code: CLIENT_CODES.renderFailed, error: `The answer could not be shown (${reasonOf(cause)}).` } };
    } finally {
      inFlight.delete(componentId);
      // Every root marked — the one it was sent from, those put in its place meanwhile — and the one on
      // the page now (a copy of a marked one, say).
      follow();
      for (const el of marked.add(target)) markBusy(el, false);
      if (!inFlight.size) observer.disconnect();
    }
    // Dispatched once the instance is free again, so a listener may start the next action.
    const event = outcome.type === 'ok' ? EVENTS.success : EVENTS.error;
    (target.isConnected ? target : doc).dispatchEvent(new CustomEvent(event, { bubbles: true, detail: outcome.detail }));
    // The form submitted meanwhile goes out now (after a listener's own action, if one started one: it waits again).
    const next = waiting.get(componentId);
    waiting.delete(componentId);
    next?.[1](target);
    return outcome;
  }

  return {
    invoke,
    // (A root has the attribute: `null` is not a key either.)
    isBusy: (root) => inFlight.has(root.getAttribute(ATTR.id)!),
  };
}
