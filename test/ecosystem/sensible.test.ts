/**
 * `@fastify/sensible` beside the plugin, with `livecomponentsErrorHandler` on the app: its HTTP errors
 * thrown or sent from the app's routes answer in PROTOCOL §3's shape, a 4xx with the registry's code
 * for its status and sentence (not sensible's message). A 503 from it has no code of its own, as an
 * upstream's error would not either: it stays a 500 `INTERNAL_ERROR` (only a Fastify-coded 503, as
 * `@fastify/under-pressure` sends, answers 503). The action route is untouched.
 */
import sensible from '@fastify/sensible';
import { afterEach, expect, it } from 'vitest';
import { livecomponentsErrorHandler } from '../../src/index.js';
import { appsToClose, ecosystemApp, openClient } from './app.js';

const apps = appsToClose();
afterEach(apps.closeAll);

it("sensible's errors on the app's routes: 404, 403 and 418 in PROTOCOL shape; its 503 a 500", async () => {
  const app = apps.track(
    await ecosystemApp({
      // The 500's stack goes to the log: silent here, the app's choice.
      server: { logger: { level: 'silent' } },
      before: (a) => {
        a.setErrorHandler(livecomponentsErrorHandler);
        return a.register(sensible);
      },
      after: (a) => {
        a.get('/missing', async (_request, reply) => reply.notFound('order 42 of user 7'));
        a.get('/forbidden', async () => {
          throw a.httpErrors.forbidden('not your order');
        });
        a.get('/teapot', async () => {
          throw a.httpErrors.imateapot();
        });
        a.get('/unavailable', async (_request, reply) => reply.serviceUnavailable());
      },
    }),
  );
  const answers = await Promise.all(['/missing', '/forbidden', '/teapot', '/unavailable'].map((url) => app.inject({ url })));
  expect(answers.map((res) => [res.statusCode, res.json<{ code: string }>().code])).toEqual([
    [404, 'NOT_FOUND'],
    [403, 'FORBIDDEN'],
    [400, 'INVALID_REQUEST'],
    [500, 'INTERNAL_ERROR'],
  ]);
  expect(answers.map((res) => res.body).join()).not.toMatch(/order 42|not your order/);
  expect((await (await openClient(app)).action('counter:main', 'inc')).statusCode).toBe(200);
});
