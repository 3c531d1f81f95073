/**
 * `@fastify/formbody` and `@fastify/multipart` beside the plugin, registered before or after it: they
 * add their parsers at the root, ours (application/json) lives in the action route's own context, so
 * nothing collides (no FST_ERR_CTP_ALREADY_PRESENT) and the action route still takes JSON only: a
 * form or multipart body there is 415 `UNSUPPORTED_MEDIA_TYPE`. A form route of the app gets its
 * `_csrf_token` field as a string from formbody, and from multipart with `attachFieldsToBody:
 * 'keyValues'`; with `attachFieldsToBody: true` the field is an object (`{ value, … }`), which
 * `verifyForm` refuses: pass its `.value`.
 */
import formbody from '@fastify/formbody';
import multipart from '@fastify/multipart';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { appsToClose, ecosystemApp, openClient } from './app.js';

const apps = appsToClose();
afterEach(apps.closeAll);

const ACTION = { method: 'POST', url: '/api/livecomponents/action' } as const;
const BOUNDARY = 'lcboundary';
const multipartBody = (fields: Record<string, string>) =>
  Object.entries(fields)
    .map(([name, value]) => `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`)
    .join('') + `--${BOUNDARY}--\r\n`;

/** A form route of the app: verifyForm with the field as the parser left it (`pick` reads it). */
function formRoute(pick: (field: unknown) => unknown) {
  return (app: FastifyInstance) => {
    app.post('/form', async (request) => {
      const field = (request.body as Record<string, unknown>)._csrf_token;
      const session = await app.livecomponents.verifyForm(request, pick(field));
      return { verified: session !== null, field: typeof field };
    });
  };
}

const PARSERS = {
  formbody: (app: FastifyInstance) => app.register(formbody),
  multipart: (app: FastifyInstance) => app.register(multipart, { attachFieldsToBody: 'keyValues' }),
};

describe.each([
  ['formbody', 'before'],
  ['formbody', 'after'],
  ['multipart', 'before'],
  ['multipart', 'after'],
] as const)('@fastify/%s registered %s the plugin', (parser, order) => {
  async function start() {
    const register = PARSERS[parser];
    const form = formRoute((field) => field);
    return apps.track(await ecosystemApp(order === 'before' ? { before: register, after: form } : { after: async (app) => (await register(app), form(app)) }));
  }

  it('the action route takes JSON (200) and refuses form and multipart bodies (415 UNSUPPORTED_MEDIA_TYPE)', async () => {
    const app = await start();
    const client = await openClient(app);
    expect((await client.action('counter:main', 'inc')).statusCode).toBe(200);
    const headers = { cookie: client.cookie, 'x-csrf-token': client.token };
    const urlencoded = await app.inject({ ...ACTION, headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' }, payload: 'component_id=counter%3Amain&action=inc' });
    const formData = await app.inject({ ...ACTION, headers: { ...headers, 'content-type': `multipart/form-data; boundary=${BOUNDARY}` }, payload: multipartBody({ component_id: 'counter:main', action: 'inc' }) });
    for (const res of [urlencoded, formData]) {
      expect(res.statusCode).toBe(415);
      expect(res.json()).toEqual({ error: 'The request body must be JSON (application/json).', code: 'UNSUPPORTED_MEDIA_TYPE', request_id: res.headers['x-request-id'] });
    }
  });

  it("the app's form route: the _csrf_token field is a string and verifyForm gives the session", async () => {
    const app = await start();
    const client = await openClient(app);
    const token = client.token;
    const payload = parser === 'formbody' ? `_csrf_token=${encodeURIComponent(token)}` : multipartBody({ _csrf_token: token });
    const type = parser === 'formbody' ? 'application/x-www-form-urlencoded' : `multipart/form-data; boundary=${BOUNDARY}`;
    const res = await app.inject({ method: 'POST', url: '/form', headers: { 'content-type': type, cookie: client.cookie, origin: 'http://localhost:3000' }, payload });
    expect(res.json()).toEqual({ verified: true, field: 'string' });
  });
});

it('multipart with attachFieldsToBody: true: the field is an object, refused as it is, verified by its .value', async () => {
  const app = apps.track(
    await ecosystemApp({
      before: (a) => a.register(multipart, { attachFieldsToBody: true }),
      after: (a) => {
        formRoute((field) => field)(a);
        a.post('/form-value', async (request) => {
          const field = (request.body as Record<string, { value?: unknown }>)._csrf_token;
          return { verified: (await a.livecomponents.verifyForm(request, field?.value)) !== null };
        });
      },
    }),
  );
  const client = await openClient(app);
  const post = (url: string) =>
    app.inject({ method: 'POST', url, headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}`, cookie: client.cookie }, payload: multipartBody({ _csrf_token: client.token }) });
  expect((await post('/form')).json()).toEqual({ verified: false, field: 'object' });
  expect((await post('/form-value')).json()).toEqual({ verified: true });
});
