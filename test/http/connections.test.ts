/**
 * serverOptions() bounds what one client can hold: a connection that sends nothing of use (no
 * byte, a blank line after an answer, no TLS handshake) or does not read its answer is closed after
 * `connectionTimeoutMs` (Fastify's idle timeout is off by default), and one address holds at most
 * `maxConnectionsPerAddress` connections (800 silent sockets from one address held every slot of
 * `maxConnections`, each until a timeout, and were opened again). Neither cuts what must keep working: an idle keep-alive connection lives until
 * `keepAliveTimeout`, and a slow answer is delivered however long the app takes.
 */
import { connect, type Socket } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_CONNECTIONS_PER_ADDRESS, serverOptions } from '../../src/http/server-options.js';
import { createMetrics, METRIC_NAMES, registerHttpMetrics } from '../../src/ops/metrics/index.js';
import { demoApp } from '../helpers/demo.js';
import { listenedServers } from '../helpers/raw-http.js';

const { listening, track } = listenedServers();

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A client connection (from `localAddress`, a loopback address) with everything it received and when it closed. */
interface Client {
  readonly socket: Socket;
  readonly opened: Promise<number>;
  readonly closed: Promise<number>;
  received(): string;
  /** Sends `bytes`; resolves once `count` answers (status lines) have arrived in all. */
  send(bytes: string, count: number): Promise<string>;
}

function client(port: number, localAddress = '127.0.0.1'): Client {
  const socket = connect({ port, host: '127.0.0.1', localAddress });
  track(socket);
  let received = '';
  const waiters: (() => void)[] = [];
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => {
    received += chunk;
    for (const w of waiters.splice(0)) w();
  });
  socket.on('error', () => undefined); // a reset is an ending like any other here
  const opened = new Promise<number>((resolve) => socket.once('connect', () => resolve(performance.now())));
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(performance.now())));
  const answers = (): number => received.match(/HTTP\/1\.1 \d{3} /g)?.length ?? 0;
  return {
    socket,
    opened,
    closed,
    received: () => received,
    send(bytes, count) {
      socket.write(bytes);
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (answers() >= count) resolve(received);
          else waiters.push(check);
        };
        void closed.then(() => (answers() >= count ? resolve(received) : reject(new Error(`closed after ${answers()} answer(s): ${JSON.stringify(received)}`))));
        check();
      });
    },
  };
}

const GET = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n';

describe('a connection that never sends a byte', () => {
  // No upper bound on the time (shared, noisy machines): every other timeout that could close the
  // connection (the headers timeout, 60 s, checked every 30 s with a request timeout of 120 s) is far
  // beyond the test's 10 s timeout, so the connection timeout closed it. The lower bound is reliable:
  // the server's timer starts after `before` (taken before connecting), and timers never fire early
  // by more than the loop's rounding (2 ms allowed, as for the other lower bounds here).
  it('is closed after connectionTimeoutMs, not by a later timeout', { timeout: 10_000 }, async () => {
    const app = Fastify(serverOptions({ connectionTimeoutMs: 400, requestTimeoutMs: 120_000 }));
    app.get('/', async () => 'ok');
    const port = await listening(app);
    const before = performance.now();
    const silent = client(port);
    await silent.opened;
    expect((await silent.closed) - before).toBeGreaterThanOrEqual(398);
    expect(silent.received()).toBe('');
  });

  it('defaults to the headers timeout (60 s, or requestTimeoutMs when shorter); 0 turns it off; other values are refused', async () => {
    const built = [serverOptions(), serverOptions({ requestTimeoutMs: 5000 }), serverOptions({ requestTimeoutMs: 90_000 }), serverOptions({ connectionTimeoutMs: 0 })].map((o) => Fastify(o));
    try {
      expect(built.map((a) => a.server.timeout)).toEqual([60_000, 5000, 60_000, 0]);
    } finally {
      await Promise.all(built.map((a) => a.close()));
    }
    for (const connectionTimeoutMs of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31, '10' as unknown as number]) {
      expect(() => serverOptions({ connectionTimeoutMs }), String(connectionTimeoutMs)).toThrow(TypeError);
    }
  });
});

