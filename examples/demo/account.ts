/**
 * The reference app's account pages: `GET /login` (the sign-in form, or who is signed in),
 * `POST /login` and `POST /logout` (HTML forms, CSRF-protected with the page's form token,
 * `view.formToken()`, through the auth module's browser sign-in, a foreign source refused before the
 * body is read; `/logout` answers with a redirect, refused or not), `GET /profile` with the
 * `profile:main` component, and the password recovery pages `GET /forgot-password` and
 * `GET /reset-password`. A signed-in user changes their password on `/profile` (`POST
 * /change-password`, a form through `web.changePassword`: every other sign-in ends, this browser
 * goes on in a fresh session).
 *
 * The recovery forms carry `data-auth-form`: public/app.js posts them as JSON to the auth API
 * (`/api/v1/auth/forgot-password`, `/api/v1/auth/reset-password`) and shows the answer. The reset
 * token travels in the link's fragment (`/reset-password#token=…`), which browsers never send to a
 * server: the page's script reads it, and it never appears in the HTML or in a log.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { html, LiveError, type PageView, type SafeHtml, type Session, type User } from '../../src/index.js';
import type { WebResult, WebSignIn } from '../../src/auth/index.js';
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../../src/auth/password.js';
import { BODY } from '../../src/core/wire.js';
import { profileStateFor } from './components/profile.js';
import { maxlengthFor } from './components/text-length.js';
import { formOf, useFormBodies } from './form-body.js';
import { layout } from './layout.js';

export interface AccountPagesOptions {
  web: WebSignIn;
}

/**
 * The longest email field, in UTF-16 units: what the server reads (src/auth/email.ts). An address is
 * at most 254 bytes in its ASCII form, but its Unicode domain can be longer than that: a `maxlength`
 * of 254 cut a valid one.
 */
const EMAIL_INPUT_MAX = 1024;

/** Largest form body. */
const FORM_LIMIT = 16_384;

/** Where a refused sign-out leads (`afterSignOut` says why). */
const SIGN_OUT_REFUSED = '/login?sign_out_refused';

/** Where a sign-in posted from a foreign source leads (`afterSignOut` says why). */
const SIGN_IN_REFUSED = '/login?sign_in_refused';

/** `formToken`: the page's `view.formToken()`, not `view.csrfToken`, which strict mode's first action uses up. */
function signOutForm(formToken: string): SafeHtml {
  return html`<form method="post" action="/logout" class="inline">
  <input type="hidden" name="${BODY.csrfToken}" value="${formToken}">
  <button type="submit" class="btn" data-testid="sign-out">Sign out</button>
</form>`;
}

/**
 * The attributes of a form's field after a refusal: read with the refusal (`aria-describedby`
 * `errorId`), marked invalid when the refusal is about it, and the focus on the first field it is about
 * (else `first`), where the user starts again. Nothing without a refusal.
 */
function refusalAttributes<F extends string>(
  message: { kind: 'error' | 'notice'; invalid?: readonly F[] } | null,
  errorId: string,
  first: F,
): (field: F) => SafeHtml | null {
  if (message?.kind !== 'error') return () => null;
  const invalid = message.invalid ?? [];
  const focused = invalid[0] ?? first;
  return (field) => html` aria-describedby="${errorId}"${invalid.includes(field) ? html` aria-invalid="true"` : null}${focused === field ? html` autofocus` : null}`;
}

/** The sign-in form's fields, in their order. */
const LOGIN_FIELDS = ['email', 'password'] as const;
type LoginField = (typeof LOGIN_FIELDS)[number];

/**
 * What the sign-in page says above its form: a refusal (`role=alert`; `invalid`: the fields it is
 * about, marked invalid) or a plain notice (`role=status`: "You are signed out.").
 */
interface LoginMessage {
  kind: 'error' | 'notice';
  text: string;
  invalid?: readonly LoginField[];
}

/*
 * The email fields are `type="text" inputmode="email"`, not `type="email"`: a browser validates
 * `type="email"` as ASCII before the `@`, so `josé@example.com`, an address the API accepts, could
 * neither sign in nor ask for a reset link. `inputmode` keeps the email keyboard on phones.
 */

/** The id of the sign-in refusal, which the form's fields name in `aria-describedby`. */
const LOGIN_ERROR_ID = 'login-error';

