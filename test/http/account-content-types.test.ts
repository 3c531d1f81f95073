/**
 * The account pages' POST routes (`/login`, `/logout`) read HTML forms only: any other body is 415
 * `UNSUPPORTED_MEDIA_TYPE` before the sign-in runs (errors.md). Fastify's default JSON and text
 * parsers used to remain in that scope, so a JSON body ran the sign-in (spending a step of the login
 * rate limit) without the UTF-8 check of the app's own JSON parser.
 */
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoApp } from '../helpers/demo.js';

let demo: Awaited<ReturnType<typeof demoApp>>;
beforeAll(async () => {
  demo = await demoApp();
});
afterAll(() => demo?.app.close());

/** The login page's session cookie and form token. */
async function loginPage(): Promise<{ cookie: string; token: string }> {
  const page = await demo.app.inject({ method: 'GET', url: '/login' });
  const setCookie = page.headers['set-cookie'];
  const cookie = (Array.isArray(setCookie) ? setCookie : [setCookie ?? '']).map((c) => c.split(';')[0]).join('; ');
  const token = /name="_csrf_token" value="([^"]+)"/.exec(page.body)?.[1];
  if (token === undefined) throw new Error('no form token on /login');
  return { cookie, token };
}

describe('the account pages read forms only', () => {
  it('JSON (any charset), text and other bodies: 415 UNSUPPORTED_MEDIA_TYPE, and the sign-in does not run', async () => {
    const { cookie, token } = await loginPage();
    const fields = { email: 'a@b.co', password: 'x'.repeat(10), _csrf_token: token };
    const form = (remote: string): InjectOptions => ({
      method: 'POST',
      url: '/login',
      remoteAddress: remote,
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams(fields).toString(),
    });
    // The login budget of this client before: one failed sign-in spends one step.
    const first = await demo.app.inject(form('203.0.113.9'));
    expect(first.statusCode).toBe(401);
    const remaining = Number(first.headers['x-ratelimit-remaining']);

    const bodies: [string, string][] = [
      ['application/json', JSON.stringify(fields)],
      ['application/json; charset=utf-8', JSON.stringify(fields)],
      ['application/json; charset=latin1', JSON.stringify(fields)],
      ['text/plain', 'hello'],
      ['text/plain; charset=utf-8', new URLSearchParams(fields).toString()],
      ['application/octet-stream', 'hello'],
      ['multipart/form-data; boundary=x', '--x--'],
    ];
    for (const url of ['/login', '/logout']) {
      for (const [type, payload] of bodies) {
        const res = await demo.app.inject({ method: 'POST', url, remoteAddress: '203.0.113.9', headers: { cookie, 'content-type': type }, payload });
        expect(res.statusCode, `${url} ${type}`).toBe(415);
        expect(res.json(), `${url} ${type}`).toEqual({ error: expect.any(String) as string, code: 'UNSUPPORTED_MEDIA_TYPE', request_id: res.headers['x-request-id'] });
        expect(res.headers['x-ratelimit-remaining'], `${url} ${type}`).toBeUndefined();
      }
    }
    // No step was spent by the refused bodies.
    const next = await demo.app.inject(form('203.0.113.9'));
    expect(next.statusCode).toBe(401);
    expect(Number(next.headers['x-ratelimit-remaining'])).toBe(remaining - 1);
  });

  it('a form still signs in or out as before; a POST without a body is still read as an empty form', async () => {
    const { cookie, token } = await loginPage();
    const out = await demo.app.inject({ method: 'POST', url: '/logout', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, payload: `_csrf_token=${encodeURIComponent(token)}` });
    expect(out.statusCode).toBe(303);
    expect(out.headers.location).toBe('/login?signed_out');
    const empty = await demo.app.inject({ method: 'POST', url: '/logout', headers: { cookie } });
    // Read as an empty form, not refused by the body parser: the session is signed out already, so
    // the sign-out (which then needs no token: nothing changes) redirects as any other does.
    expect(empty.statusCode).toBe(303);
    expect(empty.headers.location).toBe('/login?signed_out');
  });
});