/** A throwaway self-signed P-256 pair for the TLS case (test only; no handshake completes anyway). */
const TEST_TLS = {
  key: `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg7htIQJ/xOheovmfy
MEGj5BQHRl3jiUPaJ0/K9a/d322hRANCAARfLiLxzO32+pCuoYlwJgIkphbWw/Ur
ylYI9cZsJY0qjZdaVqcKDltfp8H3jPDU5FgqrN1fXPG+2R2kE8x6SaWJ
-----END PRIVATE KEY-----`,
  cert: `-----BEGIN CERTIFICATE-----
MIIBfzCCASWgAwIBAgIUfuv0Vtk2VaySlbrgNB1imiPEQEMwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTIwMjE1MzcyOFoYDzIxMjYxMTA4
MTUzNzI4WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAARfLiLxzO32+pCuoYlwJgIkphbWw/UrylYI9cZsJY0qjZdaVqcKDltf
p8H3jPDU5FgqrN1fXPG+2R2kE8x6SaWJo1MwUTAdBgNVHQ4EFgQU0I8708JSMZI/
G1FCPW3nii+T4UowHwYDVR0jBBgwFoAU0I8708JSMZI/G1FCPW3nii+T4UowDwYD
VR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiEAue0SMjpZGHtlFgMOBRvW
R/K0fbHJsiIuiJqwccEJUHoCIEzB2mFKCRZok1fDI6pFNHHoeIDRn1GvOnhjbrxF
frIb
-----END CERTIFICATE-----`,
};

describe('a connection that sends nothing of use', () => {
  // No upper bound on the time: once the CRLF is skipped, the keep-alive timeout (300 ms + Node's
  // 1 s) fires, and the 'timeout' listener, spared once for the new bytes, arms the socket's timer
  // again (600 ms); without that nothing would ever close the connection, and the test's timeout
  // (10 s) fails it.
  it('a keep-alive connection that sends a bare CRLF after its answer is still closed (the parser skips it: no Node timeout applies)', { timeout: 10_000 }, async () => {
    const app = Fastify({ ...serverOptions({ connectionTimeoutMs: 300, requestTimeoutMs: 400 }), keepAliveTimeout: 300 });
    app.get('/', async () => 'ok');
    const port = await listening(app);
    const c = client(port);
    await c.send(GET, 1);
    await pause(100);
    c.socket.write('\r\n');
    await c.closed;
    expect(c.received().match(/HTTP\/1\.1 \d{3} /g), 'the one answer, nothing for the CRLF').toEqual(['HTTP/1.1 200 ']);
  });

  // No upper bound on the time: before a handshake only TLS's handshake timeout applies (Node's HTTP
  // timeouts start after it), and left at TLS's default (120 s) it is far beyond the test's 10 s
  // timeout, so connectionTimeoutMs closed it. The lower bound: from before connecting (the server's
  // timer starts after it), with 2 ms for the rounding of the loop's clock.
  it('over TLS, a TCP connection that never starts the handshake is closed after connectionTimeoutMs, not TLS\'s 120 s', { timeout: 10_000 }, async () => {
    const app = Fastify({ ...serverOptions({ connectionTimeoutMs: 300, requestTimeoutMs: 400 }), https: TEST_TLS } as unknown as ReturnType<typeof serverOptions>);
    app.get('/', async () => 'ok');
    const port = await listening(app);
    const before = performance.now();
    const silent = client(port);
    await silent.opened;
    expect((await silent.closed) - before).toBeGreaterThanOrEqual(298);
    expect(silent.received()).toBe('');
  });
});