/** `fieldsFollow`: the sign-in form follows, whose fields name the refusal by its id. */
function loginMessage(message: LoginMessage | null, fieldsFollow: boolean): SafeHtml | null {
  if (message === null) return null;
  if (message.kind === 'notice') return html`<p class="notice" role="status" data-login-notice>${message.text}</p>`;
  const id = fieldsFollow ? html` id="${LOGIN_ERROR_ID}"` : null;
  return html`<p class="flash" role="alert"${id} data-login-error>${message.text}</p>`;
}

async function loginBody(view: PageView, message: LoginMessage | null, email: string): Promise<SafeHtml> {
  const { user } = view;
  const formToken = await view.formToken();
  if (user !== null) {
    // The message first, as for the form below: read before the button it may be about.
    return html`<section class="card">
  ${loginMessage(message, false)}
  <p>Signed in as <strong data-email>${user.email}</strong>. <a href="/profile">Your profile</a></p>
  ${signOutForm(formToken)}
</section>`;
  }
  // A refusal comes first, is read with each field (aria-describedby) and brings the focus to the
  // first field it is about (else the first one), where the user starts again; those are marked invalid.
  const fieldAttrs = refusalAttributes(message, LOGIN_ERROR_ID, 'email');
  return html`<section class="card">
  ${loginMessage(message, true)}
  <form method="post" action="/login" class="stack" data-testid="login-form">
    <input type="hidden" name="${BODY.csrfToken}" value="${formToken}">
    <label class="field">Email <input type="text" inputmode="email" name="email" required autocomplete="username" spellcheck="false" autocapitalize="off" value="${email}"${fieldAttrs('email')}></label>
    <label class="field">Password <input type="password" name="password" required maxlength="1024" autocomplete="current-password"${fieldAttrs('password')}></label>
    <button type="submit" class="btn primary">Sign in</button>
  </form>
  <p class="muted"><a href="/forgot-password" data-testid="forgot-link">Forgot your password?</a></p>
</section>
<p class="muted">No account yet? Create one with <code>POST /api/v1/auth/register</code> (see docs/auth.md).</p>`;
}

/** Forms posted by public/app.js need it: without it, they stay disabled and say so. */
const NEEDS_SCRIPT = html`<noscript><p class="flash">This form needs JavaScript.</p></noscript>`;

/**
 * The two lines every recovery form answers in: `data-auth-status` (`role=status`) for success and
 * `data-auth-error` (`role=alert`) for the API's error sentence and code. Filled and emptied by
 * public/app.js, never hidden: a live region must be in the page before its text changes to be read.
 * The status line takes the focus when the reset form, done, is hidden (`tabindex="-1"`).
 */
const ANSWER_LINES = html`<p class="notice" role="status" data-auth-status tabindex="-1"></p>
  <p class="flash" role="alert" data-auth-error></p>`;

const forgotPasswordBody = html`<section class="card">
  <p>Enter the email of your account: if it has one, a link to choose a new password is mailed to it.</p>
  <form method="post" class="stack" data-auth-form="forgot-password" data-testid="forgot-password-form">
    <label class="field">Email <input type="text" inputmode="email" name="email" required maxlength="${EMAIL_INPUT_MAX}" autocomplete="email" spellcheck="false" autocapitalize="off"></label>
    <button type="submit" class="btn primary" disabled>Send the link</button>
  </form>
  ${ANSWER_LINES}
  ${NEEDS_SCRIPT}
</section>
<p class="muted"><a href="/login">Back to sign in</a></p>`;

const resetPasswordBody = html`<section class="card">
  <form method="post" class="stack" data-auth-form="reset-password" data-testid="reset-password-form">
    <input type="text" name="username" autocomplete="username" hidden>
    <label class="field">New password <input type="password" name="password" required minlength="${PASSWORD_MIN_LENGTH}" maxlength="${maxlengthFor(PASSWORD_MAX_LENGTH)}" autocomplete="new-password" aria-describedby="password-hint"></label>
    <p class="muted" id="password-hint">${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters. Every sign-in of your account ends when it changes.</p>
    <button type="submit" class="btn primary" disabled>Set the new password</button>
  </form>
  ${ANSWER_LINES}
  ${NEEDS_SCRIPT}
</section>
<p class="muted">Link expired or already used? <a href="/forgot-password">Ask for a new one</a>.</p>`;

