/**
 * A page route built as the README shows (the plugin, `view()`, `view.mount()`) whose component's
 * render throws, or whose store is down, never puts the exception's text on the wire (PROTOCOL §3):
 * - under Fastify's default error handler (an app that set none), the error that escapes `view()` /
 *   `view.mount()` carries the registry's generic message and status (500 / 503), the original as
 *   its cause, so Fastify's own log line still names it;
 * - with the exported `livecomponentsErrorHandler` set first, the answer is PROTOCOL's shape.
 * The instance whose render failed keeps its stored state.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import {
  StoreUnavailableError,
  createMemoryStore,
  defineComponent,
  html,
  livecomponents,
  livecomponentsErrorHandler,
  type Store,
} from '../../src/index.js';
import { testRuntime } from '../helpers/demo.js';

const RENDER_DETAIL = 'render failed for bad (db password hunter2)';
const STORE_DETAIL = 'Redis is not connected (reconnecting; last error: connect ECONNREFUSED 127.0.0.1:6442)';

/** Set to false to "deploy the fix": the instance `bad` renders again. */
let broken = true;

const boom = defineComponent({
  name: 'boom',
  initialState: { n: 0 },
  publicState: ['n'],
  actions: { inc: { run: (s) => ({ n: s.n + 1 }) } },
  render: (s, ctx) => {
    if (broken && ctx.instance === 'bad') throw new Error(RENDER_DETAIL);
    return html`<i>${s.n}</i>`;
  },
});

/** A memory store that, once `down`, rejects every call as the Redis store does when Redis is unreachable. */
function failingStore(): Store & { down: boolean } {
  const inner = createMemoryStore();
  const control = { down: false };
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'down') return control.down;
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function' || prop === 'close') return value;
      return (...args: unknown[]) =>
        control.down ? Promise.reject(new StoreUnavailableError(STORE_DETAIL)) : (value as (...a: unknown[]) => unknown).apply(target, args);
    },
    set(target, prop, value, receiver) {
      if (prop === 'down') {
        control.down = value as boolean;
        return true;
      }
      return Reflect.set(target, prop, value, receiver);
    },
  }) as Store & { down: boolean };
}

interface LogLine {
  level: number;
  msg: string;
  err?: { message: string; stack: string };
}

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
  broken = true;
});

/** The README's app; `withHandler`: `app.setErrorHandler(livecomponentsErrorHandler)` first. */
async function start(withHandler: boolean) {
  const logs: LogLine[] = [];
  const store = failingStore();
  const server = Fastify({ logger: { level: 'info', stream: { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) } } });
  app = server;
  if (withHandler) server.setErrorHandler(livecomponentsErrorHandler);
  const runtime = await testRuntime([boom], store);
  await server.register(livecomponents, { runtime });
  server.get('/boom', async (request, reply) => {
    const view = await server.livecomponents.view(request, reply);
    const parts = [await view.mount('boom:a'), await view.mount('boom:bad', { n: broken ? 1 : 99 }), await view.mount('boom:c')];
    return reply.type('text/html').send(view.document({ title: 't', body: html`${parts}` }));
  });
  // The store fails after the view opened: the failure escapes `view.mount()`.
  server.get('/late', async (request, reply) => {
    const view = await server.livecomponents.view(request, reply);
    store.down = true;
    return reply.type('text/html').send(view.document({ title: 't', body: await view.mount('boom:a') }));
  });
  await server.ready();
  return { app: server, store, logs };
}

const logged = (logs: LogLine[], text: string): boolean => logs.some((line) => line.level === 50 && JSON.stringify(line.err).includes(text));

describe("under Fastify's default error handler", () => {
  it('a component whose render throws: 500 with the generic message, the exception only in the log', async () => {
    const { app, logs } = await start(false);
    const res = await app.inject({ url: '/boom' });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ statusCode: 500, code: 'INTERNAL_ERROR', error: 'Internal Server Error', message: 'Something went wrong on our side.' });
    expect(logged(logs, RENDER_DETAIL)).toBe(true);
  });

  it('a store that is down when the view opens: 503 with the generic message, no host or port on the wire', async () => {
    const { app, store, logs } = await start(false);
    store.down = true;
    const res = await app.inject({ url: '/boom' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({
      statusCode: 503,
      code: 'SERVICE_UNAVAILABLE',
      error: 'Service Unavailable',
      message: 'The service is temporarily unavailable. Please try again.',
    });
    expect(logged(logs, STORE_DETAIL)).toBe(true);
  });

  it('a store that fails in view.mount(): 503 with the generic message', async () => {
    const { app } = await start(false);
    const res = await app.inject({ url: '/late' });
    expect([res.statusCode, res.json<{ message: string }>().message]).toEqual([503, 'The service is temporarily unavailable. Please try again.']);
  });
});

describe('with livecomponentsErrorHandler set first', () => {
  it("a component whose render throws: PROTOCOL's 500, the exception logged with the request's id", async () => {
    const { app, logs } = await start(true);
    const res = await app.inject({ url: '/boom' });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ error: 'Something went wrong on our side.', code: 'INTERNAL_ERROR', request_id: res.headers['x-request-id'] });
    expect(logged(logs, RENDER_DETAIL)).toBe(true);
  });

  it("a store that is down, when the view opens or in view.mount(): PROTOCOL's 503", async () => {
    const { app, store, logs } = await start(true);
    const late = await app.inject({ url: '/late' });
    const early = await app.inject({ url: '/boom' });
    store.down = false;
    for (const res of [late, early]) {
      expect(res.statusCode).toBe(503);
      expect(res.json()).toEqual({ error: 'The service is temporarily unavailable. Please try again.', code: 'SERVICE_UNAVAILABLE', request_id: res.headers['x-request-id'] });
    }
    expect(logged(logs, STORE_DETAIL)).toBe(true);
  });
});

it('the instance whose render failed keeps its stored state: once fixed, the page shows it', async () => {
  const { app } = await start(true);
  const failed = await app.inject({ url: '/boom' });
  expect(failed.statusCode).toBe(500);
  const cookie = String(failed.headers['set-cookie']).split(';')[0] as string;
  broken = false;
  // `{ n: 1 }` was stored by the failed view; a fresh mount would show this view's `{ n: 99 }`.
  const fixed = await app.inject({ url: '/boom', headers: { cookie } });
  expect(fixed.statusCode).toBe(200);
  expect(fixed.body).toContain('<div data-lc-id="boom:bad"><i>1</i></div>');
});
