// Shows action errors (lc:error) in the page's status line; clears it on success.
const flash = () => document.querySelector('[data-flash]');
document.addEventListener('lc:error', (event) => {
  const el = flash();
  if (!el) return;
  // The runtime brought the component up to date (stale state or session). What it shows now may
  // differ (signed out in another tab, say): no "try again", the user looks first.
  if (event.detail.reloaded) el.textContent = `This part of the page has been refreshed; check it before continuing. [${event.detail.code}]`;
  // The error, then each field's messages (VALIDATION_FAILED) and the wait (RATE_LIMIT_EXCEEDED).
  else el.textContent = errorLine(event.detail);
  if (event.detail.code !== 'UNAUTHENTICATED') return;
  // Signed out elsewhere (every sign-in ended by a password reset, say): the way back in, where the
  // component, not reloaded, shows none; and the nav no longer names the account.
  if (!event.detail.reloaded) el.append(' ', Object.assign(document.createElement('a'), { href: '/login', textContent: 'Sign in' }));
  const account = document.querySelector('[data-nav-account]');
  if (account) {
    account.textContent = 'Sign in';
    account.removeAttribute('title');
    account.removeAttribute('data-nav-account');
  }
});
document.addEventListener('lc:success', () => {
  const el = flash();
  if (el) el.textContent = '';
});

// Password recovery forms (/forgot-password, /reset-password): posted as JSON to the auth API.
// Their buttons start disabled and are enabled here, so a form never goes out without this script.
// While a request is out the button is only marked (aria-disabled), never disabled: a disabled
// button loses the focus, which falls back to the page's start.
const AUTH_API = '/api/v1/auth';
const FORGOT_ANSWER = 'If an account exists for this email, a link to reset its password is on its way.';

/** The error line of an API error body `{error, code, retry_after?, errors?}`. */
function errorLine(body) {
  const fields = body.errors && typeof body.errors === 'object' ? Object.values(body.errors).flat() : [];
  const retry = body.retry_after ? ` (retry in ${body.retry_after} s)` : '';
  return `${[body.error, ...fields].join(' ')}${retry} [${body.code}]`;
}

async function postJson(path, payload) {
  try {
    const res = await fetch(`${AUTH_API}/${path}`, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(payload),
    });
    const body = res.status === 204 ? {} : await res.json().catch(() => ({}));
    if (res.ok) return { ok: true, body };
    const error = typeof body.error === 'string' ? body : { error: `The server answered ${res.status}.`, code: 'HTTP_' + res.status };
    return { ok: false, message: errorLine(error) };
  } catch {
    return { ok: false, message: 'The server could not be reached. Check your connection and try again. [NETWORK_ERROR]' };
  }
}

/** The reset token from the link's fragment (`#token=…`), then removed from the address bar and history. */
function takeResetToken() {
  const token = new URLSearchParams(location.hash.slice(1)).get('token');
  if (location.hash) history.replaceState(history.state, '', location.pathname + location.search);
  return token;
}

function setUpAuthForm(form) {
  const kind = form.getAttribute('data-auth-form');
  if (kind !== 'forgot-password' && kind !== 'reset-password') return;
  const card = form.parentElement;
  const status = card.querySelector('[data-auth-status]');
  const alert = card.querySelector('[data-auth-error]');
  const button = form.querySelector('[type="submit"]');
  // Both lines stay in the page (live regions are read when their text changes): emptied, not hidden.
  const show = (text, link) => {
    status.textContent = text;
    if (link) status.append(' ', Object.assign(document.createElement('a'), { href: link.href, textContent: link.text }));
    alert.textContent = '';
  };
  const fail = (text) => {
    status.textContent = '';
    alert.textContent = text;
  };

  if (kind === 'reset-password') {
    // A mailed link opened in a tab already on this page changes only the fragment: no reload, and
    // the form would keep the old (or no) token. Load the page again to take the new one.
    window.addEventListener('hashchange', () => {
      if (new URLSearchParams(location.hash.slice(1)).has('token')) location.reload();
    });
  }
  const token = kind === 'reset-password' ? takeResetToken() : null;
  if (kind === 'reset-password' && !token) {
    fail('This page opens from the link in the password reset mail, and this address has no token. Ask for a new link.');
    return;
  }
  button.disabled = false;

  let busy = false;
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (busy) return;
    const data = new FormData(form);
    const payload = kind === 'forgot-password' ? { email: data.get('email') } : { token, password: data.get('password') };
    busy = true;
    button.setAttribute('aria-disabled', 'true');
    form.setAttribute('aria-busy', 'true');
    const result = await postJson(kind, payload);
    busy = false;
    button.removeAttribute('aria-disabled');
    form.removeAttribute('aria-busy');
    if (!result.ok) {
      fail(result.message);
    } else if (kind === 'forgot-password') {
      show(typeof result.body.message === 'string' ? result.body.message : FORGOT_ANSWER);
    } else {
      // The token is spent: the form has nothing left to do. The focus it held goes to the answer.
      show('Your password is changed, and every sign-in of your account has ended.', { href: '/login', text: 'Sign in with the new password' });
      status.focus();
      form.hidden = true;
    }
  });
}

for (const form of document.querySelectorAll('form[data-auth-form]')) setUpAuthForm(form);