/**
 * A refusal as one line: the error's sentence, then the messages of its fields (a `VALIDATION_FAILED`'s
 * `errors`: "Enter a valid email address.") and the wait — as public/app.js shows the recovery forms'.
 */
function refusalText(error: LiveError, fields: readonly string[]): string {
  const fieldMessages = fields.flatMap((field) => error.fields?.errors?.[field] ?? []);
  const retry = error.fields?.retry_after;
  return `${[error.publicMessage, ...fieldMessages].join(' ')}${retry === undefined ? '' : ` (retry in ${retry} s)`}`;
}

/**
 * The fields a refusal is about: those a `VALIDATION_FAILED` names, both for wrong credentials (or a
 * malformed form naming none); none for a stale token or a wait, which are about the page.
 */
function invalidFields(error: LiveError): LoginField[] {
  if (error.statusCode !== 400 && error.statusCode !== 401) return [];
  const named = LOGIN_FIELDS.filter((field) => (error.fields?.errors?.[field]?.length ?? 0) > 0);
  return named.length > 0 ? named : [...LOGIN_FIELDS];
}

/** The password-change form's fields, in their order. */
const CHANGE_FIELDS = ['current_password', 'new_password'] as const;
type ChangeField = (typeof CHANGE_FIELDS)[number];

/** What `/profile` says above the change form: as `LoginMessage`, about the change's fields. */
type ChangeMessage = Omit<LoginMessage, 'invalid'> & { invalid?: readonly ChangeField[] };

/** The id of the change's refusal, which its fields name in `aria-describedby`. */
const CHANGE_ERROR_ID = 'change-password-error';

/** Where a change posted from a foreign source leads. */
const CHANGE_REFUSED = '/profile?password_change_refused';

/** The fields a change's refusal is about: those a `VALIDATION_FAILED` names; the current password for a wrong one. */
function changeInvalidFields(error: LiveError): ChangeField[] {
  if (error.statusCode === 401 && error.code === 'INVALID_CREDENTIALS') return ['current_password'];
  if (error.statusCode !== 400) return [];
  return CHANGE_FIELDS.filter((field) => (error.fields?.errors?.[field]?.length ?? 0) > 0);
}

/**
 * The "Change password" card of `/profile`: a refusal first (`role=alert`, read with each field,
 * the focus on the first field it is about), or the notice of a change done (`role=status`).
 */
function changePasswordCard(formToken: string, user: User, message: ChangeMessage | null): SafeHtml {
  const fieldAttrs = refusalAttributes(message, CHANGE_ERROR_ID, 'current_password');
  const said =
    message === null
      ? null
      : message.kind === 'notice'
        ? html`<p class="notice" role="status" data-change-notice>${message.text}</p>`
        : html`<p class="flash" role="alert" id="${CHANGE_ERROR_ID}" data-change-error>${message.text}</p>`;
  return html`<section class="card" aria-labelledby="change-password-title">
  <h2 id="change-password-title">Change password</h2>
  ${said}
  <form method="post" action="/change-password" class="stack" data-testid="change-password-form">
    <input type="hidden" name="${BODY.csrfToken}" value="${formToken}">
    <input type="text" name="username" autocomplete="username" value="${user.email}" hidden>
    <label class="field">Current password <input type="password" name="current_password" required maxlength="1024" autocomplete="current-password"${fieldAttrs('current_password')}></label>
    <label class="field">New password <input type="password" name="new_password" required minlength="${PASSWORD_MIN_LENGTH}" maxlength="${maxlengthFor(PASSWORD_MAX_LENGTH)}" autocomplete="new-password" aria-describedby="new-password-hint"${fieldAttrs('new_password')}></label>
    <p class="muted" id="new-password-hint">${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters. Every other sign-in of your account ends when it changes.</p>
    <button type="submit" class="btn primary">Change password</button>
  </form>
</section>`;
}

