import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { closeLogger, createLogger, droppedLogRecords, flushLogger } from '../../src/ops/logging/index.js';
import { createSecurityLogger } from '../../src/ops/security-logger.js';
import { waitUntil } from '../helpers/wait-until.js';

/** `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG` with our choices for each field. */
const RFC5424 = /^<(\d{1,3})>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) web-1 shop (\d+) (\S+) - (\{.*\})$/s;

function parse(message: string): { pri: number; pid: number; msgId: string; record: Record<string, unknown> } {
  const m = RFC5424.exec(message);
  if (!m) throw new Error(`not an RFC 5424 message: ${message}`);
  return { pri: Number(m[1]), pid: Number(m[3]), msgId: m[4] as string, record: JSON.parse(m[5] as string) as Record<string, unknown> };
}

/** Resolves when `count` items have arrived. */
function collector<T>(): { items: T[]; add(item: T): void; waitFor(count: number): Promise<T[]> } {
  const items: T[] = [];
  let waiting: { count: number; resolve: (v: T[]) => void } | undefined;
  return {
    items,
    add(item) {
      items.push(item);
      if (waiting && items.length >= waiting.count) waiting.resolve(items);
    },
    waitFor: (count) => new Promise((resolve) => (items.length >= count ? resolve(items) : (waiting = { count, resolve }))),
  };
}

/** Splits an RFC 6587 octet-counted byte stream into messages; throws on any other framing. */
function octetDecoder(onMessage: (m: string) => void): (chunk: Buffer) => void {
  let buffer = Buffer.alloc(0);
  return (chunk) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      const space = buffer.indexOf(0x20);
      if (space === -1) return;
      const header = buffer.subarray(0, space).toString('ascii');
      if (!/^[1-9]\d*$/.test(header)) throw new Error(`bad frame header "${header}"`);
      const end = space + 1 + Number(header);
      if (buffer.length < end) return;
      onMessage(buffer.subarray(space + 1, end).toString('utf8'));
      buffer = buffer.subarray(end);
    }
  };
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface TcpServer {
  server: Server;
  port: number;
  messages: ReturnType<typeof collector<string>>;
  connections: ReturnType<typeof collector<Socket>>;
}

