/**
 * The runtime's `<script>` tag carries a CSP nonce: `view.head({ nonce })` / `view.document({ nonce })`,
 * by default the one `@fastify/helmet` (`enableCSPNonces: true`) put on the reply as
 * `reply.cspNonce.script`. Without it a nonce-based policy (`script-src 'nonce-…' 'strict-dynamic'`)
 * refuses the runtime and every button of the page does nothing.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryStore, html, livecomponents, type PageView } from '../../src/index.js';
import { testRuntime, tinyCounter as counter } from '../helpers/demo.js';


let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

/** The page's head and document through `render`; `helmet`: the reply decorated as @fastify/helmet does. */
async function start(helmet: boolean, render: (view: PageView) => string): Promise<FastifyInstance> {
  const server = Fastify();
  app = server;
  if (helmet) {
    server.decorateReply('cspNonce', null);
    server.addHook('onRequest', async (_request, reply) => {
      (reply as unknown as { cspNonce: { script: string; style: string } }).cspNonce = { script: 'helmet-script-nonce', style: 'helmet-style-nonce' };
    });
  }
  await server.register(livecomponents, { runtime: await testRuntime([counter], createMemoryStore()) });
  server.get('/', async (request, reply) => reply.type('text/html').send(render(await server.livecomponents.view(request, reply))));
  await server.ready();
  return server;
}

const scriptOf = (body: string) => body.match(/<script[^>]*><\/script>/g);

describe('the runtime script tag and CSP nonces', () => {
  it('has no nonce attribute without one (the tag PROTOCOL §2 shows)', async () => {
    const server = await start(false, (view) => String(view.head()));
    expect(scriptOf((await server.inject({ url: '/' })).body)).toEqual(['<script type="module" src="/livecomponents/client.js"></script>']);
  });

  it('takes a nonce given to head() and document(), escaped as an attribute value', async () => {
    const server = await start(false, (view) => `${String(view.head({ nonce: 'r4nd0m+/=' }))}\n${view.document({ title: 't', body: html``, nonce: 'a"b<c>&' })}`);
    expect(scriptOf((await server.inject({ url: '/' })).body)).toEqual([
      '<script type="module" src="/livecomponents/client.js" nonce="r4nd0m+/="></script>',
      '<script type="module" src="/livecomponents/client.js" nonce="a&quot;b&lt;c&gt;&amp;"></script>',
    ]);
  });

  it("takes @fastify/helmet's reply.cspNonce.script by default; an explicit nonce wins", async () => {
    const server = await start(true, (view) => `${String(view.head())}${view.document({ title: 't', body: html`` })}${String(view.head({ nonce: 'mine' }))}`);
    expect(scriptOf((await server.inject({ url: '/' })).body)).toEqual([
      '<script type="module" src="/livecomponents/client.js" nonce="helmet-script-nonce"></script>',
      '<script type="module" src="/livecomponents/client.js" nonce="helmet-script-nonce"></script>',
      '<script type="module" src="/livecomponents/client.js" nonce="mine"></script>',
    ]);
  });
});