/** What `/profile` says above the change form after a change (`?password_changed`) or a foreign post (`?password_change_refused`). */
function afterChange(query: unknown): ChangeMessage | null {
  const flags = query as Record<string, unknown>;
  if (flags.password_changed !== undefined) return { kind: 'notice', text: 'Your password was changed. Every other sign-in of your account has ended.' };
  if (flags.password_change_refused !== undefined) return { kind: 'error', text: 'That change was sent from another site and was refused. Nothing changed.' };
  return null;
}

/** `/profile`, with `message` above its change form when signed in. */
async function profilePage(app: FastifyInstance, request: FastifyRequest, reply: FastifyReply, message: ChangeMessage | null): Promise<string> {
  const view = await app.livecomponents.view(request, reply);
  const { user } = view;
  if (user !== null) await followAccount(app, view.session, user);
  const formToken = user === null ? null : await view.formToken();
  const body = html`<section class="card">${await view.mount('profile:main')}</section>
${user === null || formToken === null ? null : changePasswordCard(formToken, user, message)}
${formToken === null ? null : signOutForm(formToken)}`;
  return layout(view, { title: 'Profile', path: '/profile', body });
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
  const message: LoginMessage = { kind: 'error', text: refusalText(error, LOGIN_FIELDS), invalid: invalidFields(error) };
  return reply
    .code(error.statusCode)
    .headers({ ...result.headers, ...error.headers })
    .type('text/html; charset=utf-8')
    .send(layout(view, { title: loginTitle(view), path: '/login', body: await loginBody(view, message, email) }));
}

/** Signed in, `/login` shows the account and its "Sign out", no sign-in form: it is not titled "Sign in". */
const loginTitle = (view: PageView): string => (view.user === null ? 'Sign in' : 'Account');

/**
 * What `/login` says after a sign-in posted from another site (`?sign_in_refused`: refused before
 * its body was read), a sign-out (`?signed_out`) or a refused one (`?sign_out_refused`, sent by
 * `POST /logout` when the page's token no longer fits the session: it changed in another tab, signed
 * out and in again). Said from who is signed in now, so the page never contradicts itself: signed
 * out, whichever way it happened, the notice; still signed in, why, and that "Sign out" works now.
 */
function afterSignOut(view: PageView, query: unknown): LoginMessage | null {
  const flags = query as Record<string, unknown>;
  if (flags.sign_in_refused !== undefined && view.user === null) return { kind: 'error', text: 'That sign-in was sent from another site and was refused. Sign in here.' };
  if (flags.signed_out === undefined && flags.sign_out_refused === undefined) return null;
  if (view.user === null) return { kind: 'notice', text: 'You are signed out.' };
  if (flags.sign_out_refused === undefined) return null;
  return { kind: 'error', text: 'You are still signed in: your session changed since that page was loaded, in another tab perhaps. Press Sign out again.' };
}

/**
 * Brings the session's `profile:main` up to date with the stored account before `/profile` mounts it:
 * the name (changed elsewhere: the API, another browser) and the owner. Its `saves` stay: the
 * instance is the session's, shared by its tabs (like `counter:main`'s count), so another tab opening
 * the page does not reset the count this one shows. A state missing, unreadable or of another user
 * starts afresh.
 */
async function followAccount(app: FastifyInstance, session: Session, user: User): Promise<void> {
  const { states } = app.livecomponents.runtime;
  const fresh = profileStateFor(user);
  const stored = await states.load(session, 'profile:main');
  if (stored.type !== 'found' || stored.state.owner !== fresh.owner || typeof stored.state.saves !== 'number') {
    await states.save(session, 'profile:main', fresh);
    return;
  }
  if (stored.state.name === fresh.name) return;
  // Compare-and-replace: a rename that wrote meanwhile already has the newer name, and its count.
  await states.replace(session, 'profile:main', stored.blob, { ...stored.state, name: fresh.name });
}

