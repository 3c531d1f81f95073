/**
 * Reloading one component from the server (PROTOCOL §3: on 409 `STATE_INVALID` "the client reloads
 * the component"). There is no route that renders a single component: the page that holds it is
 * fetched again — a GET, safe to repeat — and the component's root is taken from it. The server
 * mounts an instance whose stored state fails verification afresh when a page renders it, so the
 * fetched root is a working instance. The page's fresh CSRF token is taken too.
 */
import { CSRF_META_NAME } from '../src/core/wire.js';
import { findRoot } from './component.js';

export interface ReloadDeps {
  fetch: typeof fetch;
  /** The address of the page the components are on (`location.href`). */
  pageUrl(): string;
  /** Replaces the page's CSRF token. */
  setCsrfToken(token: string): void;
}

/** Fetches the root element of `componentId` as the page renders it now, or `null` when it cannot. */
export type ComponentReloader = (componentId: string) => Promise<Element | null>;

export function createReloader(deps: ReloadDeps): ComponentReloader {
  return async (componentId) => {
    let text: string;
    try {
      const res = await deps.fetch(deps.pageUrl(), { credentials: 'same-origin', cache: 'no-store', headers: { accept: 'text/html' } });
      // A redirect (to a sign-in page, say) is followed by fetch; that page does not hold the component.
      if (!res.ok || !(res.headers.get('content-type') ?? '').includes('text/html')) return null;
      text = await res.text();
    } catch {
      return null;
    }
    const doc = new DOMParser().parseFromString(text, 'text/html');
    const root = findRoot(doc, componentId);
    if (root === null) return null;
    const token = doc.querySelector(`meta[name="${CSRF_META_NAME}"]`)?.getAttribute('content');
    if (token) deps.setCsrfToken(token);
    return root;
  };
}
