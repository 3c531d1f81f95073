/**
 * `@fastify/compress` beside the plugin. Registered before it, pages, the runtime's script and the
 * action route's answers are compressed (gzip, br), each with the length of the bytes sent; the
 * script keeps its ETag and its 304 has no body; a compressed request body is inflated before our
 * JSON parser, whose limit counts the inflated bytes (a small gzip of 5 MB: 413). Registered after
 * it, our routes are left as they are: compress picks the routes registered after it.
 */
import { brotliDecompressSync, gunzipSync, gzipSync } from 'node:zlib';
import compress from '@fastify/compress';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { appsToClose, ecosystemApp, openClient } from './app.js';

const apps = appsToClose();
afterEach(apps.closeAll);

const ACTION = { method: 'POST', url: '/api/livecomponents/action' } as const;
const INC = JSON.stringify({ component_id: 'counter:main', action: 'inc', params: {} });

async function start(order: 'before' | 'after') {
  return apps.track(await ecosystemApp({ [order]: (app: FastifyInstance) => app.register(compress, { threshold: 0 }) }));
}

describe('@fastify/compress registered before the plugin', () => {
  it('the page: gzip, Content-Length of the gzip, our headers and cookie kept', async () => {
    const app = await start('before');
    const res = await app.inject({ url: '/', headers: { 'accept-encoding': 'gzip' } });
    expect([res.statusCode, res.headers['content-encoding'], res.headers.vary]).toEqual([200, 'gzip', 'accept-encoding']);
    expect(res.headers['content-length']).toBe(String(res.rawPayload.length));
    expect([res.headers['cache-control'], res.headers['x-frame-options']]).toEqual(['no-store', 'SAMEORIGIN']);
    expect(res.headers['set-cookie']).toMatch(/^lc_session=/);
    expect(gunzipSync(res.rawPayload).toString()).toContain('<meta name="csrf-token"');
  });

  it("a cookie-less HEAD of the page: still no Content-Length (our onSend's empty stream, then compress's)", async () => {
    const app = await start('before');
    const head = await app.inject({ method: 'HEAD', url: '/', headers: { 'accept-encoding': 'gzip' } });
    expect([head.statusCode, head.headers['content-length'], head.headers['set-cookie'], head.rawPayload.length]).toEqual([200, undefined, undefined, 0]);
  });

  it('the action: br, PROTOCOL §3 JSON inside, its headers kept', async () => {
    const app = await start('before');
    const client = await openClient(app);
    const res = await app.inject({ ...ACTION, headers: { 'content-type': 'application/json', cookie: client.cookie, 'x-csrf-token': client.token, 'accept-encoding': 'br' }, payload: INC });
    expect([res.statusCode, res.headers['content-encoding'], res.headers['content-length']]).toEqual([200, 'br', String(res.rawPayload.length)]);
    const body = JSON.parse(brotliDecompressSync(res.rawPayload).toString()) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(['html', 'state', 'csrf_token']);
    expect(body.state).toEqual({ n: 1 });
    expect([res.headers['cache-control'], res.headers['x-content-type-options'], res.headers['x-ratelimit-limit']]).toEqual(['no-store', 'nosniff', '60']);
  });

  it("the runtime's script: gzip with its ETag; If-None-Match answers 304 without a body", async () => {
    const app = await start('before');
    const res = await app.inject({ url: '/livecomponents/client.js', headers: { 'accept-encoding': 'gzip' } });
    expect([res.statusCode, res.headers['content-encoding']]).toEqual([200, 'gzip']);
    const etag = res.headers.etag as string;
    const again = await app.inject({ url: '/livecomponents/client.js', headers: { 'accept-encoding': 'gzip', 'if-none-match': etag } });
    expect([again.statusCode, again.headers.etag, again.headers['content-encoding'], again.rawPayload.length]).toEqual([304, etag, undefined, 0]);
  });

  it('a gzip request body is inflated for the action; one inflating past 1 MiB answers 413 PAYLOAD_TOO_LARGE', async () => {
    const app = await start('before');
    const client = await openClient(app);
    const headers = { 'content-type': 'application/json', 'content-encoding': 'gzip', cookie: client.cookie, 'x-csrf-token': client.token };
    const ok = await app.inject({ ...ACTION, headers, payload: gzipSync(INC) });
    expect([ok.statusCode, ok.json<{ state: unknown }>().state]).toEqual([200, { n: 1 }]);
    const bomb = gzipSync(JSON.stringify({ component_id: 'counter:main', action: 'inc', params: {}, pad: ' '.repeat(5_000_000) }));
    expect(bomb.length).toBeLessThan(10_000);
    const big = await app.inject({ ...ACTION, headers, payload: bomb });
    expect([big.statusCode, big.json<{ code: string }>().code, big.headers['cache-control']]).toEqual([413, 'PAYLOAD_TOO_LARGE', 'no-store']);
  });
});

describe('@fastify/compress registered after the plugin', () => {
  it('leaves the page, the script and the action uncompressed', async () => {
    const app = await start('after');
    const client = await openClient(app);
    const page = await app.inject({ url: '/', headers: { 'accept-encoding': 'gzip' } });
    const script = await app.inject({ url: '/livecomponents/client.js', headers: { 'accept-encoding': 'gzip' } });
    const action = await app.inject({ ...ACTION, headers: { 'content-type': 'application/json', cookie: client.cookie, 'x-csrf-token': client.token, 'accept-encoding': 'gzip' }, payload: INC });
    expect([page, script, action].map((res) => [res.statusCode, res.headers['content-encoding']])).toEqual([
      [200, undefined],
      [200, undefined],
      [200, undefined],
    ]);
  });
});