export async function accountPages(app: FastifyInstance, options: AccountPagesOptions): Promise<void> {
  const { web } = options;
  // Forms only: Fastify's default JSON and text parsers would otherwise remain in this scope, so a
  // JSON body ran the sign-in (a step of the login budget spent, without the UTF-8 check of the app's
  // JSON parser). Anything else is 415 UNSUPPORTED_MEDIA_TYPE (errors.md). This scope is this plugin's.
  useFormBodies(app, { bodyLimit: FORM_LIMIT });

  app.get('/login', async (request, reply) => {
    const view = await app.livecomponents.view(request, reply);
    return reply
      .type('text/html; charset=utf-8')
      .send(layout(view, { title: loginTitle(view), path: '/login', body: await loginBody(view, afterSignOut(view, request.query), '') }));
  });

  // A post from a source the form check refuses (cross-site, a foreign Origin) is refused as CSRF
  // before its body is read, whatever it holds: a redirect to `/login` saying so (sign-out: to its own
  // refusal) and one `malicious_csrf`, not the parser's 413, 415 or 400 and no event. Login CSRF: a
  // foreign page must not be able to sign this browser in to an account of its choice. A redirect, not
  // the sign-in page: a cross-site POST carries no `SameSite=Lax` session cookie, so a page rendered
  // for it (`view()`) started a session and its `Set-Cookie` replaced the browser's — any site could
  // sign a user out. The GET the redirect leads to is a top-level navigation: it carries the cookie.
  const refusedSignIn = web.refuseForeignForms((_request, reply) => reply.code(303).header('location', SIGN_IN_REFUSED).send());
  const refusedSignOut = web.refuseForeignForms((_request, reply) => reply.code(303).header('location', SIGN_OUT_REFUSED).send());

  app.post('/login', { bodyLimit: FORM_LIMIT, onRequest: refusedSignIn }, async (request, reply) => {
    const form = formOf(request);
    if (form instanceof LiveError) return refusedPage(app, request, reply, { type: 'error', error: form, headers: {} }, '');
    const result = await web.signIn(request, reply, form);
    if (result.type === 'ok') return reply.code(303).header('location', '/profile').send();
    return refusedPage(app, request, reply, result, typeof form.email === 'string' ? form.email.slice(0, 254) : '');
  });

  app.post('/logout', { bodyLimit: FORM_LIMIT, onRequest: refusedSignOut }, async (request, reply) => {
    const form = formOf(request);
    // Not a form a browser sends: refused as the sign-in refuses one, nothing signed out.
    if (form instanceof LiveError) return refusedPage(app, request, reply, { type: 'error', error: form, headers: {} }, '');
    const result = await web.signOut(request, reply, form);
    // Refused too, a redirect (Post/Redirect/Get): a reload then asks for the page again, and does
    // not post the stale token once more. `/login` says what is true by then (afterSignOut).
    return reply
      .code(303)
      .header('location', result.type === 'ok' ? '/login?signed_out' : SIGN_OUT_REFUSED)
      .send();
  });

  /** A page whose body is the same for everyone (the forms below; the reset token stays in the fragment). */
  const staticPage = (path: string, title: string, body: SafeHtml) =>
    app.get(path, async (request, reply) => {
      const view = await app.livecomponents.view(request, reply);
      return reply.type('text/html; charset=utf-8').send(layout(view, { title, path, body }));
    });
  staticPage('/forgot-password', 'Forgot your password?', forgotPasswordBody);
  // The token is in the link's fragment, read by public/app.js: this page is the same for everyone.
  staticPage('/reset-password', 'Choose a new password', resetPasswordBody);

  app.get('/profile', async (request, reply) => {
    return reply.type('text/html; charset=utf-8').send(await profilePage(app, request, reply, afterChange(request.query)));
  });

  const refusedChange = web.refuseForeignForms((_request, reply) => reply.code(303).header('location', CHANGE_REFUSED).send());
  app.post('/change-password', { bodyLimit: FORM_LIMIT, onRequest: refusedChange }, async (request, reply) => {
    const form = formOf(request);
    const result = form instanceof LiveError ? ({ type: 'error', error: form, headers: {} } as const) : await web.changePassword(request, reply, form);
    // Post/Redirect/Get: a reload asks for the page, and does not post the passwords again.
    if (result.type === 'ok') return reply.code(303).header('location', result.user === null ? '/login' : '/profile?password_changed').send();
    const { error } = result;
    const message: ChangeMessage = { kind: 'error', text: refusalText(error, CHANGE_FIELDS), invalid: changeInvalidFields(error) };
    const page = await profilePage(app, request, reply, message);
    return reply
      .code(error.statusCode)
      .headers({ ...result.headers, ...error.headers })
      .type('text/html; charset=utf-8')
      .send(page);
  });
}