async function tcpServer(port = 0): Promise<TcpServer> {
  const messages = collector<string>();
  const connections = collector<Socket>();
  const server = createServer((socket) => {
    connections.add(socket);
    socket.on('data', octetDecoder((m) => messages.add(m)));
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise<void>((done) => (connections.items.forEach((s) => s.destroy()), server.close(() => done()))));
  return { server, port: (server.address() as AddressInfo).port, messages, connections };
}

describe('syslog over UDP (RFC 5426)', () => {
  it('sends one RFC 5424 datagram per line with PRI from the level and the facility', async () => {
    const server = createSocket('udp4');
    const received = collector<string>();
    server.on('message', (m) => received.add(m.toString('utf8')));
    server.bind(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => new Promise<void>((done) => server.close(() => done())));
    const { port } = server.address();

    const logger = createLogger({ destination: `syslog:udp://127.0.0.1:${port}?facility=local0`, appName: 'shop', syslog: { hostname: 'web-1' } });
    logger.child({ request_id: 'req-1' }).info('served');
    logger.warn('slow');
    logger.error({ err: new Error('boom') }, 'failed');
    createSecurityLogger({ logger }).emit({ event: 'excess_rate_limit_exceeded', level: 'WARN', description: 'limit hit' });
    await flushLogger(logger);
    const messages = (await received.waitFor(4)).map(parse);
    await closeLogger(logger);

    expect(messages.map((m) => m.pri)).toEqual([134, 132, 131, 132]);
    expect(messages.map((m) => m.msgId)).toEqual(['-', '-', '-', 'excess_rate_limit_exceeded']);
    expect(messages.every((m) => m.pid === process.pid)).toBe(true);
    expect(messages[0]?.record).toMatchObject({ level: 30, request_id: 'req-1', msg: 'served', name: 'shop' });
    expect(messages[2]?.record).toMatchObject({ msg: 'failed', err: { type: 'Error', message: 'boom' } });
    expect(received.items).toHaveLength(4);
  });
});

describe('syslog over TCP (RFC 6587 octet counting)', () => {
  it('frames every message with its byte length on one connection', async () => {
    const { port, messages, connections } = await tcpServer();
    const logger = createLogger({ destination: `syslog:tcp://127.0.0.1:${port}`, appName: 'shop', syslog: { hostname: 'web-1' } });
    logger.info('déjà vu');
    logger.warn('multi\nline');
    logger.fatal('down');
    await flushLogger(logger);
    const parsed = (await messages.waitFor(3)).map(parse);
    await closeLogger(logger);
    // facility user (1): 8 + 6, 8 + 4, 8 + 2
    expect(parsed.map((m) => m.pri)).toEqual([14, 12, 10]);
    expect(parsed.map((m) => m.record['msg'])).toEqual(['déjà vu', 'multi\nline', 'down']);
    expect(connections.items).toHaveLength(1);
  });

  it('queues while the server is unreachable, reports the outage once, and delivers in order once it is up', async () => {
    const probe = await tcpServer();
    const port = probe.port;
    await cleanups.pop()?.(); // free the port: nothing listens there now
    const errors: Error[] = [];
    const logger = createLogger({
      destination: `syslog:tcp://127.0.0.1:${port}`,
      appName: 'shop',
      syslog: { hostname: 'web-1', reconnectMs: 10, maxReconnectMs: 20 },
      onError: (e) => errors.push(e),
    });
    for (let i = 0; i < 5; i++) logger.info(`queued ${i}`);

    const { messages, connections } = await tcpServer(port);
    const parsed = (await messages.waitFor(5)).map(parse);
    expect(parsed.map((m) => m.record['msg'])).toEqual(['queued 0', 'queued 1', 'queued 2', 'queued 3', 'queued 4']);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.message).toMatch(/^syslog tcp:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/);

    // The server drops the connection: the client reconnects and goes on.
    connections.items[0]?.destroy();
    await connections.waitFor(2);
    logger.info('after reconnect');
    await flushLogger(logger);
    expect((await messages.waitFor(6)).map((m) => parse(m).record['msg'])[5]).toBe('after reconnect');
    await closeLogger(logger);
  });

  it('bounds the queue while the server is down and reports what close could not deliver', async () => {
    const probe = await tcpServer();
    await cleanups.pop()?.(); // nothing listens on this port any more
    const errors: string[] = [];
    const logger = createLogger({
      destination: `syslog:tcp://127.0.0.1:${probe.port}`,
      syslog: { maxQueued: 2, reconnectMs: 10, closeTimeoutMs: 50 },
      onError: (e) => errors.push(e.message.replace(/^syslog tcp:\/\/127\.0\.0\.1:\d+: /, '')),
    });
    for (let i = 0; i < 5; i++) logger.info(`line ${i}`);
    await closeLogger(logger);
    // Three pushed out of the queue of two, then the two left at close: all five.
    expect(droppedLogRecords(logger)).toBe(5);
    expect(errors).toHaveLength(3);
    expect(errors[0]).toBe('queue full, dropping the oldest messages');
    expect(errors[1]).toMatch(/ECONNREFUSED/);
    expect(errors[2]).toBe('closed with 2 message(s) undelivered');
  });

  it('a collector that stops reading: every record is either received whole or counted as dropped, none lost uncounted', async () => {
    let complete = 0;
    let stalled: Socket | undefined;
    const chunks: Buffer[] = [];
    const server = createServer((socket) => {
      stalled = socket;
      socket.pause(); // reads nothing: the kernel's buffers fill, then Node's, then the queue
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => new Promise<void>((done) => (stalled?.destroy(), server.close(() => done()))));
    const logger = createLogger({
      destination: `syslog:tcp://127.0.0.1:${(server.address() as AddressInfo).port}`,
      syslog: { maxQueued: 100_000, closeTimeoutMs: 200 },
      onError: () => undefined,
    });
    const total = 40_000;
    const pad = 'x'.repeat(400);
    // Connected first, so frames go to the socket (kernel, then Node's buffer) before any queue.
    await waitUntil('the stall to be reported', () => stalled !== undefined);
    await new Promise((r) => setTimeout(r, 50));
    for (let i = 0; i < total; i++) logger.info({ pad }, `r${i}`);
    await closeLogger(logger);
    // Now read what reached the collector; a frame cut off when the socket was destroyed is not whole.
    const socket = stalled!;
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.resume();
    await once(socket, 'end');
    const decode = octetDecoder(() => complete++);
    try {
      decode(Buffer.concat(chunks));
    } catch {
      // a partial header at the cut: the frames before it were counted
    }
    // Before, the frames in Node's own buffer (~16 KB) when close destroyed the socket were lost
    // uncounted. Still uncounted: the one write libuv had under way (Node reports it written, the
    // socket being destroyed), as plain TCP syslog has no acknowledgement (docs/logging.md).
    const uncounted = total - complete - droppedLogRecords(logger);
    expect(uncounted).toBeGreaterThanOrEqual(0);
    expect(uncounted).toBeLessThanOrEqual(1);
    expect(droppedLogRecords(logger)).toBeGreaterThan(0);
  });

  it('a process ending right after closing its logger still delivers to a collector that comes back, and keeps its exit code', async () => {
    const probe = await tcpServer();
    await cleanups.pop()?.(); // the collector is down when the child starts
    const childFile = fileURLToPath(new URL('./fixtures/syslog-child.ts', import.meta.url));
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', childFile, String(probe.port)], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    const refused = new Promise<void>((resolve) =>
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (stderr.includes('ECONNREFUSED')) resolve();
      }),
    );
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    // Back once the child has found it down (it then retries every 0.2 s while its close waits, up to 8 s).
    await refused;
    const { messages } = await tcpServer(probe.port);
    expect(await exited).toBe(3);
    expect(stderr).not.toMatch(/undelivered/);
    expect(await messages.waitFor(1)).toEqual([expect.stringContaining('"msg":"shutdown: complete"')]);
  });
});
