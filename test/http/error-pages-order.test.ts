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

const REFUSAL =
  'errorPages: useErrorPages must be called before any route is added (right after Fastify(…), before registering plugins): a route keeps the error handler it had when its plugin loaded, and would answer its errors in Fastify’s own shape. In a plugin of your own, install errorPageHandlers(app) with setErrorHandler and setNotFoundHandler instead';

/** A handler failing with a 500 (a browser's answer is the page, once the pages apply to its route). */
async function failing(): Promise<never> {
  throw new Error('database password is hunter2');
}

/** `[status, content type]` of a browser's GET of `url`, and of curl's (code too). */
async function answers(app: FastifyInstance, url: string): Promise<unknown[]> {
  const page = await app.inject({ method: 'GET', url, headers: { accept: BROWSER } });
  const json = await app.inject({ method: 'GET', url });
  return [page.statusCode, page.headers['content-type'], json.statusCode, json.json<{ code?: string }>().code];
}

/**
 * The rule, whatever the timing: a route that exists when `useErrorPages` is called refuses it, even
 * one added in the same turn (whose error handler Fastify would fix only later: it would have worked,
 * but only until an `await` came between the two lines); every route added after the call, by the app
 * or by a plugin registered before without `await` (a plugin's routes are added when it loads), gets
 * the pages.
 */
describe('useErrorPages and a route of the root: the order decides, not the timing', () => {
  it.each([
    ['in the same turn', async () => undefined],
    ['after a microtask', async () => Promise.resolve()],
    ['after a macrotask (the app has begun loading)', async () => new Promise<void>((resolve) => setImmediate(resolve))],
  ])('a route added before, %s: refused, nothing installed', async (_name, between) => {
    const app = Fastify(QUIET);
    app.get('/early', failing);
    await between();
    const error = thrown(() => useErrorPages(app));
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect(error).toMatchObject({ code: 'LC_INVALID_OPTION', message: REFUSAL });
    // Fastify's own handlers stayed: its 500 and 404 shapes, for a browser too.
    expect(await answers(app, '/early')).toEqual([500, 'application/json; charset=utf-8', 500, undefined]);
    expect(await answers(app, '/nowhere')).toEqual([404, 'application/json; charset=utf-8', 404, undefined]);
    await app.close();
  });

  it.each([
    ['in the same turn', async () => undefined],
    ['after a macrotask', async () => new Promise<void>((resolve) => setImmediate(resolve))],
  ])('a route added after, %s: installed, the route answers a browser with the page', async (_name, between) => {
    const app = Fastify(QUIET);
    useErrorPages(app);
    await between();
    app.get('/late', failing);
    expect(await answers(app, '/late')).toEqual([500, 'text/html; charset=utf-8', 500, 'INTERNAL_ERROR']);
    expect(await answers(app, '/nowhere')).toEqual([404, 'text/html; charset=utf-8', 404, 'NOT_FOUND']);
    await app.close();
  });

  it('a plugin registered before without await, still loading: installed, its routes (added after the call) get the page', async () => {
    const app = Fastify(QUIET);
    const loading = new Promise<void>((resolve) => setImmediate(resolve));
    void app.register(async (plugin) => {
      await loading;
      plugin.get('/plugin', failing);
    });
    useErrorPages(app);
    expect(await answers(app, '/plugin')).toEqual([500, 'text/html; charset=utf-8', 500, 'INTERNAL_ERROR']);
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
