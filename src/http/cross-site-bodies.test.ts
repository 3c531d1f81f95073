/**
 * The action route refuses a post whose source the CSRF stage's source check refuses
 * (`Sec-Fetch-Site: cross-site`, an `Origin` neither the app's nor a configured one) as CSRF, whatever
 * its body: 403 CSRF_TOKEN_INVALID, exactly one `malicious_csrf`, no `malicious_cors` beside it
 * (PROTOCOL §3: CSRF first). A body that is not JSON is refused in `onRequest`, before it is read; a
 * JSON body the parser refuses, in the route's error handler; JSON that names no action, by
 * `handleAction`; a JSON action, by the pipeline's CSRF stage, with its rate-limit fields.
 *
 * First what a browser posts from another site without asking (no CORS preflight): a form
 * (`application/x-www-form-urlencoded`, `multipart/form-data`), `text/plain` (a `fetch` in `no-cors`
 * mode), no body at all — answered 415 or 400 by the JSON parser before the pipeline ran (found in
 * Chromium through nginx, test/deploy/nginx-browser.test.ts). Then JSON bodies the parser or the body
 * check refused before the CSRF stage: malformed (400), a charset other than UTF-8 (415), over the
 * body limit (413), naming no action (400), each with no CSRF event (a foreign Origin's only trace was
 * CORS's `malicious_cors`). The same bodies from the app's own origin, a configured one, or a client
 * that names no source are answered as before, with no event.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { demoApp } from '../../test/helpers/demo.js';
import type { SecurityEvent } from '../ops/security-events.js';
import { ACTION_BODY_LIMIT } from './plugin.js';

const APP = 'https://app.example.test';
const EVIL = 'https://evil.example';
/** A configured origin (CORS_ALLOWED_ORIGINS): the CSRF stage trusts it too. */
const ADMIN = 'https://admin.example.test';
const ACTION = '/api/livecomponents/action';

