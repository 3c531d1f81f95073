/**
 * Fetching the page the components are on again — a GET, safe to repeat — for what only a page
 * gives: a component rendered afresh, and a CSRF token. There is no route that renders a single
 * component, so reloading one (PROTOCOL §3: on 409 `STATE_INVALID` "the client reloads the
 * component") takes its root from the page; the server mounts an instance whose stored state fails
 * verification afresh when a page renders it, so the fetched root is a working instance. In strict
 * CSRF mode the transport takes an unused token from the page before a retry.
 *
 * Every page fetch has a deadline: an action reloading its component stays busy until the page comes,
 * and in strict mode every action of the page waits behind a token fetch (transport.ts).
 */
import { CSRF_META_NAME } from '../src/core/wire.js';
import { findRoot } from './component.js';
import { parseDocument } from './html.js';

export interface PageDeps {
  fetch: typeof fetch;
  /** The address of the page the components are on (`location.href`). */
  pageUrl(): string;
}

/** How long fetching the page, its body included, may take: past it the page counts as not fetched. */
const PAGE_DEADLINE_MS = 10_000;

/**
 * The page as the server renders it now, or `null` when it cannot be fetched within `PAGE_DEADLINE_MS`,
 * is not HTML or cannot be parsed (never rejects).
 */
export async function fetchPage(deps: PageDeps): Promise<Document | null> {
  try {
    // (Credentials: fetch's default, same-origin.)
    const res = await deps.fetch(deps.pageUrl(), {
      cache: 'no-store',
      headers: { accept: 'text/html' },
      // Covers reading the body too (a stalled network, a server that never answers).
      signal: AbortSignal.timeout(PAGE_DEADLINE_MS),
    });
    // A redirect (to a sign-in page, say) is followed by fetch; that page does not hold the component.
    if (!res.ok || !(res.headers.get('content-type') ?? '').includes('text/html')) return null;
    return parseDocument(await res.text());
  } catch {
    return null;
  }
}

/** The CSRF token in `doc`'s meta tag, or `null`. */
export function csrfTokenOf(doc: Document): string | null {
  return doc.querySelector(`meta[name="${CSRF_META_NAME}"]`)?.getAttribute('content') || null;
}

export interface ReloadDeps extends PageDeps {
  /** Replaces the page's CSRF token. */
  setCsrfToken(token: string): void;
}

/** Fetches the root element of `componentId` as the page renders it now, or `null` when it cannot. */
export type ComponentReloader = (componentId: string) => Promise<Element | null>;

export function createReloader(deps: ReloadDeps): ComponentReloader {
  return async (componentId) => {
    const doc = await fetchPage(deps);
    const root = doc && findRoot(doc, componentId);
    if (!doc || !root) return null;
    const token = csrfTokenOf(doc);
    if (token) deps.setCsrfToken(token);
    return root;
  };
}
