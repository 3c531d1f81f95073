import { html, trustedUrl, type PageView, type SafeHtml } from '../../src/index.js';
import { assetUrl } from './assets.js';

/** The navigation's pages, in their order (the error page shows them too). */
export const NAV = [
  ['/', 'Counter'],
  ['/orders', 'Orders'],
  ['/payment', 'Payment'],
  ['/profile', 'Profile'],
] as const;

export interface LayoutPage {
  title: string;
  path: string;
  body: SafeHtml;
}

/**
 * Every page's icon and stylesheet, shared with the error page (error-page.ts), which has no view and
 * runs no script. An icon of its own, so browsers do not ask for /favicon.ico (a 404 in every first
 * visit's console); files, as the pages' policy (app.ts) refuses a `data:` icon and inline style.
 */
export const STYLE_LINKS: SafeHtml = html`<link rel="icon" href="${trustedUrl(assetUrl('icon.svg'))}" type="image/svg+xml">
<link rel="stylesheet" href="${trustedUrl(assetUrl('app.css'))}">`;

const current = (href: string, path: string): SafeHtml | null => (href === path ? html`aria-current="page"` : null);

/** The reference app's page frame: navigation (with "Sign in" or the signed-in account), the content, a line for errors. */
export function layout(view: PageView, page: LayoutPage): string {
  const account =
    view.user === null
      ? html`<a href="/login" ${current('/login', page.path)}>Sign in</a>`
      : html`<a href="/login" ${current('/login', page.path)} data-nav-account title="Account">${view.user.email}</a>`;
  return view.document({
    title: `${page.title} · LiveComponents`,
    head: html`${STYLE_LINKS}
<script type="module" src="${trustedUrl(assetUrl('app.js'))}"></script>`,
    body: html`<header><nav>
  <a class="brand" href="/">LiveComponents</a>
  ${NAV.map(([href, label]) => html`<a href="${href}" ${current(href, page.path)}>${label}</a>`)}
  ${account}
</nav></header>
<main>
  <h1>${page.title}</h1>
  ${page.body}
  <p class="flash" role="status" data-flash></p>
</main>`,
  });
}