describe('what the connection timeout spares', () => {
  // No upper bound on the time: the other timeouts that could close the connection (headers and
  // request, 60 s) are far beyond the test's 10 s timeout. The lower bound: Node arms keepAliveTimeout
  // plus 1 s once the second answer is sent, so after `sent` (taken before that request), with 2 ms
  // for the rounding of the loop's clock.
  it('an idle keep-alive connection serves a second request within keepAliveTimeout, and is closed after it', { timeout: 10_000 }, async () => {
    const app = Fastify({ ...serverOptions({ connectionTimeoutMs: 300 }), keepAliveTimeout: 1200 });
    app.get('/', async () => 'ok');
    const port = await listening(app);
    const c = client(port);
    await c.send(GET, 1);
    await pause(800); // idle well past connectionTimeoutMs, within keepAliveTimeout
    const sent = performance.now();
    const both = await c.send(GET, 2);
    expect(both.match(/HTTP\/1\.1 \d{3} /g)).toEqual(['HTTP/1.1 200 ', 'HTTP/1.1 200 ']);
    // Closed by the keep-alive timeout (Node adds 1 s to it), which the 'timeout' listener still honours.
    expect((await c.closed) - sent, 'closed after keepAliveTimeout').toBeGreaterThanOrEqual(1200 + 1000 - 2);
  });

  it('a slow answer (longer than the connection timeout) is delivered, on a first and a later request', async () => {
    const app = Fastify(serverOptions({ connectionTimeoutMs: 300 }));
    app.get('/slow', async () => {
      await pause(1000);
      return 'slow done';
    });
    const port = await listening(app);
    const c = client(port);
    const first = await c.send('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n', 1);
    expect(first).toMatch(/^HTTP\/1\.1 200/);
    expect(first).toContain('slow done');
    const second = await c.send('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n', 2);
    expect(second.match(/HTTP\/1\.1 \d{3} /g)).toEqual(['HTTP/1.1 200 ', 'HTTP/1.1 200 ']);
  });
});

describe('what the connection timeout does not spare', () => {
  it('a request that has begun but stalls gets the 408 of the request timeout, not a silent close', async () => {
    const app = Fastify(serverOptions({ requestTimeoutMs: 600, connectionTimeoutMs: 200 }));
    app.get('/', async () => 'ok');
    const port = await listening(app);
    const c = client(port);
    expect(await c.send('GET / HTTP/1.1\r\nHost: x\r\n', 1)).toMatch(/^HTTP\/1\.1 408 /);
  });

  // No upper bound on the time: with the answer finished but unread, the headers and request timeouts
  // (60 s) no longer apply and the keep-alive timeout is not armed yet, so nothing but the connection
  // timeout closes it within the test's 10 s timeout.
  it('an answer the client does not read is cut after the connection timeout', { timeout: 10_000 }, async () => {
    const app = Fastify(serverOptions({ connectionTimeoutMs: 300 }));
    const big = Buffer.alloc(64 * 1024 * 1024, 0x61);
    app.get('/big', async (_request, reply) => reply.type('application/octet-stream').send(big));
    const port = await listening(app);
    const serverSide = new Promise<Socket>((resolve) => app.server.once('connection', resolve));
    const c = client(port);
    c.socket.pause(); // reads nothing: the answer fills the buffers and stalls
    c.socket.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n');
    const socket = await serverSide;
    await new Promise((resolve) => socket.once('close', resolve)); // closed by the server
  });
});

