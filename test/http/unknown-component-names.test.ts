/**
 * `view.mount('countr:main')` (a typo) failed with `Unknown component "countr:main"`, which named
 * nothing to pick from. It now lists the registered names, in order, at most 20 ("…and N more") —
 * for the developer only: in the exception and the log line of the page's 500, never in an answer
 * (the 500's body stays the generic INTERNAL_ERROR; an action naming an unknown component answers
 * the registry's 404 COMPONENT_NOT_FOUND, which lists nothing to a client probing for names).
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryStore, defineComponent, html, livecomponents, livecomponentsErrorHandler } from '../../src/index.js';
import { closeLogger, createLogger } from '../../src/ops/logging/index.js';
import { createTestHarness } from '../../src/testing/index.js';
import { openClient, testRuntime, tinyCounter } from '../helpers/demo.js';
import { capture } from '../logging/capture.js';

const named = (name: string) => defineComponent({ name, initialState: {}, publicState: [], actions: {}, render: () => html`<b></b>` });

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

describe('an unknown component name', () => {
  it('lists the registered names in order', async () => {
    const h = await createTestHarness([named('todo'), tinyCounter, named('basket')]);
    await expect(h.runtime.mount(h.session, 'countr:main')).rejects.toThrow(new TypeError('Unknown component "countr:main" (registered components: basket, counter, todo)'));
  });

  it('lists the first 20, then how many more', async () => {
    const components = Array.from({ length: 23 }, (_, i) => named(`c${String(i).padStart(2, '0')}`));
    const h = await createTestHarness(components);
    const first = Array.from({ length: 20 }, (_, i) => `c${String(i).padStart(2, '0')}`).join(', ');
    expect(() => h.runtime.renderInitial('nope:main')).toThrow(new TypeError(`Unknown component "nope:main" (registered components: ${first} …and 3 more)`));
  });

  it('says when none is registered', async () => {
    const h = await createTestHarness([]);
    expect(() => h.runtime.renderInitial('counter:main')).toThrow(new TypeError('Unknown component "counter:main" (no component is registered)'));
  });

  it('on a page: the names are in the log line of the 500, not in its body; an action for it answers 404 without them', async () => {
    const out = capture();
    const logger = createLogger({ format: 'json', stream: out });
    const server = Fastify({ loggerInstance: logger }) as unknown as FastifyInstance;
    app = server;
    server.setErrorHandler(livecomponentsErrorHandler);
    await server.register(livecomponents, { runtime: await testRuntime([tinyCounter], createMemoryStore()) });
    server.get('/', async (request, reply) => {
      const view = await server.livecomponents.view(request, reply);
      return reply.type('text/html').send(view.document({ title: 't', body: html`<main>${await view.mount('counter:main')}</main>` }));
    });
    server.get('/typo', async (request, reply) => {
      const view = await server.livecomponents.view(request, reply);
      return reply.type('text/html').send(view.document({ title: 't', body: html`<main>${await view.mount('countr:main')}</main>` }));
    });
    await server.ready();
    const res = await server.inject({ url: '/typo' });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ error: 'Something went wrong on our side.', code: 'INTERNAL_ERROR', request_id: expect.any(String) as string });
    const client = await openClient(server);
    const action = await client.action('countr:main', 'inc');
    expect([action.statusCode, action.json()]).toEqual([404, { error: 'This component does not exist in this session.', code: 'COMPONENT_NOT_FOUND', request_id: expect.any(String) as string }]);
    expect(action.body).not.toContain('counter');
    await server.close();
    app = undefined;
    await closeLogger(logger);
    const failures = out.records().filter((r) => r['msg'] === 'request failed');
    expect(failures.map((r) => (r['err'] as { message: string }).message)).toEqual(['internal error: Unknown component "countr:main" (registered components: counter)']);
  });
});
