/**
 * What a person in a browser sees when the reference app refuses or fails a page: the framework's
 * error pages (src/http/error-pages.ts, `useErrorPages`) in the app's look. A visitor past
 * `NEW_SESSION_LIMIT` opening a page or posting the sign-in form read PROTOCOL §3's JSON
 * (`{"error":"Too many requests…","code":"RATE_LIMIT_EXCEEDED",…}`) as text; now a page says what
 * happened and how long to wait.
 *
 * Which requests get the page (not `/api/…`, and only an `Accept` that prefers HTML), its status and
 * headers (the JSON answer's, the pages' policy, `no-store`, `Vary: Accept`), that no view is made (no
 * session, no cookie) and the escaping are the framework's; here is only the app's frame: its
 * navigation, stylesheet and icon (files: the strict policy applies no inline style and runs no
 * script), and where to go next.
 */
import { errorHeading, html, prefersHtml, retrySentence } from '../../src/index.js';
import type { ErrorBody } from '../../src/core/wire.js';
import { NAV, STYLE_LINKS } from './layout.js';

// The demo's tests read the negotiation from here, as they did before it moved to the framework.
export { prefersHtml };

/**
 * The reference app's error page for `body` (PROTOCOL §3's error body, as `sendError` made it)
 * answered with `status`: the sentence, the wait of a `retry_after`, and the request id to quote.
 * Everything from the body is escaped (`html`); none of it is request data.
 */
export function errorPage(status: number, body: ErrorBody): string {
  const heading = errorHeading(status);
  const retry = typeof body.retry_after === 'number' ? html`<p data-retry-after="${String(body.retry_after)}">${retrySentence(body.retry_after)}</p>` : null;
  return `<!doctype html>
${html`<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${heading} · LiveComponents</title>
${STYLE_LINKS}
</head>
<body>
<header><nav>
  <a class="brand" href="/">LiveComponents</a>
  ${NAV.map(([href, label]) => html`<a href="${href}">${label}</a>`)}
</nav></header>
<main>
  <h1>${heading}</h1>
  <section class="card" data-error-code="${body.code}">
    <p role="alert">${body.error}</p>
    ${retry}
    <p class="muted">Error ${String(status)} · <code>${body.code}</code> · request <code>${body.request_id}</code></p>
  </section>
  <p><a href="/">Back to the start page</a></p>
</main>
</body>
</html>`}`;
}
