/**
 * Rendering pages that hold components: the session (created on first visit), the CSRF meta tag,
 * the component roots and the runtime's script tag (PROTOCOL §2).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { html, unsafeRawHtml, type SafeHtml } from '../core/html.js';
import { CSRF_META_NAME, ROUTES } from '../core/wire.js';
import type { LiveRuntime } from '../runtime/index.js';
import type { Session } from '../session/types.js';
import type { User } from '../core/component.js';
import type { SessionCookie } from './session-cookie.js';

export interface PageView {
  readonly session: Session;
  /** The session's signed-in user (the app's `resolveUser`), or `null`: for a nav, a greeting. */
  readonly user: User | null;
  /** A freshly masked CSRF token for this page. */
  readonly csrfToken: string;
  /** Mounts the instance in this session (first visit) or finds it, and renders it. */
  mount(componentId: string, initialState?: Record<string, unknown>): Promise<SafeHtml>;
  /** `<meta name="csrf-token">` and the runtime's `<script>` tag, for a layout of your own. */
  head(): SafeHtml;
  /** A whole HTML document around `body`. */
  document(page: { title: string; body: SafeHtml; head?: SafeHtml; lang?: string }): string;
}

export async function createPageView(
  runtime: LiveRuntime,
  cookie: SessionCookie,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<PageView> {
  let session = await runtime.sessions.load(cookie.read(request));
  if (session === null) {
    session = await runtime.sessions.create();
    cookie.write(reply, session);
  }
  const current = session;
  const [csrfToken, user] = await Promise.all([runtime.csrf.issue(current), runtime.userOf(current)]);
  const head = (): SafeHtml =>
    html`<meta name="${CSRF_META_NAME}" content="${csrfToken}">
<script type="module" src="${ROUTES.clientScript}"></script>`;
  return {
    session: current,
    user,
    csrfToken,
    mount: async (componentId, initialState) => unsafeRawHtml(await runtime.mount(current, componentId, initialState, user)),
    head,
    document: (page) => `<!doctype html>
${html`<html lang="${page.lang ?? 'en'}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${page.title}</title>
${head()}
${page.head}
</head>
<body>
${page.body}
</body>
</html>`}`,
  };
}
