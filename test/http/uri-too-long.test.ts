/**
 * Node's parser counts the request line and the headers together against its header limit and
 * reports an overflow of either as `HPE_HEADER_OVERFLOW`: a request line that alone is too long is
 * 414 `URI_TOO_LONG`, headers over the limit (long cookies) stay 431 `HEADERS_TOO_LARGE`.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/core/errors.js';
import { clientErrorCode } from '../../src/http/client-errors.js';
import { serverOptions } from '../../src/http/server-options.js';
import { rawExchange } from '../helpers/raw-http.js';

let app: FastifyInstance;
let port = 0;

beforeAll(async () => {
  app = Fastify(serverOptions());
  app.get('/', async () => 'ok');
  await app.listen({ port: 0, host: '127.0.0.1' });
  port = (app.server.address() as { port: number }).port;
});
afterAll(() => app?.close());

function parse(text: string): { status: number; headers: Record<string, string>; body: Record<string, unknown> } {
  const end = text.indexOf('\r\n\r\n');
  const [statusLine = '', ...lines] = text.slice(0, end).split('\r\n');
  const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  return { status: Number(statusLine.split(' ')[1]), headers, body: JSON.parse(text.slice(end + 4)) as Record<string, unknown> };
}

const LONG_QUERY = `/?q=${'a'.repeat(17_000)}`;

describe('an over-long request', () => {
  it('a 17,000-character query: 414 URI_TOO_LONG in the error shape, the connection closed', async () => {
    const answer = parse(await rawExchange(port, `GET ${LONG_QUERY} HTTP/1.1\r\nHost: x\r\n\r\n`));
    expect(answer.status).toBe(414);
    expect(answer.headers['connection']).toBe('close');
    expect(answer.body).toEqual({ error: ERROR_CODES.URI_TOO_LONG.message, code: 'URI_TOO_LONG', request_id: answer.headers['x-request-id'] });
  });

  it('the long request pipelined in one packet behind a short one (whose lines come first in it): the short one answered, then 414', async () => {
    const text = await rawExchange(port, `GET / HTTP/1.1\r\nHost: x\r\n\r\nGET ${LONG_QUERY} HTTP/1.1\r\nHost: x\r\n\r\n`);
    // The parser fails on the same read, before the first request is answered: its answer comes first all the same.
    expect(text.startsWith('HTTP/1.1 200 OK\r\n')).toBe(true);
    expect(text.slice(text.indexOf('HTTP/1.1 ', 1)).startsWith('HTTP/1.1 414 URI Too Long\r\n')).toBe(true);
  });

  it('a long header value arriving in a read of its own, looking like a request line (`Bearer aaaa…`): still 431', async () => {
    const text = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: x\r\nAuthorization: ', `Bearer ${'a'.repeat(20_000)}`);
    expect(text.startsWith('HTTP/1.1 431 ')).toBe(true);
  });

  it('a 17,000-byte cookie: still 431 HEADERS_TOO_LARGE', async () => {
    const answer = parse(await rawExchange(port, `GET /?short=1 HTTP/1.1\r\nHost: x\r\nCookie: a=${'b'.repeat(17_000)}\r\n\r\n`));
    expect(answer.status).toBe(431);
    expect(answer.headers['connection']).toBe('close');
    expect(answer.body).toEqual({ error: ERROR_CODES.HEADERS_TOO_LARGE.message, code: 'HEADERS_TOO_LARGE', request_id: answer.headers['x-request-id'] });
  });

  it('clientErrorCode: the line holding the overflow decides; without the packet or its position, 431', () => {
    const overflow = (packet: string, at: number, bytesRead = packet.length) =>
      clientErrorCode({ code: 'HPE_HEADER_OVERFLOW', rawPacket: Buffer.from(packet, 'latin1'), bytesParsed: at }, bytesRead);
    expect(overflow('GET /aaaa', 9)).toBe('URI_TOO_LONG');
    // The same bytes in a later read: the go-on of a header line begun earlier (`Authorization: ` then `Bearer aaaa…`).
    expect(overflow('Bearer aaaa', 11, 60)).toBe('HEADERS_TOO_LARGE');
    expect(overflow('x\r\n\r\nPOST /aaaa HTTP/1.1', 11)).toBe('URI_TOO_LONG');
    expect(overflow('GET / HTTP/1.1\r\nCookie: a=bbbb', 30)).toBe('HEADERS_TOO_LARGE');
    // The continuation of a line begun in an earlier read: whose it is cannot be told.
    expect(overflow('aaaaaaaa', 8)).toBe('HEADERS_TOO_LARGE');
    expect(overflow('GET /aaaa', 0)).toBe('HEADERS_TOO_LARGE');
    expect(clientErrorCode({ code: 'HPE_HEADER_OVERFLOW' })).toBe('HEADERS_TOO_LARGE');
  });
});
