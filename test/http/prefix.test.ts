/**
 * PROTOCOL fixes the runtime's paths (`/api/livecomponents/action`, `/livecomponents/client.js`) and
 * pages name them as they are: the plugin refuses, at registration, a prefix it would not honour —
 * its own `prefix` option (ignored by fastify-plugin) or a prefixed context (its routes would move
 * while pages name the fixed ones: every button dead).
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidOptionError, createMemoryStore, livecomponents } from '../../src/index.js';
import { testRuntime, tinyCounter as counter } from '../helpers/demo.js';


let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function failureOf(build: (app: FastifyInstance) => void): Promise<unknown> {
  app = Fastify();
  build(app);
  return app.ready().then(
    () => null,
    (error: unknown) => error,
  );
}

describe('livecomponents under a prefix', () => {
  it('refuses a prefixed context, naming the prefix and the fixed routes', async () => {
    const runtime = await testRuntime([counter], createMemoryStore());
    const error = await failureOf((a) => {
      void a.register(async (c) => void (await c.register(livecomponents, { runtime })), { prefix: '/lc' });
    });
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as InvalidOptionError).message).toBe(
      'livecomponents: registered inside a plugin with the prefix "/lc": its routes are fixed at /api/livecomponents/action and /livecomponents/client.js, and pages name those. Register it on the root instance (or a context without a prefix), next to your prefixed routes',
    );
  });

  it('refuses its own prefix option, which fastify-plugin would silently ignore', async () => {
    const runtime = await testRuntime([counter], createMemoryStore());
    const error = await failureOf((a) => void a.register(livecomponents, { prefix: '/lc', runtime }));
    expect([(error as InvalidOptionError).code, (error as Error).message.split(': its')[0]]).toEqual(['LC_INVALID_OPTION', 'livecomponents: registered with { prefix: "/lc" }']);
  });

  it("names its own prefix option when the context's prefix is '/' (no prefix)", async () => {
    const runtime = await testRuntime([counter], createMemoryStore());
    const error = await failureOf((a) => {
      void a.register(async (c) => void (await c.register(livecomponents, { runtime, prefix: '/lc' })), { prefix: '/' });
    });
    expect((error as Error).message.split(': its')[0]).toBe('livecomponents: registered with { prefix: "/lc" }');
  });

  it('serves the fixed paths from an unprefixed child context, and an empty prefix is no prefix', async () => {
    const runtime = await testRuntime([counter], createMemoryStore());
    const error = await failureOf((a) => {
      void a.register(async (c) => void (await c.register(livecomponents, { runtime, prefix: '' })));
    });
    expect(error).toBeNull();
    const res = await app!.inject({ url: '/livecomponents/client.js' });
    expect(res.statusCode).toBe(200);
  });

  it("takes a context with the prefix '/' (its routes are the fixed paths) and its own prefix option '/'", async () => {
    const runtime = await testRuntime([counter], createMemoryStore());
    const error = await failureOf((a) => {
      void a.register(async (c) => void (await c.register(livecomponents, { runtime, prefix: '/' })), { prefix: '/' });
    });
    expect(error).toBeNull();
    expect((await app!.inject({ url: '/livecomponents/client.js' })).statusCode).toBe(200);
    expect((await app!.inject({ method: 'POST', url: '/api/livecomponents/action', payload: {} })).statusCode).not.toBe(404);
  });
});
