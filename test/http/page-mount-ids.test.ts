/**
 * What `view.mount` refuses, and how it says so:
 * - the same instance twice in one page view (one after the other, or started together): both
 *   roots had its id, the browser runtime updated and marked busy only one, and nothing warned;
 * - an id whose instance is malformed (`counter:a b`): once reported as `Unknown component` though
 *   `counter` is registered. Now the message says what an instance id is; an unknown name says so
 *   and lists the registered names (test/http/unknown-component-names.test.ts), and the action
 *   route keeps PROTOCOL's 404 `COMPONENT_NOT_FOUND` for both.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryStore, html, livecomponents, type PageView } from '../../src/index.js';
import { createTestHarness } from '../../src/testing/index.js';
import { openClient, testRuntime, tinyCounter } from '../helpers/demo.js';

const TWICE = (id: string) =>
  `view.mount("${id}") was called twice for one page (by the page views of one request): an instance is one root on a page ` +
  '(the browser runtime finds it by its id, so only one of the copies would update). To show a second one, mount another instance id (with its own state)';
const RULE = 'an instance id is 1 to 64 ASCII letters, digits, "_" or "-"';

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

/** An app whose `/` route runs `script` on its page view and answers what each step gave. */
async function start(script: (view: PageView) => Promise<unknown[]>) {
  const server = Fastify();
  app = server;
  const runtime = await testRuntime([tinyCounter], createMemoryStore());
  await server.register(livecomponents, { runtime });
  const outcomes: unknown[][] = [];
  server.get('/', async (request, reply) => {
    const view = await server.livecomponents.view(request, reply);
    const steps = await script(view);
    outcomes.push(steps);
    const markup = steps.filter((s): s is string => typeof s === 'string').join('');
    return reply.type('text/html').send(view.document({ title: 't', body: html`<main>${markup}</main>` }));
  });
  await server.ready();
  return { app: server, outcomes };
}

/** A mount's outcome: its markup, or the message of the error behind its rejection. */
const settle = (mounting: Promise<unknown>): Promise<unknown> =>
  mounting.then(
    (markup) => String(markup),
    (error: Error & { code?: string }) => ({ code: error.code, cause: error.cause instanceof TypeError ? error.cause.message : error.cause }),
  );

describe('the same instance mounted twice in one page view', () => {
  it('one after the other: the second rejects (500 INTERNAL_ERROR on the wire), its cause a TypeError naming the id', async () => {
    const { app, outcomes } = await start(async (view) => [await settle(view.mount('counter:dup')), await settle(view.mount('counter:dup'))]);
    const res = await app.inject({ url: '/' });
    expect(res.statusCode).toBe(200);
    expect(outcomes[0]).toEqual(['<div data-lc-id="counter:dup"><i>0</i></div>', { code: 'INTERNAL_ERROR', cause: TWICE('counter:dup') }]);
  });

  it('started together (Promise.all): the second is refused, so no batch mounts it twice', async () => {
    const { app, outcomes } = await start((view) => Promise.all([settle(view.mount('counter:dup')), settle(view.mount('counter:dup')), settle(view.mount('counter:other'))]));
    await app.inject({ url: '/' });
    expect(outcomes[0]).toEqual([
      '<div data-lc-id="counter:dup"><i>0</i></div>',
      { code: 'INTERNAL_ERROR', cause: TWICE('counter:dup') },
      '<div data-lc-id="counter:other"><i>0</i></div>',
    ]);
  });

  it('a page view that stores nothing (HEAD without a session) refuses it too', async () => {
    const { app, outcomes } = await start((view) => Promise.all([settle(view.mount('counter:dup')), settle(view.mount('counter:dup'))]));
    await app.inject({ method: 'HEAD', url: '/' });
    expect(outcomes[0]?.[1]).toEqual({ code: 'INTERNAL_ERROR', cause: TWICE('counter:dup') });
  });

  it('two page views of one request (a layout helper opening its own) share the rule: the second view\'s mount is refused', async () => {
    const server = Fastify();
    app = server;
    const runtime = await testRuntime([tinyCounter], createMemoryStore());
    await server.register(livecomponents, { runtime });
    let second: unknown;
    server.get('/', async (request, reply) => {
      const layout = await server.livecomponents.view(request, reply);
      const route = await server.livecomponents.view(request, reply);
      const first = await layout.mount('counter:dup');
      second = await settle(route.mount('counter:dup'));
      return reply.type('text/html').send(layout.document({ title: 't', body: first }));
    });
    const res = await server.inject({ url: '/' });
    expect(res.statusCode).toBe(200);
    expect(second).toEqual({ code: 'INTERNAL_ERROR', cause: TWICE('counter:dup') });
    expect(res.body.match(/data-lc-id="counter:dup"/g)).toHaveLength(1);
  });

  it('each page view mounts it once: a second view of the same session (another tab, a reload) shows it again', async () => {
    const { app, outcomes } = await start(async (view) => [await settle(view.mount('counter:dup'))]);
    const client = await openClient(app);
    expect((await client.action('counter:dup', 'inc')).statusCode).toBe(200);
    await app.inject({ url: '/', headers: { cookie: client.cookie } });
    expect(outcomes).toEqual([['<div data-lc-id="counter:dup"><i>0</i></div>'], ['<div data-lc-id="counter:dup"><i>1</i></div>']]);
  });

  it('a mount that failed put nothing on the page: it may be mounted again', async () => {
    const { app, outcomes } = await start(async (view) => [
      await settle(view.mount('counter:dup', { typo: 1 })),
      await settle(view.mount('counter:dup')),
      await settle(view.mount('counter:dup')),
    ]);
    await app.inject({ url: '/' });
    expect(outcomes[0]).toEqual([
      { code: 'INTERNAL_ERROR', cause: `The initial state given for "counter:dup" has "typo", which counter's initialState does not: only its fields can be given` },
      '<div data-lc-id="counter:dup"><i>0</i></div>',
      { code: 'INTERNAL_ERROR', cause: TWICE('counter:dup') },
    ]);
  });
});

