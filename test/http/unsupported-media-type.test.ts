/**
 * Fastify's 415 (no parser for the body's media type in the route's context) names what the route
 * takes: a form route does not say the body must be JSON.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/core/errors.js';
import { sendError } from '../../src/http/error-mapping.js';
import { useJsonBodies } from '../../src/http/json-body.js';
import { demoApp } from '../helpers/demo.js';

let app: FastifyInstance;

beforeAll(async () => {
  app = Fastify();
  app.setErrorHandler((error, request, reply) => sendError(error, request, reply));
  await app.register(async (json) => {
    useJsonBodies(json, { bodyLimit: 1024 });
    json.post('/json', async () => 'ok');
  });
  await app.register(async (form) => {
    form.removeAllContentTypeParsers();
    form.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => done(null, body));
    form.post('/form', async () => 'ok');
  });
  await app.register(async (none) => {
    none.removeAllContentTypeParsers();
    none.addContentTypeParser('application/xml', { parseAs: 'string' }, (_request, body, done) => done(null, body));
    none.post('/xml', async () => 'ok');
  });
  await app.ready();
});
afterAll(() => app?.close());

async function post(url: string, contentType: string): Promise<{ status: number; body: { error: string; code: string } }> {
  const res = await app.inject({ method: 'POST', url, headers: { 'content-type': contentType }, payload: '{}' });
  return { status: res.statusCode, body: res.json() };
}

it('a JSON route: 415 UNSUPPORTED_MEDIA_TYPE, "must be JSON"', async () => {
  expect(await post('/json', 'text/plain')).toMatchObject({ status: 415, body: { code: 'UNSUPPORTED_MEDIA_TYPE', error: ERROR_CODES.UNSUPPORTED_MEDIA_TYPE.message } });
});

it('a form route posted JSON: 415 naming the form media type', async () => {
  expect(await post('/form', 'application/json')).toMatchObject({
    status: 415,
    body: { code: 'UNSUPPORTED_MEDIA_TYPE', error: 'The request body must be application/x-www-form-urlencoded.' },
  });
});

it('a route taking none of the common types: a neutral sentence', async () => {
  expect(await post('/xml', 'application/json')).toMatchObject({
    status: 415,
    body: { code: 'UNSUPPORTED_MEDIA_TYPE', error: 'This route does not take a request body of this media type.' },
  });
});

it('the reference app: POST /login with JSON names the form media type', async () => {
  const demo = await demoApp();
  try {
    const res = await demo.app.inject({ method: 'POST', url: '/login', headers: { 'content-type': 'application/json' }, payload: '{}' });
    expect(res.statusCode).toBe(415);
    expect(res.json()).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE', error: 'The request body must be application/x-www-form-urlencoded.' });
  } finally {
    await demo.app.close();
  }
});
