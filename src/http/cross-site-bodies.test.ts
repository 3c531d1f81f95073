/**
 * What a browser posts to the action route from another site without asking first (no CORS
 * preflight): a form (`application/x-www-form-urlencoded`, `multipart/form-data`), `text/plain`
 * (a `fetch` in `no-cors` mode), no body at all. The JSON parser answered those 415 or 400 before
 * the pipeline ran, so the CSRF stage never saw them: no 403, no `malicious_csrf` (found in Chromium
 * through nginx, test/deploy/nginx-browser.test.ts). Each is now 403 CSRF_TOKEN_INVALID with exactly
 * one event; the same bodies from the app's own origin, or from a client that names no source, are
 * answered as before.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { demoApp } from '../../test/helpers/demo.js';
import type { SecurityEvent } from '../ops/security-events.js';

const APP = 'https://app.example.test';
const EVIL = 'https://evil.example';
const ACTION = '/api/livecomponents/action';

describe('action route: cross-site bodies that are not JSON', () => {
  let app: FastifyInstance;
  let events: SecurityEvent[];
  beforeAll(async () => {
    const demo = await demoApp({ APP_URL: APP });
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

  it('leaves a cross-site JSON request to the pipeline: one event, the rate-limit headers of its action', async () => {
    const before = csrfEvents().length;
    const res = await post({ 'content-type': 'application/json', 'sec-fetch-site': 'cross-site', origin: EVIL }, JSON.stringify({ component_id: 'counter:main', action: 'increment', params: {} }));
    expect(res.statusCode).toBe(403);
    expect(res.headers['x-ratelimit-limit']).toBe('60');
    expect(csrfEvents().length - before).toBe(1);
  });
});
