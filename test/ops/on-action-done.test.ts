import { afterEach, describe, expect, it, vi } from 'vitest';
import Fastify, { type FastifyInstance } from 'fastify';
import { livecomponents } from '../../src/http/plugin.js';
import { createMemoryStore } from '../../src/store/memory/index.js';
import { openClient, testRuntime, tinyCounter } from '../helpers/demo.js';
import { waitUntil } from '../helpers/wait-until.js';

const servers: FastifyInstance[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe.each([
  ['throws', () => { throw new Error('hook broke'); }],
  ['rejects', () => Promise.reject(new Error('hook broke later'))],
] as const)('onActionDone that %s', (_how, hook) => {
  it('three actions answer 200 and count on as without the hook; one report', async () => {
    const spy = vi.spyOn(console, 'error').mockImplementation(() => {});
    const runtime = await testRuntime([tinyCounter], createMemoryStore({ sweepIntervalMs: 0 }), { onActionDone: hook });
    const app = Fastify();
    servers.push(app);
    await app.register(livecomponents, { runtime });
    app.get('/', async (request, reply) => {
      const view = await app.livecomponents.view(request, reply);
      return reply.type('text/html').send(view.document({ title: 't', body: await view.mount('counter:main') }));
    });
    await app.ready();
    const client = await openClient(app);
    const answers = [];
    for (let i = 0; i < 3; i++) {
      const res = await client.action('counter:main', 'inc');
      answers.push([res.statusCode, (res.json() as { state?: unknown }).state]);
    }
    expect(answers).toEqual([[200, { n: 1 }], [200, { n: 2 }], [200, { n: 3 }]]);
    await waitUntil('the report', () => spy.mock.calls.length === 1);
    expect(String(spy.mock.calls[0]?.[0])).toBe('livecomponents: the onActionDone hook failed once since its last report; what it observed went on without it (reported at most once a minute)');
  });
});
