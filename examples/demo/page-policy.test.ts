/**
 * Every HTML answer of the reference app carries its Content-Security-Policy, exactly: the component
 * pages, the account pages signed out and in, and the sign-in page answering a refused form. Its
 * other errors are JSON (PROTOCOL §3) for clients that do not ask for HTML, as these requests do; a
 * browser gets the error page under the same policy (examples/demo/error-page.test.ts). The policy at
 * work in Chromium: test/browser/demo-csp.test.ts.
 */
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoApp } from '../../test/helpers/demo.js';

/** Written out, not imported from app.ts: a change to the policy has to be made here too, knowingly. */
const POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'self'; form-action 'self'";

const EMAIL = 'ada@example.com';
const PASSWORD = 'correct horse battery staple';
const FORM = 'application/x-www-form-urlencoded';

describe('the reference app: Content-Security-Policy of its pages', () => {
  let demo: Awaited<ReturnType<typeof demoApp>>;
  beforeAll(async () => {
    demo = await demoApp({}, {}, { password: { memoryCost: 1024, timeCost: 1, parallelism: 1 } });
    const registered = await demo.app.inject({ method: 'POST', url: '/api/v1/auth/register', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ email: EMAIL, password: PASSWORD }) });
    expect(registered.statusCode).toBe(201);
  });
  afterAll(() => demo?.app.close());

  /** Each answer by "METHOD url": what is checked below. */
  const answers = new Map<string, LightMyRequestResponse>();
  const sessionCookie = (res: LightMyRequestResponse): string => {
    const lines = res.headers['set-cookie'];
    return (Array.isArray(lines) ? lines : [lines ?? '']).map((line) => line.split(';')[0]).find((c) => c?.startsWith('lc_session=')) ?? '';
  };
  const formToken = (res: LightMyRequestResponse): string => /name="_csrf_token" value="([^"]+)"/.exec(res.body)?.[1] ?? '';

  async function get(url: string, cookie?: string, label = `GET ${url}`, method: 'GET' | 'HEAD' = 'GET'): Promise<LightMyRequestResponse> {
    const res = await demo.app.inject({ method, url, headers: cookie === undefined ? {} : { cookie } });
    answers.set(label, res);
    return res;
  }

  async function post(url: string, cookie: string, body: string, label: string, type = FORM): Promise<LightMyRequestResponse> {
    const res = await demo.app.inject({ method: 'POST', url, headers: { cookie, 'content-type': type }, payload: body });
    answers.set(label, res);
    return res;
  }

  it('every HTML answer, signed out and in, refusals included, carries the policy; the other errors are JSON', async () => {
    for (const url of ['/', '/orders', '/payment', '/profile', '/forgot-password', '/reset-password', '/login?signed_out', '/login?sign_out_refused']) await get(url);
    await get('/', undefined, 'HEAD /', 'HEAD');

    const login = await get('/login');
    const cookie = sessionCookie(login);
    const fields = (password: string, token = formToken(login)) => new URLSearchParams({ _csrf_token: token, email: EMAIL, password }).toString();
    await post('/login', cookie, fields(PASSWORD, 'forged'), 'POST /login (forged token)');
    await post('/login', cookie, fields('not the password'), 'POST /login (wrong password)');
    await post('/login', cookie, `${fields('')}%FF`, 'POST /login (not UTF-8)');
    await post('/login', cookie, fields(PASSWORD), 'POST /login (latin-1)', `${FORM}; charset=iso-8859-1`);
    await post('/logout', cookie, '%FF', 'POST /logout (not UTF-8)');
    const signedIn = await post('/login', cookie, fields(PASSWORD), 'POST /login');
    const account = sessionCookie(signedIn);
    await get('/login', account, 'GET /login (signed in)');
    await get('/profile', account, 'GET /profile (signed in)');
    await get('/nope');
    await post('/', cookie, '', 'POST /');

    const summary = [...answers].map(([label, res]) => `${label} ${res.statusCode} ${String(res.headers['content-type']).split(';')[0]}`);
    expect(summary).toEqual([
      'GET / 200 text/html',
      'GET /orders 200 text/html',
      'GET /payment 200 text/html',
      'GET /profile 200 text/html',
      'GET /forgot-password 200 text/html',
      'GET /reset-password 200 text/html',
      'GET /login?signed_out 200 text/html',
      'GET /login?sign_out_refused 200 text/html',
      'HEAD / 200 text/html',
      'GET /login 200 text/html',
      'POST /login (forged token) 403 text/html',
      'POST /login (wrong password) 401 text/html',
      'POST /login (not UTF-8) 400 text/html',
      'POST /login (latin-1) 415 application/json',
      'POST /logout (not UTF-8) 400 text/html',
      'POST /login 303 undefined',
      'GET /login (signed in) 200 text/html',
      'GET /profile (signed in) 200 text/html',
      'GET /nope 404 application/json',
      'POST / 405 application/json',
    ]);
    for (const [label, res] of answers) {
      if (String(res.headers['content-type']).startsWith('text/html')) expect(res.headers['content-security-policy'], label).toBe(POLICY);
    }
  });
});
