/**
 * The client bundle's conditional GET (RFC 9110 §13.1.2): If-None-Match is a list compared weakly,
 * `*` matches; the 304 keeps ETag and Cache-Control and has no Content-Type (RFC 9110 §15.4.5).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTES } from '../../src/core/wire.js';
import { noneMatchHas, registerClientAsset } from '../../src/http/client-asset.js';

let app: FastifyInstance;
let etag = '';

beforeAll(async () => {
  const bundle = join(mkdtempSync(join(tmpdir(), 'lc-asset-')), 'client.js');
  writeFileSync(bundle, 'console.log("lc");\n');
  app = Fastify();
  registerClientAsset(app, bundle);
  await app.ready();
  etag = String((await app.inject({ url: ROUTES.clientScript })).headers.etag);
});
afterAll(() => app?.close());

describe('If-None-Match on the client bundle', () => {
  it.each([
    ['the exact tag', (t: string) => t],
    ['the tag weakened by a proxy', (t: string) => `W/${t}`],
    ['a list holding it', (t: string) => `"other", ${t}`],
    ['a list holding it weakened, without spaces', (t: string) => `W/"a",W/${t}`],
    ['*', () => '*'],
  ])('%s: 304 with ETag and Cache-Control, no Content-Type, no body', async (_what, header) => {
    const res = await app.inject({ url: ROUTES.clientScript, headers: { 'if-none-match': header(etag) } });
    expect(res.statusCode).toBe(304);
    expect(res.headers.etag).toBe(etag);
    expect(res.headers['cache-control']).toBe('public, max-age=300, must-revalidate');
    expect(res.headers['content-type']).toBeUndefined();
    expect(res.body).toBe('');
  });

  it('HEAD: the 200 announces the bundle\'s length; the 304 announces none (only the 200\'s would be allowed)', async () => {
    const full = await app.inject({ method: 'HEAD', url: ROUTES.clientScript });
    expect([full.statusCode, full.headers['content-length']]).toEqual([200, String(Buffer.byteLength('console.log("lc");\n'))]);
    const notModified = await app.inject({ method: 'HEAD', url: ROUTES.clientScript, headers: { 'if-none-match': etag } });
    expect(notModified.statusCode).toBe(304);
    expect(notModified.headers['content-length']).toBeUndefined();
    expect(notModified.headers.etag).toBe(etag);
    expect(notModified.body).toBe('');
  });

  it.each(['"other"', 'W/"other", "x"', ''])('%j: 200 with the bundle', async (header) => {
    const res = await app.inject({ url: ROUTES.clientScript, headers: { 'if-none-match': header } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(res.body).toBe('console.log("lc");\n');
  });

  it('noneMatchHas: no header, no match; a tag that only contains ours does not match', () => {
    expect(noneMatchHas(undefined, '"abc"')).toBe(false);
    expect(noneMatchHas('"abcd"', '"abc"')).toBe(false);
    expect(noneMatchHas(' W/"abc" ', '"abc"')).toBe(true);
  });
});
