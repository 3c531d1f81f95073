/**
 * The LiveComponents browser runtime: `<script type="module" src="/livecomponents/client.js">`.
 * Binds `data-lc-action` (see directives.ts) and exposes `call` for scripts, as a module export and
 * as `window.LiveComponents.call`.
 *
 * @example
 * document.addEventListener('lc:error', (e) => console.warn(e.detail.code, e.detail.retry_after));
 * const outcome = await window.LiveComponents.call('counter:main', 'increment');
 */
import { CSRF_META_NAME, CSRF_SINGLE_USE_ATTR } from '../src/core/wire.js';
import { createInvoker, findRoot, type ActionOutcome, type ErrorDetail, type SuccessDetail } from './component.js';
import { bindDirectives } from './directives.js';
import { createReloader, csrfTokenOf, fetchPage } from './reload.js';
import { createTransport, randomKey } from './transport.js';

export type { ActionOutcome, ErrorDetail, SuccessDetail } from './component.js';
export type { ActionError } from './transport.js';
export { CLIENT_CODES } from './transport.js';

const meta = (): HTMLMetaElement | null => document.querySelector(`meta[name="${CSRF_META_NAME}"]`);

const page = { fetch: (input: RequestInfo | URL, init?: RequestInit) => fetch(input, init), pageUrl: () => location.href };
/** Set once the page was told it has no CSRF meta tag: once, not per action (each is refused without it). */
let toldNoMeta = false;
const csrf = {
  get: () => {
    const token = meta()?.content;
    if (token !== undefined) return token;
    if (!toldNoMeta) {
      toldNoMeta = true;
      console.warn(`LiveComponents: no <meta name="${CSRF_META_NAME}"> (view.head() renders it): actions are refused.`);
    }
    return '';
  },
  set: (token: string) => meta()?.setAttribute('content', token),
  get singleUse() {
    return meta()?.hasAttribute(CSRF_SINGLE_USE_ATTR);
  },
  refresh: async () => {
    const doc = await fetchPage(page);
    const token = doc && csrfTokenOf(doc);
    if (token) csrf.set(token);
  },
};
const transport = createTransport({
  fetch: (input, init) => fetch(input, init),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  newKey: randomKey,
  csrf,
});
const reload = createReloader({ ...page, setCsrfToken: csrf.set });
const invoker = createInvoker(transport, reload);

/**
 * Calls `action` on the component `componentId` of this page, like a click on a `data-lc-action`
 * button would: same events, same morph. Resolves with the outcome (`busy` when an action of that
 * component is still in flight); rejects only when the component is not on the page.
 *
 * The first copy of the runtime on the page answers: an app bundle holding one more copy (besides the
 * page's script tag) would otherwise run actions past the other's in-flight lock.
 */
export const call: (componentId: string, action: string, params?: Record<string, unknown>) => Promise<ActionOutcome> =
  window.LiveComponents?.call ??
  ((componentId, action, params = {}) => {
    const root = findRoot(document, componentId);
    if (!root) return Promise.reject(new Error(`No component "${componentId}" on this page`));
    return invoker.invoke(root, action, params);
  });

declare global {
  interface Window {
    /** Set by the runtime once loaded (a page without it has no `LiveComponents`). */
    LiveComponents?: { call: typeof call };
  }
  /** The runtime's events, dispatched (bubbling) on the component root — on the document when the root left the page. */
  interface LiveComponentsEventMap {
    'lc:success': CustomEvent<SuccessDetail>;
    'lc:error': CustomEvent<ErrorDetail>;
  }
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type -- merges the events into the DOM's maps
  interface ElementEventMap extends LiveComponentsEventMap {}
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface DocumentEventMap extends LiveComponentsEventMap {}
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface WindowEventMap extends LiveComponentsEventMap {}
}

// Bind once, even if the runtime is loaded twice under different URLs.
if (window.LiveComponents === undefined) {
  bindDirectives(document, invoker);
  window.LiveComponents = { call };
}