describe('an id whose instance is malformed', () => {
  const long = 'x'.repeat(65);
  const cases: [string, string][] = [
    ['counter:a b', `Invalid instance id "a b" in "counter:a b": ${RULE}`],
    ['counter:été', `Invalid instance id "été" in "counter:été": ${RULE}`],
    ['counter:a:b', `Invalid instance id "a:b" in "counter:a:b": ${RULE}`],
    [`counter:${long}`, `Invalid instance id "${long}" in "counter:${long}": ${RULE}`],
    ['counter:', `Invalid instance id "" in "counter:": ${RULE}`],
    ['counter:a\nb', `Invalid instance id "a\\nb" in "counter:a\\nb": ${RULE}`],
    ['counter', `Invalid component id "counter": a component id is "counter:<instance>", and ${RULE}`],
  ];

  it('of a registered component: runtime.mount and renderInitial say what an instance id is', async () => {
    const h = await createTestHarness([tinyCounter]);
    for (const [id, message] of cases) {
      await expect(h.runtime.mount(h.session, id)).rejects.toThrow(new TypeError(message));
      expect(() => h.runtime.renderInitial(id)).toThrow(new TypeError(message));
    }
  });

  it('of a name not registered: "Unknown component", naming the registered ones (was: the id alone)', async () => {
    const h = await createTestHarness([tinyCounter]);
    for (const id of ['nope:main', 'nope:a b', 'Counter:main', ':main', 'nope', '']) {
      const message = `Unknown component "${id}" (registered components: counter)`;
      await expect(h.runtime.mount(h.session, id)).rejects.toThrow(new TypeError(message));
      expect(() => h.runtime.renderInitial(id)).toThrow(new TypeError(message));
    }
  });

  it('on a page: the view.mount rejection carries it as its cause', async () => {
    const { app, outcomes } = await start(async (view) => [await settle(view.mount('counter:a b'))]);
    await app.inject({ url: '/' });
    expect(outcomes[0]).toEqual([{ code: 'INTERNAL_ERROR', cause: `Invalid instance id "a b" in "counter:a b": ${RULE}` }]);
  });

  it('an action for it answers 404 COMPONENT_NOT_FOUND (PROTOCOL §3: an instance never mounted), as an unknown name does', async () => {
    const { app } = await start(async (view) => [await settle(view.mount('counter:main'))]);
    const client = await openClient(app);
    for (const id of [...cases.map(([id]) => id), 'nope:main']) {
      const res = await client.action(id, 'inc');
      expect([res.statusCode, res.json<{ code: string }>().code], id).toEqual([404, 'COMPONENT_NOT_FOUND']);
    }
  });
});