describe('action route: a refused source is refused as CSRF, whatever the body', () => {
  let app: FastifyInstance;
  let events: SecurityEvent[];
  beforeAll(async () => {
    const demo = await demoApp({ APP_URL: APP, CORS_ALLOWED_ORIGINS: ADMIN });
    app = demo.app;
    events = demo.events.events;
  });
  afterAll(async () => {
    await app.close();
  });

  const post = (headers: Record<string, string>, payload?: string) => app.inject({ method: 'POST', url: ACTION, headers, ...(payload === undefined ? {} : { payload }) });
  const csrfEvents = () => events.filter((e) => e.event === 'malicious_csrf');

  const ATTEMPTS: [string, Record<string, string>, string | undefined][] = [
    ['a form, Sec-Fetch-Site cross-site', { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'cross-site', origin: EVIL }, 'component_id=counter%3Amain&action=increment'],
    ['a multipart form', { 'content-type': 'multipart/form-data; boundary=x', 'sec-fetch-site': 'cross-site', origin: EVIL }, '--x\r\nContent-Disposition: form-data; name="action"\r\n\r\nincrement\r\n--x--\r\n'],
    ['text/plain JSON (fetch no-cors)', { 'content-type': 'text/plain;charset=UTF-8', 'sec-fetch-site': 'cross-site', origin: EVIL }, '{"component_id":"counter:main","action":"increment","params":{}}'],
    ['no body', { 'sec-fetch-site': 'cross-site', origin: EVIL }, undefined],
    ['a form from a foreign Origin, no Sec-Fetch-Site (an older browser)', { 'content-type': 'application/x-www-form-urlencoded', origin: EVIL }, 'action=increment'],
    ['a form after a redirect (Origin null, cross-site)', { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'cross-site', origin: 'null' }, 'action=increment'],
  ];

  for (const [what, headers, payload] of ATTEMPTS) {
    it(`refuses ${what}: 403 CSRF_TOKEN_INVALID, one malicious_csrf`, async () => {
      const before = csrfEvents().length;
      const res = await post(headers, payload);
      expect(res.statusCode, res.body).toBe(403);
      expect(res.json()).toMatchObject({ code: 'CSRF_TOKEN_INVALID' });
      expect(res.headers).toMatchObject({ 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
      expect(csrfEvents().length - before).toBe(1);
      expect(csrfEvents().at(-1)?.description).toMatch(/^CSRF: action refused, (Sec-Fetch-Site is cross-site|Origin header is not a trusted origin)/);
    });
  }

  it('answers the same bodies from the app’s own origin, or with no source named, as before: 415 / 400, no event', async () => {
    const before = csrfEvents().length;
    const own = await post({ 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'same-origin', origin: APP }, 'action=increment');
    expect(own.statusCode).toBe(415);
    const tool = await post({ 'content-type': 'text/plain' }, '{}');
    expect(tool.statusCode).toBe(415);
    const empty = await post({ 'sec-fetch-site': 'same-origin', origin: APP });
    expect(empty.statusCode).toBe(400);
    expect(csrfEvents().length).toBe(before);
  });

  const ACTION_JSON = JSON.stringify({ component_id: 'counter:main', action: 'increment', params: {} });
  /** What is wrong with each, its content type and body, and the parser's (or body check's) answer to the app's own page. */
  const JSON_BODIES: [string, string, string, number, string][] = [
    ['malformed JSON', 'application/json', '{"component_id":"counter:main",', 400, 'INVALID_REQUEST'],
    ['a charset other than UTF-8', 'application/json; charset=iso-8859-1', ACTION_JSON, 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['JSON over the body limit', 'application/json', JSON.stringify({ component_id: 'counter:main', action: 'increment', params: { x: 'a'.repeat(ACTION_BODY_LIMIT) } }), 413, 'PAYLOAD_TOO_LARGE'],
    ['JSON that names no action', 'application/json', JSON.stringify({ params: {} }), 400, 'INVALID_REQUEST'],
  ];
  const FOREIGN: [string, Record<string, string>, RegExp][] = [
    ['Sec-Fetch-Site cross-site', { 'sec-fetch-site': 'cross-site' }, /^CSRF: action refused, Sec-Fetch-Site is cross-site$/],
    ['a foreign Origin', { origin: EVIL }, /^CSRF: action refused, Origin header is not a trusted origin/],
  ];
  const OWN: [string, Record<string, string>][] = [
    ['the app’s own page', { 'sec-fetch-site': 'same-origin', origin: APP }],
    ['a configured origin', { 'sec-fetch-site': 'same-site', origin: ADMIN }],
    ['the app’s page under no-referrer (Origin null, same-origin)', { 'sec-fetch-site': 'same-origin', origin: 'null' }],
    ['a client naming no source', {}],
  ];

  for (const [body, contentType, payload] of JSON_BODIES) {
    for (const [source, headers, description] of FOREIGN) {
      it(`refuses ${body} from ${source}: 403 CSRF_TOKEN_INVALID, exactly one malicious_csrf`, async () => {
        const before = events.length;
        const res = await post({ ...headers, 'content-type': contentType }, payload);
        expect(res.statusCode, res.body).toBe(403);
        expect(res.json()).toMatchObject({ code: 'CSRF_TOKEN_INVALID' });
        // The parser's refusals close the connection (Fastify's own rule); JSON that names no action was read whole.
        expect(res.headers.connection).toBe(body === 'JSON that names no action' ? 'keep-alive' : 'close');
        // No action named: no action's rate-limit fields.
        expect(res.headers['x-ratelimit-limit']).toBeUndefined();
        expect(events.slice(before).map((e) => e.event)).toEqual(['malicious_csrf']);
        expect(events.at(-1)?.description).toMatch(description);
      });
    }
    for (const [source, headers] of OWN) {
      it(`answers ${body} from ${source} as before, with no event`, async () => {
        const [, , , status, code] = JSON_BODIES.find(([what]) => what === body)!;
        const before = events.length;
        const res = await post({ ...headers, 'content-type': contentType }, payload);
        expect([res.statusCode, res.json().code], res.body).toEqual([status, code]);
        expect(events.length - before).toBe(0);
      });
    }
  }

  it('refuses a cross-site JSON action in the pipeline’s CSRF stage: one event, the address’s rate-limit fields (PROTOCOL §3: on every action response)', async () => {
    const before = events.length;
    const res = await post({ 'content-type': 'application/json', 'sec-fetch-site': 'cross-site', origin: EVIL }, ACTION_JSON);
    expect([res.statusCode, res.json().code]).toEqual([403, 'CSRF_TOKEN_INVALID']);
    expect(res.headers['x-ratelimit-limit']).toBe('60');
    expect(events.slice(before).map((e) => e.event)).toEqual(['malicious_csrf']);
  });

  it('counts one event for an action path the router decodes (/api/livecomponents/%61ction): CORS sees the route, not the text', async () => {
    const before = events.length;
    const res = await app.inject({ method: 'POST', url: '/api/livecomponents/%61ction', headers: { origin: EVIL, 'content-type': 'text/plain' }, payload: 'x' });
    expect([res.statusCode, res.json().code]).toEqual([403, 'CSRF_TOKEN_INVALID']);
    expect(events.slice(before).map((e) => e.event)).toEqual(['malicious_csrf']);
  });
});