describe('the cap per client address', () => {
  async function openConnections(app: FastifyInstance): Promise<number> {
    return new Promise((resolve, reject) => app.server.getConnections((error, count) => (error ? reject(error) : resolve(count))));
  }

  /** A connection from `localAddress` holding a request that never finishes its headers. */
  async function held(port: number, localAddress = '127.0.0.1'): Promise<Client> {
    const c = client(port, localAddress);
    await c.opened;
    c.socket.write('GET / HTTP/1.1\r\nHost: x\r\n');
    return c;
  }

  /**
   * Per connection `app`'s server accepts from now on, in order: whether it was already closed when
   * its 'connection' event was over. The cap's listener runs before this one (registered earlier), so
   * `true` is a connection closed on arrival, before the server read a byte of it or any timer ran.
   */
  function closedOnArrival(app: FastifyInstance): boolean[] {
    const accepted: boolean[] = [];
    app.server.on('connection', (socket: Socket) => accepted.push(socket.destroyed));
    return accepted;
  }

  // No upper bound on the time: a refused connection not closed on arrival would be held until the
  // connection timeout (60 s), far beyond the test's 10 s timeout; `closedOnArrival` says it was
  // closed in the event that accepted it.
  it('closes the connection past the cap at once and counts it, serves other addresses, and frees a slot when one closes', { timeout: 10_000 }, async () => {
    const app = Fastify(serverOptions({ maxConnectionsPerAddress: 3 }));
    const metrics = createMetrics({ defaultMetrics: false });
    registerHttpMetrics(app, metrics);
    const droppedMetric = async (): Promise<number | undefined> =>
      (await metrics.registry.getSingleMetric(METRIC_NAMES.connectionsDropped)!.get()).values[0]?.value;
    app.get('/', async () => 'ok');
    const port = await listening(app);
    const dropped: { remoteAddress?: string }[] = [];
    app.server.on('drop', (data: { remoteAddress?: string }) => dropped.push(data));
    const accepted = closedOnArrival(app);

    const holding = [await held(port), await held(port), await held(port)];
    while ((await openConnections(app)) < 3) await pause(10);

    // The 4th and 5th from 127.0.0.1: closed unanswered, at once (on arrival).
    for (const _ of [4, 5]) {
      const refused = client(port);
      refused.socket.write(GET);
      await refused.closed;
      expect(refused.received()).toBe('');
    }
    expect(accepted, 'the 4th and 5th closed on arrival').toEqual([false, false, false, true, true]);
    // Another address is served meanwhile.
    const other = client(port, '127.0.0.2');
    expect(await other.send(GET, 1)).toMatch(/^HTTP\/1\.1 200/);
    expect(dropped.map((d) => d.remoteAddress)).toEqual(['127.0.0.1', '127.0.0.1']);
    expect(await droppedMetric()).toBe(2);

    // A held connection closes: its slot is free again, and only one.
    holding[0]!.socket.destroy();
    await holding[0]!.closed;
    while ((await openConnections(app)) > 3) await pause(10); // 2 held + `other`
    const again = client(port);
    expect(await again.send(GET, 1)).toMatch(/^HTTP\/1\.1 200/);
    const past = client(port);
    past.socket.write(GET);
    await past.closed;
    expect(past.received()).toBe('');
    expect(accepted, '`other` and `again` served, `past` closed on arrival').toEqual([false, false, false, true, true, false, false, true]);
    expect(dropped).toHaveLength(3);
    expect(await droppedMetric()).toBe(3);
  });

  it('is 256 by default, off with 0, and refuses a cap that is not a whole number', async () => {
    expect(DEFAULT_MAX_CONNECTIONS_PER_ADDRESS).toBe(256);
    const app = Fastify(serverOptions({ maxConnectionsPerAddress: 0 }));
    app.get('/', async () => 'ok');
    const port = await listening(app);
    const many = await Promise.all(Array.from({ length: 6 }, () => held(port)));
    const last = client(port);
    expect(await last.send(GET, 1)).toMatch(/^HTTP\/1\.1 200/);
    expect(many.every((c) => !c.socket.destroyed)).toBe(true);
    for (const maxConnectionsPerAddress of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '3' as unknown as number]) {
      expect(() => serverOptions({ maxConnectionsPerAddress }), String(maxConnectionsPerAddress)).toThrow(TypeError);
    }
  });

  // No upper bound on the time: the reference app's other timeouts (connection, headers, request:
  // 60 s) are beyond the test's 20 s timeout; `closedOnArrival` says which was closed, and when.
  it('the reference app keeps the default cap, and turns it off behind a declared or trusted proxy (every connection is the proxy)', async () => {
    const count = DEFAULT_MAX_CONNECTIONS_PER_ADDRESS + 1;
    const heldAt = async (env: Record<string, string>): Promise<{ clients: Client[]; accepted: boolean[] }> => {
      const { app } = await demoApp(env);
      const port = await listening(app);
      const accepted = closedOnArrival(app);
      return { clients: await Promise.all(Array.from({ length: count }, () => held(port))), accepted };
    };
    const direct = await heldAt({});
    await Promise.race(direct.clients.map((c) => c.closed)); // one is closed
    // The server accepts in arrival order: the 257th, and only it, was closed on arrival.
    expect(direct.accepted, 'the one past 256 closed on arrival').toEqual([...Array.from({ length: count - 1 }, () => false), true]);
    await pause(100);
    expect(direct.clients.filter((c) => c.socket.destroyed), 'only the one past 256 is closed').toHaveLength(1);
    const proxies: Record<string, string>[] = [{ TRUST_PROXY: '127.0.0.1' }, { BEHIND_PROXY: 'true', TRUST_PROXY: '1' }];
    for (const env of proxies) {
      const proxied = await heldAt(env);
      while (proxied.accepted.length < count) await pause(10);
      expect(proxied.accepted.includes(true), `${JSON.stringify(env)}: none closed on arrival`).toBe(false);
      await pause(100);
      expect(proxied.clients.every((c) => !c.socket.destroyed), JSON.stringify(env)).toBe(true);
    }
  });
});
