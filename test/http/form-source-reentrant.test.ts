/**
 * `refuseForeignForms`' answer watching `send` and shadowing `then` (src/http/form-source.ts) when a
 * hook runs inside another's answer: an answer that runs another `refuseForeignForms` hook (one app's
 * hook composed into another's answer) first. The inner hook removed the reply's own `send` and
 * `then` when it settled — the outer's watcher and shadow with them — so the outer's own answer after
 * it was not seen: with an app's async `onSend`, a 303 it sent was taken for unsent (the error
 * handler ran on a reply already sending); an `async` answer returning the unsent reply adopted the
 * reply's `then` and hung. Each now puts back what it found.
 */
import Fastify, { type FastifyReply, type FastifyRequest, type onRequestHookHandler } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { refuseForeignForms, type ForeignFormAnswer } from '../../src/http/form-source.js';
import { livecomponents } from '../../src/http/plugin.js';
import { memorySecurityEvents } from '../../src/ops/security-events.js';
import { createMemoryStore } from '../../src/store/memory/index.js';
import { testRuntime, tinyCounter } from '../helpers/demo.js';

const EVIL = 'https://evil.example';
const later = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

let server: ReturnType<typeof Fastify> | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** Runs `hook` as a hook runs and resolves with the error it ended with (an inner hook's answer that did not send: its UNSENT). */
const runHook = (hook: onRequestHookHandler, request: FastifyRequest, reply: FastifyReply): Promise<Error | undefined> =>
  new Promise((resolve) => {
    void hook.call(server as never, request, reply, (error?: Error) => resolve(error));
  });

/** An app whose `/form` has `refuseForeignForms(outer)`; `outer` is given the inner hook (an answer that does not send). */
async function start(outer: (inner: onRequestHookHandler) => ForeignFormAnswer) {
  const app = Fastify();
  server = app;
  const events = memorySecurityEvents();
  const runtime = await testRuntime([tinyCounter], createMemoryStore(), { events });
  await app.register(livecomponents, { runtime });
  app.addHook('onSend', async (_request, _reply, payload) => {
    await later();
    return payload;
  });
  const seen = { errorHandler: 0, handled: 0, ownAfter: [] as boolean[] };
  app.setErrorHandler((error, request, reply) => {
    seen.errorHandler += 1;
    return reply.code(500).send({ error: (error as Error).message });
  });
  app.addHook('onResponse', async (_request, reply) => {
    seen.ownAfter.push(Object.hasOwn(reply, 'send') || Object.hasOwn(reply, 'then'));
  });
  const inner = refuseForeignForms(runtime, () => undefined);
  app.post('/form', { onRequest: refuseForeignForms(runtime, outer(inner)) }, async () => {
    seen.handled += 1;
    return 'handled';
  });
  await app.ready();
  const res = await app.inject({ method: 'POST', url: '/form', headers: { origin: EVIL, 'content-type': 'application/x-www-form-urlencoded' }, payload: 'a=1' });
  return { res, seen, events };
}

describe('refuseForeignForms: an answer that runs another refuseForeignForms hook first', () => {
  it('then sends its 303 (an async onSend of the app): the 303 stands, the error handler never runs, nothing left on the reply', async () => {
    const { res, seen, events } = await start((inner) => async (request, reply) => {
      const innerError = await runHook(inner, request, reply);
      if (innerError === undefined) throw new Error('the inner hook was expected to fail its unsent answer');
      reply.code(303).header('location', '/').send();
    });
    expect([res.statusCode, res.headers.location, seen.errorHandler, seen.handled, seen.ownAfter]).toEqual([303, '/', 0, 0, [false]]);
    // One per hook: each refused the post.
    expect(events.events.map((e) => e.event)).toEqual(['malicious_csrf', 'malicious_csrf']);
  });

  it('then returns the reply unsent from an async answer: the error handler’s 500 (it hung)', async () => {
    const { res, seen } = await start((inner) => async (request, reply) => {
      await runHook(inner, request, reply);
      return reply.code(303).header('location', '/');
    });
    expect([res.statusCode, seen.errorHandler, seen.handled, seen.ownAfter]).toEqual([500, 1, 0, [false]]);
  });
});
