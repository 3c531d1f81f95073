/**
 * The session cookie is the plugin's own business, whatever the app does with cookies: it is read
 * from the `Cookie` header and written as a `Set-Cookie` header by session-cookie.ts, without
 * `@fastify/cookie`. So an app may register its own cookie plugin after ours (it crashed start-up:
 * FST_ERR_DEC_ALREADY_PRESENT), with `hook: false` (every view() answered 500) or a `decode` of its
 * own (every action 403 CSRF_TOKEN_INVALID); and a route that `hijack()`s its reply and writes
 * `reply.getHeaders()` itself sends the cookie (it was only written in @fastify/cookie's onSend).
 */
import cookie from '@fastify/cookie';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryStore, livecomponents } from '../../src/index.js';
import { cookieValue, createSessionCookie } from '../../src/http/session-cookie.js';
import { openClient, testRuntime, tinyCounter as counter } from '../helpers/demo.js';


const SESSION_LINE = /^lc_session=[A-Za-z0-9_-]{22}; Path=\/; HttpOnly; SameSite=Lax$/;

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

type Setup = (app: FastifyInstance) => Promise<void>;

/** The plugin, `/` (a page that also sets a cookie of the app's when it can), and `/hijacked`. */
async function start(before: Setup, after: Setup): Promise<FastifyInstance> {
  const server = Fastify();
  app = server;
  await before(server);
  await server.register(livecomponents, { runtime: await testRuntime([counter], createMemoryStore()) });
  await after(server);
  server.get('/', async (request, reply) => {
    const view = await server.livecomponents.view(request, reply);
    if (server.hasReplyDecorator('setCookie')) reply.setCookie('theme', 'dark', { path: '/' });
    return reply.type('text/html').send(view.document({ title: 't', body: await view.mount('counter:main') }));
  });
  server.get('/hijacked', async (request, reply) => {
    const view = await server.livecomponents.view(request, reply);
    const page = view.document({ title: 't', body: await view.mount('counter:main') });
    reply.hijack();
    reply.raw.writeHead(200, { ...(reply.getHeaders() as Record<string, string | string[]>), 'content-type': 'text/html' });
    reply.raw.end(page);
  });
  await server.ready();
  return server;
}

const none: Setup = async () => undefined;

/** Page, then two actions with its cookie: the counter's count after each. */
async function counts(server: FastifyInstance, path: string): Promise<unknown[]> {
  const client = await openClient(server, path);
  const out: unknown[] = [];
  for (let i = 0; i < 2; i++) {
    const res = await client.action('counter:main', 'inc');
    out.push(res.statusCode === 200 ? res.json<{ state: { n: number } }>().state.n : res.json<{ code: string }>().code);
  }
  return out;
}

describe('the session cookie beside an app cookie plugin', () => {
  it('without any cookie plugin: one Set-Cookie line, exactly the old attributes; actions run', async () => {
    const server = await start(none, none);
    const page = await server.inject({ url: '/' });
    expect(page.headers['set-cookie']).toMatch(SESSION_LINE);
    expect(server.hasRequestDecorator('cookies')).toBe(false);
    expect(await counts(server, '/')).toEqual([1, 2]);
  });

  it("@fastify/cookie registered after the plugin: starts, both cookies are set, the app's cookies work", async () => {
    const server = await start(none, async (a) => void (await a.register(cookie)));
    const page = await server.inject({ url: '/' });
    const lines = page.headers['set-cookie'] as string[];
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(SESSION_LINE);
    expect(lines[1]).toBe('theme=dark; Path=/; SameSite=Lax');
    expect(await counts(server, '/')).toEqual([1, 2]);
  });

  it('@fastify/cookie with hook: false: views and actions work', async () => {
    const server = await start(async (a) => void (await a.register(cookie, { hook: false })), none);
    expect(await counts(server, '/')).toEqual([1, 2]);
  });

  it('@fastify/cookie with a decode and a domain of its own: the session cookie is not touched', async () => {
    const parseOptions = { decode: (value: string) => value.toUpperCase(), domain: 'example.com' };
    const server = await start(async (a) => void (await a.register(cookie, { parseOptions })), none);
    const page = await server.inject({ url: '/' });
    expect((page.headers['set-cookie'] as string[])[0]).toMatch(SESSION_LINE);
    expect(await counts(server, '/')).toEqual([1, 2]);
  });

  it('a hijacked reply carries the cookie in reply.getHeaders(), so its actions verify', async () => {
    const server = await start(async (a) => void (await a.register(cookie)), none);
    const page = await server.inject({ url: '/hijacked' });
    expect(page.headers['set-cookie']).toMatch(SESSION_LINE);
    expect(await counts(server, '/hijacked')).toEqual([1, 2]);
  });
});

describe('createSessionCookie', () => {
  it('writes, replaces and clears with exact lines, keeping the other cookies of the reply', async () => {
    const server = Fastify();
    app = server;
    const secure = createSessionCookie(true);
    server.get('/', (_request, reply) => {
      reply.header('set-cookie', 'a=1; Path=/');
      secure.write(reply, { id: 'first' } as never);
      secure.write(reply, { id: 'second' } as never);
      reply.header('set-cookie', 'b=2');
      secure.clear(reply);
      return reply.send('');
    });
    const res = await server.inject({ url: '/' });
    expect(res.headers['set-cookie']).toEqual([
      'a=1; Path=/',
      'b=2',
      '__Host-lc_session=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Lax',
    ]);
  });

  it('writes the secure cookie with its __Host- name', async () => {
    const server = Fastify();
    app = server;
    server.get('/', (_request, reply) => {
      createSessionCookie(true).write(reply, { id: 'abc_-1' } as never);
      return reply.send('');
    });
    expect((await server.inject({ url: '/' })).headers['set-cookie']).toBe('__Host-lc_session=abc_-1; Path=/; HttpOnly; Secure; SameSite=Lax');
  });
});

describe('cookieValue', () => {
  it.each([
    [undefined, undefined],
    ['', undefined],
    ['lc_session=abc', 'abc'],
    ['a=1; lc_session=abc; b=2', 'abc'],
    ['a=1;lc_session=abc;b=2', 'abc'],
    ['  lc_session = abc  ; b=2', 'abc'],
    ['\tlc_session=abc', 'abc'],
    ['lc_session="abc"', 'abc'],
    ['lc_session="', '"'],
    ['lc_session=', ''],
    ['xlc_session=evil; lc_session_old=evil2; lc_session=abc', 'abc'],
    ['lc_session=first; lc_session=second', 'first'],
    ['novalue; lc_session=abc', 'abc'],
    ['lc_session; other=lc_session=x', undefined],
    ['a=b=c; lc_session=x=y', 'x=y'],
    ['__Host-lc_session=secure', undefined],
  ])('%j → %j', (header, expected) => {
    expect(cookieValue(header, 'lc_session')).toBe(expected);
  });
});
