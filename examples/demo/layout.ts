import { html, type PageView, type SafeHtml } from '../../src/index.js';

const NAV = [
  ['/', 'Counter'],
  ['/orders', 'Orders'],
  ['/payment', 'Payment'],
  ['/profile', 'Profile'],
  ['/login', 'Sign in'],
] as const;

/** The reference app's page frame: navigation, a card for the content, a line for errors. */
export function layout(view: PageView, page: { title: string; path: string; body: SafeHtml }): string {
  return view.document({
    title: `${page.title} · LiveComponents`,
    head: html`<link rel="stylesheet" href="/assets/app.css">
<script type="module" src="/assets/app.js"></script>`,
    body: html`<header><nav>
  <a class="brand" href="/">LiveComponents</a>
  ${NAV.map(([href, label]) => html`<a href="${href}" ${href === page.path ? html`aria-current="page"` : null}>${label}</a>`)}
</nav></header>
<main>
  <h1>${page.title}</h1>
  ${page.body}
  <p class="flash" role="status" data-flash></p>
</main>`,
  });
}
