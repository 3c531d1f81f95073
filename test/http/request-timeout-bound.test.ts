/**
 * serverOptions({ requestTimeoutMs }) is bounded by the timer it arms: a connection that sends bytes
 * which start no request (a bare CRLF after an answer) gets its idle timer again for 1.5 request
 * timeouts, so `requestTimeoutMs` may be at most ⌊(2^31 − 1) / 1.5⌋ = 1,431,655,764 ms. Past it Node
 * truncated that timer with a TimeoutOverflowWarning on each such connection.
 */
import { connect } from 'node:net';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { serverOptions } from '../../src/http/server-options.js';
import { waitUntil } from '../helpers/wait-until.js';

const MAX_REQUEST_TIMEOUT_MS = 1_431_655_764;

describe('serverOptions requestTimeoutMs', () => {
  it.each([MAX_REQUEST_TIMEOUT_MS + 1, 2 ** 31, Number.MAX_SAFE_INTEGER])('refuses %d at start-up, naming the option and the bound', (requestTimeoutMs) => {
    expect(() => serverOptions({ requestTimeoutMs })).toThrow(TypeError);
    expect(() => serverOptions({ requestTimeoutMs })).toThrow(/requestTimeoutMs must be a positive whole number of ms, at most 1431655764 /);
  });

  it('takes the longest one, and a connection sending stray bytes re-arms its timer without an overflow warning', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => void (warning.name === 'TimeoutOverflowWarning' && warnings.push(warning));
    process.on('warning', onWarning);
    const app = Fastify({ ...serverOptions({ requestTimeoutMs: MAX_REQUEST_TIMEOUT_MS, connectionTimeoutMs: 100 }), keepAliveTimeout: 5_000 });
    app.get('/', async () => 'ok');
    await app.listen({ port: 0, host: '127.0.0.1' });
    const socket = connect({ port: (app.server.address() as { port: number }).port, host: '127.0.0.1' });
    try {
      let received = '';
      socket.setEncoding('latin1').on('data', (chunk: string) => (received += chunk));
      await new Promise((resolve) => socket.once('connect', resolve));
      // A blank line starts no request: the connection timeout spares it once, re-armed past the request timeout.
      socket.write('\r\n');
      await new Promise((resolve) => setTimeout(resolve, 400));
      socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      await waitUntil('the answer (200)', () => /^HTTP\/1\.1 200 /.test(received), { seen: () => received });
      expect(app.server.requestTimeout).toBe(MAX_REQUEST_TIMEOUT_MS);
      expect(warnings).toEqual([]);
    } finally {
      process.off('warning', onWarning);
      socket.destroy();
      await app.close();
    }
  });
});
