/**
 * What a browser sees when the reference app refuses a page (error-page.ts): a visitor past
 * `NEW_SESSION_LIMIT` opening a page, or posting the sign-in form without a session, read PROTOCOL
 * §3's JSON 429 as text. Now an HTML page says so and how long to wait, with the JSON answer's status
 * and headers (`Retry-After`, the rate-limit fields), the pages' policy and `no-store`, no cookie and
 * no session; the same for a 404 or 405 of a page path. The API (the action route, the auth API) and
 * clients that do not ask for HTML get the JSON exactly as before.
 */
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { demoApp } from '../../test/helpers/demo.js';
import { prefersHtml } from './error-page.js';

/** Written out, not imported from app.ts: as in page-policy.test.ts. */
const POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'self'; form-action 'self'";
/** What Chromium sends with a navigation. */
const BROWSER = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7';
const APP = 'https://app.example.test';
const FORM = 'application/x-www-form-urlencoded';
const RATE_HEADERS = ['retry-after', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset', 'ratelimit-policy', 'ratelimit'];

const rateHeadersOf = (res: LightMyRequestResponse) => RATE_HEADERS.map((name) => [name, res.headers[name] === undefined ? 'absent' : 'present']);

/** The page passes the strict policy: nothing inline (script, style, handler), only this origin's files. */
function expectStrictPage(res: LightMyRequestResponse): void {
  expect(String(res.headers['content-type'])).toBe('text/html; charset=utf-8');
  expect(res.headers['content-security-policy']).toBe(POLICY);
  expect(res.headers['cache-control']).toBe('no-store');
  expect(res.headers['x-content-type-options']).toBe('nosniff');
  expect(res.headers['set-cookie']).toBeUndefined();
  expect(res.body.startsWith('<!doctype html>')).toBe(true);
  expect(res.body).not.toMatch(/<script|<style|\sstyle=|\son[a-z]+=|javascript:|csrf-token/i);
  expect([...res.body.matchAll(/(?:href|src)="([^"]*)"/g)].map((m) => m[1]).filter((url) => !url?.startsWith('/'))).toEqual([]);
}

describe('the reference app: a refused page, as a browser sees it', () => {
  let demo: Awaited<ReturnType<typeof demoApp>>;
  beforeAll(async () => {
    demo = await demoApp({ NEW_SESSION_LIMIT: '1', APP_URL: APP });
  });
  afterAll(() => demo?.app.close());

  const get = (url: string, ip: string, accept?: string, method: 'GET' | 'HEAD' = 'GET') =>
    demo.app.inject({ method, url, remoteAddress: ip, headers: accept === undefined ? {} : { accept } });
  /** Sessions written while `work` runs. */
  async function sessionsWritten<T>(work: () => Promise<T>): Promise<[T, number]> {
    const sets = vi.spyOn(demo.app.livecomponents.runtime.store, 'set');
    try {
      const result = await work();
      return [result, sets.mock.calls.filter(([key]) => String(key).endsWith(':session')).length];
    } finally {
      sets.mockRestore();
    }
  }

  it('a GET past NEW_SESSION_LIMIT: the HTML page (429, its wait, the JSON’s rate-limit headers), no cookie, no session; without Accept, with */* or JSON: the JSON 429 as before', async () => {
    const ip = '192.0.2.41';
    expect((await get('/', ip)).statusCode).toBe(200);
    demo.events.events.length = 0;
    const [page, written] = await sessionsWritten(() => get('/orders', ip, BROWSER));
    expect([page.statusCode, written]).toEqual([429, 0]);
    expectStrictPage(page);
    const wait = Number(page.headers['retry-after']);
    expect(Number.isInteger(wait) && wait > 0).toBe(true);
    expect(page.body).toContain(`<p data-retry-after="${wait}">Try again in ${wait} second${wait === 1 ? '' : 's'}.</p>`);
    expect(page.body).toContain('<h1>Too many requests</h1>');
    expect(page.body).toContain('data-error-code="RATE_LIMIT_EXCEEDED"');
    expect(String(page.headers.vary).split(/,\s*/)).toContain('Accept');
    expect(demo.events.events.map((e) => e.event)).toEqual(['excess_rate_limit_exceeded']);

    const json = await get('/orders', ip);
    expect(json.statusCode).toBe(429);
    expect(String(json.headers['content-type'])).toBe('application/json; charset=utf-8');
    expect(Object.keys(json.json()).sort()).toEqual(['code', 'error', 'limit', 'request_id', 'retry_after', 'window']);
    expect(json.json()).toMatchObject({ code: 'RATE_LIMIT_EXCEEDED', error: 'Too many requests. Please wait and try again.', limit: 1 });
    expect([json.headers['set-cookie'], String(json.headers.vary).split(/,\s*/).includes('Accept')]).toEqual([undefined, true]);
    // The page is that answer: the same rate-limit headers, with the same limit.
    expect(rateHeadersOf(page)).toEqual(rateHeadersOf(json));
    expect(rateHeadersOf(page).every(([, state]) => state === 'present')).toBe(true);
    expect([page.headers['x-ratelimit-limit'], page.headers['ratelimit-policy']]).toEqual([json.headers['x-ratelimit-limit'], json.headers['ratelimit-policy']]);
    // Clients that do not prefer HTML keep the JSON.
    for (const accept of ['*/*', 'application/json', 'text/html;q=0.5, application/json', 'text/html, application/json']) {
      const res = await get('/orders', ip, accept);
      expect([accept, res.statusCode, String(res.headers['content-type'])]).toEqual([accept, 429, 'application/json; charset=utf-8']);
    }
  });

  it('POST /login without a session past the limit: the HTML 429, no cookie; without Accept: the JSON 429 as before', async () => {
    const ip = '192.0.2.43';
    expect((await get('/login', ip)).statusCode).toBe(200);
    const post = (accept?: string) =>
      demo.app.inject({
        method: 'POST',
        url: '/login',
        remoteAddress: ip,
        headers: { 'content-type': FORM, origin: APP, 'sec-fetch-site': 'same-origin', ...(accept === undefined ? {} : { accept }) },
        payload: 'email=ada%40example.com&password=x&_csrf_token=t',
      });
    const [page, written] = await sessionsWritten(() => post(BROWSER));
    expect([page.statusCode, written]).toEqual([429, 0]);
    expectStrictPage(page);
    expect(page.body).toContain(`Try again in ${String(page.headers['retry-after'])} second`);
    const json = await post();
    expect([json.statusCode, json.json<{ code: string }>().code, json.headers['set-cookie']]).toEqual([429, 'RATE_LIMIT_EXCEEDED', undefined]);
    expect(rateHeadersOf(page)).toEqual(rateHeadersOf(json));
  });

  it('a page path not found, or a method it does not take: the HTML 404 / 405 (Allow kept) for a browser, the JSON for others and for any path of the API', async () => {
    const ip = '192.0.2.44';
    const missing = await get('/nope', ip, BROWSER);
    expect([missing.statusCode, missing.body.includes('<h1>Page not found</h1>')]).toEqual([404, true]);
    expectStrictPage(missing);
    const method = await demo.app.inject({ method: 'POST', url: '/', remoteAddress: ip, headers: { accept: BROWSER, 'content-type': FORM }, payload: 'a=1' });
    expect([method.statusCode, method.headers.allow, method.body.includes('data-error-code="METHOD_NOT_ALLOWED"')]).toEqual([405, 'GET, HEAD', true]);
    expectStrictPage(method);
    const json = await get('/nope', ip);
    expect([json.statusCode, json.json<{ code: string }>().code]).toEqual([404, 'NOT_FOUND']);
    // The API answers JSON whatever Accept says: the action route, the auth API, their 404 and 405.
    const action = await demo.app.inject({
      method: 'POST',
      url: '/api/livecomponents/action',
      remoteAddress: ip,
      headers: { accept: BROWSER, 'content-type': 'application/json', origin: APP },
      payload: JSON.stringify({ component_id: 'counter:main', action: 'increment', params: {} }),
    });
    const auth = await demo.app.inject({ method: 'POST', url: '/api/v1/auth/login', remoteAddress: ip, headers: { accept: BROWSER, 'content-type': 'application/json', origin: APP }, payload: '{' });
    const apiMissing = await get('/api/v1/auth/nope', ip, BROWSER);
    const apiMethod = await get('/api/livecomponents/action', ip, BROWSER);
    const answers = [action, auth, apiMissing, apiMethod].map((res) => [res.statusCode, String(res.headers['content-type']), res.json<{ code: string }>().code, String(res.headers.vary).includes('Accept')]);
    expect(answers).toEqual([
      [403, 'application/json; charset=utf-8', 'CSRF_TOKEN_INVALID', false],
      [400, 'application/json; charset=utf-8', 'INVALID_REQUEST', false],
      [404, 'application/json; charset=utf-8', 'NOT_FOUND', false],
      [405, 'application/json; charset=utf-8', 'METHOD_NOT_ALLOWED', false],
    ]);
  });
});

describe('prefersHtml: Accept negotiation between the page and the JSON', () => {
  it.each([
    [BROWSER, true],
    ['text/html', true],
    ['application/xhtml+xml', true],
    ['TEXT/HTML;q=0.9, */*;q=0.1', true],
    ['text/html;q=1, application/json;q=0.9', true],
    ['text/html, application/*;q=0.5', true],
    [undefined, false],
    ['', false],
    ['*/*', false],
    ['text/*', false],
    ['application/json', false],
    ['text/html, application/json', false],
    ['text/html;q=0.5, */*', false],
    ['text/html;q=0', false],
    ['text/html;q=abc', false],
    ['text/html;q=2', false],
    ['application/json;q=0.1, text/html;q=0.2', true],
    ['application/*, text/html;q=0.9', false],
  ])('%s: %s', (accept, expected) => {
    expect(prefersHtml(accept)).toBe(expected);
  });
});

describe('review: the API path is the path the router matched, however it is spelled', () => {
  let demo: Awaited<ReturnType<typeof demoApp>>;
  beforeAll(async () => {
    demo = await demoApp({ APP_URL: APP });
  });
  afterAll(() => demo?.app.close());

  it('an API route reached by a percent-encoded path (/%61pi/…, the router decodes it): its 405 is the JSON, not the page', async () => {
    const urls = ['/%61pi/livecomponents/action', '/%61pi/v1/auth/login', '/api/v1/auth/%6Cogin', '/%61%70%69/livecomponents/action?x=1'];
    const answers = await Promise.all(urls.map((url) => demo.app.inject({ method: 'GET', url, remoteAddress: '192.0.2.45', headers: { accept: BROWSER } })));
    expect(answers.map((res) => [res.statusCode, String(res.headers['content-type']), res.headers.allow, String(res.headers.vary).includes('Accept')])).toEqual(
      urls.map(() => [405, 'application/json; charset=utf-8', 'POST', false]),
    );
    expect(answers.map((res) => res.json<{ code: string }>().code)).toEqual(urls.map(() => 'METHOD_NOT_ALLOWED'));
    // Not the API: spelled otherwise, the router finds no route either (the page 404 stands).
    for (const url of ['/API/livecomponents/action', '//api/livecomponents/action']) {
      const res = await demo.app.inject({ method: 'GET', url, remoteAddress: '192.0.2.45', headers: { accept: BROWSER } });
      expect([url, res.statusCode, String(res.headers['content-type'])]).toEqual([url, 404, 'text/html; charset=utf-8']);
    }
  });
});

describe('review: prefersHtml reads a browser’s Accept, not any length of header', () => {
  /** Calls of String.prototype.split while `accept` is read: the work it costs, counted rather than timed. */
  function splitsFor(accept: string): [boolean, number] {
    const split = vi.spyOn(String.prototype, 'split');
    try {
      const answer = prefersHtml(accept);
      return [answer, split.mock.calls.length];
    } finally {
      split.mockRestore();
    }
  }

  it('a 16 KiB Accept (8,000 ranges, or one range with 16,000 parameters) is no browser’s: the JSON, read in a bounded number of steps', () => {
    const shapes = ['text/html,' + 'a,'.repeat(8000), 'text/html' + ';'.repeat(16000), 'text/html,' + Array.from({ length: 1300 }, (_, i) => `a/b${i};q=0.5`).join(',')];
    expect(shapes.map((accept) => splitsFor(accept))).toEqual(shapes.map(() => [false, 0]));
    // A browser's is read as before.
    expect(splitsFor(BROWSER)[0]).toBe(true);
  });
});
