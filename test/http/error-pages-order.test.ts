/**
 * `useErrorPages` must come before the app's routes: a route keeps the error handler its context had
 * when the route was set up (Fastify fixes it once the plugin that added it has loaded), so a route of
 * a plugin registered before went on answering its errors in Fastify's own shape (`message` and all),
 * no page, no PROTOCOL §3 code, while the docs' "call it first" was all that said so. Called after
 * routes were added, it now refuses at start-up (`InvalidOptionError`, `LC_INVALID_OPTION`); in the
 * documented order it installs as before. Through `inject`, on bare Fastify apps and on the plugin.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { describe, expect, it } from 'vitest';
import { useErrorPages } from '../../src/http/error-pages.js';
import { livecomponents } from '../../src/http/plugin.js';
import { InvalidOptionError } from '../../src/ops/health/options-error.js';
import { createMemoryStore } from '../../src/store/memory/index.js';
import { testRuntime, tinyCounter } from '../helpers/demo.js';

const BROWSER = 'text/html,application/xhtml+xml,*/*;q=0.8';
/** A logger of the app's, silent: the 500's cause is not written to the test's output. */
const QUIET = { logger: { level: 'silent' } };

/** A plugin of the app's with a page whose handler fails (a 500 to a browser: the page). */
async function pages(app: FastifyInstance): Promise<void> {
  app.get('/broken', async () => {
    throw new Error('database password is hunter2');
  });
}

/** The error `run` throws, or `undefined`. */
function thrown(run: () => void): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('useErrorPages before the routes (the documented order)', () => {
  it('installs: a route of a plugin registered after it answers a browser with the page, curl with PROTOCOL’s JSON', async () => {
    const app = Fastify(QUIET);
    useErrorPages(app);
    await app.register(pages);
    await app.register(livecomponents, { runtime: await testRuntime([tinyCounter], createMemoryStore({ sweepIntervalMs: 0 })) });
    await app.ready();
    const page = await app.inject({ method: 'GET', url: '/broken', headers: { accept: BROWSER } });
    expect([page.statusCode, page.headers['content-type']]).toEqual([500, 'text/html; charset=utf-8']);
    const json = await app.inject({ method: 'GET', url: '/broken' });
    expect([json.statusCode, json.json<{ code: string }>().code, json.body.includes('hunter2')]).toEqual([500, 'INTERNAL_ERROR', false]);
    await app.close();
  });
});

describe('useErrorPages after routes were added: refused at start-up, naming the order', () => {
  it.each([
    ['a plugin of the app’s with routes, loaded', async (app: FastifyInstance) => app.register(pages)],
    ['the livecomponents plugin, loaded', async (app: FastifyInstance) => app.register(livecomponents, { runtime: await testRuntime([tinyCounter], createMemoryStore({ sweepIntervalMs: 0 })) })],
    ['a route of the app’s own', async (app: FastifyInstance) => app.get('/early', async () => 'early')],
  ])('%s', async (_name, before) => {
    const app = Fastify(QUIET);
    await before(app);
    const error = thrown(() => useErrorPages(app));
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect(error).toMatchObject({ code: 'LC_INVALID_OPTION', message: expect.stringMatching(/^errorPages: useErrorPages must be called before any route is added/) });
    await app.close();
  });
});
