/**
 * The app's own root hooks and handlers, set before or after the plugin. Its onRequest, preHandler
 * and onSend hooks run on our routes too (the plugin adds no context of its own around them, only
 * around the action route, which inherits them); its error handler does not replace the action
 * route's (PROTOCOL §3 answers stay), and its not-found handler answers a GET on the action path.
 * Ours reaches the app's routes with one thing only: the `X-Request-Id` header on every answer.
 */
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { appsToClose, ecosystemApp, openClient } from './app.js';

const apps = appsToClose();
afterEach(apps.closeAll);

/** Root hooks that mark the reply, an error handler and a not-found handler of the app's own shapes. */
function appHooks(app: FastifyInstance): void {
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-app-onrequest', '1');
    if (request.headers['x-deny'] !== undefined) throw Object.assign(new Error('denied'), { statusCode: 401 });
  });
  app.addHook('preHandler', async (_request, reply) => void reply.header('x-app-prehandler', '1'));
  app.addHook('onSend', async (_request, reply, payload) => (reply.header('x-app-onsend', '1'), payload));
  app.setErrorHandler((error: Error & { statusCode?: number }, _request, reply) => reply.code(error.statusCode ?? 500).send({ app_error: error.message }));
  app.setNotFoundHandler((_request, reply) => reply.code(404).send({ app_not_found: true }));
  app.get('/mine', async () => {
    throw new Error('boom');
  });
}

const marks = (headers: Record<string, unknown>) => ['x-app-onrequest', 'x-app-prehandler', 'x-app-onsend'].map((name) => headers[name]);

describe.each(['before', 'after'] as const)('hooks and handlers set %s the plugin', (order) => {
  const start = async () => apps.track(await ecosystemApp({ [order]: appHooks }));

  it("run the app's hooks on the action route and the runtime's script", async () => {
    const app = await start();
    const action = await (await openClient(app)).action('counter:main', 'inc');
    const script = await app.inject({ url: '/livecomponents/client.js' });
    expect([action.statusCode, ...marks(action.headers)]).toEqual([200, '1', '1', '1']);
    expect([script.statusCode, ...marks(script.headers)]).toEqual([200, '1', '1', '1']);
  });

  it("keep the action route's errors PROTOCOL's: bad JSON, and the app hook's 401", async () => {
    const app = await start();
    const post = (headers: Record<string, string>, payload: string) =>
      app.inject({ method: 'POST', url: '/api/livecomponents/action', headers: { 'content-type': 'application/json', ...headers }, payload });
    const bad = await post({}, '{');
    expect([bad.statusCode, bad.json(), bad.headers['cache-control']]).toEqual([400, { error: 'The body is not valid JSON.', code: 'INVALID_REQUEST', request_id: bad.headers['x-request-id'] }, 'no-store']);
    const denied = await post({ 'x-deny': '1' }, '{}');
    expect([denied.statusCode, denied.json<{ code: string }>().code, denied.headers['cache-control']]).toEqual([401, 'UNAUTHENTICATED', 'no-store']);
  });

  it("leave the app's routes to the app's handlers, with our X-Request-Id", async () => {
    const app = await start();
    const mine = await app.inject({ url: '/mine' });
    expect([mine.statusCode, mine.json(), mine.headers['x-request-id']]).toEqual([500, { app_error: 'boom' }, 'req-1']);
    const getAction = await app.inject({ url: '/api/livecomponents/action' });
    expect([getAction.statusCode, getAction.json()]).toEqual([404, { app_not_found: true }]);
  });
});
