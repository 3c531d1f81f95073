/**
 * `@fastify/static` serving a public folder at `/` beside the plugin, registered before or after it:
 * its files are served, `/livecomponents/client.js` stays ours even when the folder has a file at that
 * path, and a missing file answers 404 `NOT_FOUND` under `notFoundHandler`. The static route calls
 * `reply.callNotFound()` for it, and the handler used to see that path's GET route and answer 405
 * `METHOD_NOT_ALLOWED` with `Allow: GET, HEAD` to a GET.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { livecomponentsErrorHandler, notFoundHandler } from '../../src/index.js';
import { appsToClose, ecosystemApp } from './app.js';

const apps = appsToClose();
afterEach(apps.closeAll);

/** A public folder with `hello.txt` and a file where the runtime's script lives. */
function publicFolder(): string {
  const root = mkdtempSync(join(tmpdir(), 'lc-public-'));
  writeFileSync(join(root, 'hello.txt'), 'hello\n');
  mkdirSync(join(root, 'livecomponents'));
  writeFileSync(join(root, 'livecomponents', 'client.js'), 'not the runtime');
  return root;
}

function withStatic(app: FastifyInstance, root: string) {
  app.setNotFoundHandler(notFoundHandler(app));
  app.setErrorHandler(livecomponentsErrorHandler);
  return app.register(fastifyStatic, { root });
}

describe.each(['before', 'after'] as const)('@fastify/static registered %s the plugin', (order) => {
  async function start() {
    const root = publicFolder();
    return apps.track(await ecosystemApp({ [order]: (app: FastifyInstance) => withStatic(app, root) }));
  }

  it('serves the folder; /livecomponents/client.js stays the runtime with its ETag and nosniff', async () => {
    const app = await start();
    const hello = await app.inject({ url: '/hello.txt' });
    expect([hello.statusCode, hello.body, hello.headers['content-type']]).toEqual([200, 'hello\n', 'text/plain; charset=utf-8']);
    const script = await app.inject({ url: '/livecomponents/client.js' });
    expect(script.statusCode).toBe(200);
    expect(script.body).not.toBe('not the runtime');
    expect(script.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(script.headers['x-content-type-options']).toBe('nosniff');
    expect(script.headers.etag).toMatch(/^"[\w-]{27}"$/);
  });

  it('a missing file: 404 NOT_FOUND in PROTOCOL shape, no Allow (was 405 with Allow: GET, HEAD)', async () => {
    const app = await start();
    for (const method of ['GET', 'HEAD'] as const) {
      const res = await app.inject({ method, url: '/missing.txt' });
      expect([res.statusCode, res.headers.allow]).toEqual([404, undefined]);
      if (method === 'GET') expect(res.json()).toEqual({ error: 'Not found.', code: 'NOT_FOUND', request_id: res.headers['x-request-id'] });
    }
  });

  it('another method on a static path: 405 with Allow: GET, HEAD (the wildcard route is there)', async () => {
    const app = await start();
    const res = await app.inject({ method: 'POST', url: '/hello.txt' });
    expect([res.statusCode, res.headers.allow, res.json<{ code: string }>().code]).toEqual([405, 'GET, HEAD', 'METHOD_NOT_ALLOWED']);
  });
});
