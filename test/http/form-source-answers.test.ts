/**
 * `refuseForeignForms`' answer (src/http/form-source.ts), every way an app may write it: whatever it
 * does, a refused post ends in an answer — the answer's own when it sent one, else the route's error
 * handler's 500 — and never reaches the parser (the bodies here are over the route's 100 bytes: a
 * 413 would say the parser ran) or the handler. An `async` answer returning the reply unsent
 * (`async (request, reply) => reply.code(303)`) left the request hanging: its promise adopted the
 * reply, a thenable that settles only once a response is written. And with an app's async `onSend`
 * hook, an answer that sent was taken for one that did not (`reply.sent` waits for the response's end):
 * a 500 over the answer. test/http/form-source.test.ts: the hook on an app's route.
 */
import Fastify, { type FastifyReply } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refuseForeignForms, type ForeignFormAnswer } from '../../src/http/form-source.js';
import { livecomponents } from '../../src/http/plugin.js';
import { memorySecurityEvents } from '../../src/ops/security-events.js';
import { createMemoryStore } from '../../src/store/memory/index.js';
import { testRuntime, tinyCounter } from '../helpers/demo.js';

const EVIL = 'https://evil.example';
const OVERSIZE = `a=${'x'.repeat(500)}`;

const later = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const redirect = (reply: FastifyReply) => reply.code(303).header('location', '/');

/** Answers that do not send: each must end in the error handler's 500. */
const UNSENT: Record<string, ForeignFormAnswer> = {
  'sync, returns nothing': (_request, reply) => {
    reply.code(303);
  },
  'sync, returns the unsent reply': (_request, reply) => redirect(reply),
  'sync, returns a promise of the unsent reply': (_request, reply) => Promise.resolve(redirect(reply)),
  'async, returns nothing': async (_request, reply) => {
    reply.code(303);
  },
  'async, returns the unsent reply': async (_request, reply) => redirect(reply),
  'async, returns the unsent reply after an await': async (_request, reply) => {
    await later();
    return redirect(reply);
  },
};

/** Answers that fail before sending: each must end in the error handler's 500 too. */
const FAILING: Record<string, ForeignFormAnswer> = {
  'sync, throws': () => {
    throw new Error('answer failed');
  },
  'sync, throws a string': () => {
    throw 'answer failed';
  },
  'async, rejects': async () => {
    await later();
    throw new Error('answer failed');
  },
  'sync, returns a promise rejected with undefined': () => Promise.reject(undefined as unknown as Error),
};

/** Answers that send, however they return: each answer stands (303 to /). */
const SENT: Record<string, ForeignFormAnswer> = {
  'sync, returns the sent reply': (_request, reply) => redirect(reply).send(),
  'sync, sends and returns nothing': (_request, reply) => {
    redirect(reply).send();
  },
  'async, returns the sent reply': async (_request, reply) => redirect(reply).send(),
  'async, sends after an await, returns nothing': async (_request, reply) => {
    await later();
    redirect(reply).send();
  },
  'sync, reply.redirect': (_request, reply) => reply.redirect('/', 303),
  'sync, sends then throws': (_request, reply) => {
    redirect(reply).send();
    throw new Error('after the answer');
  },
  'async, sends then rejects': async (_request, reply) => {
    redirect(reply).send();
    await later();
    throw new Error('after the answer');
  },
};

/** One app per `onSend`: without one of the app's own, and with an async one (a compression or header plugin). */
async function start(asyncOnSend: boolean) {
  const server = Fastify();
  const events = memorySecurityEvents();
  const runtime = await testRuntime([tinyCounter], createMemoryStore(), { events });
  await server.register(livecomponents, { runtime });
  if (asyncOnSend) {
    server.addHook('onSend', async (_request, reply, payload) => {
      await later();
      reply.header('x-app-on-send', '1');
      return payload;
    });
  }
  const handled: string[] = [];
  const routes = { ...UNSENT, ...FAILING, ...SENT };
  await server.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 100 }, (_request, body, done) => done(null, body));
    Object.values(routes).forEach((answer, index) => {
      scope.post(`/r${index}`, { onRequest: refuseForeignForms(runtime, answer) }, async (request) => {
        handled.push(request.url);
        return 'handled';
      });
    });
  });
  await server.ready();
  const urls = new Map(Object.keys(routes).map((name, index) => [name, `/r${index}`]));
  return { server, events, handled, urls };
}

for (const asyncOnSend of [false, true]) {
  describe(`refuseForeignForms: the answer ends the request, whatever it does (${asyncOnSend ? 'with' : 'without'} an async onSend hook of the app)`, () => {
    let app: Awaited<ReturnType<typeof start>>;
    beforeAll(async () => {
      app = await start(asyncOnSend);
    });
    afterAll(async () => {
      await app.server.close();
    });

    const post = (name: string) =>
      app.server.inject({ method: 'POST', url: app.urls.get(name) ?? '/missing', headers: { origin: EVIL, 'content-type': 'application/x-www-form-urlencoded' }, payload: OVERSIZE });

    for (const [name, kind] of [...Object.keys(UNSENT).map((n) => [n, 'does not send'] as const), ...Object.keys(FAILING).map((n) => [n, 'fails before sending'] as const)]) {
      it(`an answer that ${kind} (${name}): the error handler’s 500, one malicious_csrf, Connection: close, neither parser nor handler`, async () => {
        app.events.events.length = 0;
        const res = await post(name);
        expect([res.statusCode, res.body.includes('handled'), res.headers.connection]).toEqual([500, false, 'close']);
        expect(app.events.events.map((e) => e.event)).toEqual(['malicious_csrf']);
        expect(app.handled).toEqual([]);
      });
    }

    for (const name of Object.keys(SENT)) {
      it(`an answer that sends (${name}): its 303 stands, one malicious_csrf, neither parser nor handler`, async () => {
        app.events.events.length = 0;
        const res = await post(name);
        expect([res.statusCode, res.headers.location, res.headers.connection, res.headers['x-app-on-send']]).toEqual([303, '/', 'close', asyncOnSend ? '1' : undefined]);
        expect(app.events.events.map((e) => e.event)).toEqual(['malicious_csrf']);
        expect(app.handled).toEqual([]);
      });
    }
  });
}
