/**
 * The reference app's account pages: `GET /login` (the sign-in form, or who is signed in),
 * `POST /login` and `POST /logout` (HTML forms, CSRF-protected with the page's token, through the
 * auth module's browser sign-in), and `GET /profile` with the `profile:main` component.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { html, type PageView, type SafeHtml, type User } from '../../src/index.js';
import type { WebResult, WebSignIn } from '../../src/auth/index.js';
import { BODY } from '../../src/core/wire.js';
import { profileStateFor } from './components/profile.js';
import { layout } from './layout.js';

export interface AccountPagesOptions {
  web: WebSignIn;
}

/** Largest form body. */
const FORM_LIMIT = 16_384;

function signOutForm(view: PageView): SafeHtml {
  return html`<form method="post" action="/logout" class="inline">
  <input type="hidden" name="${BODY.csrfToken}" value="${view.csrfToken}">
  <button type="submit" class="btn" data-testid="sign-out">Sign out</button>
</form>`;
}

function loginBody(view: PageView, user: User | null, message: string | null, email: string): SafeHtml {
  if (user !== null) {
    return html`<section class="card">
  <p>Signed in as <strong data-email>${user.email}</strong>. <a href="/profile">Your profile</a></p>
  ${signOutForm(view)}
</section>`;
  }
  return html`<section class="card">
  <form method="post" action="/login" class="stack" data-testid="login-form">
    <input type="hidden" name="${BODY.csrfToken}" value="${view.csrfToken}">
    <label class="field">Email <input type="email" name="email" required autocomplete="username" value="${email}"></label>
    <label class="field">Password <input type="password" name="password" required minlength="8" maxlength="1024" autocomplete="current-password"></label>
    <button type="submit" class="btn primary">Sign in</button>
  </form>
  ${message === null ? null : html`<p class="flash" role="alert" data-login-error>${message}</p>`}
</section>
<p class="muted">No account yet? Create one with <code>POST /api/v1/auth/register</code> (see docs/auth.md).</p>`;
}

/** A refused form: the same page again, with the error's status, headers and sentence. */
async function refusedPage(
  app: FastifyInstance,
  request: FastifyRequest,
  reply: FastifyReply,
  result: Extract<WebResult, { type: 'error' }>,
  email: string,
): Promise<FastifyReply> {
  const { error } = result;
  const view = await app.livecomponents.view(request, reply);
  const user = await app.livecomponents.runtime.userOf(view.session);
  const retry = error.fields?.retry_after;
  const message = retry === undefined ? error.publicMessage : `${error.publicMessage} (retry in ${retry} s)`;
  return reply
    .code(error.statusCode)
    .headers({ ...result.headers, ...error.headers })
    .type('text/html; charset=utf-8')
    .send(layout(view, { title: 'Sign in', path: '/login', body: loginBody(view, user, message, email) }));
}

export async function accountPages(app: FastifyInstance, options: AccountPagesOptions): Promise<void> {
  const { web } = options;
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: FORM_LIMIT }, (_req, text, done) => {
    // No prototype: a field named `__proto__` is just a field.
    const fields = Object.create(null) as Record<string, string>;
    for (const [name, value] of new URLSearchParams(text as string)) if (!(name in fields)) fields[name] = value;
    done(null, fields);
  });

  app.get('/login', async (request, reply) => {
    const view = await app.livecomponents.view(request, reply);
    const user = await app.livecomponents.runtime.userOf(view.session);
    const signedOut = (request.query as Record<string, unknown>).signed_out !== undefined;
    return reply
      .type('text/html; charset=utf-8')
      .send(layout(view, { title: 'Sign in', path: '/login', body: loginBody(view, user, signedOut ? 'You are signed out.' : null, '') }));
  });

  app.post('/login', { bodyLimit: FORM_LIMIT }, async (request, reply) => {
    const form = (request.body ?? {}) as Record<string, unknown>;
    const result = await web.signIn(request, reply, form);
    if (result.type === 'ok') return reply.code(303).header('location', '/profile').send();
    return refusedPage(app, request, reply, result, typeof form.email === 'string' ? form.email.slice(0, 254) : '');
  });

  app.post('/logout', { bodyLimit: FORM_LIMIT }, async (request, reply) => {
    const form = (request.body ?? {}) as Record<string, unknown>;
    const result = await web.signOut(request, reply, form);
    if (result.type === 'ok') return reply.code(303).header('location', '/login?signed_out').send();
    return refusedPage(app, request, reply, result, '');
  });

  app.get('/profile', async (request, reply) => {
    const view = await app.livecomponents.view(request, reply);
    const user = await app.livecomponents.runtime.userOf(view.session);
    // Each visit starts from the stored account, so a name changed elsewhere shows up here.
    if (user !== null) await app.livecomponents.runtime.states.save(view.session, 'profile:main', profileStateFor(user));
    const body = html`<section class="card">${await view.mount('profile:main')}</section>
${user === null ? null : signOutForm(view)}`;
    return reply.type('text/html; charset=utf-8').send(layout(view, { title: 'Profile', path: '/profile', body }));
  });
}

